package responder

import (
	"bytes"
	"encoding/json"
	"sync/atomic"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/stock"
)

// batchReq is one message of the batch subject in flight. Its items are
// served like single acquires, some at once and some after a refill, from
// several goroutines; each writes only its own result, and whoever
// finishes the last item sends the reply.
type batchReq struct {
	t       *term
	rq      request
	binary  bool
	items   []BatchItem
	results []itemResult
	pending atomic.Int64 // items not yet answered, plus one while dispatching
}

type itemResult struct {
	status             byte // index in BatchStatuses
	granted, remaining int64
	message            string
}

// granted records a grant of item i.
func (b *batchReq) granted(i int, n, rem int64) {
	b.results[i] = itemResult{granted: n, remaining: rem}
	b.done()
}

// set records the answer to item i.
func (b *batchReq) set(i int, a answer) {
	r := itemResult{granted: a.granted, remaining: a.remaining}
	if !a.ok() {
		r = itemResult{status: batchStatus(kindNames[a.kind]), remaining: a.remaining, message: a.desc}
	}
	b.results[i] = r
	b.done()
}

func batchStatus(kind string) byte {
	for i, k := range BatchStatuses {
		if k == kind {
			return byte(i)
		}
	}
	return byte(len(BatchStatuses) - 1) // internal
}

func (b *batchReq) done() {
	if b.pending.Add(-1) == 0 {
		b.send()
	}
}

func (b *batchReq) send() {
	var body []byte
	if b.binary {
		body = make([]byte, 0, 2+len(b.results)*8)
		body = append(body, batchBinary)
		body = appendUvarint(body, uint64(len(b.results)))
		for _, r := range b.results {
			body = appendBinaryResult(body, r.status, r.granted, r.remaining)
		}
	} else {
		body = append(make([]byte, 0, 64*len(b.results)), '[')
		for i, r := range b.results {
			if i > 0 {
				body = append(body, ',')
			}
			body = appendJSONResult(body, b.items[i].SKU, r.status, r.granted, r.remaining, r.message)
		}
		body = append(body, ']')
	}
	a := answer{body: body}
	b.t.respond(b.rq.reply, a)
	b.t.s.counters.done(b.rq, a)
}

// onBatch serves the batch subject.
func (t *term) onBatch(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	rq := t.s.counters.begin(m.Reply, epBatch)
	items, itemErrs, binary, err := decodeBatch(m.Data)
	if err != nil {
		t.finish(rq, errorAnswer("", 0, ErrBadRequest, err.Error()))
		return
	}
	if !t.serving() {
		t.finish(rq, unavailable(""))
		return
	}
	b := &batchReq{t: t, rq: rq, binary: binary, items: items, results: make([]itemResult, len(items))}
	b.pending.Store(int64(len(items)) + 1)
	for i, it := range items {
		irq := request{ep: epBatch, batch: b, item: i}
		msg := itemErrs[i]
		if msg == "" {
			msg = itemError(it)
		}
		if msg != "" {
			t.finish(irq, errorAnswer(it.SKU, 0, ErrBadRequest, msg))
			continue
		}
		if it.ID != "" {
			irq.key = "acquire\x00" + it.SKU + "\x00" + it.ID
			if !t.begin(irq) {
				continue
			}
		}
		t.acquire(it.SKU, it.N, irq)
	}
	b.done()
}

// decodeBatch reads a batch in either encoding. itemErrs holds, per item,
// why a JSON item could not be read ("" if it could).
func decodeBatch(body []byte) (items []BatchItem, itemErrs []string, binary bool, err error) {
	switch {
	case len(body) > MaxBatchBody:
		return nil, nil, false, errBodyTooLarge(len(body), MaxBatchBody)
	case len(body) > 0 && body[0] == batchBinary:
		items, err = decodeBinaryBatch(body, nil)
		return items, make([]string, len(items)), true, err
	}
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '[' {
		return nil, nil, false, errNotBatch
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, nil, false, errNotBatch
	}
	if len(raw) > MaxBatchItems {
		return nil, nil, false, errTooManyItems(len(raw))
	}
	items, itemErrs = make([]BatchItem, len(raw)), make([]string, len(raw))
	for i, r := range raw {
		var it struct {
			SKU *string         `json:"sku"`
			N   json.RawMessage `json:"n"`
			ID  *string         `json:"id"`
		}
		if err := strictUnmarshal(r, &it); err != nil {
			itemErrs[i] = err.Error()
			continue
		}
		if it.SKU != nil {
			items[i].SKU = *it.SKU
		}
		if it.ID != nil {
			items[i].ID = *it.ID
			if *it.ID == "" {
				itemErrs[i] = "id must not be empty"
			}
		}
		items[i].N = 1
		if it.N != nil {
			n, err := parseCount(it.N, stock.MaxUnits)
			if err != nil || n < 1 {
				itemErrs[i] = "n must be an integer from 1 to 1000000"
			}
			items[i].N = n
		}
	}
	return items, itemErrs, false, nil
}
