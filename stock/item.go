package stock

import (
	"errors"
	"time"
)

// Bounds on what a request may ask for. Sums of these never overflow int64.
const (
	MaxUnits = 1_000_000             // most units one request may acquire or release
	MaxLimit = 1_000_000_000_000_000 // largest limit a SKU may have (1e15)
)

// Outcome of an acquire.
type Outcome uint8

const (
	Granted      Outcome = iota // the units were taken from the window
	Wait                        // fits the limit but not the window: wait for a raised cap
	Insufficient                // 0 < remaining < n
	SoldOut                     // remaining is 0
)

func (o Outcome) String() string {
	switch o {
	case Granted:
		return "granted"
	case Wait:
		return "wait"
	case Insufficient:
		return "insufficient"
	case SoldOut:
		return "sold_out"
	}
	return "unknown"
}

// ErrReleaseExceedsSold is returned by Release when more units would come
// back than were ever sold.
var ErrReleaseExceedsSold = errors.New("stock: release exceeds units sold")

// Item is one SKU as its leader sees it. The zero value is a SKU of limit 0.
// An Item is not safe for concurrent use: the caller holds a lock around
// every method.
//
// Invariant: 0 <= Held <= Sold <= Cap <= Limit <= MaxLimit, where Cap is
// durable. Sold only rises, except when Trim makes the cap exact for a
// graceful stop.
type Item struct {
	Limit int64 // L: units the SKU may ever hand out
	Sold  int64 // S: units handed out so far, held ones included
	Cap   int64 // C: durable upper bound on Sold

	// Read on every grant (NeedsRefill): kept next to Limit, Sold and Cap.
	window  int64 // size of the previous window planned
	stalled bool  // a request had to wait since the previous plan

	Held      int64 // H: units of Sold in holds not yet ended (hold.go)
	ExpiredMS int64 // durable: holds due by then have expired (Record.ExpiredMS)
	PerBuyer  int64 // durable: units one buyer may take, 0 for no cap (Record.PerBuyer)

	rate       float64   // recent grant rate, units per second
	lastPlan   time.Time // when the previous refill was planned
	soldAtPlan int64     // Sold when the previous refill was planned
}

// Resume returns the Item a new leader serves from after loading r: Sold is
// set to the cap, so the window is empty until a raised cap is persisted.
func Resume(r Record) Item {
	return Item{Limit: r.Limit, Sold: r.Cap, Cap: r.Cap, ExpiredMS: r.ExpiredMS, PerBuyer: r.PerBuyer}
}

// Record returns the durable part of it.
func (it *Item) Record() Record { return it.record(it.Limit, it.Cap) }

// record is the record of it with limit and cap: every record planned
// carries the expiry mark and the per-buyer cap, so that no write lowers
// the one or drops the other.
func (it *Item) record(limit, cap int64) Record {
	return Record{Limit: limit, Cap: cap, ExpiredMS: it.ExpiredMS, PerBuyer: it.PerBuyer}
}

// Remaining is L - S: what may still be handed out, by this or a later leader.
func (it *Item) Remaining() int64 { return it.Limit - it.Sold }

// Window is C - S: what may be handed out now without touching the store.
func (it *Item) Window() int64 { return it.Cap - it.Sold }

// Acquire takes n units from the window, all or nothing, and returns what
// remains after it. n must be in 1..MaxUnits. On Wait nothing changes and
// the caller raises the cap and tries again.
func (it *Item) Acquire(n int64) (remaining int64, o Outcome) {
	rem := it.Limit - it.Sold
	switch {
	case rem <= 0:
		return 0, SoldOut
	case n > rem:
		return rem, Insufficient
	case n > it.Cap-it.Sold:
		it.stalled = true
		return rem, Wait
	}
	it.Sold += n
	return rem - n, Granted
}
