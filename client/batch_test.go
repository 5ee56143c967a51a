package client_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/client"
	"github.com/stockstate/stock/internal/stocktest"
	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/wire"
)

// counter counts the messages on a subject from its own connection; it does
// not answer them.
type counter struct {
	nc  *nats.Conn
	sub *nats.Subscription
}

func countOn(t testing.TB, nc *nats.Conn, subject string) *counter {
	t.Helper()
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return &counter{nc: nc, sub: sub}
}

// count returns the messages received so far: after a flush, the server has
// delivered all it routed before.
func (c *counter) count(t testing.TB) int {
	t.Helper()
	if err := c.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	n, _, err := c.sub.Pending()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestBatchCoalesces: 200 concurrent Acquire calls on four SKUs travel in
// far fewer than 200 batch requests, none on the single subject, and each
// caller gets its own item's result or typed error.
func TestBatchCoalesces(t *testing.T) {
	const calls = 200
	c, cl := leading(t, batched)
	ctx := ctx(t)
	for sku, limit := range map[string]int64{"plenty": 1000, "none": 0, "few": 3} {
		if _, err := cl.SetLimit(ctx, sku, limit); err != nil {
			t.Fatal(err)
		}
	}
	cnc := testenv.Conn(t, c.NATS)
	batches := countOn(t, cnc, "stock.acquire")
	singles := countOn(t, cnc, "stock.acquire.*")

	type result struct {
		g   client.Grant
		err error
	}
	results := make([]result, calls)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			<-start
			sku, n := []string{"plenty", "none", "few", "nosuch"}[i%4], int64(1)
			if sku == "few" {
				n = 5
			}
			results[i].g, results[i].err = cl.Acquire(ctx, sku, n)
		})
	}
	close(start)
	wg.Wait()

	units := map[int64]bool{}
	for i, r := range results {
		var e *client.Error
		switch i % 4 {
		case 0:
			if r.err != nil || r.g.SKU != "plenty" || r.g.Granted != 1 || units[r.g.Remaining] {
				t.Fatalf("call %d: %+v, %v; want a grant of its own unit", i, r.g, r.err)
			}
			units[r.g.Remaining] = true
		case 1:
			if !errors.Is(r.err, client.ErrSoldOut) || !errors.As(r.err, &e) || e.SKU != "none" || e.Code != 409 {
				t.Fatalf("call %d: %v, want sold out", i, r.err)
			}
		case 2:
			if !errors.Is(r.err, client.ErrInsufficient) || !errors.As(r.err, &e) || e.SKU != "few" || e.Remaining != 3 ||
				e.Message != "5 requested, 3 remaining" {
				t.Fatalf("call %d: %#v, want insufficient with 3 remaining", i, r.err)
			}
		case 3:
			if !errors.Is(r.err, client.ErrUnknownSKU) || !errors.As(r.err, &e) || e.SKU != "nosuch" || e.Code != 404 {
				t.Fatalf("call %d: %v, want unknown sku", i, r.err)
			}
		}
	}
	if s, err := cl.Query(ctx, "plenty"); err != nil || s.Sold != calls/4 {
		t.Fatalf("Query = %+v, %v; want %d sold", s, err, calls/4)
	}
	n := batches.count(t)
	t.Logf("%d calls in %d batch requests", calls, n)
	if n < 1 || n > calls/4 {
		t.Fatalf("%d calls took %d batch requests, want at most %d", calls, n, calls/4)
	}
	if n := singles.count(t); n != 0 {
		t.Fatalf("%d requests on the single subject", n)
	}
}

// TestBatchResultsMapToCallers: in batches of many callers' items, each
// caller gets the result of its own item, of every kind, in order.
func TestBatchResultsMapToCallers(t *testing.T) {
	const calls = 120
	srv := testenv.NATS(t)
	kinds := []string{"", wire.ErrSoldOut, wire.ErrInsufficient, wire.ErrUnknownSKU,
		wire.ErrBadRequest, wire.ErrInternal}
	f := startBatchFake(t, srv, func(_ int, items []wire.BatchItem) *nats.Msg {
		time.Sleep(10 * time.Millisecond) // let the next batch gather
		results := make([]wire.BatchResult, len(items))
		for j, it := range items {
			var k int64
			if _, err := fmt.Sscanf(it.SKU, "s%d", &k); err != nil {
				t.Errorf("item %+v: %v", it, err)
			}
			results[j] = wire.BatchResult{Error: kinds[k%6], Remaining: k * 10}
			if k%6 == 0 {
				results[j].Granted = it.N
			}
		}
		return batchReply(results)
	})
	cl := newClient(t, testenv.Conn(t, srv), batched)
	var wg sync.WaitGroup
	for i := range int64(calls) {
		wg.Go(func() {
			sku, n := fmt.Sprintf("s%d", i), i%5+1
			g, err := cl.Acquire(ctx(t), sku, n)
			kind := kinds[i%6]
			if kind == "" {
				if want := (client.Grant{SKU: sku, Granted: n, Remaining: i * 10}); err != nil || g != want {
					t.Errorf("%s: %+v, %v; want %+v", sku, g, err, want)
				}
				return
			}
			var e *client.Error
			if !errors.As(err, &e) || e.Kind != kind || e.SKU != sku || e.Remaining != i*10 || e.Message == "" ||
				e.Code == 0 || errors.Is(err, client.ErrUnavailable) {
				t.Errorf("%s: %#v, want a %s error with remaining %d", sku, err, kind, i*10)
			}
		})
	}
	wg.Wait()
	batches := f.received(t)
	seen := map[string]bool{}
	for _, b := range batches {
		for _, it := range b {
			if seen[it.SKU] || it.ID == "" {
				t.Fatalf("item %+v sent twice or without an id", it)
			}
			seen[it.SKU] = true
		}
	}
	t.Logf("%d calls in %d batches", calls, len(batches))
	if len(seen) != calls || len(batches) >= calls/2 {
		t.Fatalf("%d items in %d batches, want %d in fewer than %d", len(seen), len(batches), calls, calls/2)
	}
}

// TestBatchRetriesKeepIDs: items answered unavailable, or whose batch was
// answered unavailable, got no reply or met no responders, are sent again
// in later batches with the same id, and each is granted once. The fake
// keeps grants by id, as the leader does.
func TestBatchRetriesKeepIDs(t *testing.T) {
	const calls = 40
	tests := []struct {
		name string
		// first answers batch 0 (or, for items, their first sight); nil
		// means as usual.
		itemsFirst bool // odd callers' items are answered unavailable the first time
		batchFirst func(grant func() *nats.Msg) *nats.Msg
		late       bool // the fake subscribes only after the calls start: attempts meet no responders, and only the last reaches it
	}{
		{name: "items unavailable", itemsFirst: true},
		{name: "batch unavailable", batchFirst: func(func() *nats.Msg) *nats.Msg {
			return errMsg("", wire.ErrUnavailable, 503, 0)
		}},
		{name: "batch reply lost", batchFirst: func(grant func() *nats.Msg) *nats.Msg {
			grant()
			return nil
		}},
		{name: "no responders", late: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testenv.NATS(t)
			var mu sync.Mutex
			granted := map[string]wire.BatchResult{} // id -> first grant
			sent := map[string][]string{}            // sku -> ids, per attempt
			remaining := int64(1_000_000)
			answer := func(i int, items []wire.BatchItem) *nats.Msg {
				mu.Lock()
				defer mu.Unlock()
				for _, it := range items {
					sent[it.SKU] = append(sent[it.SKU], it.ID)
				}
				grant := func() *nats.Msg {
					results := make([]wire.BatchResult, len(items))
					for j, it := range items {
						var k int
						fmt.Sscanf(it.SKU, "s%d", &k)
						if tt.itemsFirst && k%2 == 1 && len(sent[it.SKU]) == 1 {
							results[j] = wire.BatchResult{Error: wire.ErrUnavailable}
							continue
						}
						r, ok := granted[it.ID]
						if !ok {
							remaining -= it.N
							r = wire.BatchResult{Granted: it.N, Remaining: remaining}
							granted[it.ID] = r
						}
						results[j] = r
					}
					return batchReply(results)
				}
				if i == 0 && tt.batchFirst != nil {
					return tt.batchFirst(grant)
				}
				return grant()
			}
			if !tt.late {
				startBatchFake(t, srv, answer)
			}
			cl := newClient(t, testenv.Conn(t, srv), func(c *client.Config) {
				fastRetries(c)
				batched(c)
			})
			var wg sync.WaitGroup
			grants := make([]client.Grant, calls)
			for i := range calls {
				wg.Go(func() {
					var opts []client.CallOption
					if i%3 == 0 {
						opts = append(opts, client.WithID(fmt.Sprintf("order-%d", i)))
					}
					g, err := cl.Acquire(ctx(t), fmt.Sprintf("s%d", i), 2, opts...)
					if err != nil || g.Granted != 2 {
						t.Errorf("call %d: %+v, %v", i, g, err)
					}
					grants[i] = g
				})
			}
			start := time.Now()
			if tt.late {
				time.Sleep(100 * time.Millisecond)
				startBatchFake(t, srv, answer)
			}
			wg.Wait()
			if tt.late && time.Since(start) < 100*time.Millisecond {
				t.Fatalf("calls returned after %v, before anyone answered", time.Since(start))
			}

			mu.Lock()
			defer mu.Unlock()
			if len(granted) != calls || remaining != 1_000_000-2*calls {
				t.Fatalf("%d grants, %d remaining; want one grant per call", len(granted), remaining)
			}
			retried := 0
			for i := range calls {
				ids := sent[fmt.Sprintf("s%d", i)]
				if len(ids) == 0 || ids[0] == "" {
					t.Fatalf("call %d: ids %q", i, ids)
				}
				for _, id := range ids {
					if id != ids[0] {
						t.Fatalf("call %d: attempts carried ids %q", i, ids)
					}
				}
				if i%3 == 0 && ids[0] != fmt.Sprintf("order-%d", i) {
					t.Fatalf("call %d: id %q, want the caller's", i, ids[0])
				}
				if g := granted[ids[0]]; grants[i].Remaining != g.Remaining {
					t.Fatalf("call %d: got %+v, the fake granted %+v", i, grants[i], g)
				}
				if len(ids) > 1 {
					retried++
				}
			}
			t.Logf("%d of %d calls retried", retried, calls)
			if tt.itemsFirst && retried != calls/2 {
				t.Fatalf("%d calls retried, want the %d odd ones", retried, calls/2)
			}
			if tt.batchFirst != nil && retried == 0 {
				t.Fatal("no call retried")
			}
		})
	}
}

// TestBatchWholeReplies: a reply that is not a batch reply ends every call
// of the batch: an error reply as its typed error, anything else as an
// error that is not a reply of the protocol. Neither is retried.
func TestBatchWholeReplies(t *testing.T) {
	tests := []struct {
		name  string
		reply *nats.Msg
		want  error // nil: a decoding error, not a *client.Error
	}{
		{"bad request", errMsg("", wire.ErrBadRequest, 400, 0), client.ErrBadRequest},
		{"internal", errMsg("", wire.ErrInternal, 500, 0), client.ErrInternal},
		{"too few results", batchReply(nil), nil},
		{"not a reply", &nats.Msg{Data: []byte("hello")}, nil},
		{"truncated", &nats.Msg{Data: []byte{0x01, 0x01, 0x00}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testenv.NATS(t)
			f := startBatchFake(t, srv, func(int, []wire.BatchItem) *nats.Msg { return tt.reply })
			cl := newClient(t, testenv.Conn(t, srv), func(c *client.Config) {
				fastRetries(c)
				batched(c)
			})
			_, err := cl.Acquire(ctx(t), "x", 1)
			var e *client.Error
			switch {
			case tt.want == nil && (err == nil || errors.As(err, &e)):
				t.Fatalf("err = %v, want a decoding error", err)
			case tt.want != nil && (!errors.Is(err, tt.want) || !errors.As(err, &e) || e.SKU != "x"):
				t.Fatalf("err = %v, want %v about x", err, tt.want)
			}
			if n := len(f.received(t)); n != 1 {
				t.Fatalf("%d batches, want 1", n)
			}
			t.Log(err)
		})
	}
}

// TestBatchCancelOneCaller: a caller whose context ends while its item is
// queued returns at once and its item is never sent; one whose context ends
// while its batch is in flight returns at once too; the other callers of
// both batches get their grants.
func TestBatchCancelOneCaller(t *testing.T) {
	const hold = 300 * time.Millisecond
	srv := testenv.NATS(t)
	var mu sync.Mutex
	remaining := int64(1000)
	f := startBatchFake(t, srv, func(i int, items []wire.BatchItem) *nats.Msg {
		if i < 2 {
			time.Sleep(hold) // batches 0 and 1 are in flight for hold
		}
		mu.Lock()
		defer mu.Unlock()
		results := make([]wire.BatchResult, len(items))
		for j, it := range items {
			remaining -= it.N
			results[j] = wire.BatchResult{Granted: it.N, Remaining: remaining}
		}
		return batchReply(results)
	})
	cl := newClient(t, testenv.Conn(t, srv), func(c *client.Config) {
		c.Batch = true
		c.Timeout = 10 * hold // the held batches are answered, not retried
	})

	acquire := func(ctx context.Context, id string) error {
		g, err := cl.Acquire(ctx, "x", 1, client.WithID(id))
		if err == nil && g.Granted != 1 {
			return fmt.Errorf("grant %+v", g)
		}
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	wg.Go(func() { errs <- acquire(ctx(t), "first") })
	testenv.Eventually(t, 5*time.Second, time.Millisecond, func() error {
		if len(f.received(t)) == 0 {
			return errors.New("batch 0 not sent yet")
		}
		return nil
	})
	// Batch 0 is in flight: what follows queues up for batch 1.
	queued, cancelQueued := context.WithTimeout(ctx(t), hold/3)
	defer cancelQueued()
	inflight, cancelInflight := context.WithTimeout(ctx(t), hold*4/3)
	defer cancelInflight()
	type ended struct {
		err  error
		took time.Duration
	}
	endq, endf := make(chan ended, 1), make(chan ended, 1)
	start := time.Now()
	wg.Go(func() {
		err := acquire(queued, "queued")
		endq <- ended{err, time.Since(start)}
	})
	wg.Go(func() {
		err := acquire(inflight, "inflight")
		endf <- ended{err, time.Since(start)}
	})
	for i := range 10 {
		wg.Go(func() { errs <- acquire(ctx(t), fmt.Sprintf("other-%d", i)) })
	}
	q := <-endq
	if !errors.Is(q.err, context.DeadlineExceeded) || q.took > hold*2/3 {
		t.Errorf("queued caller: %v after %v, want its deadline after %v", q.err, q.took, hold/3)
	}
	fl := <-endf
	if !errors.Is(fl.err, context.DeadlineExceeded) || fl.took > hold*5/3 {
		t.Errorf("in-flight caller: %v after %v, want its deadline after %v", fl.err, fl.took, hold*4/3)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	batches := f.received(t)
	ids := map[string]int{}
	for i, b := range batches {
		for _, it := range b {
			ids[it.ID] = i
		}
	}
	if _, ok := ids["queued"]; ok {
		t.Errorf("the queued caller's item was sent after it gave up")
	}
	if i, ok := ids["inflight"]; !ok || i != 1 {
		t.Errorf("the in-flight caller's item in batch %d (sent %v), want 1", i, ok)
	}
	if len(batches) != 2 || len(batches[1]) != 11 {
		t.Errorf("batches %+v: want the first call alone, then the others together", batches)
	}
}

// TestBatchClose: Close ends queued calls without sending them and calls in
// flight with ErrClosed, stops the senders (TestMain checks), and makes
// later calls fail; a second Close is harmless.
func TestBatchClose(t *testing.T) {
	srv := testenv.NATS(t)
	f := startBatchFake(t, srv, func(i int, items []wire.BatchItem) *nats.Msg {
		time.Sleep(300 * time.Millisecond)
		return batchReply(make([]wire.BatchResult, len(items)))
	})
	cl := newClient(t, testenv.Conn(t, srv), batched)
	errs := make(chan error, 3)
	go func() { _, err := cl.Acquire(ctx(t), "x", 1); errs <- err }()
	testenv.Eventually(t, 5*time.Second, time.Millisecond, func() error {
		if len(f.received(t)) == 0 {
			return errors.New("batch 0 not sent yet")
		}
		return nil
	})
	for range 2 {
		go func() { _, err := cl.Acquire(ctx(t), "x", 1); errs <- err }()
	}
	testenv.Eventually(t, 5*time.Second, time.Millisecond, func() error {
		if n := client.Queued(cl); n != 2 {
			return fmt.Errorf("%d calls queued behind the batch in flight, want 2", n)
		}
		return nil
	})
	start := time.Now()
	cl.Close()
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Errorf("Close took %v with a batch in flight", d)
	}
	for range 3 {
		if err := <-errs; !errors.Is(err, client.ErrClosed) {
			t.Errorf("call ended by Close: %v, want ErrClosed", err)
		}
	}
	cl.Close()
	if _, err := cl.Acquire(ctx(t), "x", 1); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Acquire after Close: %v", err)
	}
	if _, err := cl.Query(ctx(t), "x"); !errors.Is(err, client.ErrClosed) {
		t.Errorf("Query after Close: %v", err)
	}
	if n := len(f.received(t)); n != 1 {
		t.Errorf("%d batches sent, want only the one in flight", n)
	}
}

// TestBatchMaxInFlight: with MaxInFlight 3, up to three batches are in
// flight at once and never more; what arrives meanwhile waits for a sender.
func TestBatchMaxInFlight(t *testing.T) {
	const calls, hold = 60, 100 * time.Millisecond
	srv := testenv.NATS(t)
	var mu sync.Mutex
	var inflight, most int
	var timers sync.WaitGroup
	t.Cleanup(timers.Wait)
	rnc := testenv.Conn(t, srv)
	startBatchFake(t, srv, func(_ int, items []wire.BatchItem) *nats.Msg {
		mu.Lock()
		inflight++
		most = max(most, inflight)
		mu.Unlock()
		return nil // answered below, after hold
	})
	// A second subscriber on the subject answers each batch after hold, so
	// that the fake's handler never blocks and sees every batch arrive.
	timersSub, err := rnc.Subscribe("stock.acquire", func(m *nats.Msg) {
		items, err := stocktest.DecodeBatchRequest(m.Data)
		if err != nil {
			t.Error(err)
			return
		}
		timers.Add(1)
		time.AfterFunc(hold, func() {
			defer timers.Done()
			mu.Lock()
			inflight--
			mu.Unlock()
			results := make([]wire.BatchResult, len(items))
			for i := range results {
				results[i].Granted = 1
			}
			if err := m.RespondMsg(batchReply(results)); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
				t.Error(err)
			}
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer timersSub.Unsubscribe()
	if err := rnc.Flush(); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, testenv.Conn(t, srv), func(c *client.Config) {
		batched(c)
		c.MaxInFlight = 3
		c.MaxBatch = 8
	})
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			if _, err := cl.Acquire(ctx(t), fmt.Sprintf("s%d", i), 1); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if most != 3 {
		t.Fatalf("at most %d batches in flight at once, want 3", most)
	}
}
