package responder_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/internal/netproxy"
	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/responder"
	"github.com/stockstate/stock/wire"
)

// query asks for sku's state.
func query(t testing.TB, nc *nats.Conn, sku string) wire.Reply {
	t.Helper()
	return request(t, nc, "stock.query."+sku, "").Reply
}

// TestHoldRoundTrips exercises hold, confirm, cancel and extend, their
// repeats and their errors, as a user would with `nats req`.
func TestHoldRoundTrips(t *testing.T) {
	c := newCluster(t)
	c.Start("node-a", "").WaitLeading(t)
	nc := c.NC
	setLimit(t, nc, "sku1", 10)
	setLimit(t, nc, "sku2", 10)

	before := time.Now()
	h := request(t, nc, "stock.hold.sku1", `{"n":2,"id":"cart-1","ttl_s":60}`)
	expires, err := time.Parse(time.RFC3339, h.ExpiresAt)
	switch {
	case err != nil || h.code != 0:
		t.Fatalf("hold: %+v code %d: %v", h.Reply, h.code, err)
	case h.SKU != "sku1" || h.Held != 2 || h.Remaining != 8 || h.ID != "cart-1":
		t.Fatalf("hold: %+v", h.Reply)
	case expires.Before(before.Add(60*time.Second).Truncate(time.Second)) || expires.After(time.Now().Add(61*time.Second)):
		t.Fatalf("hold made at %v expires at %v, want 60 s later", before, expires)
	}
	if r := request(t, nc, "stock.hold.sku1", `{"n":2,"id":"cart-1","ttl_s":60}`); r.Reply != h.Reply {
		t.Fatalf("repeated hold: %+v, want the first answer %+v", r.Reply, h.Reply)
	}
	if q := query(t, nc, "sku1"); q.Held != 2 || q.Sold != 2 || q.Remaining != 8 || q.Limit != 10 {
		t.Fatalf("query with a hold: %+v", q)
	}

	if r := request(t, nc, "stock.confirm.sku1", `{"id":"cart-1"}`); r.Reply != (wire.Reply{SKU: "sku1", Confirmed: 2}) {
		t.Fatalf("confirm: %+v", r.Reply)
	}
	if r := request(t, nc, "stock.confirm.sku1", `{"id":"cart-1"}`); r.Reply != (wire.Reply{SKU: "sku1", Confirmed: 2}) {
		t.Fatalf("repeated confirm: %+v", r.Reply)
	}
	if q := query(t, nc, "sku1"); q.Held != 0 || q.Sold != 2 || q.Remaining != 8 {
		t.Fatalf("query after confirm: %+v", q)
	}

	request(t, nc, "stock.hold.sku1", `{"n":3,"id":"cart-2"}`)
	if r := request(t, nc, "stock.cancel.sku1", `{"id":"cart-2"}`); r.Reply != (wire.Reply{SKU: "sku1", Cancelled: 3, Remaining: 8}) {
		t.Fatalf("cancel: %+v", r.Reply)
	}
	if r := request(t, nc, "stock.cancel.sku1", `{"id":"cart-2"}`); r.Reply != (wire.Reply{SKU: "sku1", Cancelled: 3, Remaining: 8}) {
		t.Fatalf("repeated cancel: %+v", r.Reply)
	}
	if q := query(t, nc, "sku1"); q.Held != 0 || q.Sold != 5 || q.Limit != 13 || q.Remaining != 8 {
		t.Fatalf("query after cancel: %+v", q)
	}

	request(t, nc, "stock.hold.sku1", `{"id":"cart-3","ttl_s":5}`)
	e := request(t, nc, "stock.extend.sku1", `{"id":"cart-3","ttl_s":300}`)
	if at, err := time.Parse(time.RFC3339, e.ExpiresAt); err != nil || at.Before(time.Now().Add(299*time.Second)) || e.Held != 1 || e.ID != "cart-3" {
		t.Fatalf("extend: %+v (%v)", e.Reply, err)
	}

	errs := []struct {
		name, subject, body, kind string
		code                      int
	}{
		{"confirm of a cancelled hold", "confirm.sku1", `{"id":"cart-2"}`, wire.ErrUnknownHold, 404},
		{"cancel of a confirmed hold", "cancel.sku1", `{"id":"cart-1"}`, wire.ErrBadRequest, 400},
		{"extend of a confirmed hold", "extend.sku1", `{"id":"cart-1"}`, wire.ErrBadRequest, 400},
		{"confirm of no hold", "confirm.sku1", `{"id":"nope"}`, wire.ErrUnknownHold, 404},
		{"cancel of no hold", "cancel.sku1", `{"id":"nope"}`, wire.ErrUnknownHold, 404},
		{"confirm of another SKU's hold", "confirm.sku2", `{"id":"cart-3"}`, wire.ErrBadRequest, 400},
		{"hold id of another SKU", "hold.sku2", `{"id":"cart-3"}`, wire.ErrBadRequest, 400},
		{"hold of an unknown SKU", "hold.nosuch", `{"id":"x"}`, wire.ErrUnknownSKU, 404},
		{"hold past the limit", "hold.sku1", `{"n":9,"id":"big"}`, wire.ErrInsufficient, 409},
		{"hold without id", "hold.sku1", `{"n":1}`, wire.ErrBadRequest, 400},
		{"hold with empty body", "hold.sku1", ``, wire.ErrBadRequest, 400},
		{"ttl 0", "hold.sku1", `{"id":"t0","ttl_s":0}`, wire.ErrBadRequest, 400},
		{"ttl 86401", "hold.sku1", `{"id":"t1","ttl_s":86401}`, wire.ErrBadRequest, 400},
		{"negative n", "hold.sku1", `{"n":-1,"id":"t2"}`, wire.ErrBadRequest, 400},
		{"string n", "hold.sku1", `{"n":"1","id":"t3"}`, wire.ErrBadRequest, 400},
		{"unknown field", "hold.sku1", `{"id":"t4","ttl":900}`, wire.ErrBadRequest, 400},
		{"oversized", "hold.sku1", `{"id":"` + strings.Repeat("a", 5000) + `"}`, wire.ErrBadRequest, 400},
		{"confirm without id", "confirm.sku1", `{}`, wire.ErrBadRequest, 400},
		{"cancel with n", "cancel.sku1", `{"id":"cart-3","n":1}`, wire.ErrBadRequest, 400},
		{"extend with ttl 0", "extend.sku1", `{"id":"cart-3","ttl_s":0}`, wire.ErrBadRequest, 400},
		{"bad sku", "hold.a*b", `{"id":"x"}`, wire.ErrBadRequest, 400},
	}
	before1, before2 := query(t, nc, "sku1"), query(t, nc, "sku2")
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			r := request(t, nc, "stock."+tc.subject, tc.body)
			if r.Error != tc.kind || r.code != tc.code || r.Message == "" {
				t.Fatalf("got %+v code %d, want %s %d with a reason", r.Reply, r.code, tc.kind, tc.code)
			}
		})
	}
	if a, b := query(t, nc, "sku1"), query(t, nc, "sku2"); a != before1 || b != before2 {
		t.Fatalf("refused requests changed state: %+v %+v, were %+v %+v", a, b, before1, before2)
	}
}

// TestHoldExpires: a hold's units come back within a second of its
// expiry, once; a confirm after it is told expired.
func TestHoldExpires(t *testing.T) {
	c := newCluster(t)
	c.Start("node-a", "").WaitLeading(t)
	nc := c.NC
	setLimit(t, nc, "sku1", 10)
	h := request(t, nc, "stock.hold.sku1", `{"n":4,"id":"c","ttl_s":1}`)
	expires, err := time.Parse(time.RFC3339, h.ExpiresAt)
	if err != nil {
		t.Fatal(h, err)
	}
	testenv.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		if q := query(t, nc, "sku1"); q.Held != 0 {
			return fmt.Errorf("still held: %+v", q)
		}
		return nil
	})
	if late := time.Since(expires); late > time.Second {
		t.Errorf("units came back %v after expires_at, want within 1 s", late)
	}
	if q := query(t, nc, "sku1"); q.Limit != 14 || q.Sold != 4 || q.Remaining != 10 {
		t.Fatalf("after expiry: %+v, want limit 14 (4 units back once), sold 4", q)
	}
	for _, sub := range []string{"confirm", "cancel", "extend"} {
		if r := request(t, nc, "stock."+sub+".sku1", `{"id":"c"}`); r.Error != wire.ErrExpired || r.code != 409 {
			t.Fatalf("%s of an expired hold: %+v code %d", sub, r.Reply, r.code)
		}
	}
	if r := request(t, nc, "stock.hold.sku1", `{"n":4,"id":"c","ttl_s":1}`); r.Reply != h.Reply {
		t.Fatalf("repeated hold after its expiry: %+v, want the first answer %+v", r.Reply, h.Reply)
	}
	if q := query(t, nc, "sku1"); q.Limit != 14 {
		t.Fatalf("units came back twice: %+v", q)
	}
}

// TestHoldsSurviveAFailover: the next leader knows every hold: a repeat
// gets the first answer, a confirm and a cancel act once, and a hold whose
// leader died before its expiry is expired by the next one, once.
func TestHoldsSurviveAFailover(t *testing.T) {
	c := newCluster(t)
	a := c.Start("node-a", "")
	a.WaitLeading(t)
	b := c.Start("node-b", "")
	nc := c.NC
	setLimit(t, nc, "sku1", 100)
	keep := request(t, nc, "stock.hold.sku1", `{"n":2,"id":"keep","ttl_s":600}`)
	drop := request(t, nc, "stock.hold.sku1", `{"n":3,"id":"drop","ttl_s":600}`)
	short := request(t, nc, "stock.hold.sku1", `{"n":5,"id":"short","ttl_s":2}`)
	done := request(t, nc, "stock.hold.sku1", `{"n":1,"id":"done","ttl_s":600}`)
	confirmed := request(t, nc, "stock.confirm.sku1", `{"id":"done"}`)
	for _, r := range []reply{keep, drop, short, done, confirmed} {
		if r.code != 0 {
			t.Fatalf("before the failover: %+v", r.Reply)
		}
	}

	lead := <-a.Leads
	if _, err := testenv.Client(t, c.Etcd).Revoke(context.Background(), lead.LeaseID()); err != nil {
		t.Fatal(err)
	}
	b.WaitLeading(t)
	var q wire.Reply
	testenv.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		if q = query(t, nc, "sku1"); q.Leader != "node-b" {
			return fmt.Errorf("leader %q", q.Leader)
		}
		return nil
	})
	if q.Held != 10 && q.Held != 5 { // short may have expired already
		t.Fatalf("new leader holds %+v, want the 10 (or 5) units of the live holds", q)
	}
	if r := request(t, nc, "stock.hold.sku1", `{"n":2,"id":"keep","ttl_s":600}`); r.Reply != keep.Reply {
		t.Fatalf("repeated hold to the new leader: %+v, want %+v", r.Reply, keep.Reply)
	}
	if r := request(t, nc, "stock.confirm.sku1", `{"id":"done"}`); r.Reply != confirmed.Reply {
		t.Fatalf("repeated confirm to the new leader: %+v, want %+v", r.Reply, confirmed.Reply)
	}
	if r := request(t, nc, "stock.confirm.sku1", `{"id":"keep"}`); r.Confirmed != 2 {
		t.Fatalf("confirm on the new leader: %+v", r.Reply)
	}
	if r := request(t, nc, "stock.cancel.sku1", `{"id":"drop"}`); r.Cancelled != 3 {
		t.Fatalf("cancel on the new leader: %+v", r.Reply)
	}
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		if q = query(t, nc, "sku1"); q.Held != 0 {
			return fmt.Errorf("still held: %+v", q)
		}
		return nil
	})
	// 3 cancelled and 5 expired came back, once each.
	if q.Limit != 108 {
		t.Fatalf("after the failover: %+v, want limit 108", q)
	}
}

// TestConfirmRacesExpiry: confirms sent around their holds' expiry each
// get confirmed or expired, never both, and exactly the holds not confirmed
// give their units back.
func TestConfirmRacesExpiry(t *testing.T) {
	const holds, limit = 200, 1000
	c := newCluster(t)
	c.Start("node-a", "").WaitLeading(t)
	nc := c.NC
	setLimit(t, nc, "sku1", limit)
	for i := range holds {
		if r := request(t, nc, "stock.hold.sku1", fmt.Sprintf(`{"id":"h%d","ttl_s":1}`, i)); r.Held != 1 {
			t.Fatalf("hold %d: %+v", i, r.Reply)
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	counts := map[string]int{}
	for i := range holds {
		wg.Go(func() {
			time.Sleep(time.Duration(rand.IntN(2500)) * time.Millisecond) // spread the confirms around the expiry
			r := request(t, nc, "stock.confirm.sku1", fmt.Sprintf(`{"id":"h%d"}`, i))
			kind := r.Error
			if kind == "" && r.Confirmed == 1 {
				kind = "confirmed"
			}
			mu.Lock()
			counts[kind]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if counts["confirmed"]+counts[wire.ErrExpired] != holds || counts["confirmed"] == 0 || counts[wire.ErrExpired] == 0 {
		t.Fatalf("confirms answered %v; want every one confirmed or expired, some of each", counts)
	}
	var q wire.Reply
	testenv.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		if q = query(t, nc, "sku1"); q.Held != 0 {
			return fmt.Errorf("still held: %+v", q)
		}
		return nil
	})
	if back := q.Limit - limit; back != int64(counts[wire.ErrExpired]) || q.Sold != holds {
		t.Fatalf("%d units came back, %d confirms were told expired (%+v)", back, counts[wire.ErrExpired], q)
	}
}

// TestManyHoldsAtOnce: thousands of holds sent at once on one SKU, while
// its window refills, are all granted: the holds that one write carries
// beside the SKU's raised cap may be many more than one etcd transaction
// takes.
func TestManyHoldsAtOnce(t *testing.T) {
	const holds = 3000
	c := newCluster(t)
	c.Start("node-a", "").WaitLeading(t)
	nc := c.NC
	setLimit(t, nc, "sku1", 1_000_000)

	holdMany(t, nc, "sku1", "cart", holds, 600)
	if q := query(t, nc, "sku1"); q.Held != holds || q.Sold != holds {
		t.Fatalf("query: %+v; want %d held", q, holds)
	}
}

// holdMany sends holds of one unit with ids prefix-0.. at once, and waits
// for every answer.
func holdMany(t *testing.T, nc *nats.Conn, sku, prefix string, n, ttl int) {
	t.Helper()
	replies := make(chan *nats.Msg, n)
	inbox := nats.NewInbox()
	sub, err := nc.ChanSubscribe(inbox+".*", replies)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	for i := range n {
		body := fmt.Sprintf(`{"id":"%s-%d","ttl_s":%d}`, prefix, i, ttl)
		if err := nc.PublishRequest("stock.hold."+sku, fmt.Sprint(inbox, ".", i), []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	timeout := time.After(20 * time.Second)
	for i := range n {
		select {
		case m := <-replies:
			r, err := decodeReply(m)
			if err != nil || r.code != 0 || r.Held != 1 {
				t.Fatalf("reply %d: %+v code %d, %v; want a hold of 1", i, r.Reply, r.code, err)
			}
		case <-timeout:
			t.Fatalf("%d of %d holds answered in 20 s", i, n)
		}
	}
}

// TestMassExpiry: thousands of holds due in the same second all come back
// within two seconds, as one expiry mark in the SKU's record; a new leader
// returns none of them again and answers their confirms expired.
func TestMassExpiry(t *testing.T) {
	const holds = 3000
	c := newCluster(t)
	a := c.Start("node-a", "")
	a.WaitLeading(t)
	b := c.Start("node-b", "")
	nc := c.NC
	setLimit(t, nc, "sku1", 10_000)
	holdMany(t, nc, "sku1", "cart", holds, 1)
	testenv.Eventually(t, 4*time.Second, 10*time.Millisecond, func() error {
		if q := query(t, nc, "sku1"); q.Held != 0 || q.Limit != 10_000+holds || q.Remaining != 10_000 {
			return fmt.Errorf("query %+v: want every held unit back once", q)
		}
		return nil
	})
	resp, err := testenv.Client(t, c.Etcd).Get(context.Background(), "/stock/sku/sku1")
	if err != nil || len(resp.Kvs) != 1 || !strings.Contains(string(resp.Kvs[0].Value), `"expired_ms":`) {
		t.Fatalf("record %v, %v: want an expiry mark", resp.Kvs, err)
	}

	a.Stop(t)
	b.WaitLeading(t)
	if q := query(t, nc, "sku1"); q.Leader != "node-b" || q.Held != 0 || q.Limit != 10_000+holds {
		t.Fatalf("after the handoff: %+v; want the same limit and nothing held", q)
	}
	if r := request(t, nc, "stock.confirm.sku1", `{"id":"cart-7"}`); r.Error != wire.ErrExpired {
		t.Fatalf("confirm of an expired hold on the new leader: %+v, want expired", r.Reply)
	}
}

// TestResumeBelowTheExpiryMark: a live hold key due by its SKU's expiry
// mark (a leader died after the mark landed and before the key was
// rewritten) is expired for the next leader: its units are not held and
// not returned again, a confirm is answered expired, and the key is
// rewritten as expired.
func TestResumeBelowTheExpiryMark(t *testing.T) {
	c := newCluster(t)
	cli := testenv.Client(t, c.Etcd)
	mark := time.Now().Add(-time.Minute).UnixMilli()
	for key, value := range map[string]string{
		"/stock/sku/sku1":         fmt.Sprintf(`{"limit":12,"cap":5,"expired_ms":%d}`, mark),
		"/stock/hold/sku1/cart-1": fmt.Sprintf(`{"n":2,"expires_ms":%d,"state":"live","reply":{"sku":"sku1","held":2}}`, mark-1000),
		"/stock/hold/sku1/cart-2": fmt.Sprintf(`{"n":3,"expires_ms":%d,"state":"live","reply":{"sku":"sku1","held":3}}`, time.Now().Add(time.Hour).UnixMilli()),
	} {
		if _, err := cli.Put(context.Background(), key, value); err != nil {
			t.Fatal(err)
		}
	}
	c.Start("node-a", "").WaitLeading(t)
	if q := query(t, c.NC, "sku1"); q.Held != 3 || q.Limit != 12 {
		t.Fatalf("query %+v: want only cart-2 held, the limit unchanged", q)
	}
	if r := request(t, c.NC, "stock.confirm.sku1", `{"id":"cart-1"}`); r.Error != wire.ErrExpired {
		t.Fatalf("confirm below the mark: %+v, want expired", r.Reply)
	}
	testenv.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		resp, err := cli.Get(context.Background(), "/stock/hold/sku1/cart-1")
		if err != nil || len(resp.Kvs) != 1 || !strings.Contains(string(resp.Kvs[0].Value), `"state":"expired"`) {
			return fmt.Errorf("key %v, %v: want it rewritten as expired", resp.Kvs, err)
		}
		return nil
	})
}

// TestParkedHoldThatEndsLeavesItsIDFree: a hold that waited for a raised cap
// and was answered without a hold (here: no cap became durable in time)
// made no hold, so its id may name a hold of another SKU next.
func TestParkedHoldThatEndsLeavesItsIDFree(t *testing.T) {
	c := newCluster(t)
	proxy, err := netproxy.Start(c.Etcd)
	if err != nil {
		t.Fatal(err)
	}
	a := c.Start("node-a", proxy.Addr(), func(cfg *responder.Config) { cfg.MaxWait = 100 * time.Millisecond })
	t.Cleanup(proxy.Close)
	a.WaitLeading(t)
	setLimit(t, c.NC, "sku1", 10)
	setLimit(t, c.NC, "sku2", 10)

	proxy.Pause()
	r, err := tryRequest(c.NC, "stock.hold.sku1", `{"n":10,"id":"cart-p","ttl_s":60}`, 5*time.Second)
	proxy.Resume()
	if err != nil || r.Error != string(wire.ErrUnavailable) {
		t.Fatalf("hold while etcd is cut off: %+v, %v; want unavailable", r, err)
	}
	testenv.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		r, err := tryRequest(c.NC, "stock.hold.sku2", `{"n":1,"id":"cart-p","ttl_s":60}`, time.Second)
		if err != nil || r.Held != 1 {
			return fmt.Errorf("hold of sku2 under the id of sku1's refused hold: %+v, %v", r, err)
		}
		return nil
	})
	if q := query(t, c.NC, "sku1"); q.Held != 0 {
		t.Fatalf("sku1 after its refused hold: %+v", q)
	}
}

// TestEndedHoldsAreDeleted: a hold that ended is remembered for the dedupe
// horizon, also by a later leader, then its key is deleted from etcd one
// horizon after it ended (not after the later leader started), whatever
// etcd does with the key's lease (it renews every lease when its raft leader
// changes).
func TestEndedHoldsAreDeleted(t *testing.T) {
	t.Parallel() // waits out a horizon of a minute, the least there is
	const horizon = time.Minute
	short := func(cfg *responder.Config) { cfg.DedupeHorizon = horizon }
	c := newCluster(t)
	a := c.Start("node-a", "", short)
	a.WaitLeading(t)
	b := c.Start("node-b", "", short)
	nc := c.NC
	setLimit(t, nc, "sku1", 10)
	request(t, nc, "stock.hold.sku1", `{"n":2,"id":"cart-1"}`)
	confirmed := request(t, nc, "stock.confirm.sku1", `{"id":"cart-1"}`)
	ended := time.Now()
	if confirmed.Confirmed != 2 {
		t.Fatalf("confirm: %+v", confirmed.Reply)
	}
	cli := testenv.Client(t, c.Etcd)
	key := "/stock/hold/sku1/cart-1"
	exists := func() bool {
		t.Helper()
		resp, err := cli.Get(context.Background(), key)
		if err != nil {
			t.Fatal(err)
		}
		return len(resp.Kvs) != 0
	}
	time.Sleep(horizon / 2) // the hold's age when the next leader takes over
	a.Stop(t)
	b.WaitLeading(t)
	if !exists() {
		t.Fatalf("%s was deleted %v after the hold ended, before the horizon", key, time.Since(ended))
	}
	// Without a delete the key would go with its lease, one slack (a minute)
	// after the horizon; had node-b counted from its own start, half a
	// horizon after it.
	testenv.Eventually(t, horizon/2+20*time.Second, 250*time.Millisecond, func() error {
		if exists() {
			if r := request(t, nc, "stock.confirm.sku1", `{"id":"cart-1"}`); r.Reply != confirmed.Reply {
				t.Fatalf("a repeat to node-b while the key exists: %+v, want the first answer %+v", r.Reply, confirmed.Reply)
			}
			return fmt.Errorf("%s still exists", key)
		}
		return nil
	})
	if d := time.Since(ended); d < horizon {
		t.Fatalf("the key was deleted %v after the hold ended, before the horizon of %v", d, horizon)
	}
}
