package responder

import (
	"context"
	"sync"
	"sync/atomic"
)

// Bounds of the reads of SKU records: how many read at once, and how many
// SKUs one read asks for (one etcd transaction of gets at its default
// limit of operations).
const (
	skuReaders  = 4
	maxSKUReads = 128
)

// skuLoads reads the records of SKUs on their first request in a term, so
// that a new leader serves as soon as it has read its holds, however many
// SKUs the partition has. Every SKU asked while the readers are busy joins
// the next read, so a burst of new SKUs costs few reads. A read follows the
// term's win, so it sees every write of earlier leaders (theirs are fenced
// out by then), and the catalog takes only what it does not know yet. When
// a read fails, its requests are answered unavailable and the next request
// of the SKU reads again. Its goroutines run from startSKULoads to close.
type skuLoads struct {
	t      *term
	ctx    context.Context
	cancel context.CancelFunc
	kick   chan struct{} // capacity 1: SKUs are queued
	wg     sync.WaitGroup
	waits  atomic.Int64 // requests waiting, for a graceful stop's drain

	mu      sync.Mutex
	closed  bool
	queued  []string              // SKUs not yet in a read
	waiting map[string][]*skuWait // per SKU queued or being read, who waits for it
}

// skuWait is a request that waits for SKUs to be read. then runs once:
// with ok once all are known, or with !ok after a read of one of them
// failed or the term ended.
type skuWait struct {
	left int  // SKUs not read yet; guarded by skuLoads.mu
	ok   bool // guarded by skuLoads.mu
	then func(ok bool)
}

func startSKULoads(t *term) *skuLoads {
	ctx, cancel := context.WithCancel(context.Background())
	l := &skuLoads{t: t, ctx: ctx, cancel: cancel, kick: make(chan struct{}, 1), waiting: map[string][]*skuWait{}}
	for range skuReaders {
		l.wg.Go(l.run)
	}
	return l
}

// await reads skus (distinct SKUs that the catalog did not know when the
// caller looked), and then calls then, on a reader's goroutine (at once,
// with !ok, after close). It never blocks on I/O.
func (l *skuLoads) await(skus []string, then func(ok bool)) {
	w := &skuWait{ok: true, then: then}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		then(false)
		return
	}
	for _, sku := range skus {
		ws, reading := l.waiting[sku]
		if !reading {
			l.queued = append(l.queued, sku)
		}
		l.waiting[sku] = append(ws, w)
		w.left++
	}
	l.waits.Add(1)
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// close stops the readers, waits for them, and answers every request still
// waiting with !ok.
func (l *skuLoads) close() {
	l.cancel()
	l.wg.Wait()
	l.mu.Lock()
	l.closed = true
	var ends []*skuWait
	for _, ws := range l.waiting {
		for _, w := range ws {
			if w.left > 0 {
				w.left, w.ok = 0, false
				ends = append(ends, w)
			}
		}
	}
	l.waiting, l.queued = map[string][]*skuWait{}, nil
	l.mu.Unlock()
	l.end(ends)
}

func (l *skuLoads) run() {
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-l.kick:
		}
		l.mu.Lock()
		n := min(len(l.queued), maxSKUReads)
		skus := l.queued[:n:n]
		l.queued = l.queued[n:]
		more := len(l.queued) > 0
		l.mu.Unlock()
		if more {
			select {
			case l.kick <- struct{}{}:
			default:
			}
		}
		if n > 0 {
			l.read(skus)
		}
	}
}

// read loads skus into the catalog and ends the waits that no longer wait
// for anything.
func (l *skuLoads) read(skus []string) {
	t := l.t
	ctx, cancel := context.WithTimeout(l.ctx, t.s.cfg.WriteTimeout)
	recs, bad, err := t.p.store.Get(ctx, skus)
	cancel()
	if err != nil {
		t.p.log.Warn("SKU records not read; their requests are answered unavailable", "skus", len(skus), "err", err)
	} else {
		t.cat.loaded(skus, recs, bad)
		for sku, err := range bad {
			t.p.log.Error("stored record is corrupt; the sku answers internal until deleted", "sku", sku, "err", err)
		}
	}
	var ends []*skuWait
	l.mu.Lock()
	for _, sku := range skus {
		for _, w := range l.waiting[sku] {
			w.ok = w.ok && err == nil
			if w.left--; w.left == 0 {
				ends = append(ends, w)
			}
		}
		delete(l.waiting, sku)
	}
	l.mu.Unlock()
	l.end(ends)
}

// end runs the callbacks of ended waits.
func (l *skuLoads) end(ends []*skuWait) {
	for _, w := range ends {
		l.waits.Add(-1)
		w.then(w.ok && l.t.serving())
	}
}
