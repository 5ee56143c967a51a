package liveness

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/election"
)

// Queue lets a standby see the election queue and end the leases of
// candidates whose processes are gone.
type Queue interface {
	// Candidates returns up to limit keys of the election queue, the
	// leader first.
	Candidates(ctx context.Context, limit int64) ([]election.Candidate, error)
	// RevokeLease ends a lease at once.
	RevokeLease(ctx context.Context, lease int64) error
}

// watchedCandidates bounds how many keys of the queue a standby probes.
const watchedCandidates = 8

// StandbyFactor: a standby's key is revoked only after this many times
// Watcher.Failures probes in a row found its process gone. Nothing waits on
// a standby, so a slower verdict costs little and misfires less.
const StandbyFactor = 3

// Watcher probes the other candidates of an election and revokes the leases
// of those whose processes are gone.
type Watcher struct {
	NC       *nats.Conn
	Queue    Queue
	Prefix   string        // of the probe subjects (Subject)
	Self     string        // this process's instance, never probed
	Start    time.Time     // probing begins Warmup after it
	Warmup   time.Duration // lets the other processes subscribe to their probe subjects first
	Interval time.Duration // between rounds; also each probe's timeout
	Failures int           // probes in a row with no responders that revoke a leader's lease
	Timeout  time.Duration // of one revoke
	Log      *slog.Logger
	Revoked  func() // called after each lease it revoked; may be nil
}

// Run runs until ctx ends: from Warmup after Start, every Interval it probes
// the process of every other key in the election queue, the leader and the
// standbys ahead of or behind this one, and once enough probes in a row of
// one key got "no responders" (the process is gone, not paused), revokes
// that key's lease. A dead leader is so replaced without waiting for its
// TTL, and a dead standby's key never becomes leader for a graceful handoff
// to wait on. A timeout, or any other error, resets the key's count. Safety
// does not depend on it: a wrongly revoked leader sees its key deleted and
// stops serving at once (its writes would fail their fence anyway).
func (w *Watcher) Run(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Until(w.Start.Add(w.Warmup))):
	}
	tick := time.NewTicker(w.Interval)
	defer tick.Stop()
	failed := make(map[int64]int) // lease -> probes in a row with no responders
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		lctx, cancel := context.WithTimeout(ctx, w.Interval)
		cands, err := w.Queue.Candidates(lctx, watchedCandidates)
		cancel()
		if err != nil {
			clear(failed)
			continue
		}
		gone := w.probeAll(cands)
		next := make(map[int64]int, len(gone))
		for _, c := range gone {
			need := w.Failures
			if c.Lease != cands[0].Lease {
				need *= StandbyFactor
			}
			if n := failed[c.Lease] + 1; n < need {
				next[c.Lease] = n
				continue
			}
			w.revoke(ctx, c)
		}
		failed = next
	}
}

// probeAll probes the processes of cands other than this one, at once, and
// returns those that got "no responders".
func (w *Watcher) probeAll(cands []election.Candidate) []election.Candidate {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		gone []election.Candidate
	)
	for _, c := range cands {
		instance := instanceOf(c.Value)
		if c.Lease == 0 || instance == "" || instance == w.Self {
			continue
		}
		wg.Go(func() {
			_, err := w.NC.Request(Subject(w.Prefix, instance), nil, w.Interval)
			if errors.Is(err, nats.ErrNoResponders) {
				mu.Lock()
				gone = append(gone, c)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return gone
}

// revoke ends the lease of a candidate whose process is gone.
func (w *Watcher) revoke(ctx context.Context, c election.Candidate) {
	rctx, cancel := context.WithTimeout(ctx, w.Timeout)
	err := w.Queue.RevokeLease(rctx, c.Lease)
	cancel()
	if err != nil {
		w.Log.Warn("candidate's process is gone; revoking its lease failed", "candidate", c.Value, "lease", c.Lease, "err", err)
		return
	}
	if w.Revoked != nil {
		w.Revoked()
	}
	w.Log.Warn("candidate's process is gone; revoked its lease", "candidate", c.Value, "lease", c.Lease)
}
