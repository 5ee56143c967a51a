package client_test

import (
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/client"
	"github.com/stockstate/stock/internal/stocktest"
	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/wire"
)

// benchmarkAcquire runs b.N one-unit acquires against a responder in the
// process, from 256 goroutines per CPU (parallel) or from one, and reports
// grants per second and, from a subscriber that counts them, calls per
// batch request.
func benchmarkAcquire(b *testing.B, edit func(*client.Config), parallel bool) {
	c := stocktest.NewCluster(b)
	c.Start("node-a", "").WaitLeading(b)
	cl := newClient(b, c.NC, edit)
	ctx := ctx(b)
	if _, err := cl.SetLimit(ctx, "sku1", 1e15); err != nil {
		b.Fatal(err)
	}
	if _, err := cl.Acquire(ctx, "sku1", 1); err != nil { // the first window
		b.Fatal(err)
	}
	runAcquires(b, c.NATS.ClientURL(), cl, parallel)
}

func runAcquires(b *testing.B, url string, cl *client.Client, parallel bool) {
	batches := countOn(b, testenv.Connect(b, url), "stock.acquire")
	before := batches.count(b)
	ctx := ctx(b)
	b.ReportAllocs()
	b.ResetTimer()
	if parallel {
		b.SetParallelism(256)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := cl.Acquire(ctx, "sku1", 1); err != nil {
					b.Error(err)
					return
				}
			}
		})
	} else {
		for b.Loop() {
			if _, err := cl.Acquire(ctx, "sku1", 1); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "grants/s")
	if n := batches.count(b) - before; n > 0 {
		b.ReportMetric(float64(b.N)/float64(n), "calls/batch")
	}
}

// BenchmarkAcquireBatched: many goroutines share one batching Client.
func BenchmarkAcquireBatched(b *testing.B) { benchmarkAcquire(b, batched, true) }

// BenchmarkAcquireUnbatched: the same load, a request per call.
func BenchmarkAcquireUnbatched(b *testing.B) { benchmarkAcquire(b, nil, true) }

// BenchmarkAcquireLone: one goroutine, one call at a time: what batching
// costs a call that has nobody to share a batch with.
func BenchmarkAcquireLone(b *testing.B) {
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) { benchmarkAcquire(b, m.edit, false) })
	}
}

// BenchmarkAcquireBatchedNullResponder: the batching Client's own cost,
// against a fake that grants every item at once and keeps no state.
func BenchmarkAcquireBatchedNullResponder(b *testing.B) {
	srv := testenv.NATS(b)
	startBatchFake(b, srv, func(_ int, items []wire.BatchItem) *nats.Msg {
		results := make([]wire.BatchResult, len(items))
		for i := range results {
			results[i].Granted = 1
		}
		return batchReply(results)
	})
	runAcquires(b, srv.ClientURL(), newClient(b, testenv.Conn(b, srv), batched), true)
}
