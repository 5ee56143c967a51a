package responder

import (
	"context"
	"errors"
	"strings"
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

// CandidateValue is what a node campaigns with: its id and its process
// instance, so a standby can probe the very process that leads (a restarted
// process reuses its id, never its instance).
func CandidateValue(id, instance string) string { return id + "#" + instance }

// instanceOf returns the instance of a candidate value, or "".
func instanceOf(value string) string {
	if i := strings.LastIndexByte(value, '#'); i >= 0 {
		return value[i+1:]
	}
	return ""
}

// probeSubject is where the process with instance answers probes, from its
// start to its end, whether or not it leads.
func (s *Server) probeSubject(instance string) string {
	return s.cfg.Prefix + ".probe." + instance
}

// answerProbes subscribes to this process's probe subject, and flushes so
// that its NATS server has the subscription before the process campaigns
// (a failed flush is logged: the subscription is sent on reconnect).
// NATS drops the subscription when the process dies and its connection
// closes, so that probes then get "no responders" at once; a paused process
// keeps it, and its probes time out instead.
func (s *Server) answerProbes() (*nats.Subscription, error) {
	body := quote(s.cfg.ID)
	sub, err := s.nc.Subscribe(s.probeSubject(s.cfg.Instance), func(m *nats.Msg) {
		if m.Reply != "" {
			_ = s.nc.Publish(m.Reply, body)
		}
	})
	if err != nil {
		return nil, err
	}
	if err := s.nc.FlushTimeout(s.cfg.WriteTimeout); err != nil {
		s.log.Warn("probe subscription not confirmed by NATS yet", "err", err)
	}
	return sub, nil
}

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
	s.counters.revoked.Add(1)
	s.log.Warn("candidate's process is gone; revoked its lease", "candidate", c.Value, "lease", c.Lease, "err", err)
}
