package responder

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/stock"
)

// Handlers run on the NATS subscription goroutines, several at once. None
// blocks: a request that must wait for a raised cap is parked on its SKU and
// answered later by the writer or its timer. A message without a reply
// subject changes nothing.

func (t *term) onAcquire(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	rq := t.s.counters.begin(m.Reply, epAcquire)
	sku := m.Subject[len(t.s.subjects.acquire):]
	if !validSKU(sku) {
		t.finish(rq, errorAnswer(sku, 0, ErrBadRequest, errSKU.Error()))
		return
	}
	n, id, err := decodeUnits(m.Data, t.s.cfg.MaxBody)
	if err != nil {
		t.finish(rq, errorAnswer(sku, 0, ErrBadRequest, err.Error()))
		return
	}
	if !t.serving() {
		t.finish(rq, unavailable(sku))
		return
	}
	if id != "" {
		rq.key = "acquire\x00" + sku + "\x00" + id
		if !t.begin(rq) {
			return
		}
	}
	t.acquire(sku, n, rq)
}

// acquire serves n units of sku, or parks the request until a raised cap is
// durable.
func (t *term) acquire(sku string, n int64, rq request) {
	e, err := t.cat.get(sku)
	if e == nil {
		t.finish(rq, missing(sku, err))
		return
	}
	e.mu.Lock()
	if e.gone {
		e.mu.Unlock()
		t.finish(rq, missing(sku, nil))
		return
	}
	if len(e.waiters) == 0 {
		rem, o := e.item.Acquire(n)
		if o != stock.Wait {
			refill := o == stock.Granted && !e.queued && e.item.NeedsRefill()
			e.queued = e.queued || refill
			if o == stock.Granted {
				t.ev.changedLocked(e)
			}
			e.mu.Unlock()
			if refill {
				t.w.queueRefill(e)
			}
			if o == stock.Granted && rq.key == "" {
				if rq.batch != nil {
					t.s.counters.units.Add(uint64(n))
					rq.batch.granted(rq.item, n, rem)
					return
				}
				t.grant(rq, sku, n, rem)
				return
			}
			t.finish(rq, t.acquireAnswer(sku, n, rem, o))
			return
		}
	}
	w := &waiter{n: n, req: rq}
	e.waiters = append(e.waiters, w)
	e.queued = true
	w.timer = time.AfterFunc(t.s.cfg.MaxWait, func() { t.expire(e, w) })
	e.mu.Unlock()
	t.s.counters.stalls.Add(1)
	t.w.queueWaiting(e)
}

// grant answers a granted acquire without an id, the hot path, from a
// recycled buffer.
func (t *term) grant(rq request, sku string, n, rem int64) {
	t.s.counters.units.Add(uint64(n))
	buf := grantBuffers.Get().(*[]byte)
	a := answer{body: appendGrant((*buf)[:0], sku, n, rem)}
	t.finish(rq, a)
	*buf = a.body[:0]
	grantBuffers.Put(buf)
}

// expire answers a waiter whose cap did not arrive within MaxWait.
func (t *term) expire(e *entry, w *waiter) {
	e.mu.Lock()
	found := e.removeWaiterLocked(w)
	e.mu.Unlock()
	if found {
		t.s.counters.waitTimeouts.Add(1)
		t.finish(w.req, errorAnswer(e.sku, 0, ErrUnavailable,
			fmt.Sprintf("no stock window became durable within %v", t.s.cfg.MaxWait)))
	}
}

func (t *term) onRelease(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	rq := t.s.counters.begin(m.Reply, epRelease)
	sku := m.Subject[len(t.s.subjects.release):]
	if !validSKU(sku) {
		t.finish(rq, errorAnswer(sku, 0, ErrBadRequest, errSKU.Error()))
		return
	}
	n, id, err := decodeUnits(m.Data, t.s.cfg.MaxBody)
	if err != nil {
		t.finish(rq, errorAnswer(sku, 0, ErrBadRequest, err.Error()))
		return
	}
	if !t.serving() {
		t.finish(rq, unavailable(sku))
		return
	}
	if id != "" {
		rq.key = "release\x00" + sku + "\x00" + id
		if !t.begin(rq) {
			return
		}
	}
	t.w.submit(&op{kind: opRelease, sku: sku, n: n, id: id, req: rq})
}

func (t *term) onQuery(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	rq := t.s.counters.begin(m.Reply, epQuery)
	sku := m.Subject[len(t.s.subjects.query):]
	if !validSKU(sku) {
		t.finish(rq, errorAnswer(sku, 0, ErrBadRequest, errSKU.Error()))
		return
	}
	if err := decodeEmpty(m.Data); err != nil {
		t.finish(rq, errorAnswer(sku, 0, ErrBadRequest, err.Error()))
		return
	}
	if !t.serving() {
		t.finish(rq, unavailable(sku))
		return
	}
	e, err := t.cat.get(sku)
	if e == nil {
		t.finish(rq, missing(sku, err))
		return
	}
	e.mu.Lock()
	limit, sold, gone := e.item.Limit, e.item.Sold, e.gone
	e.mu.Unlock()
	if gone {
		t.finish(rq, missing(sku, nil))
		return
	}
	t.finish(rq, queryAnswer(sku, limit, sold, t.s.leader))
}

func (t *term) onSet(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	rq := t.s.counters.begin(m.Reply, epSet)
	sku := m.Subject[len(t.s.subjects.set):]
	if !validSKU(sku) {
		t.finish(rq, errorAnswer(sku, 0, ErrBadRequest, errSKU.Error()))
		return
	}
	limit, err := decodeLimit(m.Data, t.s.cfg.MaxBody)
	if err != nil {
		t.finish(rq, errorAnswer(sku, 0, ErrBadRequest, err.Error()))
		return
	}
	if !t.serving() {
		t.finish(rq, unavailable(sku))
		return
	}
	t.w.submit(&op{kind: opSet, sku: sku, limit: limit, req: rq})
}

func (t *term) onDelete(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	rq := t.s.counters.begin(m.Reply, epDelete)
	sku := m.Subject[len(t.s.subjects.del):]
	if !validSKU(sku) {
		t.finish(rq, errorAnswer(sku, 0, ErrBadRequest, errSKU.Error()))
		return
	}
	if err := decodeEmpty(m.Data); err != nil {
		t.finish(rq, errorAnswer(sku, 0, ErrBadRequest, err.Error()))
		return
	}
	if !t.serving() {
		t.finish(rq, unavailable(sku))
		return
	}
	t.w.submit(&op{kind: opDelete, sku: sku, req: rq})
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
	if rq.batch != nil {
		rq.batch.set(rq.item, a)
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
		t.s.log.Warn("reply not sent", "err", err)
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
		return errorAnswer(sku, 0, ErrSoldOut, "sold out")
	default:
		return errorAnswer(sku, rem, ErrInsufficient, fmt.Sprintf("%d requested, %d remaining", n, rem))
	}
}

func missing(sku string, broken error) answer {
	if broken != nil {
		return errorAnswer(sku, 0, ErrInternal, "stored record is corrupt; set it with admin.delete then admin.set: "+broken.Error())
	}
	return errorAnswer(sku, 0, ErrUnknownSKU, "no such sku")
}

func unavailable(sku string) answer {
	return errorAnswer(sku, 0, ErrUnavailable, "this node is not serving; retry")
}
