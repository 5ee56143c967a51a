package responder

import (
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
	req   request
}

// writer is the only goroutine of a term that writes to the store, so its
// writes are ordered, and the only one that changes limits and raises caps.
// Each round batches queued refills and at most one op per SKU into fenced
// transactions. Requests never wait for the store unless their window is
// empty: refills ahead of demand are coalesced (at most one such round per
// Config.Coalesce), while a waiting request or an op starts a round at once.
//
// A write the fence refused ends the term. A write whose outcome is unknown
// is written again, the same, behind a moved fence, until it is known to
// have landed (see commit); if the lease ends first, so does the term.
type writer struct {
	t    *term
	kick chan struct{} // capacity 1: work is queued

	mu      sync.Mutex
	urgent  []*entry // refills that requests wait for
	ahead   []*entry // refills ahead of demand
	ops     []*op
	hurried bool // a request or op waits: do not coalesce
	closed  bool // no more ops are accepted

	budget keyBudget       // writer goroutine only
	fence  int64           // the leader key's mod revision every write compares; writer goroutine only
	write  time.Duration   // moving average of successful write times; writer goroutine only
	stop   <-chan struct{} // closed to stop run
}

func newWriter(t *term) *writer {
	return &writer{t: t, kick: make(chan struct{}, 1), budget: keyBudget{perSecond: t.s.cfg.KeyBudget}, fence: t.lead.Rev()}
}

// queueRefill asks for e's cap to be raised ahead of demand. The caller set
// e.queued.
func (w *writer) queueRefill(e *entry) {
	w.mu.Lock()
	w.ahead = append(w.ahead, e)
	w.mu.Unlock()
	w.wake()
}

// queueWaiting asks for e's cap to be raised now: a request waits for it.
func (w *writer) queueWaiting(e *entry) {
	w.mu.Lock()
	w.urgent = append(w.urgent, e)
	w.hurried = true
	w.mu.Unlock()
	w.wake()
}

// submit queues o, or answers it unavailable once the writer has stopped.
func (w *writer) submit(o *op) {
	w.mu.Lock()
	closed := w.closed
	if !closed {
		w.ops = append(w.ops, o)
		w.hurried = true
	}
	w.mu.Unlock()
	if closed {
		w.t.finish(o.req, unavailable(o.sku))
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

func (w *writer) inHurry() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hurried
}

// run writes until stop closes or a write ends the term (then it calls
// t.fail). Ops still queued when it returns are answered unavailable.
func (w *writer) run(stop <-chan struct{}) {
	w.stop = stop
	defer w.close()
	coalesce := time.NewTimer(time.Hour)
	coalesce.Stop()
	defer coalesce.Stop()
	var last time.Time
	for {
		select {
		case <-stop:
			return
		case <-w.kick:
		case <-coalesce.C:
		}
		if wait := w.t.s.cfg.Coalesce - time.Since(last); wait > 0 && !w.inHurry() {
			coalesce.Reset(wait)
			continue
		}
		last = time.Now()
		more, err := w.round()
		if err != nil {
			w.t.fail(err)
			return
		}
		if more {
			w.wake()
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
		w.t.finish(o.req, unavailable(o.sku))
	}
}

// take removes from the queues what one round writes: every op, and up to
// Config.MaxRoundKeys refills, those that requests wait for first. more
// reports refills left for the next round.
func (w *writer) take() (refills []*entry, ops []*op, more bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	limit := w.t.s.cfg.MaxRoundKeys
	n := min(len(w.urgent), limit)
	refills = append(refills, w.urgent[:n]...)
	w.urgent = w.urgent[n:]
	m := min(len(w.ahead), limit-n)
	refills = append(refills, w.ahead[:m]...)
	w.ahead = w.ahead[m:]
	ops, w.ops = w.ops, nil
	more = len(w.urgent)+len(w.ahead) > 0
	w.hurried = len(w.urgent) > 0
	return refills, ops, more
}

// round performs one batch of writes and reports whether refills remain.
func (w *writer) round() (more bool, err error) {
	refills, ops, more := w.take()

	b := newBatch()
	now := time.Now()
	policy := w.budget.policy(w.t.s.cfg.Policy, now)
	var later []*op
	for _, o := range ops {
		if b.touched[o.sku] {
			later = append(later, o) // one op per SKU per round keeps plans exact
			continue
		}
		if err := w.plan(b, o, now, policy); err != nil {
			w.requeue(later)
			b.fail(w.t)
			return false, err
		}
	}
	w.requeue(later)

	for _, e := range refills {
		e.mu.Lock()
		if e.gone || !e.queued { // deleted, or queued twice and planned once
			e.mu.Unlock()
			continue
		}
		if b.touched[e.sku] {
			e.mu.Unlock()
			w.queueWaiting(e) // planned next round, after the op
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
	if len(b.puts) == 0 && len(b.deletes) == 0 {
		b.send(w.t)
		return more, nil
	}
	w.budget.spend(len(b.puts)+len(b.deletes), now)

	start := time.Now()
	committed, err := w.commit(b)
	c := &w.t.s.counters
	switch {
	case err != nil:
		b.fail(w.t)
		return false, fmt.Errorf("responder: write of %d records, outcome unknown: %w", len(b.puts)+len(b.deletes), err)
	case !committed:
		c.fenced.Add(1)
		b.fail(w.t)
		return false, errFenced
	}
	if len(b.raises) > 0 {
		c.refills.Add(1)
		c.refillKeys.Add(uint64(len(b.raises)))
		c.refillNS.Add(int64(time.Since(start)))
	}
	w.apply(b)
	b.send(w.t)
	return more, nil
}

// requeue puts ops back at the head of the queue for the next round.
func (w *writer) requeue(ops []*op) {
	if len(ops) == 0 {
		return
	}
	w.mu.Lock()
	w.ops = append(ops, w.ops...)
	w.hurried = true
	w.mu.Unlock()
	w.wake()
}
