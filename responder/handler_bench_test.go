package responder

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/election"
	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/stock"
)

// benchTerm is a leading term over real NATS and etcd with one SKU whose
// durable window is larger than any benchmark takes.
func benchTerm(b *testing.B) *term {
	b.Helper()
	nc := testenv.Conn(b, testenv.NATS(b))
	cli := testenv.Client(b, testenv.Endpoint(testenv.Etcd(b)))
	el := election.New(cli, "/bench/leader", "bench", 5*time.Second, nil)
	b.Cleanup(func() { el.Close() })
	lead, err := el.Campaign(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	store := capstore.New(cli, "/bench")
	rec := stock.Record{Limit: stock.MaxLimit, Cap: stock.MaxLimit / 2}
	if ok, err := store.Commit(context.Background(), lead.Key(), lead.Rev(), map[string]stock.Record{"sku1": rec}, nil); !ok || err != nil {
		b.Fatal(ok, err)
	}
	campaign := func(context.Context) (Leadership, error) { return lead, nil }
	s, err := New(nc, store, campaign, DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	t := newTerm(s.parts[0], lead)
	t.start(newCatalog(map[string]stock.Record{"sku1": {Limit: rec.Limit, Cap: 0}}, nil))
	e, _ := t.cat.get("sku1")
	e.item.Raise(rec.Cap) // durable above
	b.Cleanup(func() { t.stopWriting(); t.ev.close(); t.exp.close() })
	return t
}

// BenchmarkAcquireHandler is the whole request path of a grant but NATS's
// own delivery: decode, lookup, window, reply encoding, publish, counters.
func BenchmarkAcquireHandler(b *testing.B) {
	t := benchTerm(b)
	m := &nats.Msg{Subject: "stock.acquire.sku1", Reply: "_INBOX.bench.1", Data: []byte(`{"n":1}`)}
	b.ReportAllocs()
	for b.Loop() {
		t.handle(epAcquire, m)
	}
}

// BenchmarkAcquireHandlerParallel runs the handler on every core at once,
// as the responder's several subscriptions do.
func BenchmarkAcquireHandlerParallel(b *testing.B) {
	t := benchTerm(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		m := &nats.Msg{Subject: "stock.acquire.sku1", Reply: "_INBOX.bench.1", Data: []byte(`{"n":1}`)}
		for pb.Next() {
			t.handle(epAcquire, m)
		}
	})
}
