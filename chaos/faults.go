package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"syscall"
	"time"
)

// The fault kinds. "The leader" is the responder that leads the most
// partitions (with one partition, the leader), as the responders' GET
// /debug/stats say; the fault hits the partitions it leads.
const (
	// KillLeader: SIGKILL of the leader; it is restarted once each of its
	// partitions grants again.
	KillLeader Kind = "kill9"
	// PauseLeader: SIGSTOP of the leader for TTL+1s to TTL+2s, then SIGCONT.
	PauseLeader Kind = "pause"
	// StopLeader: SIGTERM of the leader (graceful: drain, trim, resign); restarted.
	StopLeader Kind = "term"
	// CutLeader: the leader's connections to every etcd member refused or
	// blackholed for 1s to TTL+2s, then restored.
	CutLeader Kind = "etcd-cut"
	// KillEtcd: SIGKILL of an etcd member (the raft leader half the time)
	// for 1s to 3s, then restarted.
	KillEtcd Kind = "etcd-kill"
	// KillNATS: SIGKILL of a NATS node (the leader's half the time) for 1s
	// to 3s, then restarted. It hits the partitions of the responders
	// connected to it (as its GET /connz says).
	KillNATS Kind = "nats-kill"
	// KillStandby: SIGKILL of the responder that leads the fewest
	// partitions (with one partition, a standby), restarted after 0.2s to
	// 1.5s. With partitions every responder leads some, so this is a
	// crash of a leader too, of fewer partitions, restarted sooner.
	KillStandby Kind = "standby-kill"
)

// AllKinds lists every fault kind.
var AllKinds = []Kind{KillLeader, PauseLeader, StopLeader, CutLeader, KillEtcd, KillNATS, KillStandby}

// LongWeights are how many of each kind a round of a long run holds: the
// quick faults come more often, so that their percentiles rest on more
// samples.
var LongWeights = map[Kind]int{StopLeader: 2, KillEtcd: 2, KillNATS: 2}

func kindOrder(k Kind) int {
	if i := slices.Index(AllKinds, k); i >= 0 {
		return i
	}
	return len(AllKinds)
}

// ParseKinds parses a comma-separated list of kinds; empty means all.
func ParseKinds(s string) ([]Kind, error) {
	if s == "" {
		return AllKinds, nil
	}
	var ks []Kind
	for _, f := range splitComma(s) {
		k := Kind(f)
		if !slices.Contains(AllKinds, k) {
			return nil, fmt.Errorf("chaos: unknown fault kind %q (want one of %v)", f, AllKinds)
		}
		ks = append(ks, k)
	}
	return ks, nil
}

// step is one fault of the schedule with its random parameters, drawn in
// full whatever the kind, so that a seed always yields the same sequence.
type step struct {
	kind Kind
	u    [4]float64
}

// schedule draws the faults: rounds holding every kind weights[k] times
// (at least once), each round shuffled.
type schedule struct {
	rng     *rand.Rand
	kinds   []Kind
	weights map[Kind]int
	bag     []Kind
	rounds  int
}

func newSchedule(seed uint64, kinds []Kind, weights map[Kind]int) *schedule {
	return &schedule{rng: rand.New(rand.NewPCG(seed, 0x6368616f73)), kinds: kinds, weights: weights}
}

func (s *schedule) next() step {
	if len(s.bag) == 0 {
		for _, k := range s.kinds {
			for range max(s.weights[k], 1) {
				s.bag = append(s.bag, k)
			}
		}
		s.rng.Shuffle(len(s.bag), func(i, j int) { s.bag[i], s.bag[j] = s.bag[j], s.bag[i] })
		s.rounds++
	}
	st := step{kind: s.bag[0]}
	s.bag = s.bag[1:]
	for i := range st.u {
		st.u[i] = s.rng.Float64()
	}
	return st
}

// roundDone reports whether the current round has been used up.
func (s *schedule) roundDone() bool { return len(s.bag) == 0 }

func frac(d time.Duration, u float64) time.Duration { return time.Duration(float64(d) * u) }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// inject runs one fault to its end (the fault healed) and returns its
// record; ok is false when it could not be injected (no leader found).
func (r *run) inject(ctx context.Context, st step) (f Fault, ok bool, err error) {
	c, ttl := r.c, r.cfg.LeaseTTL
	f.Kind = st.kind
	wait := 3 * ttl
	if st.kind == KillEtcd {
		wait = time.Second // only recorded
	}
	nparts := max(r.cfg.Partitions, 1)
	leaders, counts, lerr := c.leading(ctx, wait, false)
	if lerr != nil && st.kind != KillEtcd {
		c.event("%s skipped: not every partition has a leader: %v", st.kind, lerr)
		return f, false, nil
	}
	// pick returns a running responder whose count of partitions is the
	// most (or the fewest), drawn by u among those tied.
	pick := func(most bool, u float64) int {
		var cands []int
		for i, p := range c.resp {
			switch {
			case !p.running():
			case len(cands) == 0 || counts[i] == counts[cands[0]]:
				cands = append(cands, i)
			case most == (counts[i] > counts[cands[0]]):
				cands = []int{i}
			}
		}
		return cands[int(u*float64(len(cands)))]
	}
	ledBy := func(i int) []int {
		var ps []int
		for p, l := range leaders {
			if l == i {
				ps = append(ps, p)
			}
		}
		return ps
	}
	leader := -1
	if lerr == nil {
		leader = pick(true, st.u[2])
		f.Leader = c.resp[leader].id
		for _, l := range leaders {
			f.Leaders = append(f.Leaders, c.resp[l].id)
		}
		f.Partitions = ledBy(leader)
	}
	leads := func(i int) string {
		if nparts < 2 {
			return ""
		}
		return fmt.Sprintf("leads %d of %d; ", counts[i], nparts)
	}
	switch st.kind {
	case KillLeader:
		p := c.resp[leader]
		f.Target = p.id
		f.Detail = strings.TrimSuffix(leads(leader), "; ")
		f.At = r.now()
		if err := p.signal(syscall.SIGKILL, true); err != nil {
			return f, false, err
		}
		p.wait(5 * time.Second)
		if !r.waitGrantSentAfter(ctx, f.Partitions, f.At, 4*ttl+5*time.Second) {
			c.event("%s of %s: not every partition it led granted within %v", st.kind, p.id, 4*ttl+5*time.Second)
		}
		if err := sleepCtx(ctx, frac(time.Second, st.u[1])); err != nil {
			return f, true, err
		}
		f.Healed = r.now()
		if err := c.startResponder(ctx, leader); err != nil {
			return f, true, err
		}

	case PauseLeader:
		p := c.resp[leader]
		f.Target = p.id
		hold := ttl + time.Second + frac(time.Second, st.u[1])
		f.Detail = fmt.Sprintf("%sstopped %v", leads(leader), hold.Round(time.Millisecond))
		f.At = r.now()
		if err := p.signal(syscall.SIGSTOP, false); err != nil {
			return f, false, err
		}
		serr := sleepCtx(ctx, hold)
		if err := p.signal(syscall.SIGCONT, false); err != nil {
			return f, true, err
		}
		f.Healed = r.now()
		if serr != nil {
			return f, true, serr
		}

	case StopLeader:
		p := c.resp[leader]
		f.Target = p.id
		f.At = r.now()
		graceful, err := p.stopGracefully(15 * time.Second)
		if err != nil {
			return f, true, err
		}
		if !graceful {
			f.Detail = leads(leader) + "did not exit within 15s after SIGTERM; killed"
			c.event("%s of %s: %s", st.kind, p.id, f.Detail)
		} else {
			f.Detail = fmt.Sprintf("%sexited after %v", leads(leader), (r.now() - f.At).Round(time.Millisecond))
		}
		f.Healed = r.now()
		if err := c.startResponder(ctx, leader); err != nil {
			return f, true, err
		}

	case CutLeader:
		p := c.resp[leader]
		f.Target = p.id
		how := cutRefuse
		if st.u[0] >= 0.5 {
			how = cutBlackhole
		}
		hold := time.Second + frac(ttl+time.Second, st.u[1])
		f.Detail = fmt.Sprintf("%s%s %v", leads(leader), how, hold.Round(time.Millisecond))
		f.At = r.now()
		if err := c.cutEtcd(leader, how); err != nil {
			return f, false, err
		}
		serr := sleepCtx(ctx, hold)
		if err := c.healEtcd(ctx, leader); err != nil {
			return f, true, err
		}
		f.Healed = r.now()
		if serr != nil {
			return f, true, serr
		}

	case KillEtcd:
		i := int(st.u[2] * Size)
		role := "follower"
		if st.u[0] < 0.5 {
			if l := c.etcdLeader(ctx); l >= 0 {
				i, role = l, "raft leader"
			}
		} else if i == c.etcdLeader(ctx) {
			role = "raft leader"
		}
		m := c.etcd[i]
		f.Target = m.name
		f.Partitions = nil
		for p := range nparts {
			f.Partitions = append(f.Partitions, p)
		}
		hold := time.Second + frac(2*time.Second, st.u[1])
		f.Detail = fmt.Sprintf("%s, down %v", role, hold.Round(time.Millisecond))
		f.At = r.now()
		if err := m.kill(); err != nil {
			return f, false, err
		}
		serr := sleepCtx(ctx, hold)
		f.Healed = r.now()
		if err := m.start(); err != nil {
			return f, true, err
		}
		if err := c.waitEtcd(ctx, i, 30*time.Second); err != nil {
			return f, true, err
		}
		if serr != nil {
			return f, true, serr
		}

	case KillNATS:
		on := c.natsNodes(ctx)
		node := func(j int) int {
			if on[j] >= 0 {
				return on[j]
			}
			return c.resp[j].nats
		}
		i := int(st.u[2] * Size)
		role := "other"
		if st.u[0] < 0.5 || i == node(leader) {
			i, role = node(leader), "the leader's"
		}
		n := c.nats[i]
		f.Target = n.name
		f.Partitions = nil
		var there []string
		for j, p := range c.resp {
			if node(j) == i {
				f.Partitions = append(f.Partitions, ledBy(j)...)
				there = append(there, p.id)
			}
		}
		slices.Sort(f.Partitions)
		if len(there) > 0 {
			role += " (" + strings.Join(there, ", ") + " on it)"
		}
		hold := time.Second + frac(2*time.Second, st.u[1])
		f.Detail = fmt.Sprintf("%s, down %v", role, hold.Round(time.Millisecond))
		f.At = r.now()
		if err := n.kill(); err != nil {
			return f, false, err
		}
		serr := sleepCtx(ctx, hold)
		f.Healed = r.now()
		if err := n.start(); err != nil {
			return f, true, err
		}
		if err := c.waitNATS(ctx, i, 20*time.Second); err != nil {
			return f, true, err
		}
		if serr != nil {
			return f, true, serr
		}

	case KillStandby:
		i := pick(false, st.u[2])
		if i == leader && nparts < 2 {
			c.event("%s skipped: no standby runs", st.kind)
			return f, false, nil
		}
		p := c.resp[i]
		f.Target = p.id
		f.Partitions = ledBy(i)
		hold := 200*time.Millisecond + frac(1300*time.Millisecond, st.u[1])
		f.Detail = fmt.Sprintf("%sdown %v", leads(i), hold.Round(time.Millisecond))
		f.At = r.now()
		if err := p.kill(); err != nil {
			return f, false, err
		}
		serr := sleepCtx(ctx, hold)
		f.Healed = r.now()
		if err := c.startResponder(ctx, i); err != nil {
			return f, true, err
		}
		if serr != nil {
			return f, true, serr
		}

	default:
		return f, false, fmt.Errorf("chaos: unknown fault kind %q", st.kind)
	}
	return f, true, nil
}
