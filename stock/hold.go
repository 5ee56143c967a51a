package stock

import (
	"errors"
	"fmt"
	"time"
)

// A hold reserves units for a checkout: they leave the window like a grant
// (Acquire), and the hold then ends exactly once, in one of three ways.
// Confirm sells them for good; Cancel and expiry give them back, which
// raises the limit by the hold's units as a release does. Until it ends the
// hold's units count in Item.Held, which is part of Sold:
//
//	Sold - Held (sold for good) + Held + Remaining = Limit
//
// A hold may be confirmed, cancelled or extended only before it expires;
// from then on only expiry ends it. So a confirm racing the expiry is
// decided by the clock of the leader that plans it, and exactly one wins.

// HoldState is where a hold is in its life.
type HoldState uint8

const (
	HoldLive      HoldState = iota // its units are held
	HoldConfirmed                  // its units are sold for good
	HoldCancelled                  // its units came back before it expired
	HoldExpired                    // its units came back when it expired
)

func (s HoldState) String() string {
	switch s {
	case HoldLive:
		return "live"
	case HoldConfirmed:
		return "confirmed"
	case HoldCancelled:
		return "cancelled"
	case HoldExpired:
		return "expired"
	}
	return "unknown"
}

// Returned reports whether the hold's units came back.
func (s HoldState) Returned() bool { return s == HoldCancelled || s == HoldExpired }

// Errors of a hold that can no longer change as asked.
var (
	ErrHoldExpired = errors.New("stock: hold expired")
	ErrHoldEnded   = errors.New("stock: hold already ended")
)

// MaxHoldTTL is the longest a hold may last, and DefaultHoldTTL how long it
// lasts when the request does not say.
const (
	MaxHoldTTL     = 24 * time.Hour
	DefaultHoldTTL = 15 * time.Minute
)

// Hold is one hold as its leader sees it. It is not safe for concurrent use.
type Hold struct {
	N       int64     // units held, 1..MaxUnits
	Expires time.Time // when its units come back unless it was confirmed
	State   HoldState
}

// end moves a live, unexpired hold to state.
func (h *Hold) end(now time.Time, state HoldState) error {
	switch {
	case h.State == HoldExpired || h.State == HoldLive && !now.Before(h.Expires):
		return ErrHoldExpired
	case h.State != HoldLive:
		return fmt.Errorf("%w: %s", ErrHoldEnded, h.State)
	}
	h.State = state
	return nil
}

// Confirm sells the hold's units for good, if it is live and has not
// expired by now. The caller then calls Item.ConfirmHeld.
func (h *Hold) Confirm(now time.Time) error { return h.end(now, HoldConfirmed) }

// Cancel ends a live hold before it expires, giving its units back. The
// caller then plans their return with Item.PlanReturn.
func (h *Hold) Cancel(now time.Time) error { return h.end(now, HoldCancelled) }

// Expire ends a live hold whose time has come and reports whether it did;
// the caller then plans the return of its units with Item.PlanReturn.
func (h *Hold) Expire(now time.Time) bool {
	if h.State != HoldLive || now.Before(h.Expires) {
		return false
	}
	h.State = HoldExpired
	return true
}

// Extend moves the expiry of a live, unexpired hold to now+ttl.
func (h *Hold) Extend(now time.Time, ttl time.Duration) error {
	if err := h.end(now, HoldLive); err != nil { // checks; the state stays live
		return err
	}
	h.Expires = now.Add(ttl)
	return nil
}

// ErrReturnExceedsHeld is returned by PlanReturn when more units would come
// back than are held.
var ErrReturnExceedsHeld = errors.New("stock: return exceeds units held")

// AddHeld counts n units, just taken with Acquire, as held by a hold.
func (it *Item) AddHeld(n int64) { it.Held += n }

// ConfirmHeld counts n held units as sold for good.
func (it *Item) ConfirmHeld(n int64) { it.Held -= n }

// PlanReturn prepares the return of n held units (of holds cancelled, or
// expired: due at or before expiredMS) and returns the record to persist:
// the limit rises by n, as for a release, and the expiry mark to
// expiredMS if that is later. The caller applies it with ApplyReturn once
// it is durable.
func (it *Item) PlanReturn(n, expiredMS int64) (Record, error) {
	if n > it.Held {
		return Record{}, fmt.Errorf("%w: %d returned, %d held", ErrReturnExceedsHeld, n, it.Held)
	}
	r, err := it.PlanRelease(n)
	r.ExpiredMS = max(r.ExpiredMS, expiredMS)
	return r, err
}

// ApplyReturn records that r, planned by PlanReturn for n units, is
// durable: the units are no longer held, the limit has risen, and the
// expiry mark is r's.
func (it *Item) ApplyReturn(r Record, n int64) {
	it.Apply(r)
	it.Held -= n
	it.ExpiredMS = r.ExpiredMS
}
