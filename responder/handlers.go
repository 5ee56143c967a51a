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
	sku := m.Subject[len(t.s.subjects.acquire):]
	if !validSKU(sku) {
		t.respond(m.Reply, errorAnswer(sku, 0, ErrBadRequest, errSKU.Error()))
		return
	}
	n, id, err := decodeUnits(m.Data, t.s.cfg.MaxBody)
	if err != nil {
		t.respond(m.Reply, errorAnswer(sku, 0, ErrBadRequest, err.Error()))
		return
	}
	if !t.serving() {
		t.respond(m.Reply, unavailable(sku))
		return
	}
	var key string
	if id != "" {
		key = "acquire\x00" + sku + "\x00" + id
		if !t.begin(key, m.Reply) {
			return
		}
	}
	t.acquire(sku, n, m.Reply, key)
}

// acquire serves n units of sku, or parks the request until a raised cap is
// durable. key is the dedupe key or "".
func (t *term) acquire(sku string, n int64, reply, key string) {
	e, err := t.cat.get(sku)
	if e == nil {
		t.finish(reply, key, missing(sku, err))
		return
	}
	e.mu.Lock()
	if e.gone {
		e.mu.Unlock()
		t.finish(reply, key, missing(sku, nil))
		return
	}
	if len(e.waiters) == 0 {
		rem, o := e.item.Acquire(n)
		if o != stock.Wait {
			refill := o == stock.Granted && !e.queued && e.item.NeedsRefill()
			e.queued = e.queued || refill
			e.mu.Unlock()
			if refill {
				t.w.queueRefill(e)
			}
			t.finish(reply, key, acquireAnswer(sku, n, rem, o))
			return
		}
	}
	w := &waiter{n: n, reply: reply, key: key}
	e.waiters = append(e.waiters, w)
	refill := !e.queued
	e.queued = true
	w.timer = time.AfterFunc(t.s.cfg.MaxWait, func() { t.expire(e, w) })
	e.mu.Unlock()
	if refill {
		t.w.queueRefill(e)
	}
}

// expire answers a waiter whose cap did not arrive within MaxWait.
func (t *term) expire(e *entry, w *waiter) {
	e.mu.Lock()
	found := e.removeWaiterLocked(w)
	e.mu.Unlock()
	if found {
		t.finish(w.reply, w.key, errorAnswer(e.sku, 0, ErrUnavailable,
			fmt.Sprintf("no stock window became durable within %v", t.s.cfg.MaxWait)))
	}
}

func (t *term) onRelease(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	sku := m.Subject[len(t.s.subjects.release):]
	if !validSKU(sku) {
		t.respond(m.Reply, errorAnswer(sku, 0, ErrBadRequest, errSKU.Error()))
		return
	}
	n, id, err := decodeUnits(m.Data, t.s.cfg.MaxBody)
	if err != nil {
		t.respond(m.Reply, errorAnswer(sku, 0, ErrBadRequest, err.Error()))
		return
	}
	if !t.serving() {
		t.respond(m.Reply, unavailable(sku))
		return
	}
	var key string
	if id != "" {
		key = "release\x00" + sku + "\x00" + id
		if !t.begin(key, m.Reply) {
			return
		}
	}
	t.w.submit(&op{kind: opRelease, sku: sku, n: n, id: id, reply: m.Reply, key: key})
}

func (t *term) onQuery(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	sku := m.Subject[len(t.s.subjects.query):]
	if !validSKU(sku) {
		t.respond(m.Reply, errorAnswer(sku, 0, ErrBadRequest, errSKU.Error()))
		return
	}
	if err := decodeEmpty(m.Data); err != nil {
		t.respond(m.Reply, errorAnswer(sku, 0, ErrBadRequest, err.Error()))
		return
	}
	if !t.serving() {
		t.respond(m.Reply, unavailable(sku))
		return
	}
	e, err := t.cat.get(sku)
	if e == nil {
		t.respond(m.Reply, missing(sku, err))
		return
	}
	e.mu.Lock()
	limit, sold, gone := e.item.Limit, e.item.Sold, e.gone
	e.mu.Unlock()
	if gone {
		t.respond(m.Reply, missing(sku, nil))
		return
	}
	t.respond(m.Reply, queryAnswer(sku, limit, sold, t.s.leader))
}

func (t *term) onSet(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	sku := m.Subject[len(t.s.subjects.set):]
	if !validSKU(sku) {
		t.respond(m.Reply, errorAnswer(sku, 0, ErrBadRequest, errSKU.Error()))
		return
	}
	limit, err := decodeLimit(m.Data, t.s.cfg.MaxBody)
	if err != nil {
		t.respond(m.Reply, errorAnswer(sku, 0, ErrBadRequest, err.Error()))
		return
	}
	if !t.serving() {
		t.respond(m.Reply, unavailable(sku))
		return
	}
	t.w.submit(&op{kind: opSet, sku: sku, limit: limit, reply: m.Reply})
}

func (t *term) onDelete(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	sku := m.Subject[len(t.s.subjects.del):]
	if !validSKU(sku) {
		t.respond(m.Reply, errorAnswer(sku, 0, ErrBadRequest, errSKU.Error()))
		return
	}
	if err := decodeEmpty(m.Data); err != nil {
		t.respond(m.Reply, errorAnswer(sku, 0, ErrBadRequest, err.Error()))
		return
	}
	if !t.serving() {
		t.respond(m.Reply, unavailable(sku))
		return
	}
	t.w.submit(&op{kind: opDelete, sku: sku, reply: m.Reply})
}

// begin registers a request that carries an id. It returns false if the
// request is a repeat, which is then answered (now, or when the first copy
// is) from the dedupe cache.
func (t *term) begin(key, reply string) bool {
	first, ans, done := t.s.dedupe.begin(key, reply)
	if done {
		t.respond(reply, ans)
	}
	return first
}

// finish sends the answer to reply and to every repeat of key waiting for it.
func (t *term) finish(reply, key string, a answer) {
	t.respond(reply, a)
	if key != "" {
		for _, r := range t.s.dedupe.finish(key, a) {
			t.respond(r, a)
		}
	}
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

func acquireAnswer(sku string, n, rem int64, o stock.Outcome) answer {
	switch o {
	case stock.Granted:
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
