package responder

import (
	"sync"
	"time"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/responder/writer"
	"github.com/stockstate/stock/stock"
)

type opKind uint8

const (
	opSet opKind = iota
	opDelete
	opRelease
	opBuy     // writes a grant to a buyer of a capped SKU (roundbuyer.go)
	opHold    // writes a hold made by the hold handler
	opConfirm // the hold ops (roundhold.go)
	opCancel
	opExtend
	opExpire // queued by the term's expiry, not by a request
)

// holdOp reports whether k is one of the hold ops.
func (k opKind) holdOp() bool { return k >= opHold }

// op is a request that changes a limit, the set of SKUs or a hold. It is
// answered once its write is durable, or unavailable when the outcome is
// unknown. An opExpire has no request.
type op struct {
	kind     opKind
	sku      string
	limit    int64         // opSet
	perBuyer int64         // opSet
	n        int64         // opRelease, opBuy
	rem      int64         // opBuy: remaining after the grant
	id       string        // opRelease, opBuy, hold ops but opExpire
	buyer    string        // opRelease, opBuy
	ids      []string      // opExpire: the SKU's holds due by one tick
	ttl      time.Duration // opExtend
	req      request
}

// queue is a term's work for its writer: the refills requests wait for,
// the refills ahead of demand, and the ops. It plans each writer round
// (writer.Planner): every op, at most one per SKU, and up to
// Config.MaxRoundKeys refills, those that requests wait for first. Its
// methods are safe for concurrent use; Plan runs on the writer goroutine.
type queue struct {
	t *term
	w *writer.Writer // set once, before any request is served

	mu      sync.Mutex
	urgent  []*entry // refills that requests wait for
	ahead   []*entry // refills ahead of demand
	ops     []*op
	tidy    []capstore.HoldWrite // expired holds' keys, rewritten once their expiry mark is durable; ended ones past the horizon, deleted
	hurried bool                 // a request or op waits: do not coalesce
	closed  bool                 // the writer has stopped: ops are answered unavailable

	busy inflight // keys of the rounds being written; writer goroutine only
}

// refillAhead asks for e's cap to be raised ahead of demand. The caller set
// e.queued.
func (q *queue) refillAhead(e *entry) {
	q.mu.Lock()
	q.ahead = append(q.ahead, e)
	q.mu.Unlock()
	q.w.Wake()
}

// refillNow asks for e's cap to be raised now: a request waits for it.
func (q *queue) refillNow(e *entry) {
	q.mu.Lock()
	q.urgent = append(q.urgent, e)
	q.hurried = true
	q.mu.Unlock()
	q.w.Wake()
}

// submit queues o, or answers it unavailable once the writer has stopped.
func (q *queue) submit(o *op) {
	q.mu.Lock()
	closed := q.closed
	if !closed {
		q.ops = append(q.ops, o)
		q.hurried = true
	}
	q.mu.Unlock()
	if closed {
		q.t.reject(o)
		return
	}
	q.w.Wake()
}

// tidyLater queues the rewrite of expired holds' keys, which no answer
// waits for (a later leader knows them expired by their SKU's expiry mark
// until they are rewritten), and the deletes of forgotten holds' keys.
func (q *queue) tidyLater(ws []capstore.HoldWrite) {
	q.mu.Lock()
	q.tidy = append(q.tidy, ws...)
	q.mu.Unlock()
	q.w.Wake()
}

// maxTidyPerRound bounds the hold keys one round rewrites or deletes, so a
// mass expiry's cleanup does not slow the rounds that requests wait for.
const maxTidyPerRound = 4096

// requeue puts ops back at the head of the queue for the next round.
func (q *queue) requeue(ops []*op) {
	if len(ops) == 0 {
		return
	}
	q.mu.Lock()
	q.ops = append(ops, q.ops...)
	q.hurried = true
	q.mu.Unlock()
	q.w.Wake()
}

// idle reports whether no op is queued.
func (q *queue) idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ops) == 0
}

// close answers the queued ops unavailable, and every op submitted later;
// expiries are dropped (the next leader expires them).
// Call it once the writer has stopped.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	ops := q.ops
	q.ops = nil
	q.mu.Unlock()
	for _, o := range ops {
		q.t.reject(o)
	}
}

// reject answers o unavailable: the writer will not write it.
func (t *term) reject(o *op) {
	if o.kind != opExpire {
		t.finish(o.req, unavailable(o.sku))
	}
}

// Hurried implements writer.Planner.
func (q *queue) Hurried() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.hurried
}

// take removes what one round writes. more reports refills left for the
// next round.
func (q *queue) take() (refills []*entry, ops []*op, tidy []capstore.HoldWrite, more bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	limit := q.t.s.cfg.MaxRoundKeys
	n := min(len(q.urgent), limit)
	refills = append(refills, q.urgent[:n]...)
	q.urgent = q.urgent[n:]
	m := min(len(q.ahead), limit-n)
	refills = append(refills, q.ahead[:m]...)
	q.ahead = q.ahead[m:]
	ops, q.ops = q.ops, nil
	k := min(len(q.tidy), maxTidyPerRound)
	tidy, q.tidy = q.tidy[:k:k], q.tidy[k:]
	more = len(q.urgent)+len(q.ahead)+len(q.tidy) > 0
	q.hurried = len(q.urgent) > 0
	return refills, ops, tidy, more
}

// Plan implements writer.Planner: ops first, in order, one limit change
// (set, delete, release) per SKU and none beside hold returns (the rest
// wait for the next round, which keeps plans exact), then the refills of
// SKUs no limit change touches; nothing of a key that a round in flight
// writes (inflight).
func (q *queue) Plan(now time.Time, policy stock.Policy, fence int64) (writer.Plan, bool, error) {
	refills, ops, tidy, more := q.take()
	r := newRound(q.t, now, policy, fence)
	if q.busy == nil {
		q.busy = inflight{}
	}
	var wait []capstore.HoldWrite
	for _, w := range tidy {
		if q.busy.hold(w.SKU, w.ID) {
			wait = append(wait, w)
		} else {
			r.tidy = append(r.tidy, w)
		}
	}
	if len(wait) > 0 {
		q.tidyLater(wait)
	}
	var later []*op
	for _, o := range ops {
		switch {
		case q.busy.blocks(o):
			later = append(later, o)
		case o.kind == opExpire:
			if !r.planExpire(o) {
				later = append(later, o)
			}
		case o.kind == opBuy:
			if !r.planBuy(o) {
				later = append(later, o)
			}
		case o.kind.holdOp():
			if !r.planHold(o) {
				later = append(later, o)
			}
		case r.touched[o.sku] || r.returns[o.sku] != nil || o.kind == opDelete && r.writesBuyersOf(o.sku):
			later = append(later, o) // a delete also waits for the SKU's buyer writes, whose keys it deletes
		default:
			if err := r.plan(o); err != nil {
				q.requeue(later)
				r.Abandoned()
				return nil, false, err
			}
		}
	}
	if err := r.planReturns(); err != nil {
		q.requeue(later)
		r.Abandoned()
		return nil, false, err
	}
	q.requeue(later)
	r.planBuyerRecords()
	for _, e := range refills {
		r.planRefill(e)
	}
	r.inflight = r.keys()
	q.busy.add(r.inflight)
	return r, more, nil
}
