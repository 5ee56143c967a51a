package responder

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/responder/writer"
	"github.com/stockstate/stock/stock"
)

// errLeaseLost ends a term whose lease expired, was revoked, or whose local
// deadline passed.
var errLeaseLost = errors.New("responder: lease lost or past its deadline")

// term is one leadership term: it owns the catalog, the writer and event
// goroutines and the subscriptions, and stops them all before run returns.
type term struct {
	s     *Server
	p     *partition
	lead  Leadership
	cat   *catalog
	q     *queue
	w     *writer.Writer
	ev    *events
	exp   *expiry
	loads *buyerLoads
	skus  *skuLoads

	holdIDs    holdIDs
	buyerWaits atomic.Int64 // requests waiting for a buyer's record

	lost atomic.Bool // set once the term stops answering
}

func newTerm(p *partition, lead Leadership) *term {
	return &term{s: p.s, p: p, lead: lead}
}

// serving reports whether requests may be answered from the window: the
// term has not ended and the local lease deadline has not passed.
func (t *term) serving() bool { return !t.lost.Load() && t.lead.Valid() }

// start starts the term's writer and event goroutines over cat.
func (t *term) start(cat *catalog) {
	t.cat = cat
	t.q = &queue{t: t}
	cfg := t.s.cfg
	t.w = writer.Start(writer.Config{
		Coalesce: cfg.Coalesce, WriteTimeout: cfg.WriteTimeout, KeyBudget: cfg.KeyBudget, Policy: cfg.Policy, Depth: cfg.WriteDepth,
		Log: t.p.log, Observe: t.observeWrite,
	}, t.p.store, t.lead, t.q)
	t.q.w = t.w
	t.ev = startEvents(t)
	t.exp = startExpiry(t)
	t.loads = startBuyerLoads(t)
	t.skus = startSKULoads(t)
}

// stopWriting stops the writer and the reads of SKU and buyer records, and
// answers the ops still queued, and every later one, unavailable, as it
// does the requests that wait for a SKU's record.
func (t *term) stopWriting() {
	t.w.Close()
	t.skus.close()
	t.loads.close()
	t.q.close()
}

// observeWrite counts and reports one store write.
func (t *term) observeWrite(took time.Duration, records int, committed bool, err error) {
	if err != nil {
		t.s.counters.unknown.Add(1)
	}
	t.s.cfg.Observer.StoreWrite(took, records, outcome(committed, err))
}

// run serves the term until ctx ends (graceful stop, then nil) or the term
// is lost (then the reason). It reads every hold, and the SKUs that have
// some, before it serves; every other SKU is read on its first request
// (skuLoads). Every SKU resumes with an empty window at its cap; its first
// request waits for a fenced raise.
func (t *term) run(ctx context.Context) error {
	began := time.Now()
	loadCtx, stopYield := t.yieldable(ctx)
	lctx, cancel := context.WithTimeout(loadCtx, 5*t.s.cfg.WriteTimeout)
	holds, badHolds, err := t.p.store.LoadHolds(lctx)
	var recs map[string]stock.Record
	var bad map[string]error
	if err == nil {
		recs, bad, err = t.p.store.Get(lctx, slices.Collect(maps.Keys(holds)))
	}
	cancel()
	if stopYield() {
		return t.resignUnserved(ctx)
	}
	if err != nil {
		t.lead.End()
		return fmt.Errorf("responder: load holds: %w", err)
	}
	for key, err := range badHolds {
		t.p.log.Error("stored hold is corrupt; it is left out", "key", key, "err", err)
	}
	for sku, err := range bad {
		t.p.log.Error("stored record is corrupt; the sku answers internal until deleted", "sku", sku, "err", err)
	}
	loaded := time.Now()
	t.start(newCatalog(recs, bad))
	defer t.exp.close()
	defer t.ev.close()
	t.resumeHolds(holds)
	resumed := time.Now()
	subs, err := t.subscribe()
	if err != nil {
		t.stopLost(subs)
		return err
	}
	t.p.setLeading(true)
	t.s.counters.terms.Add(1)
	t.p.log.Info("serving", "held_skus", len(recs), "corrupt", len(bad), "holds", t.holdIDs.len(),
		"load", loaded.Sub(began), "resume", resumed.Sub(loaded), "subscribe", time.Since(resumed))

	select {
	case <-ctx.Done():
		t.stopGracefully(subs)
		return nil
	case <-t.p.yield:
		t.stopGracefully(subs)
		return errYielded
	case <-t.lead.Done():
		err = errLeaseLost
	case <-t.w.Done():
		if err = t.w.Err(); errors.Is(err, writer.ErrFenced) {
			t.s.counters.fenced.Add(1)
		}
	}
	t.stopLost(subs)
	return err
}

// yieldable returns a context for the term's loads that a yield asked
// meanwhile cancels, and stop, which stops watching for a yield (a later
// one is the serving term's) and reports whether one came. A partition that
// has not served yet is handed over before its load is done: there is
// nothing to trim, and its heir loads it once instead of after this node.
func (t *term) yieldable(ctx context.Context) (lctx context.Context, stop func() (yielded bool)) {
	lctx, cancel := context.WithCancel(ctx)
	var yielded atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-t.p.yield:
			yielded.Store(true)
			cancel()
		case <-lctx.Done():
		}
	}()
	return lctx, func() bool {
		cancel()
		<-done
		return yielded.Load()
	}
}

// resignUnserved ends a term that never served, handing the partition to
// the next candidate at once.
func (t *term) resignUnserved(ctx context.Context) error {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.s.cfg.WriteTimeout)
	defer cancel()
	if err := t.lead.Resign(rctx); err != nil {
		t.p.log.Warn("resign failed; the lease will expire", "err", err)
		t.lead.End()
	}
	return errYielded
}

// stopLost stops answering at once: requests already delivered are answered
// unavailable, waiters too, and the lease is abandoned so that a new term
// starts from a fresh one.
func (t *term) stopLost(subs []*nats.Subscription) {
	t.p.setLeading(false)
	t.lost.Store(true)
	for _, sub := range subs {
		_ = sub.Drain() // handlers see lost and answer unavailable
	}
	t.stopWriting()
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
func (t *term) stopGracefully(subs []*nats.Subscription) {
	t.p.log.Info("stopping: draining requests")
	began := time.Now()
	for _, sub := range subs {
		_ = sub.Drain()
	}
	deadline := began.Add(t.s.cfg.DrainTimeout)
	if err := t.s.nc.FlushTimeout(t.s.cfg.DrainTimeout); err != nil {
		t.p.log.Warn("unsubscribes not confirmed", "err", err)
	}
	for time.Now().Before(deadline) && (anyPending(subs) || t.cat.anyWaiters() || t.skus.waits.Load() > 0 || t.buyerWaits.Load() > 0 || !t.q.idle()) {
		time.Sleep(time.Millisecond)
	}
	t.lost.Store(true)
	t.p.setLeading(false)
	t.stopWriting()

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
	t.ev.publishQueued() // while still leader, so the heir's events come after
	drained := time.Since(began)

	ctx, cancel := context.WithTimeout(context.Background(), t.s.cfg.WriteTimeout)
	defer cancel()
	if len(puts) > 0 {
		start := time.Now()
		committed, err := t.p.store.Commit(ctx, t.lead.Key(), t.w.Fence(), puts, nil)
		// Either outcome is safe: the next leader resumes from the old cap or the exact one.
		t.p.log.Info("trimmed caps to units sold", "skus", len(puts), "committed", committed, "err", err,
			"drain", drained, "trim", time.Since(start))
	}
	if err := t.lead.Resign(ctx); err != nil {
		t.p.log.Warn("resign failed; the lease will expire", "err", err)
		t.lead.End()
	}
}

// failWaiters answers every parked request unavailable, and those that
// wait for a buyer's record.
func (t *term) failWaiters() {
	for _, e := range t.cat.all() {
		e.mu.Lock()
		ws := e.waiters
		e.waiters = nil
		bws := t.takeBuyerWaitsLocked(e)
		e.mu.Unlock()
		for _, w := range ws {
			w.timer.Stop()
			t.finish(w.req, unavailable(e.sku))
		}
		for _, w := range bws {
			t.finish(w.rq, unavailable(e.sku))
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
