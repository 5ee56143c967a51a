package responder

import (
	"cmp"
	"hash/fnv"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/stockstate/stock/election"
	"github.com/stockstate/stock/responder/liveness"
)

// Leadership of the partitions spreads over the responders by etcd's
// elections alone: every responder campaigns for every partition, and the
// first key of a partition's queue leads it. The balancer of each responder
// evens the counts out from what the watcher reads each round, by two
// moves that lose nothing:
//
//   - yield: a leader that leads at least two more partitions than the
//     standby next in a partition's queue (and more than its share, or the
//     standby less: planBalance) hands that partition over gracefully
//     (drain, trim, resign: the next one leads within a round trip), first
//     those it still loads (nothing to trim, and the heir loads them once),
//     then its most recently won, so that partitions that serve long are
//     not the ones that move;
//   - requeue: a standby that stands in a queue ahead of a responder that
//     would be a better heir while it is not goes to the back of that
//     queue, so that the better heir becomes next.
//
// Once the counts are even, requeues also spread the succession: each
// leader's partitions name their heirs from the other responders in turn
// (heirs), and a standby ahead of its partition's heir goes to the back.
// A leader that dies or stops then leaves each survivor an even part of
// its partitions, so that none is taken over twice: once by a survivor
// that took them all, and again to even the counts out.
//
// Only responders whose process answered its probe this round count as
// heirs (and as responders, for the shares), so nothing is handed to a dead
// or paused one. Probes answer from a process's start, so balancing starts
// with it, while the first responder up still loads what it won. After it
// acts, a balancer waits a few rounds for the queues to show the result.
// Each move strictly narrows the counts' spread, so the responders converge
// to counts that differ by at most one; balancers acting at once on stale
// views may overshoot by a partition, which a later round corrects.
type balancer struct {
	s     *Server
	mu    sync.Mutex
	quiet time.Time // guarded by mu: no move before it
}

// quietRounds is how many watcher rounds a balancer waits after a move.
const quietRounds = 3

func newBalancer(s *Server) *balancer { return &balancer{s: s} }

// see plans and makes this responder's moves from one round's view. It runs
// on the watcher's goroutine.
func (b *balancer) see(queues [][]election.Candidate, answered map[string]bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if time.Now().Before(b.quiet) || slices.ContainsFunc(queues, func(q []election.Candidate) bool { return q == nil }) {
		return // a queue could not be read: the counts would be wrong
	}
	since := make([]int64, len(b.s.parts))
	for i, p := range b.s.parts {
		switch {
		case p.leading.Load():
			since[i] = p.since.Load()
		case p.term.Load() != nil:
			since[i] = math.MaxInt64 // won, still loading: the cheapest to hand over
		}
	}
	yield, requeue := planBalance(b.s.cfg.Instance, queues, answered, since)
	for _, i := range yield {
		signal(b.s.parts[i].yield)
	}
	for _, i := range requeue {
		signal(b.s.parts[i].requeue)
	}
	if len(yield)+len(requeue) > 0 {
		b.s.log.Info("evening out leadership", "yield", yield, "requeue", requeue)
		b.quiet = time.Now().Add(quietRounds * b.s.cfg.ProbeInterval)
	}
}

// signal sends on a channel of capacity one unless a signal waits there.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// planBalance returns the partitions self should hand over and those whose
// queues it should go to the back of, from the queues (leader first), the
// instances that answered their probes (self counts as answering), and
// since, per partition, when self's term of it started serving (0: self
// has no term of it; math.MaxInt64: one that still loads).
//
// With N responders (self and those that answered) and P partitions, a
// leader hands a partition to the next candidate when it leads at least two
// more than that one and either more than its share (ceil(P/N)) or the
// other less than its share (floor(P/N)): so several leaders that hand
// over in the same round, each from its own view, never push one heir far
// past its share.
func planBalance(self string, queues [][]election.Candidate, answered map[string]bool, since []int64) (yield, requeue []int) {
	count := map[string]int{}
	for _, q := range queues {
		if len(q) > 0 {
			count[liveness.InstanceOf(q[0].Value)]++
		}
	}
	members := 1
	for instance := range answered {
		if instance != self {
			members++
		}
	}
	lo, hi := len(queues)/members, (len(queues)+members-1)/members
	better := func(leader, heir string) bool {
		return heir != leader && (heir == self || answered[heir]) && count[leader] >= count[heir]+2 &&
			(count[leader] > hi || count[heir] < lo)
	}

	var led []int
	for i, q := range queues {
		if len(q) > 1 && since[i] != 0 && liveness.InstanceOf(q[0].Value) == self {
			led = append(led, i)
		}
	}
	slices.SortFunc(led, func(a, b int) int { return cmp.Compare(since[b], since[a]) })
	for _, i := range led {
		if next := liveness.InstanceOf(queues[i][1].Value); better(self, next) {
			yield = append(yield, i)
			count[self]--
			count[next]++
		}
	}

	for i, q := range queues {
		if len(q) < 3 {
			continue
		}
		leader := liveness.InstanceOf(q[0].Value)
		if leader == self || !answered[leader] {
			continue
		}
		at := slices.IndexFunc(q, func(c election.Candidate) bool { return liveness.InstanceOf(c.Value) == self })
		if at < 1 || better(leader, self) {
			continue // not waiting here, or a fine heir itself
		}
		if slices.ContainsFunc(q[at+1:], func(c election.Candidate) bool { return better(leader, liveness.InstanceOf(c.Value)) }) {
			requeue = append(requeue, i)
		}
	}
	if len(yield)+len(requeue) > 0 || !even(count, self, answered) {
		return yield, requeue
	}

	// Even: put each partition's heir next in its queue.
	heir := heirs(self, queues, answered)
	for i, q := range queues {
		if heir[i] == "" || heir[i] == self {
			continue
		}
		at := slices.IndexFunc(q, func(c election.Candidate) bool { return liveness.InstanceOf(c.Value) == self })
		if at < 1 {
			continue
		}
		if slices.ContainsFunc(q[at+1:], func(c election.Candidate) bool { return liveness.InstanceOf(c.Value) == heir[i] }) {
			requeue = append(requeue, i)
		}
	}
	return nil, requeue
}

// even reports whether the responders (self and those that answered) lead
// counts at most one apart.
func even(count map[string]int, self string, answered map[string]bool) bool {
	lo, hi := count[self], count[self]
	for instance := range answered {
		lo, hi = min(lo, count[instance]), max(hi, count[instance])
	}
	return hi-lo <= 1
}

// heirs names, per partition led by a responder (self, or one that
// answered), the responder that should stand next in its queue: each
// leader's partitions, in order, go to the other responders in turn, the
// one named fewest times of this leader first, ties broken by a score of
// the partition and the responder, so that the turns start elsewhere for
// each leader. Every responder computes the same from the same view; ""
// where there is no other responder.
func heirs(self string, queues [][]election.Candidate, answered map[string]bool) []string {
	members := []string{self}
	for instance, ok := range answered {
		if ok && instance != self {
			members = append(members, instance)
		}
	}
	slices.Sort(members)
	named := map[string]map[string]int{} // per leader, how often each responder is named
	heir := make([]string, len(queues))
	for i, q := range queues {
		if len(q) == 0 {
			continue
		}
		leader := liveness.InstanceOf(q[0].Value)
		if !slices.Contains(members, leader) {
			continue
		}
		if named[leader] == nil {
			named[leader] = map[string]int{}
		}
		best := ""
		for _, m := range members {
			if m == leader {
				continue
			}
			if best == "" || named[leader][m] < named[leader][best] ||
				named[leader][m] == named[leader][best] && heirScore(i, m) > heirScore(i, best) {
				best = m
			}
		}
		if best != "" {
			named[leader][best]++
		}
		heir[i] = best
	}
	return heir
}

// heirScore is a hash of partition i and instance, the same in every
// process: FNV-1a, then SplitMix64's finalizer to spread close inputs.
func heirScore(i int, instance string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(instance))
	x := h.Sum64() ^ uint64(i)*0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
