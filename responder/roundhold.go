package responder

import (
	"errors"
	"time"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/stock"
	"github.com/stockstate/stock/wire"
)

// maxReturnsPerRound bounds the holds of one SKU that one round cancels:
// they share a transaction with the SKU's record, which must fit
// capstore.DefaultMaxTxnOps. The rest wait for the next round. Expiries
// have no bound: their return is the record's expiry mark alone.
const maxReturnsPerRound = 100

// holdChange is a hold op planned into the round, applied once durable.
type holdChange struct {
	op  *op
	e   *entry
	h   *hold
	ans answer // sent once the round is durable; none for an expiry
}

// returnPlan is the units that one round's cancels and expiries give back
// to a SKU, written with its record.
type returnPlan struct {
	e         *entry
	n         int64
	holds     int          // cancelled ones, whose keys go with the record
	expiredMS int64        // the expiry mark the record carries
	expired   []*hold      // whose keys are rewritten once the record is durable
	rec       stock.Record // planned by planReturns
}

// returnPlanOf is the round's returnPlan of e, new if it has none.
func (r *round) returnPlanOf(e *entry) *returnPlan {
	rp := r.returns[e.sku]
	if rp == nil {
		rp = &returnPlan{e: e}
		r.returns[e.sku] = rp
	}
	return rp
}

// planExpire plans the expiry of a SKU's holds due by one tick: their units
// come back with one write of the SKU's record, whose expiry mark moves to
// the latest of their due times; every live hold due by then is among them
// (the expiry heap holds every durable live hold, and a hold not yet
// durable is due a second or more after it was made; one whose write takes
// longer may land live below the mark, and a later leader then counts it
// expired without giving its units back: stock unsold, never oversold).
// It returns false if the SKU's limit changes in this round.
func (r *round) planExpire(o *op) bool {
	if r.touched[o.sku] {
		return false
	}
	e, _ := r.t.cat.get(o.sku)
	if e == nil {
		return true // deleted: its holds went with it
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var n, through int64
	var ended []*hold
	for _, id := range o.ids {
		h := e.holds[id]
		if h == nil || !h.Expire(r.now) {
			continue // confirmed, cancelled or extended since it was due
		}
		n += h.N
		through = max(through, h.Expires.UnixMilli())
		ended = append(ended, h)
	}
	if n > 0 {
		rp := r.returnPlanOf(e)
		rp.n += n
		rp.expiredMS = max(rp.expiredMS, through)
		rp.expired = append(rp.expired, ended...)
	}
	return true
}

// planHold plans a hold op, or answers it at once if it needs no write. It
// returns false if the op must wait for a later round: the SKU's limit
// changes in this one, its hold is not written yet, or the SKU gives back
// maxReturnsPerRound holds already.
func (r *round) planHold(o *op) bool {
	if r.touched[o.sku] {
		return false
	}
	e, broken := r.t.cat.get(o.sku)
	if e == nil {
		r.answerHold(o, missing(o.sku, broken))
		return true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.holds[o.id]
	switch {
	case h == nil:
		r.answerHold(o, unknownHold(o.sku, o.id, ""))
		return true
	case !h.written && o.kind != opHold:
		return false
	}
	var ans answer
	switch o.kind {
	case opHold:
		h.written = true
		ans = answer{body: h.reply}
	case opConfirm:
		if h.State == stock.HoldLive && h.buyer != nil && r.t.q.busy.buyer(e.sku, h.buyer.name) {
			return false // its buyer's record is being written
		}
		if h.State == stock.HoldLive && h.buyer != nil && !r.mayConfirmLocked(h.buyer) {
			if h.buyer.loaded {
				return false // its buyer confirms enough in this round
			}
			r.t.waitBuyerLocked(e, h.buyer, buyerWait{rq: o.req, redo: func() { r.t.q.submit(o) }})
			return true
		}
		if err := h.Confirm(r.now); err != nil {
			r.answerHold(o, holdError(o.kind, e.sku, h, err))
			return true
		}
		if h.buyer != nil {
			r.confirmedLocked(e, h)
		}
		h.ended = r.now
		h.end = wire.AppendConfirmed(nil, e.sku, h.N)
		ans = answer{body: h.end}
	case opCancel:
		rp := r.returns[e.sku]
		if rp != nil && rp.holds >= maxReturnsPerRound {
			return false
		}
		if err := h.Cancel(r.now); err != nil {
			r.answerHold(o, holdError(o.kind, e.sku, h, err))
			return true
		}
		h.ended = r.now
		rp = r.returnPlanOf(e)
		rp.n += h.N
		rp.holds++
		h.end = wire.AppendCancelled(nil, e.sku, h.N, e.item.Limit+rp.n-e.item.Sold)
		ans = answer{body: h.end}
	case opExtend:
		if err := h.Extend(r.now, holdExpiry(r.now, o.ttl).Sub(r.now)); err != nil {
			r.answerHold(o, holdError(o.kind, e.sku, h, err))
			return true
		}
		ans = answer{body: wire.AppendHold(nil, e.sku, h.N, e.item.Remaining(), h.id, h.Expires)}
	}
	r.holdWrites[h] = capstore.HoldWrite{SKU: e.sku, ID: h.id, Rec: h.record()}
	r.holdChanges = append(r.holdChanges, holdChange{op: o, e: e, h: h, ans: ans})
	return true
}

// holdError answers an op that the hold's state refused.
func holdError(kind opKind, sku string, h *hold, err error) answer {
	if errors.Is(err, stock.ErrHoldExpired) {
		return expiredAnswer(sku, h)
	}
	return endedAnswer(kind, sku, h)
}

// holdExpiry is when a hold of ttl made at now expires: rounded up to a
// whole second, as expires_at says.
func holdExpiry(now time.Time, ttl time.Duration) time.Time {
	return now.Add(ttl + time.Second - 1).Truncate(time.Second)
}

// answerHold answers a hold op after the round; an expiry has no request.
func (r *round) answerHold(o *op, a answer) {
	if o.kind != opExpire {
		r.answer(o, a)
	}
}

// planReturns plans the record of each SKU whose holds the round gives
// back: its limit rises by their units. An error is a broken invariant (more
// units back than held) and ends the term.
func (r *round) planReturns() error {
	for sku, rp := range r.returns {
		rp.e.mu.Lock()
		rec, err := rp.e.item.PlanReturn(rp.n, rp.expiredMS)
		rp.e.mu.Unlock()
		if err != nil {
			return err
		}
		rp.rec = rec
		r.puts[sku] = rec
	}
	return nil
}

// holdRecords lists the round's hold writes, one per key: of a tidy
// rewrite and a delete of the same hold, the later.
func (r *round) holdRecords() []capstore.HoldWrite {
	ws := make([]capstore.HoldWrite, 0, len(r.holdWrites)+len(r.tidy))
	for _, w := range r.holdWrites {
		ws = append(ws, w)
	}
	at := make(map[[2]string]int, len(r.tidy))
	for _, w := range r.tidy {
		k := [2]string{w.SKU, w.ID}
		if i, ok := at[k]; ok {
			ws[i] = w
			continue
		}
		at[k] = len(ws)
		ws = append(ws, w)
	}
	return ws
}

// applyForgets drops the holds whose keys the round deleted from memory,
// and frees their ids.
func (r *round) applyForgets() {
	for _, w := range r.tidy {
		if !w.Delete {
			continue
		}
		e, _ := r.t.cat.get(w.SKU)
		if e == nil {
			continue
		}
		e.mu.Lock()
		if h := e.holds[w.ID]; h != nil && h.State != stock.HoldLive {
			delete(e.holds, w.ID)
			r.t.holdIDs.forget(w.ID)
		}
		e.mu.Unlock()
	}
}

// applyReturns makes the durable returns visible: limits rise, and
// waiters that now fit are served. It runs before the round's raises, whose
// caps the returned records do not carry.
func (r *round) applyReturns() {
	for _, rp := range r.returns {
		e := rp.e
		e.mu.Lock()
		e.item.ApplyReturn(rp.rec, rp.n)
		r.serveWaitersLocked(e)
		r.t.ev.changedLocked(e)
		tidy := make([]capstore.HoldWrite, len(rp.expired))
		for i, h := range rp.expired {
			if h.buyer != nil {
				h.buyer.held -= h.N
			}
			tidy[i] = capstore.HoldWrite{SKU: e.sku, ID: h.id, Rec: h.record()}
			r.t.exp.forgetLater(e, h.id, r.now)
		}
		e.mu.Unlock()
		if len(tidy) > 0 {
			r.t.q.tidyLater(tidy)
		}
		r.t.s.counters.holdsExpired.Add(uint64(len(rp.expired)))
	}
}

// applyHolds makes the durable hold ops visible and schedules what comes
// next for each hold: its expiry, or forgetting it after the horizon.
func (r *round) applyHolds() {
	for _, c := range r.holdChanges {
		e, h := c.e, c.h
		e.mu.Lock()
		h.durable = true
		state, expires := h.State, h.Expires
		switch {
		case c.op.kind == opConfirm:
			e.item.ConfirmHeld(h.N) // and its buyer's count, in applyBuyers
		case c.op.kind == opCancel && h.buyer != nil:
			h.buyer.held -= h.N
		}
		e.mu.Unlock()
		if state == stock.HoldLive {
			r.t.exp.schedule(e, h.id, expires)
		} else {
			r.t.exp.forgetLater(e, h.id, r.now)
		}
		r.answerHold(c.op, c.ans)
	}
}

// serveHoldLocked starts the hold of a parked hold request whose units its
// window now holds. Lock e.mu on entry.
func (r *round) serveHoldLocked(e *entry, wt *waiter, rem int64) {
	if b := wt.hold.buyer; b != nil {
		b.pending -= wt.n // held from now on
	}
	r.t.q.submit(r.t.startHoldLocked(e, wt.n, rem, *wt.hold, wt.req))
}
