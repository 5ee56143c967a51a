package responder

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// LeaderWatch lets a standby find the leader's lease and end it.
type LeaderWatch interface {
	// LeaderLease returns the leader's candidate value and lease ("" and 0
	// if nobody leads).
	LeaderLease(ctx context.Context) (value string, lease int64, err error)
	// RevokeLease ends a lease at once.
	RevokeLease(ctx context.Context, lease int64) error
}

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

// answerProbes subscribes to this process's probe subject. NATS drops the
// subscription when the process dies and its connection closes, so that
// probes then get "no responders" at once; a paused process keeps it, and
// its probes time out instead.
func (s *Server) answerProbes() (*nats.Subscription, error) {
	body := quote(s.cfg.ID)
	return s.nc.Subscribe(s.probeSubject(s.cfg.Instance), func(m *nats.Msg) {
		if m.Reply != "" {
			_ = s.nc.Publish(m.Reply, body)
		}
	})
}

// watchLeader runs while this node campaigns: it probes the leader's
// process every ProbeInterval and, once ProbeFailures probes in a row got
// "no responders" (the process is gone, not paused), revokes the leader's
// lease so that a standby leads without waiting for the TTL. A timeout, or
// any other error, resets the count. Safety does not depend on it: if it
// misfires, the revoked leader's writes fail their fence and it stops
// serving when its keepalives fail.
func (s *Server) watchLeader(ctx context.Context) {
	w := s.cfg.Watch
	tick := time.NewTicker(s.cfg.ProbeInterval)
	defer tick.Stop()
	var failed int
	var suspect int64 // the lease the failures were counted against
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		lctx, cancel := context.WithTimeout(ctx, s.cfg.ProbeInterval)
		value, lease, err := w.LeaderLease(lctx)
		cancel()
		instance := instanceOf(value)
		if err != nil || lease == 0 || instance == "" || instance == s.cfg.Instance {
			failed = 0
			continue
		}
		if lease != suspect {
			suspect, failed = lease, 0
		}
		_, err = s.nc.Request(s.probeSubject(instance), nil, s.cfg.ProbeInterval)
		if !errors.Is(err, nats.ErrNoResponders) {
			failed = 0
			continue
		}
		if failed++; failed < s.cfg.ProbeFailures {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
		err = w.RevokeLease(rctx, lease)
		cancel()
		s.counters.revoked.Add(1)
		s.log.Warn("leader process is gone; revoked its lease", "leader", value, "lease", lease, "err", err)
		failed = 0
	}
}
