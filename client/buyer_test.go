package client_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/client"
	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/wire"
)

// buyerLimitMsg is a buyer_limit reply as the responder sends it.
func buyerLimitMsg(sku string, remaining, bought, held, perBuyer int64) *nats.Msg {
	m := nats.NewMsg("")
	m.Header.Set(wire.HeaderErrorCode, "409")
	m.Header.Set(wire.HeaderError, "over the per-buyer cap")
	m.Data = wire.AppendBuyerLimit(nil, sku, remaining, bought, held, perBuyer, "over the per-buyer cap", false)
	return m
}

// TestBuyerLimitIsFinal: a buyer_limit reply is an *Error that matches
// ErrBuyerLimit and carries the buyer's figures, and it is not retried; the
// request carried the buyer, also from a batching Client.
func TestBuyerLimitIsFinal(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			srv := testenv.NATS(t)
			f := startFake(t, srv, "stock.acquire.x", func(i int, req wire.Request) *nats.Msg {
				return buyerLimitMsg("x", 40, 3, 1, 5)
			})
			c := newClient(t, testenv.Conn(t, srv), func(cfg *client.Config) {
				fastRetries(cfg)
				if m.edit != nil {
					m.edit(cfg)
				}
			})
			_, err := c.Acquire(ctx(t), "x", 2, client.WithBuyer("u-1"), client.WithID("order-1"))
			var e *client.Error
			if !errors.Is(err, client.ErrBuyerLimit) || !errors.As(err, &e) {
				t.Fatalf("Acquire: %v, want ErrBuyerLimit", err)
			}
			if e.Code != 409 || e.Kind != wire.ErrBuyerLimit || e.Bought != 3 || e.Held != 1 || e.PerBuyer != 5 || e.Remaining != 40 || e.SKU != "x" {
				t.Fatalf("error %+v", e)
			}
			if errors.Is(err, client.ErrSoldOut) || errors.Is(err, client.ErrInsufficient) {
				t.Fatalf("%v matches another sentinel", err)
			}
			reqs := f.requests(t)
			if want := (wire.Request{N: 2, ID: "order-1", Buyer: "u-1"}); len(reqs) != 1 || reqs[0] != want {
				t.Fatalf("requests %+v, want one %+v", reqs, want)
			}
		})
	}
}

// TestBuyerSentWithReleaseAndHold: Release, Hold and Holds carry the buyer;
// calls without one carry none.
func TestBuyerSentWithReleaseAndHold(t *testing.T) {
	srv := testenv.NATS(t)
	rel := startFake(t, srv, "stock.release.x", func(i int, req wire.Request) *nats.Msg {
		return &nats.Msg{Data: []byte(`{"sku":"x","released":1,"remaining":1}`)}
	})
	var mu sync.Mutex
	var holds []string
	nc := testenv.Conn(t, srv)
	for _, subj := range []string{"stock.hold.x", "stock.hold"} {
		if _, err := nc.Subscribe(subj, func(m *nats.Msg) {
			mu.Lock()
			holds = append(holds, string(m.Data))
			mu.Unlock()
			if m.Subject == "stock.hold" {
				m.Respond([]byte(`[{"sku":"x","granted":0,"remaining":7,"error":"buyer_limit","code":409,"message":"m","bought":2,"held":0,"per_buyer":2}]`))
				return
			}
			m.Respond([]byte(`{"sku":"x","held":1,"remaining":7,"id":"c-1","expires_at":"2026-12-05T14:15:00Z"}`))
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, testenv.Conn(t, srv), fastRetries)
	ctx := ctx(t)
	if _, err := c.Release(ctx, "x", 1, client.WithBuyer("u-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Release(ctx, "x", 1); err != nil {
		t.Fatal(err)
	}
	if reqs := rel.requests(t); len(reqs) != 2 || reqs[0].Buyer != "u-1" || reqs[1].Buyer != "" {
		t.Fatalf("releases %+v", reqs)
	}
	if _, err := c.Hold(ctx, "x", "c-1", 1, time.Minute, client.WithBuyer("u-1")); err != nil {
		t.Fatal(err)
	}
	rs, err := c.Holds(ctx, []client.HoldItem{{SKU: "x", ID: "c-2", N: 1, Buyer: "u-2"}})
	var e *client.Error
	if err != nil || len(rs) != 1 || !errors.Is(rs[0].Err, client.ErrBuyerLimit) || !errors.As(rs[0].Err, &e) || e.Bought != 2 || e.PerBuyer != 2 {
		t.Fatalf("Holds = %+v, %v; want one ErrBuyerLimit", rs, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(holds) != 2 || !strings.Contains(holds[0], `"buyer":"u-1"`) || !strings.Contains(holds[1], `"buyer":"u-2"`) {
		t.Fatalf("hold bodies %q", holds)
	}
}

// TestBuyerChecksBeforeSending: a buyer that cannot be one is refused
// locally with ErrBadRequest, "" included.
func TestBuyerChecksBeforeSending(t *testing.T) {
	srv := testenv.NATS(t) // nothing answers: a request sent would time out
	c := newClient(t, testenv.Conn(t, srv), func(cfg *client.Config) { cfg.CallTimeout = time.Second })
	ctx := ctx(t)
	for _, b := range []string{"", "u 1", "u*", "é", strings.Repeat("b", wire.MaxBuyerLen+1)} {
		for name, f := range map[string]func() error{
			"acquire": func() error { _, err := c.Acquire(ctx, "x", 1, client.WithBuyer(b)); return err },
			"release": func() error { _, err := c.Release(ctx, "x", 1, client.WithBuyer(b)); return err },
			"hold":    func() error { _, err := c.Hold(ctx, "x", "c", 1, 0, client.WithBuyer(b)); return err },
			"query":   func() error { _, err := c.QueryBuyer(ctx, "x", b); return err },
		} {
			if err := f(); !errors.Is(err, client.ErrBadRequest) || !strings.Contains(err.Error(), "checked before sending") {
				t.Errorf("%s with buyer %.20q: %v, want ErrBadRequest before sending", name, b, err)
			}
		}
		if b == "" {
			continue // an empty HoldItem.Buyer is none
		}
		rs, err := c.Holds(ctx, []client.HoldItem{{SKU: "x", ID: "c", N: 1, Buyer: b}})
		if err != nil || len(rs) != 1 || !errors.Is(rs[0].Err, client.ErrBadRequest) {
			t.Errorf("Holds with buyer %.20q: %+v, %v; want ErrBadRequest", b, rs, err)
		}
	}
}

// TestBuyerCapUnderConcurrency: 64 concurrent acquires of one buyer on a
// SKU capped at 5 per buyer get exactly 5 units; the rest are refused with
// ErrBuyerLimit, which QueryBuyer agrees with, and another buyer is not
// held back. Batching Clients send these calls on the single subject.
func TestBuyerCapUnderConcurrency(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			_, c := leading(t, m.edit)
			ctx := ctx(t)
			if _, err := c.SetLimitPerBuyer(ctx, "sku1", 100, 5); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			granted, refused := int64(0), 0
			var other []error
			for range 64 {
				wg.Go(func() {
					g, err := c.Acquire(ctx, "sku1", 1, client.WithBuyer("u-1"))
					var e *client.Error
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						granted += g.Granted
					case errors.Is(err, client.ErrBuyerLimit) && errors.As(err, &e) && e.PerBuyer == 5 && e.Bought+e.Held+1 > 5:
						refused++
					default:
						other = append(other, err)
					}
				})
			}
			wg.Wait()
			if granted != 5 || refused != 59 || len(other) > 0 {
				t.Fatalf("%d granted, %d refused, others %v; want 5 and 59", granted, refused, other)
			}
			want := client.BuyerStock{SKU: "sku1", Buyer: "u-1", PerBuyer: 5, Bought: 5, Remaining: 95}
			if b, err := c.QueryBuyer(ctx, "sku1", "u-1"); err != nil || b != want {
				t.Fatalf("QueryBuyer = %+v, %v; want %+v", b, err, want)
			}
			if g, err := c.Acquire(ctx, "sku1", 5, client.WithBuyer("u-2")); err != nil || g.Granted != 5 {
				t.Fatalf("another buyer: %+v, %v; want 5 granted", g, err)
			}
		})
	}
}

// TestBuyerHoldsAndReleasesCount: units held count against the cap until
// cancelled, and released units come off what the buyer has bought.
func TestBuyerHoldsAndReleasesCount(t *testing.T) {
	_, c := leading(t, nil)
	ctx := ctx(t)
	if _, err := c.SetLimitPerBuyer(ctx, "sku1", 100, 4); err != nil {
		t.Fatal(err)
	}
	u := client.WithBuyer("u-1")
	if _, err := c.Hold(ctx, "sku1", "cart-1", 3, time.Minute, u); err != nil {
		t.Fatal(err)
	}
	_, err := c.Acquire(ctx, "sku1", 2, u)
	var e *client.Error
	if !errors.Is(err, client.ErrBuyerLimit) || !errors.As(err, &e) || e.Held != 3 || e.Bought != 0 || e.PerBuyer != 4 {
		t.Fatalf("Acquire past the cap: %v (%+v), want ErrBuyerLimit with 3 held", err, e)
	}
	if _, err := c.Cancel(ctx, "sku1", "cart-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Acquire(ctx, "sku1", 4, u); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Release(ctx, "sku1", 2, u); err != nil {
		t.Fatal(err)
	}
	if b, err := c.QueryBuyer(ctx, "sku1", "u-1"); err != nil || b.Bought != 2 || b.Held != 0 {
		t.Fatalf("QueryBuyer = %+v, %v; want 2 bought", b, err)
	}
	if _, err := c.Acquire(ctx, "sku1", 2, u); err != nil {
		t.Fatalf("Acquire up to the cap again: %v", err)
	}
}

// TestQueryBuyerUnknown: a buyer that never bought has nothing, on a capped
// SKU and on an uncapped one.
func TestQueryBuyerUnknown(t *testing.T) {
	_, c := leading(t, nil)
	ctx := ctx(t)
	if _, err := c.SetLimitPerBuyer(ctx, "capped", 10, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetLimit(ctx, "open", 10); err != nil {
		t.Fatal(err)
	}
	for sku, k := range map[string]int64{"capped": 2, "open": 0} {
		want := client.BuyerStock{SKU: sku, Buyer: "nobody@x", PerBuyer: k, Remaining: 10}
		if b, err := c.QueryBuyer(ctx, sku, "nobody@x"); err != nil || b != want {
			t.Errorf("QueryBuyer(%s) = %+v, %v; want %+v", sku, b, err, want)
		}
	}
	if _, err := c.QueryBuyer(ctx, "none", "u-1"); !errors.Is(err, client.ErrUnknownSKU) {
		t.Errorf("QueryBuyer of no SKU: %v, want ErrUnknownSKU", err)
	}
}

// TestSetLimitPerBuyer: the cap comes back in the reply and in Query, and
// SetLimit without one removes it.
func TestSetLimitPerBuyer(t *testing.T) {
	_, c := leading(t, nil)
	ctx := ctx(t)
	want := client.Stock{SKU: "sku1", Limit: 100, Remaining: 100, Leader: "node-a", PerBuyer: 3}
	if s, err := c.SetLimitPerBuyer(ctx, "sku1", 100, 3); err != nil || s != want {
		t.Fatalf("SetLimitPerBuyer = %+v, %v; want %+v", s, err, want)
	}
	if s, err := c.Query(ctx, "sku1"); err != nil || s != want {
		t.Fatalf("Query = %+v, %v; want %+v", s, err, want)
	}
	want.PerBuyer = 0
	if s, err := c.SetLimit(ctx, "sku1", 100); err != nil || s != want {
		t.Fatalf("SetLimit = %+v, %v; want %+v", s, err, want)
	}
	if g, err := c.Acquire(ctx, "sku1", 10, client.WithBuyer("u-1")); err != nil || g.Granted != 10 {
		t.Fatalf("Acquire without a cap: %+v, %v", g, err)
	}
	if _, err := c.SetLimitPerBuyer(ctx, "sku1", 100, -1); !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("negative cap: %v, want ErrBadRequest", err)
	}
}
