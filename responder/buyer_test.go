package responder_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/wire"
)

// setCapped creates sku with limit and a cap of perBuyer units per buyer.
func setCapped(t testing.TB, nc *nats.Conn, sku string, limit, perBuyer int64) {
	t.Helper()
	r := request(t, nc, "stock.admin.set."+sku, fmt.Sprintf(`{"limit":%d,"per_buyer":%d}`, limit, perBuyer))
	if r.code != 0 || r.Limit != limit || r.PerBuyer != perBuyer {
		t.Fatalf("set %s: %+v code %d", sku, r.Reply, r.code)
	}
}

// buyerOf asks what buyer holds and bought of sku.
func buyerOf(t testing.TB, nc *nats.Conn, sku, buyer string) wire.Reply {
	t.Helper()
	r := request(t, nc, "stock.query."+sku, `{"buyer":"`+buyer+`"}`)
	if r.code != 0 || r.Buyer != buyer || r.SKU != sku {
		t.Fatalf("query of buyer %s: %+v code %d", buyer, r.Reply, r.code)
	}
	return r.Reply
}

// TestBuyerCapUnderConcurrency: 64 requests of one buyer at once get
// exactly the cap, and the rest buyer_limit with the buyer's count.
func TestBuyerCapUnderConcurrency(t *testing.T) {
	c := newCluster(t)
	c.Start("node-a", "").WaitLeading(t)
	nc := c.NC
	setCapped(t, nc, "sku1", 1000, 5)

	var granted, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			r := request(t, nc, "stock.acquire.sku1", fmt.Sprintf(`{"n":1,"id":"r-%d","buyer":"u-1"}`, i))
			switch {
			case r.code == 0 && r.Granted == 1:
				granted.Add(1)
			case r.Error == wire.ErrBuyerLimit && r.code == 409 && r.Bought+r.Held == 5 && r.PerBuyer == 5 && r.header != "":
				refused.Add(1)
			default:
				t.Errorf("acquire %d: %+v code %d", i, r.Reply, r.code)
			}
		})
	}
	wg.Wait()
	if granted.Load() != 5 || refused.Load() != 59 {
		t.Fatalf("granted %d, refused %d; want 5 and 59", granted.Load(), refused.Load())
	}
	if b := buyerOf(t, nc, "sku1", "u-1"); b.Bought != 5 || b.Held != 0 || b.PerBuyer != 5 || b.Remaining != 995 {
		t.Fatalf("buyer after the rush: %+v", b)
	}
	if q := query(t, nc, "sku1"); q.Sold != 5 || q.Remaining != 995 || q.PerBuyer != 5 {
		t.Fatalf("sku after the rush: %+v", q)
	}
}

// TestBuyersToSellOut: many buyers, each asking for more than the cap, sell
// the SKU out exactly, none past its cap.
func TestBuyersToSellOut(t *testing.T) {
	c := newCluster(t)
	c.Start("node-a", "").WaitLeading(t)
	nc := c.NC
	setCapped(t, nc, "sku1", 100, 3)

	const buyers, tries = 50, 5
	got := make([]atomic.Int64, buyers)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := g; i < buyers*tries; i += 16 {
				u := i % buyers
				r := request(t, nc, "stock.acquire.sku1", fmt.Sprintf(`{"n":1,"buyer":"u-%d"}`, u))
				switch {
				case r.code == 0:
					got[u].Add(r.Granted)
				case r.Error == wire.ErrBuyerLimit, r.Error == wire.ErrSoldOut:
				default:
					t.Errorf("acquire: %+v", r.Reply)
				}
			}
		})
	}
	wg.Wait()
	var total int64
	for u := range got {
		n := got[u].Load()
		if n > 3 {
			t.Errorf("buyer u-%d got %d units, cap 3", u, n)
		}
		if b := buyerOf(t, nc, "sku1", fmt.Sprintf("u-%d", u)); b.Bought != n {
			t.Errorf("buyer u-%d: record says %d bought, it got %d", u, b.Bought, n)
		}
		total += n
	}
	if q := query(t, nc, "sku1"); total != 100 || q.Sold != 100 || q.Remaining != 0 {
		t.Fatalf("granted %d in all, sku %+v; want exactly 100 sold", total, q)
	}
}

// TestBuyerRoundTrips exercises every request that carries a buyer, and
// every bad one, as a user would with `nats req`.
func TestBuyerRoundTrips(t *testing.T) {
	c := newCluster(t)
	c.Start("node-a", "").WaitLeading(t)
	nc := c.NC
	setCapped(t, nc, "cap", 100, 4)
	setLimit(t, nc, "free", 100)

	if q := query(t, nc, "free"); q.PerBuyer != 0 {
		t.Fatalf("uncapped sku: %+v", q)
	}
	if r := request(t, nc, "stock.acquire.free", `{"n":1,"buyer":"u-1"}`); r.code != 0 || r.Granted != 1 {
		t.Fatalf("an uncapped sku takes a buyer and ignores it: %+v", r.Reply)
	}
	if r := request(t, nc, "stock.acquire.cap", `{"n":2,"id":"a-1","buyer":"u-1"}`); r.Reply != (wire.Reply{SKU: "cap", Granted: 2, Remaining: 98}) {
		t.Fatalf("capped acquire: %+v", r.Reply)
	}
	if r := request(t, nc, "stock.acquire.cap", `{"n":2,"id":"a-1","buyer":"u-1"}`); r.Reply != (wire.Reply{SKU: "cap", Granted: 2, Remaining: 98}) {
		t.Fatalf("repeated capped acquire: %+v", r.Reply)
	}
	h := request(t, nc, "stock.hold.cap", `{"n":1,"id":"cart-1","buyer":"u-1"}`)
	if h.code != 0 || h.Held != 1 {
		t.Fatalf("hold of a buyer: %+v", h.Reply)
	}
	if b := buyerOf(t, nc, "cap", "u-1"); b.Bought != 2 || b.Held != 1 || b.PerBuyer != 4 || b.Remaining != 97 {
		t.Fatalf("buyer with a grant and a hold: %+v", b)
	}
	r := request(t, nc, "stock.acquire.cap", `{"n":2,"buyer":"u-1"}`)
	if r.Error != wire.ErrBuyerLimit || r.code != 409 || r.Bought != 2 || r.Held != 1 || r.PerBuyer != 4 || r.Remaining != 97 || r.Message == "" {
		t.Fatalf("past the cap: %+v code %d", r.Reply, r.code)
	}
	if r := request(t, nc, "stock.hold.cap", `{"n":2,"id":"cart-2","buyer":"u-1"}`); r.Error != wire.ErrBuyerLimit {
		t.Fatalf("hold past the cap: %+v", r.Reply)
	}
	if r := request(t, nc, "stock.cancel.cap", `{"id":"cart-1"}`); r.Cancelled != 1 {
		t.Fatalf("cancel: %+v", r.Reply)
	}
	if b := buyerOf(t, nc, "cap", "u-1"); b.Bought != 2 || b.Held != 0 {
		t.Fatalf("a cancel gives the buyer's count back: %+v", b)
	}
	request(t, nc, "stock.hold.cap", `{"n":2,"id":"cart-3","buyer":"u-1"}`)
	if r := request(t, nc, "stock.confirm.cap", `{"id":"cart-3"}`); r.Confirmed != 2 {
		t.Fatalf("confirm: %+v", r.Reply)
	}
	if b := buyerOf(t, nc, "cap", "u-1"); b.Bought != 4 || b.Held != 0 {
		t.Fatalf("a confirm moves held units to bought: %+v", b)
	}
	if r := request(t, nc, "stock.release.cap", `{"n":5,"buyer":"u-1"}`); r.Error != wire.ErrBadRequest {
		t.Fatalf("release of more than the buyer bought: %+v", r.Reply)
	}
	rel := request(t, nc, "stock.release.cap", `{"n":3,"id":"rel-1","buyer":"u-1"}`)
	if rel.Reply != (wire.Reply{SKU: "cap", Released: 3, Remaining: 99}) {
		t.Fatalf("release with a buyer: %+v", rel.Reply)
	}
	if r := request(t, nc, "stock.release.cap", `{"n":3,"id":"rel-1","buyer":"u-1"}`); r.Reply != rel.Reply {
		t.Fatalf("repeated release: %+v, want %+v", r.Reply, rel.Reply)
	}
	if b := buyerOf(t, nc, "cap", "u-1"); b.Bought != 1 || b.Held != 0 || b.Remaining != 99 {
		t.Fatalf("a release gives the buyer's count back, once: %+v", b)
	}
	if b := buyerOf(t, nc, "cap", "nobody"); b.Bought != 0 || b.Held != 0 || b.PerBuyer != 4 {
		t.Fatalf("a buyer never seen: %+v", b)
	}

	// Batches: JSON items carry buyers; binary ones cannot, so they are refused.
	got := batchJSON(t, nc, `[{"sku":"cap","n":3,"buyer":"u-1"},{"sku":"cap","n":4,"buyer":"u-2"},{"sku":"cap","n":1,"buyer":"u-2"},{"sku":"cap","n":1},{"sku":"free","n":1,"buyer":"u-2"}]`)
	if len(got) != 5 || got[0].Granted != 3 || got[1].Granted != 4 || got[4].Granted != 1 {
		t.Fatalf("batch with buyers: %+v", got)
	}
	if g := got[2]; g.Error != wire.ErrBuyerLimit || g.Code != 409 || g.Bought != 4 || g.PerBuyer != 4 {
		t.Fatalf("batch item past the cap: %+v", g)
	}
	if g := got[3]; g.Error != wire.ErrBadRequest || !strings.Contains(g.Message, "buyer") {
		t.Fatalf("batch item of a capped sku without a buyer: %+v", g)
	}
	m, err := nc.Request("stock.acquire", wire.AppendBatchRequest(nil, []wire.BatchItem{{SKU: "cap", N: 1}, {SKU: "free", N: 1}}), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	bin, err := wire.DecodeBatchReply(m.Data, nil)
	if err != nil || len(bin) != 2 || bin[0].Error != wire.ErrBadRequest || bin[1].Granted != 1 {
		t.Fatalf("binary batch: %+v %v", bin, err)
	}
	hm, err := nc.Request("stock.hold", []byte(`[{"sku":"cap","id":"hb-1","buyer":"u-3","n":4},{"sku":"cap","id":"hb-2","buyer":"u-3"}]`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var holds []wire.HoldResult
	if err := json.Unmarshal(hm.Data, &holds); err != nil || len(holds) != 2 || holds[0].Held != 4 || holds[1].Error != wire.ErrBuyerLimit || holds[1].Bought+holds[1].Held != 4 {
		t.Fatalf("hold batch with a buyer: %s %v", hm.Data, err)
	}

	errs := []struct{ name, subject, body string }{
		{"acquire without a buyer", "acquire.cap", `{"n":1}`},
		{"empty body", "acquire.cap", ``},
		{"hold without a buyer", "hold.cap", `{"id":"x1"}`},
		{"empty buyer", "acquire.cap", `{"n":1,"buyer":""}`},
		{"buyer of 129 bytes", "acquire.cap", `{"n":1,"buyer":"` + strings.Repeat("b", 129) + `"}`},
		{"buyer with a space", "acquire.cap", `{"n":1,"buyer":"a b"}`},
		{"buyer with a slash", "hold.cap", `{"id":"x2","buyer":"a/b"}`},
		{"buyer with a star", "acquire.free", `{"n":1,"buyer":"a*"}`},
		{"buyer a number", "acquire.cap", `{"n":1,"buyer":7}`},
		{"query with a bad buyer", "query.cap", `{"buyer":"a b"}`},
		{"query with n", "query.cap", `{"buyer":"u-1","n":1}`},
		{"per_buyer negative", "admin.set.cap", `{"limit":100,"per_buyer":-1}`},
		{"per_buyer a string", "admin.set.cap", `{"limit":100,"per_buyer":"2"}`},
		{"per_buyer a fraction", "admin.set.cap", `{"limit":100,"per_buyer":1.5}`},
	}
	before, beforeU1 := query(t, nc, "cap"), buyerOf(t, nc, "cap", "u-1")
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			r := request(t, nc, "stock."+tc.subject, tc.body)
			if r.Error != wire.ErrBadRequest || r.code != 400 || r.Message == "" {
				t.Fatalf("got %+v code %d, want bad_request with a reason", r.Reply, r.code)
			}
		})
	}
	if q, b := query(t, nc, "cap"), buyerOf(t, nc, "cap", "u-1"); q != before || b != beforeU1 {
		t.Fatalf("refused requests changed state: %+v %+v, were %+v %+v", q, b, before, beforeU1)
	}

	// per_buyer 0 lifts the cap; the counts stay for when it is set again.
	if r := request(t, nc, "stock.admin.set.cap", `{"limit":100}`); r.PerBuyer != 0 {
		t.Fatalf("set without per_buyer: %+v", r.Reply)
	}
	if r := request(t, nc, "stock.acquire.cap", `{"n":10}`); r.Granted != 10 {
		t.Fatalf("acquire once the cap is lifted: %+v", r.Reply)
	}
}

// TestBuyerCountsSurviveAFailover: a later leader reads each buyer's count
// and ids: a confirm of the buyer's hold (its first request there, so the
// write waits for the read) moves the units to bought, a retried grant gets
// its first answer and is not counted twice, the cap still holds, and a
// hold of the buyer that expires under the new leader gives its units back
// to the buyer's count once.
func TestBuyerCountsSurviveAFailover(t *testing.T) {
	c := newCluster(t)
	a := c.Start("node-a", "")
	a.WaitLeading(t)
	b := c.Start("node-b", "")
	nc := c.NC
	setCapped(t, nc, "sku1", 100, 3)
	first := request(t, nc, "stock.acquire.sku1", `{"n":1,"id":"r-1","buyer":"u-1"}`)
	hold := request(t, nc, "stock.hold.sku1", `{"n":1,"id":"cart-1","ttl_s":3,"buyer":"u-1"}`)
	keep := request(t, nc, "stock.hold.sku1", `{"n":1,"id":"cart-2","ttl_s":600,"buyer":"u-1"}`)
	if first.code != 0 || hold.code != 0 || keep.code != 0 {
		t.Fatalf("before the failover: %+v %+v %+v", first.Reply, hold.Reply, keep.Reply)
	}
	if r := request(t, nc, "stock.acquire.sku1", `{"n":1,"buyer":"u-1"}`); r.Error != wire.ErrBuyerLimit {
		t.Fatalf("at the cap before the failover: %+v", r.Reply)
	}

	lead := <-a.Leads
	if _, err := testenv.Client(t, c.Etcd).Revoke(context.Background(), lead.LeaseID()); err != nil {
		t.Fatal(err)
	}
	b.WaitLeading(t)
	retry := func(subject, body string) reply {
		var r reply
		testenv.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
			var err error
			r, err = tryRequest(nc, subject, body, 5*time.Second)
			if retriable(r, err) {
				return fmt.Errorf("%s: %v %+v", subject, err, r.Reply)
			}
			return err
		})
		return r
	}
	if r := retry("stock.confirm.sku1", `{"id":"cart-2"}`); r.Confirmed != 1 {
		t.Fatalf("confirm on the new leader: %+v", r.Reply)
	}
	if again := retry("stock.acquire.sku1", `{"n":1,"id":"r-1","buyer":"u-1"}`); again.Reply != first.Reply {
		t.Fatalf("retried grant to the new leader: %+v, want the first answer %+v", again.Reply, first.Reply)
	}
	if u := buyerOf(t, nc, "sku1", "u-1"); u.Bought != 2 || u.Held > 1 {
		t.Fatalf("the new leader's count of the buyer: %+v", u)
	}
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		if u := buyerOf(t, nc, "sku1", "u-1"); u.Held != 0 {
			return fmt.Errorf("hold not expired yet: %+v", u)
		}
		return nil
	})
	if r := request(t, nc, "stock.acquire.sku1", `{"n":1,"id":"r-2","buyer":"u-1"}`); r.code != 0 || r.Granted != 1 {
		t.Fatalf("after the expiry the buyer may take its cap: %+v", r.Reply)
	}
	if r := request(t, nc, "stock.acquire.sku1", `{"n":1,"id":"r-3","buyer":"u-1"}`); r.Error != wire.ErrBuyerLimit || r.Bought != 3 {
		t.Fatalf("at the cap on the new leader: %+v", r.Reply)
	}
}

// TestDeleteForgetsBuyers: a SKU deleted and set again starts with no
// buyer counts, also on a later leader; another SKU's buyers stay.
func TestDeleteForgetsBuyers(t *testing.T) {
	c := newCluster(t)
	a := c.Start("node-a", "")
	a.WaitLeading(t)
	nc := c.NC
	setCapped(t, nc, "s", 10, 2)
	setCapped(t, nc, "s2", 10, 2)
	for _, sku := range []string{"s", "s2"} {
		if r := request(t, nc, "stock.acquire."+sku, `{"n":2,"buyer":"u-1"}`); r.Granted != 2 {
			t.Fatalf("acquire of %s: %+v", sku, r.Reply)
		}
	}
	if r := request(t, nc, "stock.admin.delete.s", ``); !r.Deleted {
		t.Fatalf("delete: %+v", r.Reply)
	}
	setCapped(t, nc, "s", 10, 2)
	if u := buyerOf(t, nc, "s", "u-1"); u.Bought != 0 {
		t.Fatalf("buyer of the SKU set again: %+v", u)
	}
	a.Stop(t)
	c.Start("node-b", "").WaitLeading(t)
	if u := buyerOf(t, nc, "s", "u-1"); u.Bought != 0 {
		t.Fatalf("buyer of the SKU set again, on a later leader: %+v", u)
	}
	if u := buyerOf(t, nc, "s2", "u-1"); u.Bought != 2 {
		t.Fatalf("buyer of the SKU not deleted, on a later leader: %+v", u)
	}
}

// TestRefillKeepsTheRecord: a raise of the cap rewrites the SKU's record
// with everything else in it: the per-buyer cap and the expiry mark, which
// a later leader needs to know the expired holds whose keys are not
// rewritten yet (without it, it would expire them again and sell their
// units twice).
func TestRefillKeepsTheRecord(t *testing.T) {
	c := newCluster(t)
	c.Start("node-a", "").WaitLeading(t)
	nc := c.NC
	setCapped(t, nc, "sku1", 1_000_000, 1_000_000)
	if r := request(t, nc, "stock.hold.sku1", `{"id":"h","ttl_s":1,"buyer":"u"}`); r.code != 0 {
		t.Fatalf("hold: %+v", r.Reply)
	}
	cli := testenv.Client(t, c.Etcd)
	stored := func() map[string]int64 {
		resp, err := cli.Get(context.Background(), "/stock/sku/sku1")
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("get: %v %v", resp, err)
		}
		var rec map[string]int64
		if err := json.Unmarshal(resp.Kvs[0].Value, &rec); err != nil {
			t.Fatalf("%s: %v", resp.Kvs[0].Value, err)
		}
		return rec
	}
	var mark int64
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		if mark = stored()["expired_ms"]; mark == 0 {
			return fmt.Errorf("no expiry mark yet: %v", stored())
		}
		return nil
	})
	cap0 := stored()["cap"]
	for i := 0; stored()["cap"] == cap0; i++ {
		if i == 1000 {
			t.Fatalf("no refill after %d acquires: %v", i, stored())
		}
		request(t, nc, "stock.acquire.sku1", fmt.Sprintf(`{"n":100,"buyer":"b-%d"}`, i))
	}
	if rec := stored(); rec["expired_ms"] != mark || rec["per_buyer"] != 1_000_000 {
		t.Fatalf("record after a refill: %v, want expired_ms %d and per_buyer kept", rec, mark)
	}
}
