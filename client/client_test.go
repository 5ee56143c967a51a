package client_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/client"
	"github.com/stockstate/stock/internal/stocktest"
	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/wire"
)

// newClient returns a Client on nc with cfg's defaults changed by edit; it
// is closed at cleanup.
func newClient(t testing.TB, nc *nats.Conn, edit func(*client.Config)) *client.Client {
	t.Helper()
	cfg := client.DefaultConfig()
	if edit != nil {
		edit(&cfg)
	}
	c, err := client.New(nc, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// batched turns batching on.
func batched(c *client.Config) { c.Batch = true }

// modes are the two ways Acquire can travel, for tests that must hold for
// both.
var modes = []struct {
	name string
	edit func(*client.Config)
}{
	{"single", nil},
	{"batched", batched},
}

// ctx returns a context that ends with the test or after 30s.
func ctx(t testing.TB) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// leading starts a cluster with one leading responder, "node-a", and a
// client with cfg's defaults changed by edit.
func leading(t testing.TB, edit func(*client.Config)) (*stocktest.Cluster, *client.Client) {
	t.Helper()
	c := stocktest.NewCluster(t)
	c.Start("node-a", "").WaitLeading(t)
	return c, newClient(t, c.NC, edit)
}

func TestRoundTrip(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { testRoundTrip(t, m.edit) })
	}
}

func testRoundTrip(t *testing.T, edit func(*client.Config)) {
	_, c := leading(t, edit)
	ctx := ctx(t)

	s, err := c.SetLimit(ctx, "sku1", 10)
	if want := (client.Stock{SKU: "sku1", Limit: 10, Remaining: 10, Leader: "node-a"}); err != nil || s != want {
		t.Fatalf("SetLimit = %+v, %v; want %+v", s, err, want)
	}
	g, err := c.Acquire(ctx, "sku1", 3)
	if want := (client.Grant{SKU: "sku1", Granted: 3, Remaining: 7}); err != nil || g != want {
		t.Fatalf("Acquire = %+v, %v; want %+v", g, err, want)
	}
	r, err := c.Release(ctx, "sku1", 1)
	if want := (client.Release{SKU: "sku1", Released: 1, Remaining: 8}); err != nil || r != want {
		t.Fatalf("Release = %+v, %v; want %+v", r, err, want)
	}
	s, err = c.Query(ctx, "sku1")
	if want := (client.Stock{SKU: "sku1", Limit: 11, Sold: 3, Remaining: 8, Leader: "node-a"}); err != nil || s != want {
		t.Fatalf("Query = %+v, %v; want %+v", s, err, want)
	}
	if err := c.Delete(ctx, "sku1"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := c.Query(ctx, "sku1"); !errors.Is(err, client.ErrUnknownSKU) {
		t.Fatalf("Query after Delete: %v, want ErrUnknownSKU", err)
	}
}

// TestSameIDSameReply: a repeated acquire or release id is served once.
func TestSameIDSameReply(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { testSameIDSameReply(t, m.edit) })
	}
}

func testSameIDSameReply(t *testing.T, edit func(*client.Config)) {
	_, c := leading(t, edit)
	ctx := ctx(t)
	if _, err := c.SetLimit(ctx, "sku1", 10); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if g, err := c.Acquire(ctx, "sku1", 4, client.WithID("order-1")); err != nil || g.Remaining != 6 {
			t.Fatalf("Acquire = %+v, %v", g, err)
		}
		if r, err := c.Release(ctx, "sku1", 1, client.WithID("cancel-1")); err != nil || r.Remaining != 7 {
			t.Fatalf("Release = %+v, %v", r, err)
		}
	}
	// Calls without an id of their own each get a new one.
	for want := int64(6); want >= 4; want-- {
		if g, err := c.Acquire(ctx, "sku1", 1); err != nil || g.Remaining != want {
			t.Fatalf("Acquire = %+v, %v; want %d remaining", g, err, want)
		}
	}
	// An id needing escapes travels intact.
	if g, err := c.Acquire(ctx, "sku1", 1, client.WithID("o\"r\\d\u00e9r\n")); err != nil || g.Remaining != 3 {
		t.Fatalf("Acquire = %+v, %v", g, err)
	}
}

func TestTypedErrors(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) { testTypedErrors(t, m.edit) })
	}
}

func testTypedErrors(t *testing.T, edit func(*client.Config)) {
	_, c := leading(t, edit)
	ctx := ctx(t)
	if _, err := c.SetLimit(ctx, "low", 3); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SetLimit(ctx, "none", 0); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		call func() error
		want error
		code int
		kind string
		rem  int64
	}{
		{"insufficient", func() error { _, err := c.Acquire(ctx, "low", 5); return err },
			client.ErrInsufficient, 409, wire.ErrInsufficient, 3},
		{"sold out", func() error { _, err := c.Acquire(ctx, "none", 1); return err },
			client.ErrSoldOut, 409, wire.ErrSoldOut, 0},
		{"unknown sku", func() error { _, err := c.Acquire(ctx, "nope", 1); return err },
			client.ErrUnknownSKU, 404, wire.ErrUnknownSKU, 0},
		{"unknown sku query", func() error { _, err := c.Query(ctx, "nope"); return err },
			client.ErrUnknownSKU, 404, wire.ErrUnknownSKU, 0},
		{"unknown sku delete", func() error { return c.Delete(ctx, "nope") },
			client.ErrUnknownSKU, 404, wire.ErrUnknownSKU, 0},
		{"n zero", func() error { _, err := c.Acquire(ctx, "low", 0); return err },
			client.ErrBadRequest, 400, wire.ErrBadRequest, 0},
		{"n negative release", func() error { _, err := c.Release(ctx, "low", -1); return err },
			client.ErrBadRequest, 400, wire.ErrBadRequest, 0},
		{"release more than sold", func() error { _, err := c.Release(ctx, "low", 1); return err },
			client.ErrBadRequest, 400, wire.ErrBadRequest, 0},
		{"negative limit", func() error { _, err := c.SetLimit(ctx, "low", -1); return err },
			client.ErrBadRequest, 400, wire.ErrBadRequest, 0},
		{"sku the server refuses", func() error { _, err := c.Acquire(ctx, "a/b", 1); return err },
			client.ErrBadRequest, 400, wire.ErrBadRequest, 0},
		{"id too long", func() error {
			_, err := c.Acquire(ctx, "low", 1, client.WithID(string(make([]byte, 200))))
			return err
		}, client.ErrBadRequest, 400, wire.ErrBadRequest, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var e *client.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %T %v, not a *client.Error", err, err)
			}
			if e.Code != tt.code || e.Kind != tt.kind || e.Remaining != tt.rem || e.Message == "" {
				t.Fatalf("err = %+v, want code %d, kind %s, remaining %d and a message", e, tt.code, tt.kind, tt.rem)
			}
			for _, other := range []error{client.ErrBadRequest, client.ErrUnknownSKU, client.ErrSoldOut,
				client.ErrInsufficient, client.ErrUnavailable, client.ErrInternal} {
				if other != tt.want && errors.Is(err, other) {
					t.Fatalf("err %v also matches %v", err, other)
				}
			}
		})
	}
}

// TestLocalSKUCheck: a SKU that cannot be one subject token is refused
// before anything is sent.
func TestLocalSKUCheck(t *testing.T) {
	nc := testenv.Conn(t, testenv.NATS(t))
	sub, err := nc.SubscribeSync(">")
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctx(t)
	for _, m := range modes {
		testLocalSKUCheck(t, ctx, newClient(t, nc, m.edit))
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if m, err := sub.NextMsg(50 * time.Millisecond); err == nil {
		t.Fatalf("a request was sent: %s %q", m.Subject, m.Data)
	}
}

func testLocalSKUCheck(t *testing.T, ctx context.Context, cl *client.Client) {
	for _, sku := range []string{"", "a.b", "a*", ">", "a b", "a\tb", "a\nb", "a\x00b", "a\x7f"} {
		calls := map[string]func() error{
			"acquire": func() error { _, err := cl.Acquire(ctx, sku, 1); return err },
			"release": func() error { _, err := cl.Release(ctx, sku, 1); return err },
			"query":   func() error { _, err := cl.Query(ctx, sku); return err },
			"set":     func() error { _, err := cl.SetLimit(ctx, sku, 1); return err },
			"delete":  func() error { return cl.Delete(ctx, sku) },
		}
		for name, call := range calls {
			var e *client.Error
			if err := call(); !errors.Is(err, client.ErrBadRequest) || !errors.As(err, &e) || e.SKU != sku {
				t.Errorf("%s %q: %v, want ErrBadRequest", name, sku, err)
			}
		}
	}
}

func TestNewRejects(t *testing.T) {
	nc := testenv.Conn(t, testenv.NATS(t))
	if _, err := client.New(nil, client.DefaultConfig()); err == nil {
		t.Error("New(nil) succeeded")
	}
	if _, err := client.New(nc, client.Config{}); err == nil {
		t.Error("New with a zero Config succeeded")
	}
}
