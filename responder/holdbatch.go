package responder

import (
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/wire"
)

// holdBatch is one message of the batch hold subject in flight. Each item
// takes the path of a single hold (dedupe, park, durable write) and is
// answered into the batch, from whichever goroutine ends it; each writes
// only its own answer, and whoever answers the last item sends the reply.
type holdBatch struct {
	t       *term
	rq      request
	specs   []wire.HoldSpec
	answers []answer
	pending atomic.Int64 // items not yet answered, plus one while dispatching
}

// onHoldBatch serves the batch hold subject. A message that is not a batch
// changes nothing; a bad item is answered bad_request on its own.
func (t *term) onHoldBatch(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	rq := t.s.counters.begin(m.Reply, epHoldBatch)
	specs, msgs, err := wire.DecodeHoldBatch(m.Data)
	if err != nil {
		t.finish(rq, errorAnswer("", 0, wire.ErrBadRequest, err.Error()))
		return
	}
	if !t.serving() {
		t.finish(rq, unavailable(""))
		return
	}
	b := &holdBatch{t: t, rq: rq, specs: specs, answers: make([]answer, len(specs))}
	var unknown []string // SKUs of well-formed items of this partition that the term has not read
	seen := map[string]bool{}
	for i, s := range specs {
		if msgs[i] == "" && !seen[s.SKU] && owns(t.p, s.SKU) && !t.cat.known(s.SKU) {
			unknown = append(unknown, s.SKU)
		}
		seen[s.SKU] = true
	}
	if len(unknown) == 0 {
		b.dispatch(msgs)
		return
	}
	t.skus.await(unknown, func(ok bool) {
		if !ok {
			t.finish(rq, unavailable(""))
			return
		}
		b.dispatch(msgs)
	})
}

// dispatch starts every item on the path of a single hold; msgs are the
// items' decode errors.
func (b *holdBatch) dispatch(msgs []string) {
	t := b.t
	b.pending.Store(int64(len(b.specs)) + 1)
	for i, s := range b.specs {
		irq := request{ep: epHoldBatch, holds: b, item: i}
		if msgs[i] != "" {
			t.finish(irq, errorAnswer(s.SKU, 0, wire.ErrBadRequest, msgs[i]))
			continue
		}
		if !owns(t.p, s.SKU) {
			t.finish(irq, errorAnswer(s.SKU, 0, wire.ErrBadRequest, t.p.notOwned(s.SKU)))
			continue
		}
		irq.key = dedupeKey(wire.SubjectHold, s.SKU, s.ID)
		if t.begin(irq) {
			t.hold(s.SKU, args{n: s.N, id: s.ID, ttl: s.TTL, buyer: s.Buyer}, irq)
		}
	}
	b.done()
}

// set records the answer to item i.
func (b *holdBatch) set(i int, a answer) {
	b.answers[i] = a
	b.done()
}

// done sends the reply once every item is answered.
func (b *holdBatch) done() {
	if b.pending.Add(-1) != 0 {
		return
	}
	body := []byte{'['}
	for i, a := range b.answers {
		if i > 0 {
			body = append(body, ',')
		}
		if a.ok() {
			body = append(body, a.body...)
		} else {
			body = appendItemError(body, b.specs[i].SKU, a)
		}
	}
	a := answer{body: append(body, ']')}
	b.t.respond(b.rq.reply, a)
	b.t.s.counters.done(b.rq, a)
}
