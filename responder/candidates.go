package responder

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/election"
)

// LeaderWatch lets a standby see the election queue and end the leases of
// candidates whose processes are gone.
type LeaderWatch interface {
	// Candidates returns up to limit keys of the election queue, the
	// leader first.
	Candidates(ctx context.Context, limit int64) ([]election.Candidate, error)
	// RevokeLease ends a lease at once.
	RevokeLease(ctx context.Context, lease int64) error
}

// watchedCandidates bounds how many keys of the queue a standby probes.
const watchedCandidates = 8

// standbyProbeFactor: a standby's key is revoked only after this many times
// ProbeFailures probes in a row found its process gone. Nothing waits on a
// standby, so a slower verdict costs little and misfires less.
const standbyProbeFactor = 3

// watchCandidates runs while this node campaigns: from ProbeWarmup after
// the node started, every ProbeInterval it probes the process of every
// other key in the election queue, the leader and the standbys ahead of or
// behind it, and once enough probes in a row of one key got "no responders"
// (the process is gone, not paused), revokes that key's lease. A dead leader
// is so replaced without waiting for its TTL, and a dead standby's key never
// becomes leader for a graceful handoff to wait on. A timeout, or any other
// error, resets the key's count. Safety does not depend on it: a wrongly
// revoked leader sees its key deleted and stops serving at once (its writes
// would fail their fence anyway).
func (s *Server) watchCandidates(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Until(s.started.Add(s.cfg.ProbeWarmup))):
	}
	tick := time.NewTicker(s.cfg.ProbeInterval)
	defer tick.Stop()
	failed := make(map[int64]int) // lease -> probes in a row with no responders
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		lctx, cancel := context.WithTimeout(ctx, s.cfg.ProbeInterval)
		cands, err := s.cfg.Watch.Candidates(lctx, watchedCandidates)
		cancel()
		if err != nil {
			clear(failed)
			continue
		}
		gone := s.probeAll(cands)
		next := make(map[int64]int, len(gone))
		for _, c := range gone {
			need := s.cfg.ProbeFailures
			if c.Lease != cands[0].Lease {
				need *= standbyProbeFactor
			}
			if n := failed[c.Lease] + 1; n < need {
				next[c.Lease] = n
				continue
			}
			s.revoke(ctx, c)
		}
		failed = next
	}
}

// probeAll probes the processes of cands other than this one, at once, and
// returns those that got "no responders".
func (s *Server) probeAll(cands []election.Candidate) []election.Candidate {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		gone []election.Candidate
	)
	for _, c := range cands {
		instance := instanceOf(c.Value)
		if c.Lease == 0 || instance == "" || instance == s.cfg.Instance {
			continue
		}
		wg.Go(func() {
			_, err := s.nc.Request(s.probeSubject(instance), nil, s.cfg.ProbeInterval)
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
func (s *Server) revoke(ctx context.Context, c election.Candidate) {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
	err := s.cfg.Watch.RevokeLease(rctx, c.Lease)
	cancel()
	if err != nil {
		s.log.Warn("candidate's process is gone; revoking its lease failed", "candidate", c.Value, "lease", c.Lease, "err", err)
		return
	}
	s.counters.revoked.Add(1)
	s.log.Warn("candidate's process is gone; revoked its lease", "candidate", c.Value, "lease", c.Lease)
}
