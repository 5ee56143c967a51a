package stock_test

import (
	"testing"
	"time"

	"github.com/stockstate/stock/stock"
)

func BenchmarkAcquire(b *testing.B) {
	for _, bc := range []struct {
		name string
		item stock.Item
	}{
		{name: "granted", item: stock.Item{Limit: stock.MaxLimit, Cap: stock.MaxLimit}},
		{name: "wait", item: stock.Item{Limit: stock.MaxLimit}},
		{name: "sold_out", item: stock.Item{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			it := bc.item
			b.ReportAllocs()
			for b.Loop() {
				it.Acquire(1)
			}
		})
	}
}

func BenchmarkPlanRefill(b *testing.B) {
	p := stock.DefaultPolicy()
	// An item with a planned window and a rate, 100 ms and 1000 units later.
	base := stock.Item{Limit: stock.MaxLimit}
	target, _ := base.PlanRefill(t0, p, 1000)
	base.Raise(target)
	for range 1000 {
		base.Acquire(1)
	}
	now := t0.Add(100 * time.Millisecond)
	b.ReportAllocs()
	for b.Loop() {
		it := base
		if _, ok := it.PlanRefill(now, p, 0); !ok {
			b.Fatal("PlanRefill = false")
		}
	}
}
