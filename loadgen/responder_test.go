package loadgen

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

// TestWarmupAgainstResponder: with -warmup, each measured phase follows an
// unmeasured one of the same load; the real warm-up is reported on its own,
// and its grants are verified with the measured phase's: every unit sold is
// seen once, none lost.
func TestWarmupAgainstResponder(t *testing.T) {
	const skus, stock = 3, 200_000
	c := stocktest.NewCluster(t)
	c.Start("node-a", "").WaitLeading(t)
	s, out, err := runLoadgen(t, t.Context(), c.NATS.ClientURL(), "-progress", "0", "-sku-prefix", "warm",
		"-batch", "64", "-skus", fmt.Sprint(skus), "-stock", fmt.Sprint(stock),
		"-warmup", "300ms", "-d", "300ms", "-c", "8", "-conns", "2", "-null")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "VERIFY OK") || !strings.Contains(out, "warm-up") {
		t.Fatal("report lacks VERIFY OK or the warm-up")
	}
	checkPhase(t, "null", s.Null)
	checkPhase(t, "warmup", s.Warmup)
	checkPhase(t, "real", s.Real)
	if s.Warmup.Units == 0 || s.Real.Sent == 0 {
		t.Fatalf("warm-up granted %d units, measured phase sent %d: want both busy", s.Warmup.Units, s.Real.Sent)
	}
	var seen, sold int64
	for _, k := range s.Verify.SKUs {
		if !k.UnitsChecked || k.Lost != 0 || k.Units != k.SoldAfter-k.SoldBefore {
			t.Errorf("verdict %+v: want every unit sold seen once and checked", k)
		}
		seen += k.Units
		sold += k.SoldAfter - k.SoldBefore
	}
	if got := s.Warmup.Units + s.Real.Units; got != seen || seen != sold {
		t.Errorf("warm-up %d + measured %d units = %d; verification saw %d, the responder sold %d",
			s.Warmup.Units, s.Real.Units, got, seen, sold)
	}
}

// TestHoldsAgainstResponder: -op hold holds every unit of three SKUs once,
// one request each, the rest answered sold out; -op confirm holds
// -requests holds and confirms each of them once. Verification passes unit
// by unit in both.
func TestHoldsAgainstResponder(t *testing.T) {
	const skus, stock = 3, 2000
	c := stocktest.NewCluster(t)
	c.Start("node-a", "").WaitLeading(t)

	t.Run("hold", func(t *testing.T) {
		s, _, err := runLoadgen(t, t.Context(), c.NATS.ClientURL(), "-progress", "0", "-sku-prefix", "hold",
			"-op", "hold", "-skus", fmt.Sprint(skus), "-stock", fmt.Sprint(stock),
			"-requests", "7000", "-c", "32", "-conns", "2", "-null")
		if err != nil {
			t.Fatal(err)
		}
		checkPhase(t, "null", s.Null)
		p := s.Real
		checkPhase(t, "real", p)
		if p.Units != skus*stock || p.Counts["granted"] != skus*stock || p.Counts["sold_out"] != 7000-skus*stock {
			t.Errorf("held %d (%d units), sold out %d; want %d held, the rest sold out",
				p.Counts["granted"], p.Units, p.Counts["sold_out"], skus*stock)
		}
		for _, k := range s.Verify.SKUs {
			if !k.UnitsChecked || k.SoldAfter != stock || k.Units != stock || k.Lost != 0 {
				t.Errorf("verdict %+v: want every unit held once and checked", k)
			}
		}
	})

	t.Run("confirm", func(t *testing.T) {
		const requests = 1500
		s, out, err := runLoadgen(t, t.Context(), c.NATS.ClientURL(), "-progress", "0", "-sku-prefix", "confirm",
			"-op", "confirm", "-skus", fmt.Sprint(skus), "-stock", fmt.Sprint(stock),
			"-requests", fmt.Sprint(requests), "-c", "32", "-conns", "2")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "holds to confirm") {
			t.Fatal("report lacks the hold phase")
		}
		checkPhase(t, "hold", s.Warmup)
		checkPhase(t, "real", s.Real)
		if s.Warmup.Counts["granted"] != requests || s.Real.Counts["granted"] != requests || s.Real.Units != requests {
			t.Errorf("held %d, confirmed %d (%d units); want %d of each",
				s.Warmup.Counts["granted"], s.Real.Counts["granted"], s.Real.Units, requests)
		}
		var seen int64
		for _, k := range s.Verify.SKUs {
			if !k.UnitsChecked || k.Lost != 0 || k.Units != k.SoldAfter {
				t.Errorf("verdict %+v: want every unit held once and checked", k)
			}
			seen += k.Units
		}
		if seen != requests {
			t.Errorf("verification saw %d units, want %d", seen, requests)
		}
	})
}

// TestBuyersAgainstResponder: with -per-buyer and a small pool of buyers,
// a real responder grants (or holds) each buyer exactly its cap and
// answers the rest buyer_limit; with a pool larger than the run, every
// request is granted. Verification passes in all, no buyer over its cap.
func TestBuyersAgainstResponder(t *testing.T) {
	c := stocktest.NewCluster(t)
	c.Start("node-a", "").WaitLeading(t)
	tests := []struct {
		name                     string
		args                     []string
		granted, limited, buyers int64
	}{
		{"acquire", []string{"-per-buyer", "2", "-buyers", "50", "-requests", "400"}, 100, 300, 50},
		{"hold", []string{"-op", "hold", "-per-buyer", "1", "-buyers", "30", "-requests", "100"}, 30, 70, 30},
		{"distinct", []string{"-per-buyer", "1", "-buyers", "1000000", "-requests", "2000"}, 2000, 0, 2000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-progress", "0", "-sku-prefix", "buyers-" + tt.name, "-skus", "1", "-stock", "100000",
				"-c", "16", "-conns", "2"}, tt.args...)
			s, out, err := runLoadgen(t, t.Context(), c.NATS.ClientURL(), args...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "VERIFY OK") || !strings.Contains(out, "buyers over their cap: 0") {
				t.Fatal("report lacks VERIFY OK or the buyers over their cap")
			}
			p := s.Real
			checkPhase(t, "real", p)
			if p.Counts["granted"] != tt.granted || p.Counts["buyer_limit"] != tt.limited {
				t.Errorf("granted %d, buyer_limit %d; want %d and %d", p.Counts["granted"], p.Counts["buyer_limit"], tt.granted, tt.limited)
			}
			k := s.Verify.SKUs[0]
			if k.PerBuyer != s.PerBuyer || k.Buyers != tt.buyers || k.MostPerBuyer != k.PerBuyer || k.BuyersOverCap != 0 || k.Lost != 0 {
				t.Errorf("verdict %+v: want %d buyers, each at its cap", k, tt.buyers)
			}
		})
	}
}
