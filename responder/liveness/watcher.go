package liveness

import (
	"context"
	"errors"
	"log/slog"
	"slices"
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

// watchedCandidates bounds how many keys of each queue are probed.
const watchedCandidates = 8

// StandbyFactor: a process that leads nothing has its keys revoked only
// after this many times Watcher.Failures probes in a row found it gone.
// Nothing waits on a standby, so a slower verdict costs little and misfires
// less.
const StandbyFactor = 3

// Watcher probes the processes of the other candidates of one or more
// elections (one per partition) and revokes the leases of those whose
// processes are gone.
type Watcher struct {
	NC       *nats.Conn
	Queues   []Queue       // one per election; a nil entry is skipped
	Prefix   string        // of the probe subjects (Subject)
	Self     string        // this process's instance, never probed
	ID       string        // this node's id: keys under it of other instances are of earlier processes; "": none
	Start    time.Time     // probing begins Warmup after it
	Warmup   time.Duration // lets the other processes subscribe to their probe subjects first
	Interval time.Duration // between rounds; also each probe's timeout
	Failures int           // probes in a row with no responders that revoke a leader's leases
	Timeout  time.Duration // of one revoke
	Log      *slog.Logger
	Revoked  func() // called after each lease it revoked; may be nil
	// View, if set, is called after each round on the Watcher's goroutine
	// with the queues as read (nil for a queue that could not be read) and
	// the instances whose process answered its probe this round.
	View func(queues [][]election.Candidate, answered map[string]bool)
}

// Run runs until ctx ends: every Interval it reads every queue and probes,
// once each, the processes of all their keys other than this one's; from
// Warmup after Start on, once enough probes in a row of one process got "no
// responders" (it is gone, not paused), it revokes the leases of all of
// that process's keys, those it leads with first. A dead leader is so
// replaced without waiting for its TTL, and a dead standby's key never
// becomes leader for a graceful handoff to wait on. A timeout, or any other
// error, resets the process's count. Before Warmup has passed, probes only
// find who answers (a NATS server may not know every subscription of its
// cluster yet, and answer "no responders" for a live process), and the
// keys of an earlier process of this node (ID, another instance: one that
// this process replaces) are revoked at once. Safety does not depend on
// any of it: a wrongly revoked leader sees its key deleted and stops
// serving at once (its writes would fail their fence anyway).
func (w *Watcher) Run(ctx context.Context) {
	warm := w.Start.Add(w.Warmup)
	tick := time.NewTicker(w.Interval)
	defer tick.Stop()
	failed := make(map[string]int) // instance -> probes in a row with no responders
	replaced := false
	for {
		queues := w.read(ctx)
		if !replaced && w.ID != "" && !slices.ContainsFunc(queues, func(q []election.Candidate) bool { return q == nil }) {
			w.revokeEarlier(ctx, queues)
			replaced = true
		}
		gone, answered := w.probeAll(queues)
		next := make(map[string]int, len(gone))
		for instance := range gone {
			if time.Now().Before(warm) {
				break
			}
			need := w.Failures
			if !leadsAny(queues, instance) {
				need *= StandbyFactor
			}
			if n := failed[instance] + 1; n < need {
				next[instance] = n
				continue
			}
			w.revokeAll(ctx, queues, instance)
		}
		failed = next
		if w.View != nil {
			w.View(queues, answered)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// revokeEarlier revokes the keys of every other process that campaigns
// under this node's ID: earlier processes of this node, which this one
// replaces (a node's ID is its own; a restarted process keeps it).
func (w *Watcher) revokeEarlier(ctx context.Context, queues [][]election.Candidate) {
	earlier := map[string]bool{}
	for _, cands := range queues {
		for _, c := range cands {
			if instance := InstanceOf(c.Value); instance != w.Self && IDOf(c.Value) == w.ID {
				earlier[instance] = true
			}
		}
	}
	for instance := range earlier {
		w.Log.Warn("revoking the keys of an earlier process of this node", "instance", instance)
		w.revokeAll(ctx, queues, instance)
	}
}

// read reads every queue: when they are electors of one client, in
// transactions of many queues (election.CandidatesOf), else each on its
// own, at once.
func (w *Watcher) read(ctx context.Context) [][]election.Candidate {
	out := make([][]election.Candidate, len(w.Queues))
	if es, ok := electors(w.Queues); ok {
		lctx, cancel := context.WithTimeout(ctx, w.Interval)
		defer cancel()
		if qs, err := election.CandidatesOf(lctx, watchedCandidates, es); err == nil {
			for i, q := range qs {
				out[i] = append([]election.Candidate{}, q...) // not nil: read
			}
		}
		return out
	}
	var wg sync.WaitGroup
	for i, q := range w.Queues {
		if q == nil {
			continue
		}
		wg.Go(func() {
			lctx, cancel := context.WithTimeout(ctx, w.Interval)
			defer cancel()
			if cands, err := q.Candidates(lctx, watchedCandidates); err == nil {
				out[i] = append([]election.Candidate{}, cands...) // not nil: read
			}
		})
	}
	wg.Wait()
	return out
}

// electors returns queues as electors, if each is one and they share a
// client.
func electors(queues []Queue) ([]*election.Elector, bool) {
	es := make([]*election.Elector, len(queues))
	for i, q := range queues {
		e, ok := q.(*election.Elector)
		if !ok || e == nil || i > 0 && !e.SameClient(es[0]) {
			return nil, false
		}
		es[i] = e
	}
	return es, len(es) > 1
}

// leadsAny reports whether instance holds the first key of any queue.
func leadsAny(queues [][]election.Candidate, instance string) bool {
	for _, cands := range queues {
		if len(cands) > 0 && InstanceOf(cands[0].Value) == instance {
			return true
		}
	}
	return false
}

// probeAll probes, at once, the process of every instance in queues other
// than this one, and returns those that got "no responders" and those that
// answered.
func (w *Watcher) probeAll(queues [][]election.Candidate) (gone, answered map[string]bool) {
	instances := make(map[string]bool)
	for _, cands := range queues {
		for _, c := range cands {
			if instance := InstanceOf(c.Value); c.Lease != 0 && instance != "" && instance != w.Self {
				instances[instance] = true
			}
		}
	}
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	gone, answered = make(map[string]bool), make(map[string]bool)
	for instance := range instances {
		wg.Go(func() {
			_, err := w.NC.Request(Subject(w.Prefix, instance), nil, w.Interval)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				answered[instance] = true
			case errors.Is(err, nats.ErrNoResponders):
				gone[instance] = true
			}
		})
	}
	wg.Wait()
	return gone, answered
}

// revokeAll ends the leases of every key of instance, whose process is
// gone: first those of the queues it leads.
func (w *Watcher) revokeAll(ctx context.Context, queues [][]election.Candidate, instance string) {
	for _, leading := range []bool{true, false} {
		for i, cands := range queues {
			for j, c := range cands {
				if InstanceOf(c.Value) == instance && (j == 0) == leading {
					w.revoke(ctx, w.Queues[i], c)
				}
			}
		}
	}
}

// revoke ends the lease of a candidate whose process is gone.
func (w *Watcher) revoke(ctx context.Context, q Queue, c election.Candidate) {
	rctx, cancel := context.WithTimeout(ctx, w.Timeout)
	err := q.RevokeLease(rctx, c.Lease)
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
