package loadgen

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/nats-io/nats.go"
)

// PhaseResult is what one measurement phase observed.
type PhaseResult struct {
	Name    string
	Elapsed time.Duration // from the first request to the last reply
	Counts  Counts
	Hist    *hdr.Histogram // latency in microseconds, of replies that came in time
	Ledger  *Ledger        // nil when the phase does not record grants
	SendErr error          // first failed publish, if any
}

// Throughput is replies per second (acquires answered, with -batch).
func (r *PhaseResult) Throughput() float64 { return r.perSecond(r.Counts.Replies()) }

// perSecond is n over the phase's elapsed time.
func (r *PhaseResult) perSecond(n int64) float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(n) / r.Elapsed.Seconds()
}

// runPhase runs one phase over conns (one worker per connection) and waits
// until every request has ended. Cancelling ctx stops new requests; those in
// flight still get their reply or time out. progress, when not nil, gets a
// line every interval.
func runPhase(ctx context.Context, ph *phase, conns []*nats.Conn, progress io.Writer, interval time.Duration) (*PhaseResult, error) {
	ph.haltc = make(chan struct{})
	workers := make([]*worker, 0, len(conns))
	unsubscribe := func() {
		for _, w := range workers {
			_ = w.sub.Unsubscribe()
		}
	}
	for i, nc := range conns {
		w, err := newWorker(ph, nc, i, len(conns))
		if err != nil {
			unsubscribe()
			return nil, fmt.Errorf("loadgen: subscribe to replies: %w", err)
		}
		workers = append(workers, w)
	}
	// The server must know the inboxes before the first request goes out.
	for _, nc := range conns {
		if err := nc.FlushTimeout(ph.timeout + 5*time.Second); err != nil {
			unsubscribe()
			return nil, fmt.Errorf("loadgen: flush: %w", err)
		}
	}

	ph.start = time.Now()
	quit := make(chan struct{})
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Go(func() { w.sweepLoop(quit) })
		if ph.closed {
			w.startClosed(slotsOf(ph.c, len(workers), i))
		} else {
			wg.Go(func() { w.schedule(i, len(workers), quit) })
		}
	}
	if progress != nil && interval > 0 {
		wg.Go(func() { progressLoop(ph, workers, progress, interval, quit) })
	}

	waitDrained(ctx, ph, workers)
	close(quit)
	wg.Wait()
	unsubscribe()

	res := &PhaseResult{Name: ph.name, Hist: newHist()}
	for _, w := range workers {
		w.snapshot(&res.Counts, res.Hist)
		res.Elapsed = max(res.Elapsed, w.lastReply)
		if res.SendErr == nil {
			res.SendErr = w.sendErr
		}
		if w.ledger != nil {
			if res.Ledger == nil {
				res.Ledger = w.ledger
			} else {
				res.Ledger.Merge(w.ledger)
			}
		}
	}
	if res.Elapsed == 0 {
		res.Elapsed = ph.since()
	}
	if ctx.Err() != nil {
		return res, fmt.Errorf("loadgen: phase %s interrupted: %w", ph.name, context.Cause(ctx))
	}
	return res, nil
}

// waitDrained waits until every worker is done. If ctx ends first, the phase
// halts and gets the timeout (and a second) to drain; what is still in flight
// then counts as timed out.
func waitDrained(ctx context.Context, ph *phase, workers []*worker) {
	ctxDone := ctx.Done()
	var force <-chan time.Time
	for _, w := range workers {
		for waiting := true; waiting; {
			select {
			case <-w.done:
				waiting = false
			case <-ctxDone:
				ctxDone = nil
				ph.halt()
				t := time.NewTimer(ph.timeout + time.Second)
				defer t.Stop()
				force = t.C
			case <-force:
				for _, w := range workers {
					w.expireAll()
				}
			}
		}
	}
}

// progressLoop writes a progress line every interval until quit closes: the
// reply rate over the last interval and the totals so far.
func progressLoop(ph *phase, workers []*worker, out io.Writer, interval time.Duration, quit <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	h := newHist()
	var prev int64
	prevAt := time.Duration(0)
	for {
		select {
		case <-quit:
			return
		case <-t.C:
		}
		h.Reset()
		var c Counts
		for _, w := range workers {
			w.snapshot(&c, h)
		}
		now := ph.since()
		replies := c.Replies()
		rate := float64(replies-prev) / (now - prevAt).Seconds()
		prev, prevAt = replies, now
		unit := "req/s"
		if ph.batch > 0 {
			unit = "acquires/s"
		}
		fmt.Fprintf(out, "%-5s %6.1fs %9.0f %s  replies %d  errors %d  no_responders %d  timeouts %d  p99 %s\n",
			ph.name, now.Seconds(), rate, unit, replies, c.Errors()-c.Kinds[KindNoResponders]-c.Kinds[KindTimeout],
			c.Kinds[KindNoResponders], c.Kinds[KindTimeout], fmtMicros(h.ValueAtQuantile(99)))
	}
}

// fmtMicros formats a latency in microseconds for people.
func fmtMicros(us int64) string {
	switch {
	case us < 1000:
		return fmt.Sprintf("%dµs", us)
	case us < 1_000_000:
		return fmt.Sprintf("%.2fms", float64(us)/1e3)
	}
	return fmt.Sprintf("%.3fs", float64(us)/1e6)
}
