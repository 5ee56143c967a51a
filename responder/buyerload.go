package responder

import (
	"context"
	"sync"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/wire"
)

// Bounds of the reads of buyer records: how many read at once, and how many
// buyers one read asks for.
const (
	buyerReaders  = 4
	maxBuyerReads = 1024
)

// buyerLoads reads the records of buyers first seen in a term: every buyer
// queued while the readers are busy joins the next read, so many new
// buyers cost few reads. A read follows the term's win, so it sees every
// write of earlier leaders (theirs are fenced out by then). When it fails,
// the waiting requests are answered unavailable and the next request of
// the buyer reads again. Its goroutines run from startBuyerLoads to close.
type buyerLoads struct {
	t      *term
	ctx    context.Context
	cancel context.CancelFunc
	kick   chan struct{} // capacity 1: buyers are queued
	wg     sync.WaitGroup

	mu     sync.Mutex
	queued []buyerRef
}

// buyerRef is a buyer of an entry.
type buyerRef struct {
	e *entry
	b *buyer
}

func startBuyerLoads(t *term) *buyerLoads {
	ctx, cancel := context.WithCancel(context.Background())
	l := &buyerLoads{t: t, ctx: ctx, cancel: cancel, kick: make(chan struct{}, 1)}
	for range buyerReaders {
		l.wg.Go(l.run)
	}
	return l
}

// queue asks for b's record. The caller set b.loading, under e.mu.
func (l *buyerLoads) queue(e *entry, b *buyer) {
	l.mu.Lock()
	l.queued = append(l.queued, buyerRef{e, b})
	l.mu.Unlock()
	l.wake()
}

func (l *buyerLoads) wake() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// close stops the readers and waits for them; requests still waiting are
// left to the term's failWaiters.
func (l *buyerLoads) close() {
	l.cancel()
	l.wg.Wait()
}

func (l *buyerLoads) run() {
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-l.kick:
		}
		l.mu.Lock()
		n := min(len(l.queued), maxBuyerReads)
		refs := l.queued[:n:n]
		l.queued = l.queued[n:]
		more := len(l.queued) > 0
		l.mu.Unlock()
		if more {
			l.wake()
		}
		if n > 0 {
			l.read(refs)
		}
	}
}

// read loads refs' records and serves their waiting requests again.
func (l *buyerLoads) read(refs []buyerRef) {
	t := l.t
	keys := make([]capstore.BuyerKey, len(refs))
	for i, r := range refs {
		keys[i] = capstore.BuyerKey{SKU: r.e.sku, Buyer: r.b.name}
	}
	ctx, cancel := context.WithTimeout(l.ctx, t.s.cfg.WriteTimeout)
	recs, bad, err := t.p.store.LoadBuyers(ctx, keys)
	cancel()
	if err != nil {
		t.p.log.Warn("buyer records not read; their requests are answered unavailable", "buyers", len(refs), "err", err)
	}
	for i, r := range refs {
		e, b := r.e, r.b
		broken := bad[keys[i]]
		e.mu.Lock()
		b.loading = false
		if err == nil && broken == nil {
			rec := recs[keys[i]]
			b.loaded, b.bought, b.ids = true, rec.Bought, rec.IDs
		}
		waiting := b.waiting
		b.waiting = nil
		e.mu.Unlock()
		t.buyerWaits.Add(-int64(len(waiting)))
		if broken != nil {
			t.p.log.Error("stored buyer record is corrupt; the buyer's requests answer internal", "sku", e.sku, "buyer", b.name, "err", broken)
		}
		for _, w := range waiting {
			switch {
			case broken != nil:
				t.finish(w.rq, errorAnswer(e.sku, 0, wire.ErrInternal, "stored record of buyer "+b.name+" is corrupt: "+broken.Error()))
			case err != nil || !t.serving():
				t.finish(w.rq, unavailable(e.sku))
			default:
				w.redo()
			}
		}
	}
}

// takeBuyerWaitsLocked removes and returns the requests that wait for e's
// buyers' records, for the caller to answer after unlocking. Lock e.mu on
// entry.
func (t *term) takeBuyerWaitsLocked(e *entry) []buyerWait {
	var ws []buyerWait
	for _, b := range e.buyers {
		ws = append(ws, b.waiting...)
		b.waiting = nil
	}
	t.buyerWaits.Add(-int64(len(ws)))
	return ws
}
