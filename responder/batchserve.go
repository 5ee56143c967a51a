package responder

import (
	"bytes"
	"fmt"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/stock"
	"github.com/stockstate/stock/wire"
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
		t.finish(rq, errorAnswer("", 0, wire.ErrBadRequest, err.Error()))
		return
	}
	if !t.serving() {
		b.release()
		t.finish(rq, unavailable(""))
		return
	}
	b.t, b.rq = t, rq
	t.resolve(b)
	if unknown := t.unknownSKUs(b); len(unknown) > 0 {
		t.skus.await(unknown, func(ok bool) {
			if !ok {
				b.release()
				t.finish(rq, unavailable(""))
				return
			}
			t.resolve(b)
			b.pending.Store(int64(len(b.items)) + 1)
			b.answered(t.serveBatch(b))
		})
		return
	}
	b.pending.Store(int64(len(b.items)) + 1)
	b.answered(t.serveBatch(b))
}

// unknownSKUs returns the SKUs of b's items that the term has not read
// yet, of items that are well formed and of this partition (the others are
// refused without a read), once each however often they come. Only items
// that resolve did not find are looked at.
func (t *term) unknownSKUs(b *batchReq) []string {
	var unknown []string
	var seen map[string]bool // of the SKUs looked at, whether unknown
	for i := range b.items {
		it := &b.items[i]
		if b.ents[i] != nil || !b.binary && b.msgs[i] != "" || wire.ItemError(b.data, it) != "" {
			continue
		}
		sku := it.SKU(b.data)
		if _, done := seen[string(sku)]; done || !owns(t.p, sku) {
			continue
		}
		if seen == nil {
			seen = map[string]bool{}
		}
		name := string(sku)
		if seen[name] = !t.cat.known(name); seen[name] {
			unknown = append(unknown, name)
		}
	}
	return unknown
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
	refill := r.granted && t.grantedLocked(e)
	e.mu.Unlock()
	if refill {
		t.q.refillAhead(e)
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
		sku := b.items[i].SKU(b.data)
		if e == nil || !bytes.Equal(sku, prev) {
			if e = idx.get(sku); e == nil {
				continue
			}
			prev = sku
		}
		b.ents[i] = e
	}
}

// serveBatch dispatches b's items, which resolve has looked up, and
// returns how many it answered itself (the others are answered through
// b.set and b.granted).
func (t *term) serveBatch(b *batchReq) (answered int) {
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
		rem, o := grantLocked(run.e, it.N)
		switch o {
		case stock.Granted:
			b.results[i] = wire.ItemResult{Granted: it.N, Remaining: rem}
			run.granted = true
			units += uint64(it.N)
			answered++
		case stock.Wait: // answered into the batch once a raised cap is durable
			t.parkLocked(run.e, it.N, b.itemRequest(i))
		default:
			t.refuse(b, i, o, it.N, rem)
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
// no id and no buyer, a valid n, and read well.
func plain(b *batchReq, i int) bool {
	it := &b.items[i]
	return !it.HasID() && !it.HasBuyer() && it.N >= 1 && it.N <= stock.MaxUnits && (b.binary || b.msgs[i] == "")
}

// startRun starts a run at item i, which its predecessor's run does not
// cover, locking its SKU. It returns false, having answered the item or
// handed it to the path of a single acquire, if the item is bad, has an id
// or a buyer, or its SKU is unknown, deleted or caps units per buyer.
func (t *term) startRun(b *batchReq, i int, run *batchRun) bool {
	it := &b.items[i]
	e := b.ents[i] // if set, the item is plain and its SKU valid
	msg := ""
	if !b.binary {
		msg = b.msgs[i]
	}
	if msg == "" && e == nil {
		msg = wire.ItemError(b.data, it)
	}
	if msg != "" {
		t.finish(b.itemRequest(i), errorAnswer(string(it.SKU(b.data)), 0, wire.ErrBadRequest, msg))
		return false
	}
	sku := it.SKU(b.data)
	if e == nil && !owns(t.p, sku) { // a SKU found in the catalog is this partition's
		t.finish(b.itemRequest(i), errorAnswer(string(sku), 0, wire.ErrBadRequest, t.p.notOwned(string(sku))))
		return false
	}
	switch {
	case it.HasID():
		irq := b.itemRequest(i)
		irq.key = dedupeKey(wire.SubjectAcquire, string(sku), string(it.ID(b.data)))
		if t.begin(irq) {
			skuOfKey := irq.key[len(wire.SubjectAcquire)+1 : len(wire.SubjectAcquire)+1+len(sku)] // shares the key's bytes
			t.acquire(skuOfKey, args{n: it.N, id: string(it.ID(b.data)), buyer: string(it.Buyer(b.data))}, irq)
		}
		return false
	case it.HasBuyer():
		t.acquire(string(sku), args{n: it.N, buyer: string(it.Buyer(b.data))}, b.itemRequest(i))
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
	if e.gone {
		e.mu.Unlock()
		t.finish(b.itemRequest(i), missing(e.sku, nil))
		return false
	}
	if k := e.item.PerBuyer; k > 0 {
		e.mu.Unlock()
		msg := fmt.Sprintf("sku %s allows %d units per buyer: the item needs a buyer", e.sku, k)
		if b.binary {
			msg += ", which binary batch items cannot carry: send it in a JSON batch or on its own"
		}
		t.finish(b.itemRequest(i), errorAnswer(e.sku, 0, wire.ErrBadRequest, msg))
		return false
	}
	*run = batchRun{e: e}
	return true
}

// refuse records a sold_out or insufficient outcome of item i, answered by
// the dispatch itself, and counts it as finish would.
func (t *term) refuse(b *batchReq, i int, o stock.Outcome, n, rem int64) {
	kind, r := wire.ErrSoldOut, wire.ItemResult{}
	if o == stock.Insufficient {
		kind, r.Remaining = wire.ErrInsufficient, rem
	}
	r.Status = wire.StatusOf(kind)
	b.results[i] = r
	if !b.binary {
		b.msgs[i] = t.acquireAnswer("", n, rem, o).desc
	}
	t.s.counters.errors[epBatch].Add(1)
	t.s.counters.kinds[wire.KindIndex(kind)].Add(1)
}
