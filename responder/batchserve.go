package responder

import (
	"bytes"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/stock"
)

// onBatch serves the batch subject. Items without an id whose SKU's window
// holds them are answered here, a run of consecutive items of one SKU under
// one hold of its lock; every other item (with an id, bad, waiting for a
// refill, or refused) takes the path of a single acquire and is answered
// into the batch. A message that is not a batch changes nothing.
func (t *term) onBatch(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	rq := t.s.counters.begin(m.Reply, epBatch)
	b, err := newBatchReq(m.Data)
	if err != nil {
		t.finish(rq, errorAnswer("", 0, ErrBadRequest, err.Error()))
		return
	}
	if !t.serving() {
		b.release()
		t.finish(rq, unavailable(""))
		return
	}
	b.t, b.rq = t, rq
	b.pending.Store(int64(len(b.items)) + 1)
	b.answered(t.serveBatch(b))
}

// batchRun is the SKU whose lock the dispatch holds, and what it granted
// under it.
type batchRun struct {
	e       *entry // nil when no lock is held
	granted bool
}

// end releases the run's lock, noting the change for events and queueing a
// refill if its grants call for one, as single grants do.
func (r *batchRun) end(t *term) {
	e := r.e
	if e == nil {
		return
	}
	refill := false
	if r.granted {
		refill = !e.queued && e.item.NeedsRefill()
		e.queued = e.queued || refill
		t.ev.changedLocked(e)
	}
	e.mu.Unlock()
	if refill {
		t.w.queueRefill(e)
	}
	*r = batchRun{}
}

// resolve finds the entries of the items that may join a run (plain, of a
// valid SKU that exists) before any is locked: the lookups do not wait for
// each other's memory reads, as they would behind each lock, and leave the
// entries in the cache. An entry found here may be deleted before it is
// locked; serving checks.
func (t *term) resolve(b *batchReq) {
	idx := t.cat.read.Load().idx
	var prev []byte
	var e *entry
	for i := range b.items {
		if !plain(b, i) {
			continue
		}
		sku := b.items[i].sku(b.data)
		if e == nil || !bytes.Equal(sku, prev) {
			if e = idx.get(sku); e == nil {
				continue
			}
			prev = sku
		}
		b.ents[i] = e
	}
}

// serveBatch dispatches b's items and returns how many it answered itself
// (the others are answered through b.set and b.granted).
func (t *term) serveBatch(b *batchReq) (answered int) {
	t.resolve(b)
	var run batchRun
	var units uint64
	for i := range b.items {
		it := &b.items[i]
		if run.e == nil || !plain(b, i) || b.ents[i] != run.e {
			run.end(t)
			if !t.startRun(b, i, &run) {
				continue
			}
		}
		e := run.e
		rem, o := e.item.Acquire(it.n)
		switch o {
		case stock.Granted:
			b.results[i] = itemResult{granted: it.n, remaining: rem}
			run.granted = true
			units += uint64(it.n)
			answered++
		case stock.Wait:
			run.end(t)
			t.acquire(e.sku, it.n, b.itemRequest(i))
		default:
			t.refuse(b, i, o, it.n, rem)
			answered++
		}
	}
	run.end(t)
	if units > 0 {
		t.s.counters.units.Add(units)
	}
	return answered
}

// plain reports whether item i, if its SKU is valid, may join a run: it has
// no id, a valid n, and read well.
func plain(b *batchReq, i int) bool {
	it := &b.items[i]
	return it.idLen == 0 && it.n >= 1 && it.n <= stock.MaxUnits && (b.binary || b.msgs[i] == "")
}

// startRun starts a run at item i, which its predecessor's run does not
// cover, locking its SKU. It returns false, having handed the item to the
// path of a single acquire, if the item is bad, has an id, or cannot be
// served at once in order (its SKU is unknown, deleted, or has waiters).
func (t *term) startRun(b *batchReq, i int, run *batchRun) bool {
	it := &b.items[i]
	e := b.ents[i] // if set, the item is plain and its SKU valid
	msg := ""
	if !b.binary {
		msg = b.msgs[i]
	}
	if msg == "" && e == nil {
		msg = itemError(b.data, it)
	}
	if msg != "" {
		t.finish(b.itemRequest(i), errorAnswer(string(it.sku(b.data)), 0, ErrBadRequest, msg))
		return false
	}
	sku := it.sku(b.data)
	if it.idLen > 0 {
		irq := b.itemRequest(i)
		irq.key = "acquire\x00" + string(sku) + "\x00" + string(it.id(b.data))
		if t.begin(irq) {
			t.acquire(irq.key[len("acquire\x00"):len("acquire\x00")+len(sku)], it.n, irq)
		}
		return false
	}
	if e == nil {
		var err error
		if e, err = t.cat.getBytes(sku); e == nil {
			t.finish(b.itemRequest(i), missing(string(sku), err))
			return false
		}
	}
	e.mu.Lock()
	if e.gone || len(e.waiters) > 0 {
		e.mu.Unlock()
		t.acquire(e.sku, it.n, b.itemRequest(i))
		return false
	}
	*run = batchRun{e: e}
	return true
}

// refuse records a sold_out or insufficient outcome of item i, answered by
// the dispatch itself, and counts it as finish would.
func (t *term) refuse(b *batchReq, i int, o stock.Outcome, n, rem int64) {
	kind, r := ErrSoldOut, itemResult{}
	if o == stock.Insufficient {
		kind, r.remaining = ErrInsufficient, rem
	}
	r.status = batchStatus(kind)
	b.results[i] = r
	if !b.binary {
		b.msgs[i] = t.acquireAnswer("", n, rem, o).desc
	}
	t.s.counters.errors[epBatch].Add(1)
	t.s.counters.kinds[kindIndex(kind)].Add(1)
}
