package writer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

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
	// Observe, if set, is called after every write attempt, from the writer
	// goroutine.
	Observe func(took time.Duration, records int, committed bool, err error)
}

// Writer is the goroutine that writes a term's rounds, so its writes are
// ordered. Nothing waits for the store unless the planner says it is
// hurried: refills ahead of demand are coalesced, at most one such round per
// Config.Coalesce.
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

	budget keyBudget     // writer goroutine only
	write  time.Duration // moving average of successful write times; writer goroutine only
	fence  atomic.Int64  // the leader key's mod revision every write compares
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

func (w *Writer) run(ctx context.Context) error {
	coalesce := time.NewTimer(time.Hour)
	coalesce.Stop()
	defer coalesce.Stop()
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.kick:
		case <-coalesce.C:
		}
		if wait := w.cfg.Coalesce - time.Since(last); wait > 0 && !w.planner.Hurried() {
			coalesce.Reset(wait)
			continue
		}
		last = time.Now()
		more, err := w.round(ctx)
		if err != nil {
			return err
		}
		if more {
			w.Wake()
		}
	}
}

// round plans, writes and applies one round, and reports whether work
// remains.
func (w *Writer) round(ctx context.Context) (more bool, err error) {
	now := time.Now()
	p, more, err := w.planner.Plan(now, w.budget.policy(w.cfg.Policy, now), w.Fence())
	if err != nil {
		return false, err
	}
	writes := p.Records()
	records := writes.Len()
	if records == 0 {
		p.Applied(0)
		return more, nil
	}
	w.budget.spend(records, now)

	start := time.Now()
	committed, err := w.commit(ctx, writes)
	switch {
	case err != nil:
		p.Abandoned()
		return false, fmt.Errorf("writer: write of %d records, outcome unknown: %w", records, err)
	case !committed:
		p.Abandoned()
		return false, ErrFenced
	}
	p.Applied(time.Since(start))
	return more, nil
}
