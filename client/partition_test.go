package client_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/client"
	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/wire"
)

const parts = 16

// partitioned sets 16 partitions.
func partitioned(c *client.Config) { c.Partitions = parts }

// skusOver returns count SKUs that cover all 16 partitions, in a mixed
// order of partitions.
func skusOver(t testing.TB, count int) []string {
	t.Helper()
	skus := make([]string, count)
	seen := map[int]bool{}
	for i := range skus {
		skus[i] = fmt.Sprintf("sku-%d", i)
		seen[wire.Partition(skus[i], parts)] = true
	}
	if len(seen) != parts {
		t.Fatalf("%d SKUs cover %d of %d partitions", count, len(seen), parts)
	}
	return skus
}

// skuIn returns a SKU of partition p.
func skuIn(t testing.TB, p int) string {
	t.Helper()
	for i := range 10000 {
		if s := fmt.Sprintf("p%d-%d", p, i); wire.Partition(s, parts) == p {
			return s
		}
	}
	t.Fatalf("no SKU of partition %d", p)
	return ""
}

func TestConfigPartitions(t *testing.T) {
	for _, tt := range []struct {
		n  int
		ok bool
	}{{0, true}, {1, true}, {16, true}, {wire.MaxPartitions, true}, {-1, false}, {wire.MaxPartitions + 1, false}} {
		cfg := client.DefaultConfig()
		cfg.Partitions = tt.n
		if err := cfg.Validate(); (err == nil) != tt.ok {
			t.Errorf("Partitions %d: Validate() = %v, want ok %v", tt.n, err, tt.ok)
		}
	}
	if n := client.DefaultConfig().Partitions; n != 1 {
		t.Errorf("default Partitions %d, want 1", n)
	}
}

// TestPartitionRoutesEveryCall: with 16 partitions every call that names a
// SKU goes to wire.SKUSubject of its verb and SKU, and a batched acquire
// to its partition's batch subject; the fake refuses anything else.
func TestPartitionRoutesEveryCall(t *testing.T) {
	for _, prefix := range []string{"stock", "shop.stock"} {
		t.Run(prefix, func(t *testing.T) {
			srv := testenv.NATS(t)
			f := startPartFake(t, srv, prefix, parts, partFakeOptions{})
			nc := testenv.Conn(t, srv)
			c := newClient(t, nc, func(cfg *client.Config) { cfg.Prefix, cfg.Partitions = prefix, parts })
			ctx := ctx(t)
			var want []string
			for _, sku := range skusOver(t, 100) {
				calls := []struct {
					verb string
					do   func() error
				}{
					{wire.SubjectAcquire, func() error {
						g, err := c.Acquire(ctx, sku, 2)
						if err == nil && (g.Granted != 2 || g.Remaining != remainingOf(sku)) {
							err = fmt.Errorf("grant %+v", g)
						}
						return err
					}},
					{wire.SubjectRelease, func() error { _, err := c.Release(ctx, sku, 1); return err }},
					{wire.SubjectQuery, func() error { _, err := c.Query(ctx, sku); return err }},
					{wire.SubjectQuery, func() error {
						b, err := c.QueryBuyer(ctx, sku, "u-1")
						if err == nil && b.Buyer != "u-1" {
							err = fmt.Errorf("buyer %+v", b)
						}
						return err
					}},
					{wire.SubjectSet, func() error { _, err := c.SetLimit(ctx, sku, 10); return err }},
					{wire.SubjectSet, func() error { _, err := c.SetLimitPerBuyer(ctx, sku, 10, 2); return err }},
					{wire.SubjectDelete, func() error { return c.Delete(ctx, sku) }},
					{wire.SubjectHold, func() error { _, err := c.Hold(ctx, sku, "h-"+sku, 1, time.Minute); return err }},
					{wire.SubjectConfirm, func() error { _, err := c.Confirm(ctx, sku, "h-"+sku); return err }},
					{wire.SubjectCancel, func() error { _, err := c.Cancel(ctx, sku, "h-"+sku); return err }},
					{wire.SubjectExtend, func() error { _, err := c.Extend(ctx, sku, "h-"+sku, time.Minute); return err }},
				}
				for _, call := range calls {
					if err := call.do(); err != nil {
						t.Fatalf("%s %s: %v", call.verb, sku, err)
					}
					want = append(want, wire.SKUSubject(prefix, call.verb, sku, parts))
				}
			}
			var got []string
			for _, r := range f.received(t) {
				got = append(got, r.subject)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("subjects differ:\n got %d: %.5q...\nwant %d: %.5q...", len(got), got, len(want), want)
			}
		})
	}
}

// TestPartitionRoutesBatched: a batching Client sends each acquire to the
// batch subject of its SKU's partition, and each caller gets its own item's
// result.
func TestPartitionRoutesBatched(t *testing.T) {
	srv := testenv.NATS(t)
	f := startPartFake(t, srv, "stock", parts, partFakeOptions{})
	c := newClient(t, testenv.Conn(t, srv), func(cfg *client.Config) { batched(cfg); partitioned(cfg) })
	ctx := ctx(t)
	for _, sku := range skusOver(t, 100) {
		g, err := c.Acquire(ctx, sku, 3)
		if err != nil || g.SKU != sku || g.Granted != 3 || g.Remaining != remainingOf(sku) {
			t.Fatalf("Acquire(%s) = %+v, %v", sku, g, err)
		}
		rs := f.received(t)
		last := rs[len(rs)-1]
		if want := wire.PartitionBatchSubject("stock", wire.SubjectAcquire, wire.Partition(sku, parts)); last.subject != want || !slices.Equal(last.skus, []string{sku}) {
			t.Fatalf("Acquire(%s) sent %+v, want a batch of it on %s", sku, last, want)
		}
	}
}

// TestPartitionBatchSplitMerge: 3,000 concurrent batched acquires of 300
// SKUs over 16 partitions travel in messages that each hold items of one
// partition only, on that partition's subject, with one message of every
// partition in flight at once (the fake holds its replies until it has
// seen all 16); each caller gets its own item's result.
func TestPartitionBatchSplitMerge(t *testing.T) {
	const calls = 3000
	srv := testenv.NATS(t)
	gate := make(chan struct{})
	f := startPartFake(t, srv, "stock", parts, partFakeOptions{gate: gate})
	c := newClient(t, testenv.Conn(t, srv), func(cfg *client.Config) { batched(cfg); partitioned(cfg) })
	ctx := ctx(t)
	skus := skusOver(t, 300)

	errs := make([]error, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			sku, n := skus[i%len(skus)], int64(1+i%5)
			g, err := c.Acquire(ctx, sku, n)
			if err == nil && (g.SKU != sku || g.Granted != n || g.Remaining != remainingOf(sku)) {
				err = fmt.Errorf("got %+v, want %d of %s", g, n, sku)
			}
			errs[i] = err
		})
	}
	// Every partition has a message in flight before any is answered.
	testenv.Eventually(t, 10*time.Second, time.Millisecond, func() error {
		inFlight := map[string]bool{}
		for _, r := range f.received(t) {
			inFlight[r.subject] = true
		}
		if len(inFlight) < parts {
			return fmt.Errorf("%d partitions have a batch in flight, want %d", len(inFlight), parts)
		}
		return nil
	})
	close(gate)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	items, subjects := 0, map[string]int{}
	for _, r := range f.received(t) {
		p := wire.Partition(r.skus[0], parts)
		if want := wire.PartitionBatchSubject("stock", wire.SubjectAcquire, p); r.subject != want {
			t.Fatalf("a batch of %s on %s, want %s", r.skus[0], r.subject, want)
		}
		for _, sku := range r.skus {
			if wire.Partition(sku, parts) != p {
				t.Fatalf("a batch on %s holds %s of partition %d", r.subject, sku, wire.Partition(sku, parts))
			}
		}
		items += len(r.skus)
		subjects[r.subject]++
	}
	if items != calls || len(subjects) != parts {
		t.Fatalf("%d items on %d subjects, want %d on %d", items, len(subjects), calls, parts)
	}
}

// TestPartitionHoldsSplitMerge: Holds of items of every partition sends one
// message per partition, all at once (the fake answers none until it has
// all 16), each holding its partition's items in their order, and returns
// the results in the order of the items.
func TestPartitionHoldsSplitMerge(t *testing.T) {
	srv := testenv.NATS(t)
	gate := make(chan struct{})
	f := startPartFake(t, srv, "stock", parts, partFakeOptions{gate: gate})
	c := newClient(t, testenv.Conn(t, srv), partitioned)
	ctx := ctx(t)
	var items []client.HoldItem
	for i, sku := range skusOver(t, 400) {
		items = append(items, client.HoldItem{SKU: sku, ID: fmt.Sprintf("cart-%d", i), N: int64(1 + i%4)})
	}
	items = append(items, client.HoldItem{SKU: "bad.sku", ID: "cart-x", N: 1}) // refused before sending
	var rs []client.HoldResult
	var err error
	done := make(chan struct{})
	go func() {
		defer close(done)
		rs, err = c.Holds(ctx, items)
	}()
	testenv.Eventually(t, 10*time.Second, time.Millisecond, func() error {
		inFlight := map[string]bool{}
		for _, r := range f.received(t) {
			inFlight[r.subject] = true
		}
		if len(inFlight) < parts {
			return fmt.Errorf("%d partitions have a hold batch in flight, want %d", len(inFlight), parts)
		}
		return nil
	})
	close(gate)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range items[:len(items)-1] {
		if r := rs[i]; r.Err != nil || r.Hold.SKU != it.SKU || r.Hold.ID != it.ID || r.Hold.Held != it.N || r.Hold.Remaining != remainingOf(it.SKU) {
			t.Fatalf("item %d (%+v): %+v", i, it, r)
		}
	}
	if r := rs[len(items)-1]; !errors.Is(r.Err, client.ErrBadRequest) {
		t.Fatalf("bad item: %+v", r)
	}
	got := f.received(t)
	if len(got) != parts {
		t.Fatalf("%d messages, want one per partition (%d)", len(got), parts)
	}
	for _, r := range got {
		p := wire.Partition(r.skus[0], parts)
		var want []string // the partition's items, in their order
		for _, it := range items[:len(items)-1] {
			if wire.Partition(it.SKU, parts) == p {
				want = append(want, it.SKU)
			}
		}
		if r.subject != wire.PartitionBatchSubject("stock", wire.SubjectHold, p) || !slices.Equal(r.skus, want) {
			t.Fatalf("message on %s holds %v, want %v on partition %d", r.subject, r.skus, want, p)
		}
	}
}

// TestPartitionsDiscovery: a Client with Partitions 0 asks
// <prefix>.partitions once, however many calls start together, retries the
// question while nobody answers it, and then routes by the answer.
func TestPartitionsDiscovery(t *testing.T) {
	srv := testenv.NATS(t)
	f := startPartFake(t, srv, "stock", parts, partFakeOptions{noAsk: true})
	c := newClient(t, testenv.Conn(t, srv), func(cfg *client.Config) { cfg.Partitions = 0 })
	ctx := ctx(t)
	skus := skusOver(t, 64)
	errs := make([]error, len(skus))
	var wg sync.WaitGroup
	for i, sku := range skus {
		wg.Go(func() { _, errs[i] = c.Acquire(ctx, sku, 1) })
	}
	time.Sleep(50 * time.Millisecond) // the question meets no responders meanwhile
	if n := len(f.received(t)); n != 0 {
		t.Fatalf("%d requests sent before the partitions were known", n)
	}
	f.answerAsk(wire.AppendPartitions(nil, parts))
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Acquire(%s): %v", skus[i], err)
		}
	}
	if n := f.askCount(); n != 1 {
		t.Fatalf("asked %d times, want once", n)
	}
	if n, err := c.Partitions(ctx); n != parts || err != nil {
		t.Fatalf("Partitions = %d, %v", n, err)
	}
	var want []string
	for _, r := range f.received(t) {
		want = append(want, wire.SKUSubject("stock", wire.SubjectAcquire, r.skus[0], parts))
		if r.subject != want[len(want)-1] {
			t.Fatalf("Acquire(%s) sent on %s, want %s", r.skus[0], r.subject, want[len(want)-1])
		}
	}
	if len(want) != len(skus) || f.askCount() != 1 {
		t.Fatalf("%d acquires, %d questions", len(want), f.askCount())
	}
}

// TestPartitionsDiscoveryBatched: a batching Client learns the partitions
// before queueing, and Partitions given in Config asks nothing.
func TestPartitionsDiscoveryBatched(t *testing.T) {
	srv := testenv.NATS(t)
	f := startPartFake(t, srv, "stock", parts, partFakeOptions{})
	c := newClient(t, testenv.Conn(t, srv), func(cfg *client.Config) { batched(cfg); cfg.Partitions = 0 })
	sku := skuIn(t, 7)
	if g, err := c.Acquire(ctx(t), sku, 1); err != nil || g.Granted != 1 {
		t.Fatalf("Acquire = %+v, %v", g, err)
	}
	if rs := f.received(t); len(rs) != 1 || rs[0].subject != "stock.partition.7.acquire" || f.askCount() != 1 {
		t.Fatalf("sent %+v after %d questions", rs, f.askCount())
	}
	given := newClient(t, testenv.Conn(t, srv), partitioned)
	if n, err := given.Partitions(ctx(t)); n != parts || err != nil || f.askCount() != 1 {
		t.Fatalf("Partitions = %d, %v after %d questions", n, err, f.askCount())
	}
}

// TestPartitionsDiscoveryFails: a question nobody answers fails the call
// when CallTimeout passes, with no request sent; a reply that is not
// {"partitions":P} fails it at once; unavailable is retried.
func TestPartitionsDiscoveryFails(t *testing.T) {
	t.Run("no responders", func(t *testing.T) {
		srv := testenv.NATS(t)
		f := startPartFake(t, srv, "stock", parts, partFakeOptions{noAsk: true})
		c := newClient(t, testenv.Conn(t, srv), func(cfg *client.Config) { cfg.Partitions, cfg.CallTimeout = 0, 200*time.Millisecond })
		start := time.Now()
		_, err := c.Acquire(ctx(t), "sku1", 1)
		if !errors.Is(err, nats.ErrNoResponders) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "stock.partitions") {
			t.Fatalf("Acquire = %v, want no responders on stock.partitions until the call timeout", err)
		}
		if d := time.Since(start); d < 150*time.Millisecond || d > 5*time.Second {
			t.Fatalf("gave up after %v", d)
		}
		if n := len(f.received(t)); n != 0 {
			t.Fatalf("%d requests sent", n)
		}
		f.answerAsk(wire.AppendPartitions(nil, parts)) // the next call asks again
		if _, err := c.Acquire(ctx(t), "sku1", 1); err != nil {
			t.Fatal(err)
		}
	})
	for _, reply := range []string{`{"partitions":0}`, `{"partitions":"16"}`, `{"partitions":16,"x":1}`, `16`} {
		t.Run(reply, func(t *testing.T) {
			srv := testenv.NATS(t)
			startPartFake(t, srv, "stock", parts, partFakeOptions{askReply: []byte(reply)})
			c := newClient(t, testenv.Conn(t, srv), func(cfg *client.Config) { cfg.Partitions = 0 })
			start := time.Now()
			_, err := c.Query(ctx(t), "sku1")
			if err == nil || !strings.Contains(err.Error(), `{"partitions":P}`) || time.Since(start) > 2*time.Second {
				t.Fatalf("Query = %v after %v, want a prompt error about the reply", err, time.Since(start))
			}
			if _, err := c.Partitions(ctx(t)); err == nil {
				t.Fatal("Partitions succeeded")
			}
		})
	}
	t.Run("unavailable", func(t *testing.T) {
		srv := testenv.NATS(t)
		startPartFake(t, srv, "stock", parts, partFakeOptions{noAsk: true})
		nc := testenv.Conn(t, srv)
		var mu sync.Mutex
		asked := 0
		if _, err := nc.Subscribe("stock.partitions", func(m *nats.Msg) {
			mu.Lock()
			asked++
			first := asked == 1
			mu.Unlock()
			if first {
				r := &nats.Msg{Header: nats.Header{}, Data: []byte(`{"sku":"","error":"unavailable","message":"starting"}`)}
				r.Header.Set(wire.HeaderErrorCode, "503")
				_ = m.RespondMsg(r)
				return
			}
			_ = m.Respond(wire.AppendPartitions(nil, parts))
		}); err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		c := newClient(t, testenv.Conn(t, srv), func(cfg *client.Config) { cfg.Partitions = 0 })
		if n, err := c.Partitions(ctx(t)); n != parts || err != nil {
			t.Fatalf("Partitions = %d, %v", n, err)
		}
		mu.Lock()
		defer mu.Unlock()
		if asked != 2 {
			t.Fatalf("asked %d times, want 2", asked)
		}
	})
}

// TestPartitionDownFailsOnlyItsItems: with one partition down (nobody
// subscribes: no responders) or paused (no reply), the calls and batch items
// of its SKUs fail when their call times out, and every other partition's
// are answered at once, batched or not.
func TestPartitionDownFailsOnlyItsItems(t *testing.T) {
	const dead = 5
	for _, tt := range []struct {
		name  string
		opts  partFakeOptions
		cause error
	}{
		{"down", partFakeOptions{down: map[int]bool{dead: true}}, nats.ErrNoResponders},
		{"paused", partFakeOptions{paused: map[int]bool{dead: true}}, nats.ErrTimeout},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := testenv.NATS(t)
			startPartFake(t, srv, "stock", parts, tt.opts)
			const callTimeout = time.Second
			edit := func(cfg *client.Config) { partitioned(cfg); cfg.CallTimeout = callTimeout }
			skus := skusOver(t, 200)
			check := func(t *testing.T, sku string, took time.Duration, err error) {
				t.Helper()
				if wire.Partition(sku, parts) == dead {
					if !errors.Is(err, tt.cause) || !errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("%s of the dead partition: %v, want %v until the call timeout", sku, err, tt.cause)
					}
					return
				}
				if err != nil || took >= callTimeout/2 {
					t.Errorf("%s: %v after %v, want an answer at once", sku, err, took)
				}
			}
			for _, m := range modes {
				t.Run(m.name, func(t *testing.T) {
					c := newClient(t, testenv.Conn(t, srv), func(cfg *client.Config) {
						if m.edit != nil {
							m.edit(cfg)
						}
						edit(cfg)
					})
					ctx := ctx(t)
					var wg sync.WaitGroup
					for i := range 1000 {
						wg.Go(func() {
							sku := skus[i%len(skus)]
							start := time.Now()
							_, err := c.Acquire(ctx, sku, 1)
							check(t, sku, time.Since(start), err)
						})
					}
					wg.Wait()
				})
			}
			t.Run("holds", func(t *testing.T) {
				c := newClient(t, testenv.Conn(t, srv), edit)
				var items []client.HoldItem
				for i, sku := range skus {
					items = append(items, client.HoldItem{SKU: sku, ID: fmt.Sprintf("c-%d", i), N: 1})
				}
				rs, err := c.Holds(ctx(t), items)
				if !errors.Is(err, tt.cause) {
					t.Fatalf("Holds: %v, want %v", err, tt.cause)
				}
				for i, r := range rs {
					check(t, items[i].SKU, 0, r.Err)
					if r.Err == nil && r.Hold.ID != items[i].ID {
						t.Errorf("item %d: %+v", i, r)
					}
				}
			})
		})
	}
}
