package responder

import (
	"sync"
	"sync/atomic"

	"github.com/stockstate/stock/wire"
)

// batchReq is one message of the batch subject in flight. Its items are
// served like single acquires, most at once by the handler and some after a
// refill, from several goroutines; each writes only its own result, and
// whoever answers the last item sends the reply. Once the reply is sent
// nothing refers to the batchReq any more (every item was answered exactly
// once), and it goes back to a pool with its slices.
type batchReq struct {
	t       *term
	rq      request
	binary  bool
	data    []byte // what the items' spans point into
	items   []wire.ItemSpan
	results []wire.ItemResult // one per item
	ents    []*entry          // per item, its SKU's entry if resolve found it
	msgs    []string          // JSON only: per item, the decode error, then the reply's message
	pending atomic.Int64      // items not yet answered, plus one while dispatching

	own   []byte // JSON only: storage of data
	reply []byte // storage of the reply body
}

var batchReqs = sync.Pool{New: func() any { return new(batchReq) }}

// newBatchReq decodes body into a pooled batchReq. On error the batchReq
// is already released.
func newBatchReq(body []byte) (*batchReq, error) {
	b := batchReqs.Get().(*batchReq)
	var items []wire.ItemSpan
	var err error
	switch {
	case len(body) > wire.MaxBatchBody:
		err = wire.ErrBodyTooLarge(len(body), wire.MaxBatchBody)
	case len(body) > 0 && body[0] == wire.BatchBinary:
		b.binary, b.data = true, body
		items, err = wire.DecodeBinaryBatch(body, b.items[:0])
	default:
		var own []byte
		if items, own, b.msgs, err = wire.DecodeJSONBatch(body, b.items[:0], b.own[:0], nil); err == nil {
			b.own, b.data = own, own
		}
	}
	if err != nil {
		b.release()
		return nil, err
	}
	b.items = items
	if cap(b.results) < len(b.items) {
		b.results = make([]wire.ItemResult, len(b.items))
	}
	b.results = b.results[:len(b.items)]
	if cap(b.ents) < len(b.items) {
		b.ents = make([]*entry, len(b.items))
	}
	b.ents = b.ents[:len(b.items)]
	return b, nil
}

// release returns b to the pool. Nothing may use b afterwards.
func (b *batchReq) release() {
	clear(b.ents)
	*b = batchReq{items: b.items[:0], results: b.results[:0], ents: b.ents[:0], own: b.own[:0], reply: b.reply[:0]}
	batchReqs.Put(b)
}

// itemRequest is the request of item i, for the path of a single acquire.
func (b *batchReq) itemRequest(i int) request {
	return request{ep: epBatch, batch: b, item: i}
}

// granted records a grant of item i.
func (b *batchReq) granted(i int, n, rem int64) {
	b.results[i] = wire.ItemResult{Granted: n, Remaining: rem}
	b.done()
}

// set records the answer to item i.
func (b *batchReq) set(i int, a answer) {
	b.record(i, a)
	b.done()
}

func (b *batchReq) record(i int, a answer) {
	if a.ok() {
		b.results[i] = wire.ItemResult{Granted: a.granted, Remaining: a.remaining}
		if !b.binary {
			b.msgs[i] = ""
		}
		return
	}
	b.results[i] = wire.ItemResult{Status: wire.StatusOf(wire.Kinds[a.kind]), Remaining: a.remaining}
	if o := a.over; o != nil {
		b.results[i].Bought, b.results[i].Held, b.results[i].PerBuyer = o.bought, o.held, o.perBuyer
	}
	if !b.binary {
		b.msgs[i] = a.desc
	}
}

func (b *batchReq) done() {
	if b.pending.Add(-1) == 0 {
		b.send()
	}
}

// answered counts n items that the dispatching handler answered itself,
// and its own share of pending, and sends the reply if they were the last.
func (b *batchReq) answered(n int) {
	if b.pending.Add(-int64(n)-1) == 0 {
		b.send()
	}
}

// send publishes the reply, counts the request and releases b. NATS copies
// the body before Publish returns, so its storage is reused.
func (b *batchReq) send() {
	body := b.reply[:0]
	if b.binary {
		body = wire.AppendBinaryReply(body, b.results)
	} else {
		body = append(body, '[')
		for i, r := range b.results {
			if i > 0 {
				body = append(body, ',')
			}
			body = wire.AppendJSONResult(body, string(b.items[i].SKU(b.data)), r, b.msgs[i])
		}
		body = append(body, ']')
	}
	b.reply = body
	a := answer{body: body}
	t, rq := b.t, b.rq
	t.respond(rq.reply, a)
	b.release()
	t.s.counters.done(rq, a)
}
