package responder

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/stock"
	"github.com/stockstate/stock/wire"
)

// batchBenchTerm is benchTerm with skus SKUs (sku1, sku2, ...), each with a
// durable window larger than any benchmark takes.
func batchBenchTerm(b *testing.B, skus int) *term {
	t := benchTerm(b)
	for i := 2; i <= skus; i++ {
		e := &entry{sku: fmt.Sprintf("sku%d", i), item: stock.Item{Limit: stock.MaxLimit}}
		e.item.Raise(stock.MaxLimit / 2)
		t.cat.put(e)
	}
	return t
}

// batchBenchMsg is a binary batch of items acquires of one unit, of SKUs
// picked uniformly from skus, without ids, as loadgen -batch sends.
func batchBenchMsg(items, skus int) *nats.Msg {
	r := rand.New(rand.NewPCG(1, 2))
	its := make([]wire.BatchItem, items)
	for i := range its {
		its[i] = wire.BatchItem{SKU: fmt.Sprintf("sku%d", 1+r.IntN(skus)), N: 1}
	}
	return &nats.Msg{Subject: "stock.acquire", Reply: "_INBOX.bench.1", Data: wire.AppendBatchRequest(nil, its)}
}

// BenchmarkBatchHandler is the whole path of a binary batch of 1024 grants
// but NATS's own delivery: decode, lookups, windows, reply encoding,
// publish to a real in-process NATS server, counters.
func BenchmarkBatchHandler(b *testing.B) {
	const items = 1024
	for _, skus := range []int{1, 1000} {
		b.Run(fmt.Sprintf("skus=%d", skus), func(b *testing.B) {
			t := batchBenchTerm(b, skus)
			m := batchBenchMsg(items, skus)
			b.ReportAllocs()
			for b.Loop() {
				t.onBatch(m)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*items), "ns/item")
		})
	}
}

// BenchmarkBatchHandlerParallel runs the batch handler on every core at
// once, as the responder's several subscriptions do.
func BenchmarkBatchHandlerParallel(b *testing.B) {
	const items = 1024
	for _, skus := range []int{1, 1000} {
		b.Run(fmt.Sprintf("skus=%d", skus), func(b *testing.B) {
			t := batchBenchTerm(b, skus)
			m := batchBenchMsg(items, skus)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					t.onBatch(m)
				}
			})
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*items), "ns/item")
		})
	}
}
