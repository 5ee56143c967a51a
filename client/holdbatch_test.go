package client_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stockstate/stock/client"
	"github.com/stockstate/stock/internal/testenv"
)

// TestHolds: one call makes many holds, each answered as Hold would answer
// it, bad items refused before sending, and a repeat returns the first
// answers and holds nothing more.
func TestHolds(t *testing.T) {
	_, c := leading(t, nil)
	ctx := ctx(t)
	for sku, limit := range map[string]int64{"sku1": 5, "sku2": 1} {
		if _, err := c.SetLimit(ctx, sku, limit); err != nil {
			t.Fatal(err)
		}
	}
	items := []client.HoldItem{
		{SKU: "sku1", ID: "cart-1", N: 3, TTL: time.Minute},
		{SKU: "sku2", ID: "cart-2", N: 1},
		{SKU: "sku2", ID: "cart-3", N: 1},
		{SKU: "sku1", ID: "cart-4", N: 3},
		{SKU: "nosuch", ID: "cart-5", N: 1},
		{SKU: "sku1", ID: "", N: 1},
		{SKU: "sku1", ID: "cart-6", N: 0},
	}
	check := func(rs []client.HoldResult, err error) {
		t.Helper()
		if err != nil || len(rs) != len(items) {
			t.Fatalf("Holds = %d results, %v", len(rs), err)
		}
		for i, want := range []error{nil, nil, client.ErrSoldOut, client.ErrInsufficient, client.ErrUnknownSKU, client.ErrBadRequest, client.ErrBadRequest} {
			if r := rs[i]; !errors.Is(r.Err, want) || (want == nil) != (r.Hold.Held == items[i].N && r.Hold.ID == items[i].ID) {
				t.Errorf("item %d: %+v, want error %v", i, r, want)
			}
		}
	}
	first, err := c.Holds(ctx, items)
	check(first, err)
	if d := time.Until(first[0].Hold.ExpiresAt); d < 58*time.Second || d > 62*time.Second {
		t.Errorf("a hold of 1m expires in %v", d)
	}
	again, err := c.Holds(ctx, items)
	check(again, err)
	if again[0].Hold != first[0].Hold || again[1].Hold != first[1].Hold {
		t.Fatalf("repeated Holds = %+v, want the first answers %+v", again[:2], first[:2])
	}
	if s, err := c.Query(ctx, "sku1"); err != nil || s.Held != 3 || s.Remaining != 2 {
		t.Fatalf("Query = %+v, %v; want 3 held, 2 remaining", s, err)
	}
	if _, err := c.Confirm(ctx, "sku2", "cart-2"); err != nil {
		t.Fatalf("Confirm of a hold made by Holds: %v", err)
	}
}

// TestHoldsAcrossLostSession: batches of holds sent while the leader's
// lease is revoked and a standby takes over all end held, each exactly
// once: the items answered unavailable are sent again with their ids, and
// a hold the old leader made is answered, not made again.
func TestHoldsAcrossLostSession(t *testing.T) {
	const workers, calls, items = 8, 40, 16
	c, a, b, cl := leaderAndStandby(t, nil, 10*workers*calls*items)
	var wg sync.WaitGroup
	errs := make(chan error, workers*calls*items)
	var mu sync.Mutex
	held := int64(0)
	started := make(chan struct{}, workers)
	for w := range workers {
		wg.Go(func() {
			for k := range calls {
				batch := make([]client.HoldItem, items)
				for i := range batch {
					batch[i] = client.HoldItem{SKU: "sku1", ID: fmt.Sprintf("w%d-c%d-i%d", w, k, i), N: 1}
				}
				rs, err := cl.Holds(ctx(t), batch)
				if err != nil {
					errs <- err
					return
				}
				for _, r := range rs {
					if r.Err != nil {
						errs <- r.Err
						continue
					}
					mu.Lock()
					held += r.Hold.Held
					mu.Unlock()
				}
				if k == 2 {
					started <- struct{}{}
				}
			}
		})
	}
	for range workers {
		<-started
	}
	lead := <-a.Leads
	if _, err := testenv.Client(t, c.Etcd).Revoke(ctx(t), lead.LeaseID()); err != nil {
		t.Fatal(err)
	}
	b.WaitLeading(t)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	s, err := cl.Query(ctx(t), "sku1")
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(workers * calls * items); held != want || s.Held != want || s.Leader != "node-b" {
		t.Fatalf("clients saw %d held, server %+v; want all %d held on node-b", held, s, want)
	}
}
