package client

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/stockstate/stock/wire"
)

// Hold is a reservation of units for a checkout: Held units leave the
// window like a grant and Remaining were left right after; they are sold
// for good by Confirm, and come back at once on Cancel or by the leader
// within a second after ExpiresAt.
type Hold struct {
	SKU       string
	ID        string
	Held      int64
	Remaining int64
	ExpiresAt time.Time
}

// Confirmed is the reply to a confirm: the hold's units are sold for good.
type Confirmed struct {
	SKU       string
	Confirmed int64
}

// Cancelled is the reply to a cancel: the hold's units came back and
// Remaining were left right after.
type Cancelled struct {
	SKU       string
	Cancelled int64
	Remaining int64
}

// Hold reserves n units of sku, all or none, under id (1 to 128 bytes,
// required: it names the hold for Confirm, Cancel and Extend). ttl is
// rounded up to whole seconds, 1s to 24h; 0 means the responder's default
// of 15 minutes. The hold is durable before the reply, so repeating the
// call with the same id, also after a change of leader or a timeout,
// returns the first reply and holds nothing more. Errors are those of
// Acquire; a hold of id that already ended returns ErrUnknownHold or
// ErrExpired. Of opts, Hold takes WithBuyer (the held units count against
// the buyer's cap, ErrBuyerLimit) and ignores WithID: id names the hold.
func (c *Client) Hold(ctx context.Context, sku, id string, n int64, ttl time.Duration, opts ...CallOption) (Hold, error) {
	secs, err := checkHold(sku, id, ttl)
	if err != nil {
		return Hold{}, err
	}
	if n < 1 { // an absent n would mean 1
		return Hold{}, &Error{Code: 400, Kind: wire.ErrBadRequest, SKU: sku, Message: "n must be at least 1 (checked before sending)"}
	}
	o := options(opts)
	if err := checkBuyer(sku, &o); err != nil {
		return Hold{}, err
	}
	body, _ := json.Marshal(wire.HoldRequest{N: n, ID: id, TTLs: secs, Buyer: o.buyer}) // ints and strings cannot fail
	r, err := c.do(ctx, call{op: "hold", sku: sku, id: id, base: c.subjects.hold, body: body})
	if err != nil {
		return Hold{}, err
	}
	return holdOf(r)
}

// Confirm sells the units of hold id of sku for good. A repeat returns the
// same reply. It returns ErrExpired when the hold expired first (its units
// came back) and ErrUnknownHold when there is no such hold, or it was
// cancelled.
func (c *Client) Confirm(ctx context.Context, sku, id string) (Confirmed, error) {
	r, err := c.holdCall(ctx, "confirm", c.subjects.confirm, sku, id)
	if err != nil {
		return Confirmed{}, err
	}
	return Confirmed{SKU: r.SKU, Confirmed: r.Confirmed}, nil
}

// Cancel gives the units of hold id of sku back at once. A repeat returns
// the same reply. It returns ErrExpired when the hold expired first (its
// units came back anyway), ErrBadRequest when it was confirmed (Release
// the units instead) and ErrUnknownHold when there is no such hold.
func (c *Client) Cancel(ctx context.Context, sku, id string) (Cancelled, error) {
	r, err := c.holdCall(ctx, "cancel", c.subjects.cancel, sku, id)
	if err != nil {
		return Cancelled{}, err
	}
	return Cancelled{SKU: r.SKU, Cancelled: r.Cancelled, Remaining: r.Remaining}, nil
}

// Extend moves the expiry of live hold id of sku to ttl from now (rounded
// up to whole seconds; 0 means 15 minutes) and returns the hold. It
// returns ErrExpired or ErrUnknownHold for a hold that ended.
func (c *Client) Extend(ctx context.Context, sku, id string, ttl time.Duration) (Hold, error) {
	secs, err := checkHold(sku, id, ttl)
	if err != nil {
		return Hold{}, err
	}
	body, _ := json.Marshal(wire.HoldIDRequest{ID: id, TTLs: secs})
	r, err := c.do(ctx, call{op: "extend", sku: sku, id: id, base: c.subjects.extend, body: body})
	if err != nil {
		return Hold{}, err
	}
	return holdOf(r)
}

// holdCall sends confirm or cancel of hold id on the verb's subject base.
func (c *Client) holdCall(ctx context.Context, op, base, sku, id string) (wire.Reply, error) {
	if _, err := checkHold(sku, id, 0); err != nil {
		return wire.Reply{}, err
	}
	body, _ := json.Marshal(wire.HoldIDRequest{ID: id})
	return c.do(ctx, call{op: op, sku: sku, id: id, base: base, body: body})
}

// checkHold checks sku, id and ttl before sending, and returns ttl in
// whole seconds, rounded up.
func checkHold(sku, id string, ttl time.Duration) (int64, error) {
	if err := checkSKU(sku); err != nil {
		return 0, err
	}
	if id == "" {
		return 0, &Error{Code: 400, Kind: wire.ErrBadRequest, SKU: sku, Message: "a hold needs an id (checked before sending)"}
	}
	if ttl < 0 {
		return 0, &Error{Code: 400, Kind: wire.ErrBadRequest, SKU: sku, Message: "ttl must not be negative (checked before sending)"}
	}
	return int64((ttl + time.Second - 1) / time.Second), nil
}

// holdOf is the Hold of a hold or extend reply.
func holdOf(r wire.Reply) (Hold, error) {
	at, err := time.Parse(wire.HoldTimeFormat, r.ExpiresAt)
	if err != nil {
		return Hold{}, fmt.Errorf("client: hold %s (id %s): bad expires_at %q: %w", r.SKU, r.ID, r.ExpiresAt, err)
	}
	return Hold{SKU: r.SKU, ID: r.ID, Held: r.Held, Remaining: r.Remaining, ExpiresAt: at}, nil
}
