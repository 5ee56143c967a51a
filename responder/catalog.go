package responder

import (
	"sync"
	"time"

	"github.com/stockstate/stock/stock"
)

// entry is one SKU served by this term. Its fields are guarded by mu, which
// is held only for a few arithmetic steps, never across I/O.
type entry struct {
	sku string

	mu      sync.Mutex
	item    stock.Item
	waiters []*waiter // FIFO of requests waiting for a raised cap
	queued  bool      // in the writer's refill queue
	gone    bool      // deleted; requests answer unknown_sku

	evSent   int64 // remaining in the last stock event
	evQueued bool  // in the events queue
}

// waiter is an acquire that fits the limit but not the window. It is
// answered by the writer once a raised cap is durable, or unavailable when
// its timer fires first.
type waiter struct {
	n     int64
	req   request
	timer *time.Timer
}

// request is what answering a request needs: where to, its dedupe key ("" if
// it has no id), and for the counters its endpoint and, if it is timed, its
// arrival time.
type request struct {
	reply string
	key   string
	ep    int
	start time.Time
	batch *batchReq // for an item of a batch: where its result goes
	item  int       // the item's index in the batch
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
// take no lock (sync.Map, whose keys are stable once stored); only the
// writer adds and removes SKUs.
type catalog struct {
	skus sync.Map // string -> *entry

	mu     sync.Mutex
	broken map[string]error // stored values that did not parse
}

func newCatalog(recs map[string]stock.Record, bad map[string]error) *catalog {
	c := &catalog{broken: bad}
	if c.broken == nil {
		c.broken = map[string]error{}
	}
	for sku, r := range recs {
		e := &entry{sku: sku, item: stock.Resume(r)}
		e.evSent = e.item.Remaining()
		c.skus.Store(sku, e)
	}
	return c
}

// get returns the SKU's entry, or nil and the reason it cannot be served
// (nil reason: no such SKU).
func (c *catalog) get(sku string) (*entry, error) {
	if e, ok := c.skus.Load(sku); ok {
		return e.(*entry), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return nil, c.broken[sku]
}

func (c *catalog) put(e *entry) { c.skus.Store(e.sku, e) }

func (c *catalog) remove(sku string) {
	c.skus.Delete(sku)
	c.mu.Lock()
	delete(c.broken, sku)
	c.mu.Unlock()
}

// all returns every entry, for a graceful stop and for statistics.
func (c *catalog) all() []*entry {
	var es []*entry
	c.skus.Range(func(_, v any) bool {
		es = append(es, v.(*entry))
		return true
	})
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
