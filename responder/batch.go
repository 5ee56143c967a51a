package responder

import (
	"context"
	"fmt"
	"time"

	"github.com/stockstate/stock/stock"
	"github.com/stockstate/stock/wire"
)

// batch is what one writer round persists and, once durable, applies.
type batch struct {
	puts    map[string]stock.Record
	deletes []string
	touched map[string]bool  // SKUs an op of this round changes
	raises  map[*entry]int64 // refills: the cap to raise to
	changes []change         // ops waiting for the write
	replies []reply          // answers to send after the round
}

// change is an op planned into the batch.
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

func newBatch() *batch {
	return &batch{puts: map[string]stock.Record{}, touched: map[string]bool{}, raises: map[*entry]int64{}}
}

func (b *batch) answer(o *op, a answer) {
	b.replies = append(b.replies, reply{req: o.req, ans: a})
}

// send delivers the answers gathered in the round.
func (b *batch) send(t *term) {
	for _, r := range b.replies {
		t.finish(r.req, r.ans)
	}
}

// fail answers every planned op unavailable: the write's outcome is unknown
// or was refused, and the term is ending.
func (b *batch) fail(t *term) {
	for _, c := range b.changes {
		b.answer(c.op, unavailable(c.op.sku))
	}
	b.send(t)
}

// plan adds o to the batch, or answers it at once if it needs no write. A
// release with an id is written at once in its own transaction, which also
// records the id. An error ends the term.
func (w *writer) plan(b *batch, o *op, now time.Time, policy stock.Policy) error {
	t := w.t
	e, broken := t.cat.get(o.sku)
	b.touched[o.sku] = true
	switch o.kind {
	case opSet:
		if e == nil && broken != nil {
			b.answer(o, missing(o.sku, broken))
			return nil
		}
		c := change{op: o, e: e}
		if e == nil {
			c.e, c.created = &entry{sku: o.sku}, true
			c.rec = stock.Record{Limit: o.limit}
		} else {
			e.mu.Lock()
			c.rec = e.item.PlanLimit(o.limit)
			e.mu.Unlock()
		}
		// The same write opens a window at the new limit, so the first
		// request after it does not wait for a refill.
		c.e.mu.Lock()
		next := c.e.item
		c.e.mu.Unlock()
		next.Limit, next.Cap = c.rec.Limit, c.rec.Cap
		if target, ok := next.PlanRefill(now, policy, 0); ok {
			c.raise, c.rec.Cap = target, target
		}
		b.puts[o.sku] = c.rec
		b.changes = append(b.changes, c)

	case opDelete:
		if e == nil && broken == nil {
			b.answer(o, missing(o.sku, nil))
			return nil
		}
		b.deletes = append(b.deletes, o.sku)
		b.changes = append(b.changes, change{op: o, e: e})

	case opRelease:
		if e == nil {
			b.answer(o, missing(o.sku, broken))
			return nil
		}
		e.mu.Lock()
		rec, err := e.item.PlanRelease(o.n)
		rem := rec.Limit - e.item.Sold
		e.mu.Unlock()
		if err != nil {
			b.answer(o, errorAnswer(o.sku, 0, wire.ErrBadRequest, err.Error()))
			return nil
		}
		c := change{op: o, e: e, rec: rec, ans: releaseAnswer(o.sku, o.n, rem)}
		if o.id == "" {
			b.puts[o.sku] = rec
			b.changes = append(b.changes, c)
			return nil
		}
		ctx, cancel := context.WithTimeout(context.Background(), t.s.cfg.WriteTimeout)
		defer cancel()
		start := time.Now()
		committed, prev, err := t.s.store.Release(ctx, t.lead.Key(), w.fence, o.sku, rec, o.id, c.ans.body, t.s.cfg.DedupeHorizon)
		t.s.cfg.Observer.StoreWrite(time.Since(start), 1, outcome(committed, err))
		switch {
		case err != nil:
			t.s.counters.unknown.Add(1)
			b.changes = append(b.changes, c)
			return fmt.Errorf("responder: release of %s, outcome unknown: %w", o.sku, err)
		case !committed:
			t.s.counters.fenced.Add(1)
			b.changes = append(b.changes, c)
			return errFenced
		case prev != nil:
			b.answer(o, answer{body: prev}) // released before, by this or an earlier leader
		default:
			e.mu.Lock()
			e.item.Apply(rec)
			t.ev.changedLocked(e)
			e.mu.Unlock()
			b.answer(o, c.ans)
		}
	}
	return nil
}

// apply makes a durable batch visible: caps rise, limits change, SKUs come
// and go, and waiters that now fit are served.
func (w *writer) apply(b *batch) {
	t := w.t
	for e, target := range b.raises {
		e.mu.Lock()
		e.item.Raise(target)
		w.serveWaitersLocked(b, e)
		t.ev.changedLocked(e)
		e.mu.Unlock()
	}
	for _, c := range b.changes {
		e := c.e
		switch c.op.kind {
		case opSet:
			e.mu.Lock()
			if c.created {
				e.item = stock.Item{Limit: c.rec.Limit}
			} else {
				e.item.Apply(c.rec)
			}
			e.item.Raise(c.raise)
			limit, sold := e.item.Limit, e.item.Sold
			w.serveWaitersLocked(b, e)
			t.ev.changedLocked(e)
			e.mu.Unlock()
			if c.created {
				t.cat.put(e)
			}
			b.answer(c.op, queryAnswer(c.op.sku, limit, sold, t.s.leader))
		case opDelete:
			t.cat.remove(c.op.sku)
			if e != nil {
				e.mu.Lock()
				e.gone = true
				for _, wt := range e.waiters {
					wt.timer.Stop()
					b.replies = append(b.replies, reply{req: wt.req, ans: missing(e.sku, nil)})
				}
				e.waiters = nil
				e.mu.Unlock()
			}
			b.answer(c.op, deletedAnswer(c.op.sku))
		case opRelease:
			e.mu.Lock()
			e.item.Apply(c.rec)
			w.serveWaitersLocked(b, e)
			t.ev.changedLocked(e)
			e.mu.Unlock()
			b.answer(c.op, c.ans)
		}
	}
}

// serveWaitersLocked answers, in order, the waiters that the window now
// holds or that can never be served, and queues another refill if some
// still wait or the window is low. Lock e.mu on entry.
func (w *writer) serveWaitersLocked(b *batch, e *entry) {
	for len(e.waiters) > 0 {
		wt := e.waiters[0]
		rem, o := e.item.Acquire(wt.n)
		if o == stock.Wait {
			break
		}
		wt.timer.Stop()
		e.waiters = e.waiters[1:]
		b.replies = append(b.replies, reply{req: wt.req, ans: w.t.acquireAnswer(e.sku, wt.n, rem, o)})
	}
	switch {
	case len(e.waiters) > 0:
		e.queued = true
		w.queueWaiting(e)
	case !e.queued && e.item.NeedsRefill():
		e.queued = true
		w.queueRefill(e)
	}
}
