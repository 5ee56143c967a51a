package responder

import (
	"strconv"
	"sync"
	"time"
)

// Stock events let product pages follow a SKU without asking the leader:
// the leader publishes {"sku","remaining","sold_out"} on
// <prefix>.events.<sku> when remaining changes, at most once per
// Config.EventInterval per SKU, and at once on sell-out and on a restock
// from zero. A graceful handoff publishes the changes still queued before
// it resigns. Events are best effort: a lost term may skip one, and a
// subscriber that needs the exact figure asks query.

// events is a term's queue of SKUs whose remaining changed since their last
// event. Its goroutine publishes them each interval until close.
type events struct {
	t    *term
	stop chan struct{} // closed by close
	done chan struct{} // closed when the goroutine returns

	mu    sync.Mutex
	dirty []*entry
}

// startEvents starts t's event goroutine.
func startEvents(t *term) *events {
	ev := &events{t: t, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(ev.done)
		ev.run()
	}()
	return ev
}

// close stops the goroutine and waits for it. Call it once.
func (ev *events) close() {
	close(ev.stop)
	<-ev.done
}

// changedLocked notes that e's remaining may have changed. Sell-out and
// restock from zero are published at once; other changes wait for the next
// tick. Lock e.mu on entry: publishing under it keeps each SKU's events in
// order.
func (ev *events) changedLocked(e *entry) {
	if ev.t.s.cfg.EventInterval == 0 {
		return
	}
	rem := e.item.Remaining()
	switch {
	case rem == e.evSent:
	case rem == 0 || e.evSent == 0:
		ev.publishLocked(e, rem)
	case !e.evQueued:
		e.evQueued = true
		ev.mu.Lock()
		ev.dirty = append(ev.dirty, e)
		ev.mu.Unlock()
	}
}

func (ev *events) publishLocked(e *entry, rem int64) {
	e.evSent = rem
	b := make([]byte, 0, 64+len(e.sku))
	b = append(b, `{"sku":"`...)
	b = append(b, e.sku...)
	b = append(b, `","remaining":`...)
	b = strconv.AppendInt(b, rem, 10)
	b = append(b, `,"sold_out":`...)
	b = strconv.AppendBool(b, rem == 0)
	b = append(b, '}')
	if err := ev.t.s.nc.Publish(ev.t.s.events+e.sku, b); err != nil {
		ev.t.p.log.Warn("stock event not sent", "sku", e.sku, "err", err)
	}
}

// run publishes the queued changes every interval until close.
func (ev *events) run() {
	if ev.t.s.cfg.EventInterval == 0 {
		return
	}
	tick := time.NewTicker(ev.t.s.cfg.EventInterval)
	defer tick.Stop()
	for {
		select {
		case <-ev.stop:
			return
		case <-tick.C:
		}
		ev.publishQueued()
	}
}

// publishQueued publishes the queued changes at once. It is safe beside
// run: each queued SKU is taken by one of them.
func (ev *events) publishQueued() {
	ev.mu.Lock()
	dirty := ev.dirty
	ev.dirty = nil
	ev.mu.Unlock()
	for _, e := range dirty {
		e.mu.Lock()
		e.evQueued = false
		if rem := e.item.Remaining(); rem != e.evSent && !e.gone {
			ev.publishLocked(e, rem)
		}
		e.mu.Unlock()
	}
}
