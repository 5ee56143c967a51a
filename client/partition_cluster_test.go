package client_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stockstate/stock/client"
	"github.com/stockstate/stock/internal/stocktest"
)

// TestPartitionedCluster: against two real responders over 8 partitions,
// a client that asks the cluster's partitions, and one that is told them,
// single and batched, acquire SKUs of every partition concurrently to sell
// out, hold and confirm in one Holds call across partitions, and a client
// that routes without partitions (through the NATS mappings and a split
// batch) sees the same stock.
func TestPartitionedCluster(t *testing.T) {
	const parts, skus, limit = 8, 24, 30
	c := stocktest.NewPartitionedCluster(t, parts)
	c.Start("node-a", "").WaitLeading(t)
	c.Start("node-b", "")
	for _, m := range []struct {
		name string
		edit func(*client.Config)
	}{
		{"ask", func(cfg *client.Config) { cfg.Partitions = 0 }},
		{"told batched", func(cfg *client.Config) { cfg.Partitions = parts; batched(cfg) }},
		{"unpartitioned batched", batched},
	} {
		t.Run(m.name, func(t *testing.T) {
			cl := newClient(t, c.NC, m.edit)
			ctx := ctx(t)
			prefix := strings.ReplaceAll(m.name, " ", "-") + "-"
			for i := range skus {
				if _, err := cl.SetLimit(ctx, fmt.Sprintf("%s%d", prefix, i), limit); err != nil {
					t.Fatal(err)
				}
			}
			var wg sync.WaitGroup
			granted := make([]atomic.Int64, skus)
			for i := range skus {
				for range 4 {
					wg.Go(func() {
						for {
							g, err := cl.Acquire(ctx, fmt.Sprintf("%s%d", prefix, i), 1)
							if errors.Is(err, client.ErrSoldOut) {
								return
							}
							if err != nil {
								t.Errorf("acquire: %v", err)
								return
							}
							granted[i].Add(g.Granted)
						}
					})
				}
			}
			wg.Wait()
			for i := range skus {
				s, err := cl.Query(ctx, fmt.Sprintf("%s%d", prefix, i))
				if err != nil || s.Sold != limit || s.Remaining != 0 || granted[i].Load() != limit {
					t.Fatalf("%s%d after selling out: %+v %v, granted %d", prefix, i, s, err, granted[i].Load())
				}
			}

			items := make([]client.HoldItem, 0, skus)
			for i := range skus {
				sku := fmt.Sprintf("%sh%d", prefix, i)
				if _, err := cl.SetLimit(ctx, sku, 5); err != nil {
					t.Fatal(err)
				}
				items = append(items, client.HoldItem{SKU: sku, ID: "cart-" + sku, N: 2, TTL: time.Minute})
			}
			res, err := cl.Holds(ctx, items)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				if r.Err != nil || r.Hold.SKU != items[i].SKU || r.Hold.Remaining != 3 {
					t.Fatalf("hold %d: %+v", i, r)
				}
				if _, err := cl.Confirm(ctx, items[i].SKU, items[i].ID); err != nil {
					t.Fatalf("confirm %s: %v", items[i].SKU, err)
				}
			}
		})
	}
}
