package writer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/stock"
)

// ErrFenced ends a writer whose write the store refused on the fence.
var ErrFenced = errors.New("writer: fenced write refused: not leader")

// Config tunes a Writer.
type Config struct {
	// Coalesce is the least time between two rounds that only refill ahead
	// of demand; a hurried round starts at once.
	Coalesce time.Duration
	// WriteTimeout bounds one write attempt.
	WriteTimeout time.Duration
	// KeyBudget is the store key writes per second that refills aim to stay
	// under; Policy is scaled up to meet it.
	KeyBudget int
	Policy    stock.Policy
	Log       *slog.Logger
	// Depth is how many rounds may be written at once (0 means 1). The
	// planner keeps the keys of rounds in flight disjoint (Planner).
	Depth int
	// Observe, if set, is called after every write attempt, from the
	// goroutine writing the round: up to Depth at once.
	Observe func(took time.Duration, records int, committed bool, err error)
}

// Writer is the goroutine that plans a term's rounds and writes up to
// Config.Depth of them at once; writes of one key are ordered, since the
// planner keeps rounds in flight on disjoint keys. Nothing waits for the
// store unless the planner says it is hurried: refills ahead of demand are
// coalesced, at most one such round per Config.Coalesce.
//
// A write the fence refused stops the writer with ErrFenced. A write whose
// outcome is unknown is written again, the same, behind a moved fence, until
// it is known to have landed (see commit); if the lease ends first, the
// writer stops with the last error. Either way Done closes and Err says why.
type Writer struct {
	cfg     Config
	store   Store
	lease   Lease
	planner Planner
	kick    chan struct{} // capacity 1: work is queued

	cancel context.CancelFunc
	done   chan struct{} // closed when the goroutine returns
	err    error         // why it returned; read after done

	budget keyBudget    // writer goroutine only
	write  atomic.Int64 // moving average of successful write times, in nanoseconds
	fence  atomic.Int64 // the leader key's mod revision every write compares
}

// Start starts the writer of lease's term; Close stops it.
func Start(cfg Config, store Store, lease Lease, planner Planner) *Writer {
	ctx, cancel := context.WithCancel(context.Background())
	w := &Writer{
		cfg: cfg, store: store, lease: lease, planner: planner,
		kick: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{}),
		budget: keyBudget{perSecond: cfg.KeyBudget},
	}
	w.fence.Store(lease.Rev())
	go func() {
		defer close(w.done)
		w.err = w.run(ctx)
	}()
	return w
}

// Wake tells the writer that work is queued. It never blocks.
func (w *Writer) Wake() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Done closes when the writer has stopped, by Close or by a write that
// ended the term.
func (w *Writer) Done() <-chan struct{} { return w.done }

// Err is why the writer stopped: nil while it runs and after a Close
// between rounds, else the reason its last write ended the term.
func (w *Writer) Err() error {
	select {
	case <-w.done:
		return w.err
	default:
		return nil
	}
}

// Close stops the writer between rounds (or cuts the retries of a write in
// doubt) and waits for it. Safe to call more than once.
func (w *Writer) Close() {
	w.cancel()
	<-w.done
}

// Fence is the leader key's mod revision that writes compare. Once the
// writer has stopped it is the fence of its last write.
func (w *Writer) Fence() int64 { return w.fence.Load() }

// run plans rounds and writes up to Config.Depth of them at once, each on
// a goroutine of its own; their outcomes come back to this goroutine,
// which applies or abandons them in the order they end. After a write
// that ends the term, or Close, it plans nothing more and waits for the
// rounds in flight, applying those that landed (their keys are disjoint
// from the failed one's, and their answers true).
func (w *Writer) run(ctx context.Context) error {
	coalesce := time.NewTimer(time.Hour)
	coalesce.Stop()
	defer coalesce.Stop()
	depth := max(w.cfg.Depth, 1)
	ended := make(chan written, depth)
	inflight := 0
	stalled := false // the last plan, made with rounds in flight, wrote nothing: wait for one to end
	var failed error
	var last time.Time
	for {
		if failed != nil || ctx.Err() != nil {
			for ; inflight > 0; inflight-- {
				if err := w.finish(<-ended); failed == nil {
					failed = err
				}
			}
			return failed
		}
		select {
		case <-ctx.Done():
			continue
		case r := <-ended:
			inflight--
			stalled = false
			if failed = w.finish(r); failed != nil {
				continue
			}
		case <-w.kick:
		case <-coalesce.C:
		}
		if inflight >= depth || stalled {
			continue
		}
		if wait := w.cfg.Coalesce - time.Since(last); wait > 0 && !w.planner.Hurried() {
			coalesce.Reset(wait)
			continue
		}
		last = time.Now()
		p, writes, more, err := w.plan(last)
		switch {
		case err != nil:
			failed = err
			continue
		case p == nil:
			stalled = inflight > 0
		default:
			inflight++
			go func() {
				start := time.Now()
				committed, err := w.commit(ctx, writes)
				ended <- written{p: p, records: writes.Len(), took: time.Since(start), committed: committed, err: err}
			}()
		}
		if more && !stalled {
			w.Wake()
		}
	}
}

// written is the outcome of one round's write.
type written struct {
	p         Plan
	records   int
	took      time.Duration
	committed bool
	err       error
}

// plan plans one round. A round that writes nothing is applied at once and
// p is nil; more reports work left for another round.
func (w *Writer) plan(now time.Time) (p Plan, writes capstore.Writes, more bool, err error) {
	p, more, err = w.planner.Plan(now, w.budget.policy(w.cfg.Policy, now), w.Fence())
	if err != nil {
		return nil, writes, false, err
	}
	writes = p.Records()
	if writes.Len() == 0 {
		p.Applied(0)
		return nil, writes, more, nil
	}
	w.budget.spend(writes.Len(), now)
	return p, writes, more, nil
}

// finish applies a round that landed, or abandons one that did not and
// returns why the writer stops.
func (w *Writer) finish(r written) error {
	switch {
	case r.err != nil:
		r.p.Abandoned()
		return fmt.Errorf("writer: write of %d records, outcome unknown: %w", r.records, r.err)
	case !r.committed:
		r.p.Abandoned()
		return ErrFenced
	}
	r.p.Applied(r.took)
	return nil
}
