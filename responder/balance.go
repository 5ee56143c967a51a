package responder

import (
	"cmp"
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
//     standby next in a partition's queue hands that partition over
//     gracefully (drain, trim, resign: the next one leads within a round
//     trip), its most recently won partition first, so that partitions that
//     serve long are not the ones that move;
//   - requeue: a standby that stands in a queue ahead of a responder that
//     would be a better heir (one that leads at least two fewer than the
//     leader) while it is not, goes to the back of that queue, so that the
//     better heir becomes next.
//
// Only responders whose process answered its probe this round count as
// heirs, so nothing is handed to a dead or paused one. After it acts, a
// balancer waits a few rounds for the queues to show the result. Each move
// strictly narrows the counts' spread, so the responders converge to counts
// that differ by at most one; two balancers acting at once on stale views
// may overshoot by a partition, which a later round corrects.
type balancer struct {
	s     *Server
	mu    sync.Mutex
	quiet time.Time // guarded by mu: no move before it
}

// quietRounds is how many watcher rounds a balancer waits after a move.
const quietRounds = 5

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
		if p.leading.Load() {
			since[i] = p.since.Load()
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
// does not serve it).
func planBalance(self string, queues [][]election.Candidate, answered map[string]bool, since []int64) (yield, requeue []int) {
	count := map[string]int{}
	for _, q := range queues {
		if len(q) > 0 {
			count[liveness.InstanceOf(q[0].Value)]++
		}
	}
	heir := func(instance string) bool { return instance == self || answered[instance] }

	var led []int
	for i, q := range queues {
		if len(q) > 1 && since[i] != 0 && liveness.InstanceOf(q[0].Value) == self {
			led = append(led, i)
		}
	}
	slices.SortFunc(led, func(a, b int) int { return cmp.Compare(since[b], since[a]) })
	for _, i := range led {
		next := liveness.InstanceOf(queues[i][1].Value)
		if next != self && heir(next) && count[self] >= count[next]+2 {
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
		if at < 1 || count[leader] >= count[self]+2 {
			continue // not waiting here, or a fine heir itself
		}
		for _, c := range q[at+1:] {
			if other := liveness.InstanceOf(c.Value); other != leader && answered[other] && count[leader] >= count[other]+2 {
				requeue = append(requeue, i)
				break
			}
		}
	}
	return yield, requeue
}
