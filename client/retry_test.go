package client_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/client"
	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/wire"
)

// fake stands in for a responder: a plain subscription on one subject that
// answers request i (from 0) with answer(i, req); a nil answer sends nothing,
// as a paused leader would.
type fake struct {
	mu   sync.Mutex
	reqs []wire.Request
	bad  []error // bodies that are not what the protocol asks for
}

func startFake(t testing.TB, srv *server.Server, subject string, answer func(i int, req wire.Request) *nats.Msg) *fake {
	t.Helper()
	f := &fake{}
	nc := testenv.Conn(t, srv)
	_, err := nc.Subscribe(subject, func(m *nats.Msg) {
		var req wire.Request
		if len(m.Data) > 0 {
			dec := json.NewDecoder(bytes.NewReader(m.Data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				f.mu.Lock()
				f.bad = append(f.bad, fmt.Errorf("body %q: %w", m.Data, err))
				f.mu.Unlock()
			}
		}
		f.mu.Lock()
		i := len(f.reqs)
		f.reqs = append(f.reqs, req)
		f.mu.Unlock()
		if r := answer(i, req); r != nil {
			if err := m.RespondMsg(r); err != nil {
				t.Errorf("fake reply: %v", err)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return f
}

// requests returns the requests received so far, and fails t if any body
// was malformed.
func (f *fake) requests(t testing.TB) []wire.Request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, err := range f.bad {
		t.Error(err)
	}
	return append([]wire.Request(nil), f.reqs...)
}

// sameID fails t unless every request carries the same non-empty id.
func sameID(t testing.TB, reqs []wire.Request) string {
	t.Helper()
	if len(reqs) == 0 || reqs[0].ID == "" {
		t.Fatalf("requests %+v: no id", reqs)
	}
	for _, r := range reqs {
		if r.ID != reqs[0].ID {
			t.Fatalf("attempts carried different ids: %+v", reqs)
		}
	}
	return reqs[0].ID
}

func grantMsg(sku string, granted, remaining int64) *nats.Msg {
	return &nats.Msg{Data: fmt.Appendf(nil, `{"sku":%q,"granted":%d,"remaining":%d}`, sku, granted, remaining)}
}

// errMsg is an error reply as the responder sends it.
func errMsg(sku, kind string, code int, remaining int64) *nats.Msg {
	m := nats.NewMsg("")
	m.Header.Set(wire.HeaderErrorCode, strconv.Itoa(code))
	m.Header.Set(wire.HeaderError, kind+" happened")
	m.Data = fmt.Appendf(nil, `{"sku":%q,"granted":0,"remaining":%d,"error":%q,"message":"%s happened"}`,
		sku, remaining, kind, kind)
	return m
}

// fastRetries shortens timeouts and backoff for tests against fakes.
func fastRetries(c *client.Config) {
	c.Timeout = 200 * time.Millisecond
	c.BackoffMin = time.Millisecond
	c.BackoffMax = 20 * time.Millisecond
}

// TestRetrySameID: a request answered unavailable, or not at all, is sent
// again with the same id, and the one grant is returned. The fake keeps
// grants by id as the leader does, so a repeat is no second grant.
func TestRetrySameID(t *testing.T) {
	tests := []struct {
		name string
		opts []client.CallOption
		// lost: the first attempt is granted but its reply is lost (a
		// timeout); otherwise it is answered unavailable.
		lost bool
	}{
		{name: "unavailable, random id"},
		{name: "unavailable, caller's id", opts: []client.CallOption{client.WithID("order-7")}},
		{name: "reply lost, random id", lost: true},
		{name: "reply lost, caller's id", opts: []client.CallOption{client.WithID("order-8")}, lost: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testenv.NATS(t)
			var mu sync.Mutex
			granted := map[string]*nats.Msg{} // id -> first grant
			remaining := int64(10)
			f := startFake(t, srv, "stock.acquire.x", func(i int, req wire.Request) *nats.Msg {
				mu.Lock()
				defer mu.Unlock()
				if i == 0 && !tt.lost {
					return errMsg("x", wire.ErrUnavailable, 503, 0)
				}
				if m, ok := granted[req.ID]; ok {
					return m
				}
				remaining -= req.N
				m := grantMsg("x", req.N, remaining)
				granted[req.ID] = m
				if i == 0 {
					return nil // lost
				}
				return m
			})
			c := newClient(t, testenv.Conn(t, srv), fastRetries)
			start := time.Now()
			g, err := c.Acquire(ctx(t), "x", 2, tt.opts...)
			if want := (client.Grant{SKU: "x", Granted: 2, Remaining: 8}); err != nil || g != want {
				t.Fatalf("Acquire = %+v, %v; want %+v", g, err, want)
			}
			reqs := f.requests(t)
			if len(reqs) != 2 {
				t.Fatalf("%d attempts, want 2: %+v", len(reqs), reqs)
			}
			id := sameID(t, reqs)
			if len(tt.opts) > 0 && id != reqs[0].ID {
				t.Fatalf("id %q, want the caller's", id)
			}
			if reqs[0].N != 2 {
				t.Fatalf("n = %d, want 2", reqs[0].N)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(granted) != 1 || remaining != 8 {
				t.Fatalf("%d grants, %d remaining; want one grant", len(granted), remaining)
			}
			if tt.lost && time.Since(start) < 200*time.Millisecond {
				t.Fatalf("retried after %v, before the attempt's timeout", time.Since(start))
			}
		})
	}
}

// TestCallsGetNewIDs: calls without WithID do not share ids.
func TestCallsGetNewIDs(t *testing.T) {
	srv := testenv.NATS(t)
	f := startFake(t, srv, "stock.release.x", func(i int, req wire.Request) *nats.Msg {
		return &nats.Msg{Data: []byte(`{"sku":"x","released":1,"remaining":1}`)}
	})
	c := newClient(t, testenv.Conn(t, srv), fastRetries)
	for range 3 {
		if _, err := c.Release(ctx(t), "x", 1); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, r := range f.requests(t) {
		if r.ID == "" || seen[r.ID] {
			t.Fatalf("ids not fresh per call: %+v", f.requests(t))
		}
		seen[r.ID] = true
	}
}

// TestContextEndsRetries: while every attempt is answered unavailable the
// call retries, with one id, until the caller's context ends, and returns
// an error that wraps the context's error and the last cause.
func TestContextEndsRetries(t *testing.T) {
	srv := testenv.NATS(t)
	f := startFake(t, srv, "stock.acquire.x", func(int, wire.Request) *nats.Msg {
		return errMsg("x", wire.ErrUnavailable, 503, 0)
	})
	c := newClient(t, testenv.Conn(t, srv), fastRetries)

	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := c.Acquire(ctx, "x", 1)
		took := time.Since(start)
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, client.ErrUnavailable) {
			t.Fatalf("err = %v, want DeadlineExceeded and ErrUnavailable", err)
		}
		if took < 250*time.Millisecond || took > 2*time.Second {
			t.Fatalf("gave up after %v, want about 300ms", took)
		}
	})
	// The fake may record a call's last attempt after the call returned, so
	// calls are told apart by id, not by how many requests came before.
	first := f.requests(t)
	if len(first) < 2 {
		t.Fatalf("%d attempts, want several", len(first))
	}
	id := sameID(t, first)

	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		_, err := c.Acquire(ctx, "x", 1)
		if !errors.Is(err, context.Canceled) || !errors.Is(err, client.ErrUnavailable) {
			t.Fatalf("err = %v, want Canceled and ErrUnavailable", err)
		}
	})
	var second []wire.Request
	for _, r := range f.requests(t) {
		if r.ID != id {
			second = append(second, r)
		}
	}
	sameID(t, second)

	t.Run("call timeout", func(t *testing.T) {
		c := newClient(t, testenv.Conn(t, srv), func(cfg *client.Config) {
			fastRetries(cfg)
			cfg.CallTimeout = 200 * time.Millisecond
		})
		if _, err := c.Acquire(context.Background(), "x", 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want DeadlineExceeded", err)
		}
	})

	t.Run("already done", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		known := map[string]bool{}
		for _, r := range f.requests(t) {
			known[r.ID] = true
		}
		if _, err := c.Acquire(ctx, "x", 1); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want Canceled", err)
		}
		// A probe sent after it on the same connection arrives after any
		// request the done call had sent.
		probe, stop := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer stop()
		c.Acquire(probe, "x", 1, client.WithID("probe"))
		testenv.Eventually(t, 5*time.Second, time.Millisecond, func() error {
			for _, r := range f.requests(t) {
				if r.ID == "probe" {
					return nil
				}
			}
			return errors.New("the probe has not arrived")
		})
		for _, r := range f.requests(t) {
			if !known[r.ID] && r.ID != "probe" {
				t.Fatalf("request %+v sent on a done context", r)
			}
		}
	})
}

// TestNoResponders: with nothing subscribed every attempt gets "no
// responders" at once; the call retries until its context ends.
func TestNoResponders(t *testing.T) {
	srv := testenv.NATS(t)
	c := newClient(t, testenv.Conn(t, srv), fastRetries)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Acquire(ctx, "x", 1)
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("err = %v, want DeadlineExceeded and ErrNoResponders", err)
	}
	if took < 250*time.Millisecond || took > 2*time.Second {
		t.Fatalf("gave up after %v, want about 300ms", took)
	}
	t.Log(err)
}

// TestRespondersAppear: a call made while nothing serves succeeds once a
// responder subscribes.
func TestRespondersAppear(t *testing.T) {
	srv := testenv.NATS(t)
	c := newClient(t, testenv.Conn(t, srv), fastRetries)
	rnc := testenv.Conn(t, srv)
	var served atomic.Int32
	subscribed := make(chan error, 1)
	time.AfterFunc(100*time.Millisecond, func() {
		_, err := rnc.Subscribe("stock.query.x", func(m *nats.Msg) {
			served.Add(1)
			m.Respond([]byte(`{"sku":"x","limit":5,"sold":2,"remaining":3,"leader":"b"}`))
		})
		subscribed <- err
	})
	s, err := c.Query(ctx(t), "x")
	if want := (client.Stock{SKU: "x", Limit: 5, Sold: 2, Remaining: 3, Leader: "b"}); err != nil || s != want {
		t.Fatalf("Query = %+v, %v; want %+v", s, err, want)
	}
	if err := <-subscribed; err != nil {
		t.Fatal(err)
	}
	if n := served.Load(); n != 1 {
		t.Fatalf("%d requests reached the responder, want 1", n)
	}
}

// TestFinalReplies: every reply other than unavailable ends the call after
// one attempt; replies decode whatever fields they add.
func TestFinalReplies(t *testing.T) {
	plain := func(body string) *nats.Msg { return &nats.Msg{Data: []byte(body)} }
	headerOnly := func(code, desc, body string) *nats.Msg {
		m := nats.NewMsg("")
		m.Header.Set(wire.HeaderErrorCode, code)
		m.Header.Set(wire.HeaderError, desc)
		m.Data = []byte(body)
		return m
	}
	tests := []struct {
		name  string
		reply *nats.Msg
		grant client.Grant
		want  error  // nil for success
		err   string // the *client.Error's Kind, Code, Message and Remaining, "" if none
	}{
		{name: "grant", reply: grantMsg("x", 1, 4), grant: client.Grant{SKU: "x", Granted: 1, Remaining: 4}},
		{name: "grant with fields unknown here",
			reply: plain(`{"sku":"x","granted":1,"remaining":4,"window":{"cap":9,"ids":[1,2]},"note":"new"}`),
			grant: client.Grant{SKU: "x", Granted: 1, Remaining: 4}},
		{name: "sold out", reply: errMsg("x", wire.ErrSoldOut, 409, 0), want: client.ErrSoldOut,
			err: "sold_out 409 sold_out happened 0"},
		{name: "insufficient", reply: errMsg("x", wire.ErrInsufficient, 409, 3), want: client.ErrInsufficient,
			err: "insufficient 409 insufficient happened 3"},
		{name: "bad request", reply: errMsg("x", wire.ErrBadRequest, 400, 0), want: client.ErrBadRequest,
			err: "bad_request 400 bad_request happened 0"},
		{name: "unknown sku", reply: errMsg("x", wire.ErrUnknownSKU, 404, 0), want: client.ErrUnknownSKU,
			err: "unknown_sku 404 unknown_sku happened 0"},
		{name: "internal", reply: errMsg("x", wire.ErrInternal, 500, 0), want: client.ErrInternal,
			err: "internal 500 internal happened 0"},
		{name: "error with fields unknown here",
			reply: func() *nats.Msg {
				m := errMsg("x", wire.ErrSoldOut, 409, 0)
				m.Data = []byte(`{"sku":"x","remaining":0,"error":"sold_out","message":"gone","retry_after":null,"extra":[1]}`)
				return m
			}(), want: client.ErrSoldOut, err: "sold_out 409 gone 0"},
		{name: "error body without headers", reply: plain(`{"sku":"x","remaining":2,"error":"insufficient","message":"m"}`),
			want: client.ErrInsufficient, err: "insufficient 409 m 2"},
		{name: "headers without a JSON body", reply: headerOnly("404", "no such sku", "not json"),
			want: client.ErrUnknownSKU, err: "unknown_sku 404 no such sku 0"},
		{name: "a kind unknown here, matched by code", reply: headerOnly("400", "too fast",
			`{"sku":"x","error":"rate_limited","message":"too fast"}`),
			want: client.ErrBadRequest, err: "rate_limited 400 too fast 0"},
		{name: "a 409 of a kind unknown here", reply: headerOnly("409", "held",
			`{"sku":"x","error":"on_hold","message":"held"}`),
			err: "on_hold 409 held 0"},
		{name: "not a reply", reply: plain("hello")},
	}
	srv := testenv.NATS(t)
	c := newClient(t, testenv.Conn(t, srv), fastRetries)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sku := fmt.Sprintf("x%d", i)
			f := startFake(t, srv, "stock.acquire."+sku, func(int, wire.Request) *nats.Msg {
				return &nats.Msg{Header: tt.reply.Header, Data: tt.reply.Data}
			})
			g, err := c.Acquire(ctx(t), sku, 1)
			if n := len(f.requests(t)); n != 1 {
				t.Fatalf("%d attempts, want 1", n)
			}
			switch {
			case tt.name == "not a reply":
				var e *client.Error
				if err == nil || errors.As(err, &e) {
					t.Fatalf("err = %v, want a decoding error", err)
				}
				return
			case tt.err == "" && tt.want == nil:
				if err != nil || g != tt.grant {
					t.Fatalf("Acquire = %+v, %v; want %+v", g, err, tt.grant)
				}
				return
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var e *client.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %T %v, not a *client.Error", err, err)
			}
			if got := fmt.Sprintf("%s %d %s %d", e.Kind, e.Code, e.Message, e.Remaining); got != tt.err {
				t.Fatalf("error fields %q, want %q", got, tt.err)
			}
			for _, s := range []error{client.ErrBadRequest, client.ErrUnknownSKU, client.ErrSoldOut,
				client.ErrInsufficient, client.ErrUnavailable, client.ErrInternal} {
				if s != tt.want && errors.Is(err, s) {
					t.Fatalf("err %v also matches %v", err, s)
				}
			}
		})
	}
}
