package responder

import (
	"context"
	"fmt"
	"time"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/responder/writer"
	"github.com/stockstate/stock/stock"
	"github.com/stockstate/stock/wire"
)

// round is what one writer round persists and, once durable, applies
// (writer.Plan). It is planned, applied and abandoned on the writer
// goroutine.
type round struct {
	t      *term
	now    time.Time
	policy stock.Policy // Config.Policy as the key budget scales it
	fence  int64        // of the writes the plan makes itself

	puts    map[string]stock.Record
	deletes []string
	touched map[string]bool  // SKUs an op of this round changes
	raises  map[*entry]int64 // refills: the cap to raise to
	changes []change         // ops waiting for the write
	// replies are answers to send after the round.
	replies []reply

	holdWrites  map[*hold]capstore.HoldWrite // the last state of each hold an op changes
	holdChanges []holdChange                 // hold ops waiting for the write
	returns     map[string]*returnPlan       // by SKU: units its holds give back
	tidy        []capstore.HoldWrite         // expired holds' keys, forgotten ones' deletes (queue.tidyLater)

	buyers map[*buyer]*buyerPlan // buyers whose records the round writes (roundbuyer.go)

	writes   *capstore.Writes // Records, once computed
	inflight []storeKey       // the keys it writes, in flight until it is applied or abandoned
}

// change is an op planned into the round.
type change struct {
	op      *op
	e       *entry
	rec     stock.Record
	raise   int64 // for sets: the cap of the window opened with the change, or 0
	created bool
	ans     answer // for releases, computed when planned
}

type reply struct {
	req request
	ans answer
}

func newRound(t *term, now time.Time, policy stock.Policy, fence int64) *round {
	return &round{t: t, now: now, policy: policy, fence: fence,
		puts: map[string]stock.Record{}, touched: map[string]bool{}, raises: map[*entry]int64{},
		holdWrites: map[*hold]capstore.HoldWrite{}, returns: map[string]*returnPlan{}, buyers: map[*buyer]*buyerPlan{}}
}

func (r *round) answer(o *op, a answer) {
	r.replies = append(r.replies, reply{req: o.req, ans: a})
}

// send delivers the answers gathered in the round.
func (r *round) send() {
	for _, rp := range r.replies {
		r.t.finish(rp.req, rp.ans)
	}
}

// Records implements writer.Plan.
func (r *round) Records() capstore.Writes {
	if r.writes == nil {
		r.writes = &capstore.Writes{Puts: r.puts, Deletes: r.deletes, Holds: r.holdRecords(), Buyers: r.buyerRecords(), Horizon: r.t.s.cfg.DedupeHorizon}
	}
	return *r.writes
}

// Abandoned implements writer.Plan: it answers every planned op
// unavailable, since the write's outcome is unknown or was refused, and the
// term is ending.
func (r *round) Abandoned() {
	r.t.q.busy.remove(r.inflight)
	for _, c := range r.changes {
		r.answer(c.op, unavailable(c.op.sku))
	}
	for _, c := range r.holdChanges {
		r.answerHold(c.op, unavailable(c.op.sku))
	}
	r.abandonBuyers()
	r.send()
}

// Applied implements writer.Plan: it makes the durable round visible and
// sends its answers.
func (r *round) Applied(took time.Duration) {
	r.t.q.busy.remove(r.inflight)
	if len(r.raises) > 0 {
		c := &r.t.s.counters
		c.refills.Add(1)
		c.refillKeys.Add(uint64(len(r.raises)))
		c.refillNS.Add(int64(took))
	}
	r.applyReturns()
	r.apply()
	r.applyHolds()
	r.applyBuyers()
	r.applyForgets()
	r.send()
}

// planRefill raises e's cap in the round, unless e is gone, was planned
// already, or an op of the round touches it (then it waits for the next).
func (r *round) planRefill(e *entry) {
	e.mu.Lock()
	if e.gone || !e.queued { // deleted, or queued twice and planned once
		e.mu.Unlock()
		return
	}
	if r.touched[e.sku] || r.t.q.busy.sku(e.sku) {
		e.mu.Unlock()
		r.t.q.refillNow(e) // planned next round, after the op or the write in flight
		return
	}
	e.queued = false
	target, ok := e.item.PlanRefill(r.now, r.policy, e.needLocked())
	rec := e.item.Record()
	e.mu.Unlock()
	if rp := r.returns[e.sku]; rp != nil {
		rec = rp.rec // written with the raise; the cap planned below the old limit
	}
	if ok {
		rec.Cap = target // the rest as it is: the expiry mark and per_buyer must not be lost
		r.puts[e.sku] = rec
		r.raises[e] = target
	}
}

// plan adds o to the round, or answers it at once if it needs no write. A
// release with an id is written at once in its own transaction, which also
// records the id. An error ends the term.
func (r *round) plan(o *op) error {
	t := r.t
	e, broken := t.cat.get(o.sku)
	r.touched[o.sku] = true
	switch o.kind {
	case opSet:
		if e == nil && broken != nil {
			r.answer(o, missing(o.sku, broken))
			return nil
		}
		c := change{op: o, e: e}
		if e == nil {
			c.e, c.created = &entry{sku: o.sku}, true
			c.rec = stock.Record{Limit: o.limit, PerBuyer: o.perBuyer}
		} else {
			e.mu.Lock()
			c.rec = e.item.PlanSet(o.limit, o.perBuyer)
			e.mu.Unlock()
		}
		// The same write opens a window at the new limit, so the first
		// request after it does not wait for a refill.
		c.e.mu.Lock()
		next := c.e.item
		c.e.mu.Unlock()
		next.Limit, next.Cap, next.PerBuyer = c.rec.Limit, c.rec.Cap, c.rec.PerBuyer
		if target, ok := next.PlanRefill(r.now, r.policy, 0); ok {
			c.raise, c.rec.Cap = target, target
		}
		r.puts[o.sku] = c.rec
		r.changes = append(r.changes, c)

	case opDelete:
		if e == nil && broken == nil {
			r.answer(o, missing(o.sku, nil))
			return nil
		}
		r.deletes = append(r.deletes, o.sku)
		r.changes = append(r.changes, change{op: o, e: e})

	case opRelease:
		if e == nil {
			r.answer(o, missing(o.sku, broken))
			return nil
		}
		e.mu.Lock()
		capped := e.item.PerBuyer > 0
		e.mu.Unlock()
		if capped && o.buyer != "" {
			r.planBuyerRelease(o, e)
			return nil
		}
		e.mu.Lock()
		rec, err := e.item.PlanRelease(o.n)
		rem := rec.Limit - e.item.Sold
		e.mu.Unlock()
		if err != nil {
			r.answer(o, errorAnswer(o.sku, 0, wire.ErrBadRequest, err.Error()))
			return nil
		}
		c := change{op: o, e: e, rec: rec, ans: releaseAnswer(o.sku, o.n, rem)}
		if o.id == "" {
			r.puts[o.sku] = rec
			r.changes = append(r.changes, c)
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), t.s.cfg.WriteTimeout)
		defer cancel()
		start := time.Now()
		committed, prev, err := t.p.store.Release(ctx, t.lead.Key(), r.fence, o.sku, rec, o.id, c.ans.body, t.s.cfg.DedupeHorizon)
		t.observeWrite(time.Since(start), 1, committed, err)
		switch {
		case err != nil:
			r.changes = append(r.changes, c)
			return fmt.Errorf("responder: release of %s, outcome unknown: %w", o.sku, err)
		case !committed:
			r.changes = append(r.changes, c)
			return writer.ErrFenced
		case prev != nil:
			r.answer(o, answer{body: prev}) // released before, by this or an earlier leader
		default:
			e.mu.Lock()
			e.item.Apply(rec)
			t.ev.changedLocked(e)
			e.mu.Unlock()
			r.answer(o, c.ans)
		}
	}
	return nil
}

// apply makes a durable round visible: caps rise, limits change, SKUs come
// and go, and waiters that now fit are served.
func (r *round) apply() {
	t := r.t
	for e, target := range r.raises {
		e.mu.Lock()
		e.item.Raise(target)
		r.serveWaitersLocked(e)
		t.ev.changedLocked(e)
		e.mu.Unlock()
	}
	for _, c := range r.changes {
		e := c.e
		switch c.op.kind {
		case opSet:
			e.mu.Lock()
			if c.created {
				e.item = stock.Item{Limit: c.rec.Limit, PerBuyer: c.rec.PerBuyer}
			} else {
				e.item.Apply(c.rec)
			}
			e.item.Raise(c.raise)
			limit, sold, held, perBuyer := e.item.Limit, e.item.Sold, e.item.Held, e.item.PerBuyer
			r.serveWaitersLocked(e)
			t.ev.changedLocked(e)
			e.mu.Unlock()
			if c.created {
				t.cat.put(e)
			}
			r.answer(c.op, queryAnswer(c.op.sku, limit, sold, held, perBuyer, t.s.leader))
		case opDelete:
			t.cat.remove(c.op.sku)
			if e != nil {
				e.mu.Lock()
				e.gone = true
				for id := range e.holds {
					t.holdIDs.forget(id)
				}
				for _, wt := range e.waiters {
					wt.timer.Stop()
					t.unparked(wt)
					r.replies = append(r.replies, reply{req: wt.req, ans: missing(e.sku, nil)})
				}
				e.waiters = nil
				e.mu.Unlock()
			}
			r.answer(c.op, deletedAnswer(c.op.sku))
		case opRelease:
			e.mu.Lock()
			e.item.Apply(c.rec)
			r.serveWaitersLocked(e)
			t.ev.changedLocked(e)
			e.mu.Unlock()
			r.answer(c.op, c.ans)
		}
	}
}

// serveWaitersLocked answers, in order, the waiters that the window now
// holds or that can never be served, and queues another refill if some
// still wait or the window is low. Lock e.mu on entry.
func (r *round) serveWaitersLocked(e *entry) {
	for len(e.waiters) > 0 {
		wt := e.waiters[0]
		rem, o := e.item.Acquire(wt.n)
		if o == stock.Wait {
			break
		}
		wt.timer.Stop()
		e.waiters = e.waiters[1:]
		switch {
		case o != stock.Granted:
			wt.droppedLocked()
		case wt.hold != nil:
			r.serveHoldLocked(e, wt, rem)
			continue
		case wt.buyer != nil:
			r.t.q.submit(&op{kind: opBuy, sku: e.sku, n: wt.n, rem: rem, id: wt.id, buyer: wt.buyer.name, req: wt.req})
			continue
		}
		r.t.unparked(wt)
		r.replies = append(r.replies, reply{req: wt.req, ans: r.t.acquireAnswer(e.sku, wt.n, rem, o)})
	}
	switch {
	case len(e.waiters) > 0:
		e.queued = true
		r.t.q.refillNow(e)
	case !e.queued && e.item.NeedsRefill():
		e.queued = true
		r.t.q.refillAhead(e)
	}
}
