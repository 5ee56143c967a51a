package responder

import (
	"fmt"
	"sync"
	"time"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/stock"
	"github.com/stockstate/stock/wire"
)

// Holds (README, "Holds"): a hold takes units from the window as an acquire
// does, and is answered once its record is durable. Confirm, cancel, extend
// and expiry are ops of the writer, which decides each of them on its own
// goroutine, in order, and answers them once their write is durable; so a
// confirm racing the expiry is decided once, by the writer's clock. Every
// hold of the term is in memory, ended ones for at least the dedupe
// horizon, so repeats are answered from it, also by a later leader, which
// loads them all.

// hold is one hold of a SKU. Its fields are guarded by its entry's mu.
type hold struct {
	stock.Hold
	id      string
	reply   []byte    // the answer to the hold, and to its repeats
	end     []byte    // the answer of the confirm or cancel that ended it
	written bool      // planned into a round (writer goroutine)
	durable bool      // its record is in the store
	ended   time.Time // when a confirm or cancel ended it; zero while live
	buyer   *buyer    // whose units it holds against a per-buyer cap; nil if none
}

// record is what the store keeps of h. Lock its entry's mu on entry.
func (h *hold) record() capstore.HoldRecord {
	r := capstore.HoldRecord{Hold: h.Hold, Reply: h.reply, End: h.end}
	if h.buyer != nil {
		r.Buyer = h.buyer.name
	}
	switch {
	case !h.ended.IsZero():
		r.EndedMS = h.ended.UnixMilli()
	case h.State == stock.HoldExpired:
		r.EndedMS = h.Expires.UnixMilli()
	}
	return r
}

// endedAt is when h ended, as well as is known: its expiry for an expired
// hold, else when it was confirmed or cancelled, else (a record written
// without it) fallback.
func (h *hold) endedAt(fallback time.Time) time.Time {
	switch {
	case !h.ended.IsZero():
		return h.ended
	case h.State == stock.HoldExpired:
		return h.Expires
	}
	return fallback
}

// holdSpec is what a hold request asks for besides its units; a parked hold
// carries it until its units are granted.
type holdSpec struct {
	id    string
	ttl   time.Duration
	buyer *buyer // of a SKU with a per-buyer cap, whose units it holds
}

// holdIDs maps each hold id of the term to its SKU: an id names one hold,
// whatever the subject it is sent on.
type holdIDs struct {
	mu  sync.Mutex
	sku map[string]string
}

// reserve makes room for n ids, as a new term resumes its holds.
func (x *holdIDs) reserve(n int) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.sku == nil {
		x.sku = make(map[string]string, n)
	}
}

// claim binds id to sku unless another SKU has it; it returns that SKU.
func (x *holdIDs) claim(id, sku string) (owner string, ok bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.sku == nil {
		x.sku = map[string]string{}
	}
	if owner, taken := x.sku[id]; taken && owner != sku {
		return owner, false
	}
	x.sku[id] = sku
	return sku, true
}

// owner is the SKU of id, or "".
func (x *holdIDs) owner(id string) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.sku[id]
}

func (x *holdIDs) len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.sku)
}

func (x *holdIDs) forget(id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.sku, id)
}

// hold serves a hold request: a repeat gets the first answer; otherwise its
// units are taken from the window (or it parks until they can be) and the
// hold's record is queued for the writer.
func (t *term) hold(sku string, a args, rq request) {
	e, err := t.cat.get(sku)
	if e == nil {
		t.finish(rq, missing(sku, err))
		return
	}
	if owner, ok := t.holdIDs.claim(a.id, sku); !ok {
		t.finish(rq, errorAnswer(sku, 0, wire.ErrBadRequest, fmt.Sprintf("hold id %q names a hold of sku %s", a.id, owner)))
		return
	}
	e.mu.Lock()
	if e.gone {
		e.mu.Unlock()
		t.holdIDs.forget(a.id)
		t.finish(rq, missing(sku, nil))
		return
	}
	if h := e.holds[a.id]; h != nil {
		ans := unavailable(sku) // its first copy's write is in flight
		if h.durable {
			ans = answer{body: h.reply}
		}
		e.mu.Unlock()
		t.finish(rq, ans)
		return
	}
	b, instead, ok := t.admitLocked(e, a.buyer, a.n, "", rq, func() { t.hold(sku, a, rq) })
	if !ok {
		e.mu.Unlock()
		if instead != nil {
			t.holdIDs.forget(a.id)
			t.finish(rq, *instead)
		}
		return
	}
	spec := holdSpec{id: a.id, ttl: a.ttl, buyer: b}
	rem, o := grantLocked(e, a.n)
	var refill bool
	var write *op
	switch o {
	case stock.Wait:
		if b != nil {
			b.pending += a.n
		}
		t.parkLocked(e, a.n, rq).hold = &spec
	case stock.Granted:
		write = t.startHoldLocked(e, a.n, rem, spec, rq)
		refill = t.grantedLocked(e)
	}
	e.mu.Unlock()
	if refill {
		t.q.refillAhead(e)
	}
	switch {
	case write != nil:
		t.q.submit(write)
	case o != stock.Wait:
		t.holdIDs.forget(a.id) // no hold was made: the id stays free
		t.finish(rq, t.acquireAnswer(sku, a.n, rem, o))
	}
}

// unparked frees the id of w, if it is a hold answered without one: it
// made no hold, so the id stays free.
func (t *term) unparked(w *waiter) {
	if w.hold != nil {
		t.holdIDs.forget(w.hold.id)
	}
}

// startHoldLocked makes a hold of n units just taken from e's window, with
// rem remaining after them, and returns the op that writes it. Its expiry is
// rounded up to a whole second, as expires_at says. Lock e.mu on entry.
func (t *term) startHoldLocked(e *entry, n, rem int64, spec holdSpec, rq request) *op {
	expires := holdExpiry(time.Now(), spec.ttl)
	h := &hold{Hold: stock.Hold{N: n, Expires: expires}, id: spec.id, buyer: spec.buyer,
		reply: wire.AppendHold(make([]byte, 0, 128+len(spec.id)), e.sku, n, rem, spec.id, expires)}
	e.item.AddHeld(n)
	if spec.buyer != nil {
		spec.buyer.held += n
	}
	if e.holds == nil {
		e.holds = map[string]*hold{}
	}
	e.holds[spec.id] = h
	return &op{kind: opHold, sku: e.sku, id: spec.id, req: rq}
}

// confirm, cancel and extend queue their op for the writer, which decides
// it; an id of another SKU's hold is a bad request.
func (t *term) confirm(sku string, a args, rq request) { t.submitHoldOp(opConfirm, sku, a, rq) }
func (t *term) cancel(sku string, a args, rq request)  { t.submitHoldOp(opCancel, sku, a, rq) }
func (t *term) extend(sku string, a args, rq request)  { t.submitHoldOp(opExtend, sku, a, rq) }

func (t *term) submitHoldOp(kind opKind, sku string, a args, rq request) {
	if owner := t.holdIDs.owner(a.id); owner != "" && owner != sku {
		t.finish(rq, errorAnswer(sku, 0, wire.ErrBadRequest, fmt.Sprintf("hold %q is a hold of sku %s", a.id, owner)))
		return
	}
	t.q.submit(&op{kind: kind, sku: sku, id: a.id, ttl: a.ttl, req: rq})
}

func unknownHold(sku, id, why string) answer {
	return errorAnswer(sku, 0, wire.ErrUnknownHold, fmt.Sprintf("no hold %q%s", id, why))
}

func expiredAnswer(sku string, h *hold) answer {
	return errorAnswer(sku, 0, wire.ErrExpired, fmt.Sprintf("hold %q expired at %s; its units came back",
		h.id, h.Expires.UTC().Format(wire.HoldTimeFormat)))
}

// endedAnswer answers an op of kind on a hold that ended before it: a
// repeat of the op that ended it gets that op's answer again.
func endedAnswer(kind opKind, sku string, h *hold) answer {
	switch {
	case h.State == stock.HoldExpired:
		return expiredAnswer(sku, h)
	case kind == opConfirm && h.State == stock.HoldConfirmed, kind == opCancel && h.State == stock.HoldCancelled:
		return answer{body: h.end}
	case h.State == stock.HoldConfirmed:
		return errorAnswer(sku, 0, wire.ErrBadRequest, fmt.Sprintf("hold %q was confirmed: its units are sold; release them instead", h.id))
	default:
		return unknownHold(sku, h.id, ": it was cancelled")
	}
}

// resumeHolds gives each SKU of a new term the holds the store keeps: live
// ones count as held and are scheduled to expire (at once if past due),
// ended ones answer repeats until one horizon after they ended (one horizon
// from now for a record without ended_ms). A live hold due by its SKU's
// expiry mark has expired already, its units back in the limit: it is
// ended, and its key rewritten so. A live hold of more units than its SKU
// has sold cannot be (its SKU was deleted and set again): it is logged and
// left out.
func (t *term) resumeHolds(holds map[string]map[string]capstore.HoldRecord) {
	now := time.Now()
	var tidy []capstore.HoldWrite
	var due, ended []dueHold
	defer func() {
		t.exp.scheduleAll(due)
		t.exp.forgetAll(ended)
		if len(tidy) > 0 {
			t.q.tidyLater(tidy)
		}
	}()
	n := 0
	for _, hs := range holds {
		n += len(hs)
	}
	t.holdIDs.reserve(n)
	for sku, hs := range holds {
		e, _ := t.cat.get(sku)
		if e == nil {
			t.p.log.Warn("holds of a SKU that does not exist are left out", "sku", sku, "holds", len(hs))
			continue
		}
		e.mu.Lock()
		e.holds = make(map[string]*hold, len(hs))
		for id, rec := range hs {
			h := &hold{Hold: rec.Hold, id: id, reply: rec.Reply, end: rec.End, written: true, durable: true}
			if rec.Buyer != "" {
				h.buyer = e.buyerLocked(rec.Buyer)
			}
			if rec.EndedMS != 0 && rec.Hold.State != stock.HoldExpired {
				h.ended = time.UnixMilli(rec.EndedMS)
			}
			if h.State == stock.HoldLive && h.Expires.UnixMilli() <= e.item.ExpiredMS {
				h.State = stock.HoldExpired
				tidy = append(tidy, capstore.HoldWrite{SKU: sku, ID: id, Rec: h.record()})
			}
			if h.State == stock.HoldLive {
				if e.item.Held+h.N > e.item.Sold {
					t.p.log.Error("live hold of more units than sold is left out", "sku", sku, "id", id, "n", h.N, "sold", e.item.Sold)
					continue
				}
				e.item.AddHeld(h.N)
				if h.buyer != nil {
					h.buyer.held += h.N
				}
				due = append(due, dueHold{at: h.Expires, e: e, id: id})
			} else {
				ended = append(ended, dueHold{at: h.endedAt(now), e: e, id: id})
			}
			e.holds[id] = h
			t.holdIDs.claim(id, sku)
		}
		e.mu.Unlock()
	}
}
