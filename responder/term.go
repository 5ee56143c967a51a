package responder

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/stock"
)

// errLeaseLost ends a term whose lease expired, was revoked, or whose local
// deadline passed.
var errLeaseLost = errors.New("responder: lease lost or past its deadline")

// term is one leadership term: it owns the catalog, the writer goroutine and
// the subscriptions, and stops them all before run returns.
type term struct {
	s    *Server
	lead Leadership
	cat  *catalog
	w    *writer
	ev   *events

	lost     atomic.Bool // set once the term stops answering
	failOnce sync.Once
	failed   chan struct{} // closed by fail
	failErr  error
}

func newTerm(s *Server, lead Leadership) *term {
	return &term{s: s, lead: lead, failed: make(chan struct{})}
}

// serving reports whether requests may be answered from the window: the
// term has not ended and the local lease deadline has not passed.
func (t *term) serving() bool { return !t.lost.Load() && t.lead.Valid() }

// fail ends the term after a refused or unknown write. Safe to call often.
func (t *term) fail(err error) {
	t.failOnce.Do(func() {
		t.failErr = err
		close(t.failed)
	})
}

// run serves the term until ctx ends (graceful stop, then nil) or the term
// is lost (then the reason). Every SKU resumes with an empty window at its
// cap; its first request waits for a fenced raise.
func (t *term) run(ctx context.Context) error {
	lctx, cancel := context.WithTimeout(ctx, 5*t.s.cfg.WriteTimeout)
	recs, bad, err := t.s.store.Load(lctx)
	cancel()
	if err != nil {
		t.lead.End()
		return fmt.Errorf("responder: load: %w", err)
	}
	for sku, err := range bad {
		t.s.log.Error("stored record is corrupt; the sku answers internal until deleted", "sku", sku, "err", err)
	}
	t.cat = newCatalog(recs, bad)
	t.w = newWriter(t)
	t.ev = &events{t: t}
	stopWriter, writerDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(writerDone)
		t.w.run(stopWriter)
	}()
	eventsDone := make(chan struct{})
	go func() {
		defer close(eventsDone)
		t.ev.run(stopWriter)
	}()
	defer func() { <-eventsDone }()
	subs, err := t.subscribe()
	if err != nil {
		t.stopLost(subs, stopWriter, writerDone)
		return err
	}
	t.s.leading.Store(true)
	t.s.counters.terms.Add(1)
	t.s.cfg.Observer.Leading(true)
	t.s.log.Info("serving", "skus", len(recs), "corrupt", len(bad))

	select {
	case <-ctx.Done():
		t.stopGracefully(subs, stopWriter, writerDone)
		return nil
	case <-t.lead.Done():
		err = errLeaseLost
	case <-t.failed:
		err = t.failErr
	}
	t.stopLost(subs, stopWriter, writerDone)
	return err
}

// stopLost stops answering at once: requests already delivered are answered
// unavailable, waiters too, and the lease is abandoned so that a new term
// starts from a fresh one.
func (t *term) stopLost(subs []*nats.Subscription, stopWriter, writerDone chan struct{}) {
	if t.s.leading.Swap(false) {
		t.s.cfg.Observer.Leading(false)
	}
	t.lost.Store(true)
	for _, sub := range subs {
		_ = sub.Drain() // handlers see lost and answer unavailable
	}
	close(stopWriter)
	<-writerDone
	t.failWaiters()
	t.lead.End()
}

// stopGracefully drains the subscriptions, lets waiters finish, trims every
// cap to what was sold, and resigns, so the next leader loses nothing.
//
// It does not wait for nats.go to finish each drain (that polls every
// 100 ms): once the server has confirmed the unsubscribes, no new request
// comes, and the drain is done when none is pending, parked or being
// written for. A handler still running then is harmless: every window is
// closed under its lock before the trim is computed, so it can only wait,
// and it is answered unavailable.
func (t *term) stopGracefully(subs []*nats.Subscription, stopWriter, writerDone chan struct{}) {
	t.s.log.Info("stopping: draining requests")
	began := time.Now()
	for _, sub := range subs {
		_ = sub.Drain()
	}
	deadline := began.Add(t.s.cfg.DrainTimeout)
	if err := t.s.nc.FlushTimeout(t.s.cfg.DrainTimeout); err != nil {
		t.s.log.Warn("unsubscribes not confirmed", "err", err)
	}
	for time.Now().Before(deadline) && (anyPending(subs) || t.cat.anyWaiters() || !t.w.idle()) {
		time.Sleep(time.Millisecond)
	}
	t.lost.Store(true)
	t.s.leading.Store(false)
	t.s.cfg.Observer.Leading(false)
	close(stopWriter)
	<-writerDone

	puts := map[string]stock.Record{}
	for _, e := range t.cat.all() {
		e.mu.Lock()
		if e.item.Cap > e.item.Sold && !e.gone {
			puts[e.sku] = e.item.Trim()
		}
		e.item.Close()
		e.mu.Unlock()
	}
	t.failWaiters()
	drained := time.Since(began)

	ctx, cancel := context.WithTimeout(context.Background(), t.s.cfg.WriteTimeout)
	defer cancel()
	if len(puts) > 0 {
		start := time.Now()
		committed, err := t.s.store.Commit(ctx, t.lead.Key(), t.w.fence, puts, nil)
		// Either outcome is safe: the next leader resumes from the old cap or the exact one.
		t.s.log.Info("trimmed caps to units sold", "skus", len(puts), "committed", committed, "err", err,
			"drain", drained, "trim", time.Since(start))
	}
	if err := t.lead.Resign(ctx); err != nil {
		t.s.log.Warn("resign failed; the lease will expire", "err", err)
		t.lead.End()
	}
}

// failWaiters answers every parked request unavailable.
func (t *term) failWaiters() {
	for _, e := range t.cat.all() {
		e.mu.Lock()
		ws := e.waiters
		e.waiters = nil
		e.mu.Unlock()
		for _, w := range ws {
			w.timer.Stop()
			t.finish(w.req, unavailable(e.sku))
		}
	}
}

// anyPending reports whether a subscription still holds messages not yet
// handed to its handler.
func anyPending(subs []*nats.Subscription) bool {
	for _, s := range subs {
		if n, _, err := s.Pending(); err == nil && n > 0 {
			return true
		}
	}
	return false
}
