package responder

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/stock"
	"github.com/stockstate/stock/wire"
)

// Per-buyer caps (README, "Per-buyer caps"): a SKU whose record has a
// per_buyer cap k serves an acquire or hold of a buyer only while the
// buyer's units, bought + held + in flight, stay within k. A grant to a
// buyer is answered once the buyer's record, its bought count and the
// request's id, is durable (opBuy, written by group commit); a hold once
// its record, which names the buyer, is. So a buyer's durable count is
// never below what it was told it got, whichever leader told it, and a
// later leader that loads the record cannot let it past the cap.
//
// A buyer's record is read on its first request in a term (buyerLoads),
// not at takeover: a sale of a million buyers takes over as fast as one of
// none. Its held units are known from the term's holds, which every term
// loads.

// maxBuyerIDs bounds the request ids a buyer's record keeps (those of the
// last dedupe horizon, the most recent first): a repeat of an older one
// after a change of leader counts again, which can only refuse the buyer
// too early, never let it past the cap.
const maxBuyerIDs = 1000

// buyer is one buyer of a SKU in this term. Its fields are guarded by its
// entry's mu.
type buyer struct {
	name    string
	loaded  bool // its record was read in this term
	loading bool // a read of its record is queued or in flight
	bought  int64
	held    int64 // units in its live holds
	pending int64 // units granted or parked whose write is not durable yet
	ids     []capstore.BuyerID
	waiting []buyerWait // requests that wait for the record
}

// buyerWait is a request that waits for its buyer's record: redo serves it
// again once the record is loaded; rq is answered if it cannot be.
type buyerWait struct {
	rq   request
	redo func()
}

// counted is the units the buyer has against the cap.
func (b *buyer) counted() int64 { return b.bought + b.held + b.pending }

// buyerLocked returns e's buyer of that name, new if e has none. Lock e.mu
// on entry.
func (e *entry) buyerLocked(name string) *buyer {
	b := e.buyers[name]
	if b == nil {
		if e.buyers == nil {
			e.buyers = map[string]*buyer{}
		}
		b = &buyer{name: name}
		e.buyers[name] = b
	}
	return b
}

// admitLocked decides, for a request of n units of e by the named buyer,
// what the cap says before any unit is taken: ok with the buyer to charge
// (nil if e has no cap), or an answer to send instead (a refusal, or the
// first answer to idKey if the buyer's record keeps it), or, when the
// buyer's record is not loaded yet, neither: the request waits for it
// (redo serves it again) and the caller returns. Lock e.mu on entry.
func (t *term) admitLocked(e *entry, name string, n int64, idKey string, rq request, redo func()) (b *buyer, instead *answer, ok bool) {
	k := e.item.PerBuyer
	switch {
	case k == 0:
		return nil, nil, true
	case name == "":
		a := errorAnswer(e.sku, 0, wire.ErrBadRequest, fmt.Sprintf("sku %s allows %d units per buyer: the request needs a buyer", e.sku, k))
		return nil, &a, false
	}
	b = e.buyerLocked(name)
	if !b.loaded {
		t.waitBuyerLocked(e, b, buyerWait{rq: rq, redo: redo})
		return nil, nil, false
	}
	if idKey != "" {
		if a, ok := b.repeatLocked(e.sku, idKey); ok {
			return nil, &a, false
		}
	}
	if b.counted()+n > k {
		a := buyerLimit(e.sku, e.item.Remaining(), b, k, n)
		return nil, &a, false
	}
	return b, nil, true
}

// acquireCappedLocked serves an acquire of e, a SKU with a per-buyer cap:
// the cap admits it, its units come from the window as any acquire's (or
// it parks), and a grant is answered once the buyer's record counts it
// (opBuy). It unlocks e.mu.
func (t *term) acquireCappedLocked(e *entry, a args, rq request) {
	idKey := ""
	if a.id != "" {
		idKey = buyerIDKey(opBuy, a.id)
	}
	b, instead, ok := t.admitLocked(e, a.buyer, a.n, idKey, rq, func() { t.acquire(e.sku, a, rq) })
	if !ok {
		e.mu.Unlock()
		if instead != nil {
			t.finish(rq, *instead)
		}
		return
	}
	rem, o := grantLocked(e, a.n)
	refill := false
	switch o {
	case stock.Wait:
		b.pending += a.n
		w := t.parkLocked(e, a.n, rq)
		w.buyer, w.id = b, a.id
	case stock.Granted:
		b.pending += a.n
		refill = t.grantedLocked(e)
	}
	e.mu.Unlock()
	if refill {
		t.q.refillAhead(e)
	}
	switch o {
	case stock.Granted:
		t.q.submit(&op{kind: opBuy, sku: e.sku, n: a.n, rem: rem, id: a.id, buyer: b.name, req: rq})
	case stock.Wait:
	default:
		t.finish(rq, t.acquireAnswer(e.sku, a.n, rem, o))
	}
}

// waitBuyerLocked parks w until b's record is loaded, queueing its read if
// none is. Lock e.mu on entry.
func (t *term) waitBuyerLocked(e *entry, b *buyer, w buyerWait) {
	b.waiting = append(b.waiting, w)
	t.buyerWaits.Add(1)
	if !b.loading {
		b.loading = true
		t.loads.queue(e, b)
	}
}

// repeatLocked is the first answer to a request of b with id, if b's
// record has one. Lock e.mu on entry.
func (b *buyer) repeatLocked(sku, key string) (answer, bool) {
	for i := len(b.ids) - 1; i >= 0; i-- {
		if b.ids[i].ID == key {
			return storedAnswer(sku, b.ids[i].Reply), true
		}
	}
	return answer{}, false
}

// buyerIDKey is how a request id is kept in a buyer's record: acquires and
// releases of one buyer have ids of their own.
func buyerIDKey(kind opKind, id string) string {
	if kind == opRelease {
		return "r:" + id
	}
	return "a:" + id
}

// storedAnswer is the answer a stored reply body gives again; a grant's
// body also gives its counts, for a batch item.
func storedAnswer(sku string, body []byte) answer {
	var r wire.Reply
	if err := json.Unmarshal(body, &r); err == nil && r.Granted > 0 {
		return grantAnswer(r.SKU, r.Granted, r.Remaining)
	}
	return answer{body: body}
}

// buyerLimit is the refusal of n more units to b, which has its count
// against the cap k already.
func buyerLimit(sku string, remaining int64, b *buyer, k, n int64) answer {
	msg := fmt.Sprintf("buyer %s has %d of the %d units per buyer (%d bought, %d held); %d more would pass the cap",
		b.name, b.counted(), k, b.bought+b.pending, b.held, n)
	over := &overCap{bought: b.bought + b.pending, held: b.held, perBuyer: k}
	return answer{body: wire.AppendBuyerLimit(nil, sku, remaining, over.bought, over.held, k, msg, false),
		code: wire.Code(wire.ErrBuyerLimit), kind: wire.KindIndex(wire.ErrBuyerLimit), desc: msg, remaining: remaining, over: over}
}

// buyerQuery answers a query of one buyer of e, once its record is loaded.
func (t *term) buyerQuery(sku, name string, rq request) {
	e := t.lockedEntry(sku, nil, rq)
	if e == nil {
		return
	}
	b := e.buyerLocked(name)
	if !b.loaded {
		t.waitBuyerLocked(e, b, buyerWait{rq: rq, redo: func() { t.buyerQuery(sku, name, rq) }})
		e.mu.Unlock()
		return
	}
	body := wire.AppendBuyer(nil, sku, name, e.item.PerBuyer, b.held, b.bought, e.item.Remaining())
	e.mu.Unlock()
	t.finish(rq, answer{body: body})
}

// recentIDs is ids without those older than the horizon at now, and at
// most maxBuyerIDs-extra of the rest, so that extra new ones fit.
func recentIDs(ids []capstore.BuyerID, now time.Time, horizon time.Duration, extra int) []capstore.BuyerID {
	oldest := now.Add(-horizon).UnixMilli()
	i := 0
	for i < len(ids) && ids[i].AtMS < oldest {
		i++
	}
	if keep := maxBuyerIDs - extra; len(ids)-i > keep {
		i = len(ids) - max(keep, 0)
	}
	return ids[i:]
}
