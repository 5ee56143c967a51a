package responder

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stockstate/stock/stock"
)

// entry is one SKU served by this term. Its fields are guarded by mu, which
// is held only for a few arithmetic steps, never across I/O.
//
// The fields every grant reads or writes come first: a grant touches the
// first 106 of the entry's 160 bytes (two cache lines, or three when the
// entry straddles one more), not all of them.
type entry struct {
	mu       sync.Mutex
	queued   bool      // in the writer's refill queue
	gone     bool      // deleted; requests answer unknown_sku
	evQueued bool      // in the events queue
	evSent   int64     // remaining in the last stock event
	waiters  []*waiter // FIFO of requests waiting for a raised cap
	item     stock.Item

	sku    string
	holds  map[string]*hold  // by id (hold.go)
	buyers map[string]*buyer // by name, of a SKU with a per-buyer cap (buyer.go)
}

// waiter is an acquire or hold that fits the limit but not the window. It
// is answered by the writer once a raised cap is durable, or unavailable
// when its timer fires first.
type waiter struct {
	n     int64
	req   request
	timer *time.Timer
	hold  *holdSpec // for a hold: what it asks for besides units
	buyer *buyer    // for an acquire of a capped SKU: whose units are pending
	id    string    // for an acquire of a capped SKU: its id, kept in the buyer's record
}

// droppedLocked gives back the units w had pending against its buyer's cap,
// once it is answered without them. Lock its entry's mu on entry.
func (w *waiter) droppedLocked() {
	switch {
	case w.buyer != nil:
		w.buyer.pending -= w.n
	case w.hold != nil && w.hold.buyer != nil:
		w.hold.buyer.pending -= w.n
	}
}

// request is what answering a request needs: where to, its dedupe key ("" if
// it has no id), and for the counters its endpoint and, if it is timed, its
// arrival time.
type request struct {
	reply string
	key   string
	ep    int
	start time.Time
	batch *batchReq  // for an item of a batch: where its result goes
	holds *holdBatch // for an item of a batch of holds: where its answer goes
	item  int        // the item's index in its batch
}

// need is the units all waiters ask for. Lock e.mu on entry.
func (e *entry) needLocked() int64 {
	var n int64
	for _, w := range e.waiters {
		n += w.n
	}
	return n
}

// removeWaiterLocked drops w if it is still waiting. Lock e.mu on entry.
func (e *entry) removeWaiterLocked(w *waiter) bool {
	for i, x := range e.waiters {
		if x == w {
			e.waiters = append(e.waiters[:i], e.waiters[i+1:]...)
			return true
		}
	}
	return false
}

// catalog maps SKUs to entries for one term. Lookups on the request path
// read an immutable map through an atomic pointer and take no lock, also
// when the SKU is given as bytes. The writer adds and removes SKUs, and
// the reads of SKUs (skuLoads) add those they find: additions go to a copy
// under mu that readers consult on a miss, and that replaces the read map
// once misses have paid for the copy (the read and dirty maps of sync.Map
// before Go 1.24); a removal replaces it at once, so no lookup finds a
// removed entry after remove returns.
//
// A term starts with the SKUs that have holds and reads the others on
// their first request: a SKU is known once it has an entry, a broken
// record, or is known to be absent. Only known SKUs are served, and only
// an unknown SKU is read, so a read never overwrites what the term did.
type catalog struct {
	read atomic.Pointer[skuMap]

	mu     sync.Mutex
	dirty  map[string]*entry   // nil, or every SKU when read lacks some
	misses int                 // lookups that had to take mu since dirty was made
	broken map[string]error    // stored values that did not parse
	absent map[string]struct{} // SKUs read or deleted that have no record
}

// maxAbsent bounds the SKUs without a record that a term remembers from
// reads; past it, a request of another unknown SKU reads it again. SKUs
// this term deleted are always remembered: a read begun before the delete
// could otherwise bring one back.
const maxAbsent = 1 << 16

// skuMap is a read map and its index by bytes.
type skuMap struct {
	m   map[string]*entry
	idx *skuIndex
}

// newCatalog makes a term's catalog, knowing the SKUs of recs and bad.
func newCatalog(recs map[string]stock.Record, bad map[string]error) *catalog {
	c := &catalog{broken: bad, absent: map[string]struct{}{}}
	if c.broken == nil {
		c.broken = map[string]error{}
	}
	m := make(map[string]*entry, len(recs))
	for sku, r := range recs {
		m[sku] = resumed(sku, r)
	}
	c.read.Store(&skuMap{m: m, idx: newSKUIndex(m)})
	return c
}

// resumed is the entry of a SKU whose stored record is r: an empty window
// at its cap.
func resumed(sku string, r stock.Record) *entry {
	e := &entry{sku: sku, item: stock.Resume(r)}
	e.evSent = e.item.Remaining()
	return e
}

// known reports whether sku may be served without reading it: it has an
// entry, a broken record, or no record.
func (c *catalog) known(sku string) bool {
	if c.read.Load().m[sku] != nil {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, isBroken := c.broken[sku]
	_, isAbsent := c.absent[sku]
	return isBroken || isAbsent || c.read.Load().m[sku] != nil || c.dirty[sku] != nil
}

// loaded adds what a read of skus found, for those still unknown: an entry
// per record of recs, a broken record per error of bad, and absence for
// the rest.
func (c *catalog) loaded(skus []string, recs map[string]stock.Record, bad map[string]error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, sku := range skus {
		_, isBroken := c.broken[sku]
		_, isAbsent := c.absent[sku]
		if isBroken || isAbsent || c.read.Load().m[sku] != nil || c.dirty[sku] != nil {
			continue
		}
		if r, ok := recs[sku]; ok {
			c.dirtyLocked()[sku] = resumed(sku, r)
		} else if err, ok := bad[sku]; ok {
			c.broken[sku] = err
		} else if len(c.absent) < maxAbsent {
			c.absent[sku] = struct{}{}
		}
	}
}

// get returns the SKU's entry, or nil and the reason it cannot be served
// (nil reason: no such SKU).
func (c *catalog) get(sku string) (*entry, error) {
	r := c.read.Load()
	if e := r.m[sku]; e != nil {
		return e, nil
	}
	return c.getSlow(r, sku)
}

// getBytes is get for a SKU given as bytes; it does not allocate.
func (c *catalog) getBytes(sku []byte) (*entry, error) {
	r := c.read.Load()
	if e := r.idx.get(sku); e != nil {
		return e, nil
	}
	if e := r.m[string(sku)]; e != nil { // not a valid SKU, so not indexed
		return e, nil
	}
	return c.getSlow(r, string(sku))
}

// getSlow looks under mu for a SKU that the read map r lacks: it may have
// been added, or the read map replaced, since.
func (c *catalog) getSlow(r *skuMap, sku string) (*entry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dirty != nil {
		if e := c.dirty[sku]; e != nil {
			c.missLocked()
			return e, nil
		}
	} else if cur := c.read.Load(); cur != r {
		if e := cur.m[sku]; e != nil {
			return e, nil
		}
	}
	return nil, c.broken[sku]
}

// missLocked counts a lookup that took mu, and publishes dirty as the read
// map once there were as many as it has SKUs. Lock c.mu on entry.
func (c *catalog) missLocked() {
	if c.misses++; c.misses >= len(c.dirty) {
		c.promoteLocked()
	}
}

func (c *catalog) promoteLocked() {
	c.read.Store(&skuMap{m: c.dirty, idx: newSKUIndex(c.dirty)})
	c.dirty, c.misses = nil, 0
}

// dirtyLocked returns dirty, copying the read map into it first if there is
// none. Lock c.mu on entry.
func (c *catalog) dirtyLocked() map[string]*entry {
	if c.dirty == nil {
		r := c.read.Load()
		c.dirty = maps.Clone(r.m)
		if c.dirty == nil {
			c.dirty = map[string]*entry{}
		}
	}
	return c.dirty
}

func (c *catalog) put(e *entry) {
	c.mu.Lock()
	c.dirtyLocked()[e.sku] = e
	delete(c.absent, e.sku)
	c.mu.Unlock()
}

func (c *catalog) remove(sku string) {
	c.mu.Lock()
	delete(c.dirtyLocked(), sku)
	c.promoteLocked()
	delete(c.broken, sku)
	c.absent[sku] = struct{}{}
	c.mu.Unlock()
}

// all returns every entry, for a graceful stop and for statistics: the
// SKUs this term has served or read.
func (c *catalog) all() []*entry {
	c.mu.Lock()
	m := c.dirty
	if m == nil {
		m = c.read.Load().m
	}
	es := make([]*entry, 0, len(m))
	for _, e := range m {
		es = append(es, e)
	}
	c.mu.Unlock()
	return es
}

// anyWaiters reports whether some request waits for a raised cap.
func (c *catalog) anyWaiters() bool {
	for _, e := range c.all() {
		e.mu.Lock()
		n := len(e.waiters)
		e.mu.Unlock()
		if n > 0 {
			return true
		}
	}
	return false
}
