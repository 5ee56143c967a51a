package client_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stockstate/stock/client"
	"github.com/stockstate/stock/internal/testenv"
)

// TestHoldLifecycle: hold, extend, confirm and cancel against a real
// responder, each repeat answered as the first call, each ended hold
// answered with its typed error, and query counting what is held.
func TestHoldLifecycle(t *testing.T) {
	_, c := leading(t, nil)
	ctx := ctx(t)
	if _, err := c.SetLimit(ctx, "sku1", 10); err != nil {
		t.Fatal(err)
	}

	before := time.Now()
	h, err := c.Hold(ctx, "sku1", "cart-1", 3, 90*time.Second)
	if err != nil || h.SKU != "sku1" || h.ID != "cart-1" || h.Held != 3 || h.Remaining != 7 {
		t.Fatalf("Hold = %+v, %v; want 3 held, 7 remaining", h, err)
	}
	if d := h.ExpiresAt.Sub(before); d < 89*time.Second || d > 92*time.Second {
		t.Fatalf("expires %v after the call, want about 90s", d)
	}
	if again, err := c.Hold(ctx, "sku1", "cart-1", 3, 90*time.Second); err != nil || again != h {
		t.Fatalf("repeated Hold = %+v, %v; want %+v", again, err, h)
	}
	if s, err := c.Query(ctx, "sku1"); err != nil || s.Held != 3 || s.Sold != 3 || s.Remaining != 7 {
		t.Fatalf("Query = %+v, %v; want 3 held and sold, 7 remaining", s, err)
	}
	e, err := c.Extend(ctx, "sku1", "cart-1", 0) // the default, 15 minutes
	if err != nil || e.Held != 3 || e.ExpiresAt.Sub(before) < 14*time.Minute {
		t.Fatalf("Extend = %+v, %v; want 3 held for about 15m", e, err)
	}
	conf, err := c.Confirm(ctx, "sku1", "cart-1")
	if want := (client.Confirmed{SKU: "sku1", Confirmed: 3}); err != nil || conf != want {
		t.Fatalf("Confirm = %+v, %v; want %+v", conf, err, want)
	}
	if again, err := c.Confirm(ctx, "sku1", "cart-1"); err != nil || again != conf {
		t.Fatalf("repeated Confirm = %+v, %v; want %+v", again, err, conf)
	}
	if _, err := c.Cancel(ctx, "sku1", "cart-1"); !errors.Is(err, client.ErrBadRequest) {
		t.Fatalf("Cancel of a confirmed hold: %v, want ErrBadRequest", err)
	}

	if _, err := c.Hold(ctx, "sku1", "cart-2", 2, 0); err != nil {
		t.Fatal(err)
	}
	canc, err := c.Cancel(ctx, "sku1", "cart-2")
	if want := (client.Cancelled{SKU: "sku1", Cancelled: 2, Remaining: 7}); err != nil || canc != want {
		t.Fatalf("Cancel = %+v, %v; want %+v", canc, err, want)
	}
	if again, err := c.Cancel(ctx, "sku1", "cart-2"); err != nil || again != canc {
		t.Fatalf("repeated Cancel = %+v, %v; want %+v", again, err, canc)
	}
	if _, err := c.Extend(ctx, "sku1", "cart-2", time.Minute); !errors.Is(err, client.ErrUnknownHold) {
		t.Fatalf("Extend of a cancelled hold: %v, want ErrUnknownHold", err)
	}
	// Units that come back raise the limit, as a release does.
	want := client.Stock{SKU: "sku1", Limit: 12, Sold: 5, Remaining: 7, Leader: "node-a"}
	if s, err := c.Query(ctx, "sku1"); err != nil || s != want {
		t.Fatalf("Query = %+v, %v; want %+v", s, err, want)
	}

	if _, err := c.Hold(ctx, "sku1", "cart-3", 8, time.Minute); !errors.Is(err, client.ErrInsufficient) {
		t.Fatalf("Hold of more than remains: %v, want ErrInsufficient", err)
	}
	if _, err := c.Confirm(ctx, "sku1", "nobody"); !errors.Is(err, client.ErrUnknownHold) {
		t.Fatalf("Confirm of no hold: %v, want ErrUnknownHold", err)
	}
}

// TestHoldExpiredErrors: once a hold expired, confirm and extend return
// ErrExpired, and its units are back.
func TestHoldExpiredErrors(t *testing.T) {
	_, c := leading(t, nil)
	ctx := ctx(t)
	if _, err := c.SetLimit(ctx, "sku1", 5); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Hold(ctx, "sku1", "cart-1", 5, time.Second); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 3*time.Second, 10*time.Millisecond, func() error {
		s, err := c.Query(ctx, "sku1")
		if err != nil || s.Held != 0 || s.Remaining != 5 || s.Limit != 10 {
			return fmt.Errorf("Query = %+v, %v; want the 5 held units back", s, err)
		}
		return nil
	})
	if _, err := c.Confirm(ctx, "sku1", "cart-1"); !errors.Is(err, client.ErrExpired) {
		t.Errorf("Confirm: %v, want ErrExpired", err)
	}
	if _, err := c.Extend(ctx, "sku1", "cart-1", time.Minute); !errors.Is(err, client.ErrExpired) {
		t.Errorf("Extend: %v, want ErrExpired", err)
	}
	if _, err := c.Cancel(ctx, "sku1", "cart-1"); !errors.Is(err, client.ErrExpired) {
		t.Errorf("Cancel: %v, want ErrExpired", err)
	}
}

// TestHoldChecksBeforeSending: what cannot be a hold is refused locally
// with ErrBadRequest.
func TestHoldChecksBeforeSending(t *testing.T) {
	_, c := leading(t, nil)
	ctx := ctx(t)
	for name, f := range map[string]func() error{
		"no id":     func() error { _, err := c.Hold(ctx, "sku1", "", 1, 0); return err },
		"n 0":       func() error { _, err := c.Hold(ctx, "sku1", "a", 0, 0); return err },
		"bad sku":   func() error { _, err := c.Confirm(ctx, "a.b", "a"); return err },
		"ttl < 0":   func() error { _, err := c.Extend(ctx, "sku1", "a", -time.Second); return err },
		"cancel id": func() error { _, err := c.Cancel(ctx, "sku1", ""); return err },
	} {
		if err := f(); !errors.Is(err, client.ErrBadRequest) {
			t.Errorf("%s: %v, want ErrBadRequest", name, err)
		}
	}
}
