package client

import (
	"fmt"
	"testing"

	"github.com/stockstate/stock/wire"
)

// TestRoutes: the subjects computed once are wire's, for one partition
// (the protocol without partitions) and for many, and a SKU subject costs
// one allocation.
func TestRoutes(t *testing.T) {
	for _, n := range []int{1, 2, 16, wire.MaxPartitions} {
		r := newRoutes("shop.stock", n)
		for i := range 500 {
			sku := fmt.Sprintf("sku-%d", i)
			for _, verb := range wire.SKUVerbs {
				if got, want := r.skuSubject("shop.stock."+verb+".", sku), wire.SKUSubject("shop.stock", verb, sku, n); got != want {
					t.Fatalf("n=%d: %q, want %q", n, got, want)
				}
			}
		}
		for p := range n {
			want, wantHold := wire.PartitionBatchSubject("shop.stock", wire.SubjectAcquire, p), wire.PartitionBatchSubject("shop.stock", wire.SubjectHold, p)
			if n == 1 {
				want, wantHold = "shop.stock.acquire", "shop.stock.hold"
			}
			if r.batch[p] != want || r.holdBatch[p] != wantHold {
				t.Fatalf("n=%d, partition %d: %q, %q; want %q, %q", n, p, r.batch[p], r.holdBatch[p], want, wantHold)
			}
		}
		if allocs := testing.AllocsPerRun(100, func() { _ = r.skuSubject("stock.acquire.", "sku-12345") }); allocs > 1 {
			t.Errorf("n=%d: a SKU subject costs %v allocations, want 1", n, allocs)
		}
	}
}
