package responder

import (
	"fmt"
	"time"

	"github.com/stockstate/stock/stock"
	"github.com/stockstate/stock/wire"
)

// The serving half of each endpoint (endpoint.go), called by handle once a
// request passed the common checks. None blocks: a request that must wait
// for a raised cap is parked on its SKU and answered later by the writer or
// its timer.

// acquire serves n units of sku from its window, or parks the request until
// a raised cap is durable. Single acquires and the batch items that cannot
// join a run come here.
func (t *term) acquire(sku string, a args, rq request) {
	e := t.lockedEntry(sku, a.ent, rq)
	if e == nil {
		return
	}
	if e.item.PerBuyer > 0 {
		t.acquireCappedLocked(e, a, rq)
		return
	}
	rem, o := grantLocked(e, a.n)
	if o == stock.Wait {
		t.parkLocked(e, a.n, rq)
	}
	refill := o == stock.Granted && t.grantedLocked(e)
	e.mu.Unlock()
	if refill {
		t.q.refillAhead(e)
	}
	t.answerAcquire(rq, sku, a.n, rem, o)
}

// lockedEntry returns sku's entry (found, unless nil: it is looked up)
// with its mu locked, or nil once rq is answered unknown_sku (internal for
// a corrupt record).
func (t *term) lockedEntry(sku string, found *entry, rq request) *entry {
	e := found
	if e == nil {
		var err error
		if e, err = t.cat.get(sku); e == nil {
			t.finish(rq, missing(sku, err))
			return nil
		}
	}
	e.mu.Lock()
	if e.gone {
		e.mu.Unlock()
		t.finish(rq, missing(sku, nil))
		return nil
	}
	return e
}

// grantLocked and parkLocked are the one path of every acquire, single or
// batched: grantLocked takes n units from e's window, unless earlier
// requests wait for a refill (then Wait, so that they are served first);
// on Wait the caller parks the request with parkLocked. Lock e.mu on entry.
func grantLocked(e *entry, n int64) (rem int64, o stock.Outcome) {
	if len(e.waiters) > 0 {
		return 0, stock.Wait
	}
	return e.item.Acquire(n)
}

// parkLocked queues rq behind e's earlier waiters until the writer raises
// the cap, or MaxWait passes; the writer or the waiter's timer answers it.
// Lock e.mu on entry.
func (t *term) parkLocked(e *entry, n int64, rq request) *waiter {
	w := &waiter{n: n, req: rq}
	e.waiters = append(e.waiters, w)
	e.queued = true
	w.timer = time.AfterFunc(t.s.cfg.MaxWait, func() { t.expire(e, w) })
	t.s.counters.stalls.Add(1)
	t.q.refillNow(e)
	return w
}

// grantedLocked notes grants from e's window: the change for stock events,
// and whether a refill ahead of demand is due, which the caller queues after
// unlocking. Lock e.mu on entry.
func (t *term) grantedLocked(e *entry) (refill bool) {
	refill = !e.queued && e.item.NeedsRefill()
	e.queued = e.queued || refill
	t.ev.changedLocked(e)
	return refill
}

// answerAcquire answers an acquire whose outcome is known; a parked one
// (Wait) is answered later.
func (t *term) answerAcquire(rq request, sku string, n, rem int64, o stock.Outcome) {
	switch {
	case o == stock.Wait:
	case o == stock.Granted && rq.key == "" && rq.batch != nil:
		t.s.counters.units.Add(uint64(n))
		rq.batch.granted(rq.item, n, rem)
	case o == stock.Granted && rq.key == "":
		t.grant(rq, sku, n, rem)
	default:
		t.finish(rq, t.acquireAnswer(sku, n, rem, o))
	}
}

// grant answers a granted acquire without an id, the hot path, from a
// recycled buffer.
func (t *term) grant(rq request, sku string, n, rem int64) {
	t.s.counters.units.Add(uint64(n))
	buf := grantBuffers.Get().(*[]byte)
	a := answer{body: wire.AppendGrant((*buf)[:0], sku, n, rem)}
	t.finish(rq, a)
	*buf = a.body[:0]
	grantBuffers.Put(buf)
}

// expire answers a waiter whose cap did not arrive within MaxWait.
func (t *term) expire(e *entry, w *waiter) {
	e.mu.Lock()
	found := e.removeWaiterLocked(w)
	if found {
		w.droppedLocked()
	}
	e.mu.Unlock()
	if found {
		t.unparked(w)
		t.s.counters.waitTimeouts.Add(1)
		t.finish(w.req, errorAnswer(e.sku, 0, wire.ErrUnavailable,
			fmt.Sprintf("no stock window became durable within %v", t.s.cfg.MaxWait)))
	}
}

// release returns units of sku once the raised limit is durable.
func (t *term) release(sku string, a args, rq request) {
	t.q.submit(&op{kind: opRelease, sku: sku, n: a.n, id: a.id, buyer: a.buyer, req: rq})
}

// query answers from the term's view of sku, or of one buyer of it.
func (t *term) query(sku string, a args, rq request) {
	if a.buyer != "" {
		t.buyerQuery(sku, a.buyer, rq)
		return
	}
	e, err := t.cat.get(sku)
	if e == nil {
		t.finish(rq, missing(sku, err))
		return
	}
	e.mu.Lock()
	it, gone := e.item, e.gone
	e.mu.Unlock()
	if gone {
		t.finish(rq, missing(sku, nil))
		return
	}
	t.finish(rq, queryAnswer(sku, it.Limit, it.Sold, it.Held, it.PerBuyer, t.s.leader))
}

// set creates sku or changes its limit once the change is durable.
func (t *term) set(sku string, a args, rq request) {
	t.q.submit(&op{kind: opSet, sku: sku, limit: a.limit, perBuyer: a.perBuyer, req: rq})
}

// del deletes sku once the deletion is durable.
func (t *term) del(sku string, _ args, rq request) {
	t.q.submit(&op{kind: opDelete, sku: sku, req: rq})
}

// begin registers a request that carries an id. It returns false if the
// request is a repeat, which is then answered (now, or when the first copy
// is) from the dedupe cache.
func (t *term) begin(rq request) bool {
	first, ans, done := t.s.dedupe.begin(rq)
	if done {
		t.deliver(rq, ans)
		t.s.counters.done(rq, ans)
	}
	return first
}

// finish sends the answer to the request and to every repeat of it waiting
// for it, and counts it.
func (t *term) finish(rq request, a answer) {
	t.deliver(rq, a)
	t.s.counters.done(rq, a)
	if rq.key != "" {
		for _, w := range t.s.dedupe.finish(rq.key, a) {
			t.deliver(w, a)
		}
	}
}

// deliver sends a to the request's reply subject, or for a batch item into
// its batch.
func (t *term) deliver(rq request, a answer) {
	switch {
	case rq.batch != nil:
		rq.batch.set(rq.item, a)
		return
	case rq.holds != nil:
		rq.holds.set(rq.item, a)
		return
	}
	t.respond(rq.reply, a)
}

func (t *term) respond(reply string, a answer) {
	var err error
	if a.ok() {
		err = t.s.nc.Publish(reply, a.body)
	} else {
		err = t.s.nc.PublishMsg(a.msg(reply))
	}
	if err != nil {
		t.p.log.Warn("reply not sent", "err", err)
	}
}

// acquireAnswer answers an acquire whose outcome is known, and counts the
// units it grants.
func (t *term) acquireAnswer(sku string, n, rem int64, o stock.Outcome) answer {
	switch o {
	case stock.Granted:
		t.s.counters.units.Add(uint64(n))
		return grantAnswer(sku, n, rem)
	case stock.SoldOut:
		return errorAnswer(sku, 0, wire.ErrSoldOut, "sold out")
	default:
		return errorAnswer(sku, rem, wire.ErrInsufficient, fmt.Sprintf("%d requested, %d remaining", n, rem))
	}
}

func missing(sku string, broken error) answer {
	if broken != nil {
		return errorAnswer(sku, 0, wire.ErrInternal, "stored record is corrupt; set it with admin.delete then admin.set: "+broken.Error())
	}
	return errorAnswer(sku, 0, wire.ErrUnknownSKU, "no such sku")
}

func unavailable(sku string) answer {
	return errorAnswer(sku, 0, wire.ErrUnavailable, "this node is not serving; retry")
}
