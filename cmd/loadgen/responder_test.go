package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stockstate/stock/internal/stocktest"
)

// TestAgainstResponder runs loadgen against a real responder (NATS, etcd
// and a leader in the process): three SKUs are sold out exactly, in single
// requests and in batches, and verification passes unit by unit.
func TestAgainstResponder(t *testing.T) {
	const skus, stock = 3, 5000
	tests := []struct {
		name            string
		batch, requests int
	}{
		{"single", 0, 16000},
		{"batch", 64, 300},
	}
	c := stocktest.NewCluster(t)
	c.Start("node-a", "").WaitLeading(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			items := int64(tt.requests * max(tt.batch, 1))
			s, out, err := runLoadgen(t, t.Context(), c.NATS.ClientURL(), "-progress", "0", "-sku-prefix", tt.name,
				"-batch", fmt.Sprint(tt.batch), "-skus", fmt.Sprint(skus), "-stock", fmt.Sprint(stock),
				"-requests", fmt.Sprint(tt.requests), "-c", "8", "-conns", "2", "-null")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "VERIFY OK") {
				t.Fatal("report lacks VERIFY OK")
			}
			p := s.Real
			checkPhase(t, "real", p)
			checkPhase(t, "null", s.Null)
			if p.Units != skus*stock || p.Counts["granted"] != skus*stock || p.Counts["sold_out"] != items-skus*stock || p.Sent != items {
				t.Errorf("granted %d (%d units), sold out %d, sent %d; want %d granted, the other %d sold out",
					p.Counts["granted"], p.Units, p.Counts["sold_out"], p.Sent, skus*stock, items-skus*stock)
			}
			for _, k := range s.Verify.SKUs {
				if !k.UnitsChecked || k.SoldAfter != stock || k.Units != stock || k.Lost != 0 {
					t.Errorf("verdict %+v: want every unit seen and checked", k)
				}
			}
			if tt.batch > 0 && (p.Messages != int64(tt.requests) || s.Ratio == nil) {
				t.Errorf("messages %d, ratio %+v", p.Messages, s.Ratio)
			}
		})
	}
}
