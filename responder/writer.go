package responder

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/stockstate/stock/stock"
)

// errFenced ends a term whose write the store refused on the fence.
var errFenced = errors.New("responder: fenced write refused: not leader")

type opKind uint8

const (
	opSet opKind = iota
	opDelete
	opRelease
)

// op is a request that changes a limit or the set of SKUs. It is answered
// once its write is durable, or unavailable when the outcome is unknown.
type op struct {
	kind  opKind
	sku   string
	limit int64  // opSet
	n     int64  // opRelease
	id    string // opRelease
	reply string
	key   string // dedupe key or ""
}

// writer is the only goroutine of a term that writes to the store, so its
// writes are ordered, and the only one that changes limits and raises caps.
// Each round batches every queued refill and at most one op per SKU into
// fenced transactions; refills are planned off the request path and
// requests never wait for the store unless their window is empty.
//
// A write the fence refused, or whose outcome is unknown, ends the term:
// nothing more is written or granted, and the node campaigns again with a
// fresh lease, so a write that lands late is fenced out.
type writer struct {
	t    *term
	kick chan struct{} // capacity 1: work is queued

	mu      sync.Mutex
	refills []*entry
	ops     []*op
	closed  bool // no more ops are accepted

	budget keyBudget // writer goroutine only
}

func newWriter(t *term) *writer {
	return &writer{t: t, kick: make(chan struct{}, 1), budget: keyBudget{perSecond: t.s.cfg.KeyBudget}}
}

// queueRefill asks for e's cap to be raised. The caller set e.queued.
func (w *writer) queueRefill(e *entry) {
	w.mu.Lock()
	w.refills = append(w.refills, e)
	w.mu.Unlock()
	w.wake()
}

// submit queues o, or answers it unavailable once the writer has stopped.
func (w *writer) submit(o *op) {
	w.mu.Lock()
	closed := w.closed
	if !closed {
		w.ops = append(w.ops, o)
	}
	w.mu.Unlock()
	if closed {
		w.t.finish(o.reply, o.key, unavailable(o.sku))
		return
	}
	w.wake()
}

func (w *writer) wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// idle reports whether no op is queued.
func (w *writer) idle() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.ops) == 0
}

// run writes until stop closes or a write ends the term (then it calls
// t.fail). Ops still queued when it returns are answered unavailable.
func (w *writer) run(stop <-chan struct{}) {
	defer w.close()
	for {
		select {
		case <-stop:
			return
		case <-w.kick:
		}
		if err := w.round(); err != nil {
			w.t.fail(err)
			return
		}
	}
}

func (w *writer) close() {
	w.mu.Lock()
	w.closed = true
	ops := w.ops
	w.ops = nil
	w.mu.Unlock()
	for _, o := range ops {
		w.t.finish(o.reply, o.key, unavailable(o.sku))
	}
}

// round performs one batch of writes.
func (w *writer) round() error {
	w.mu.Lock()
	refills, ops := w.refills, w.ops
	w.refills, w.ops = nil, nil
	w.mu.Unlock()

	b := newBatch()
	var later []*op
	for _, o := range ops {
		if b.touched[o.sku] {
			later = append(later, o) // one op per SKU per round keeps plans exact
			continue
		}
		if err := w.plan(b, o); err != nil {
			w.requeue(later)
			b.fail(w.t)
			return err
		}
	}
	w.requeue(later)

	now := time.Now()
	policy := w.t.s.cfg.Policy
	policy.Interval = w.budget.interval(policy.Interval, now)
	var skipped []*entry
	for _, e := range refills {
		e.mu.Lock()
		if e.gone || b.touched[e.sku] {
			if !e.gone {
				skipped = append(skipped, e) // planned next round
			} else {
				e.queued = false
			}
			e.mu.Unlock()
			continue
		}
		e.queued = false
		target, ok := e.item.PlanRefill(now, policy, e.needLocked())
		limit := e.item.Limit
		e.mu.Unlock()
		if ok {
			b.puts[e.sku] = stock.Record{Limit: limit, Cap: target}
			b.raises[e] = target
		}
	}
	for _, e := range skipped {
		w.queueRefill(e)
	}
	if len(b.puts) == 0 && len(b.deletes) == 0 {
		b.send(w.t)
		return nil
	}
	w.budget.spend(len(b.puts)+len(b.deletes), now)

	ctx, cancel := context.WithTimeout(context.Background(), w.t.s.cfg.WriteTimeout)
	defer cancel()
	committed, err := w.t.s.store.Commit(ctx, w.t.lead.Key(), w.t.lead.Rev(), b.puts, b.deletes)
	switch {
	case err != nil:
		b.fail(w.t)
		return fmt.Errorf("responder: write of %d records, outcome unknown: %w", len(b.puts)+len(b.deletes), err)
	case !committed:
		b.fail(w.t)
		return errFenced
	}
	w.apply(b)
	b.send(w.t)
	return nil
}

func (w *writer) requeue(ops []*op) {
	if len(ops) == 0 {
		return
	}
	w.mu.Lock()
	w.ops = append(ops, w.ops...)
	w.mu.Unlock()
	w.wake()
}
