package chaos

import (
	"cmp"
	"slices"
	"sort"
	"time"
)

type change struct {
	epoch    int
	from, to string
	at       time.Duration
}

// checkLeaders walks the successful query answers in reply order. When a
// node answers after another had been answering, the other is superseded
// from that reply on; an answer from a superseded node to a query sent
// after that is stale, unless a fault that can move leadership away from
// the new leader was injected in between. Answers to queries sent before
// the change were in flight and are skipped.
func (r *Result) checkLeaders(h *History, violations, warnings *messages) {
	qs := make([]Query, 0, len(h.Queries))
	for _, q := range h.Queries {
		if q.Outcome == Granted && q.Leader != "" {
			qs = append(qs, q)
		}
	}
	slices.SortStableFunc(qs, func(a, b Query) int { return cmp.Compare(a.Reply, b.Reply) })
	epoch := func(t time.Duration) int {
		return sort.Search(len(h.Faults), func(i int) bool { return h.Faults[i].At > t })
	}
	explained := func(from, to time.Duration, who string) bool {
		for _, f := range h.Faults {
			if f.At >= from && f.At <= to && faultMovesLeader(f.Kind) && (f.Target != who || infrastructure(f.Kind)) {
				return true
			}
		}
		return false
	}
	superseded := map[string]time.Duration{}
	cur := ""
	for _, q := range qs {
		x := q.Leader
		if cur == "" || x == cur {
			cur = x
			continue
		}
		if t, ok := superseded[x]; ok {
			if q.Send <= t {
				continue // sent before the change: in flight
			}
			if !explained(t, q.Send, x) {
				violations.add("stale leader: %s answered a query sent at %v (replied %v) after %s had answered at %v, with no fault in between that moves leadership",
					x, q.Send, q.Reply, cur, t)
				continue
			}
		}
		ep := epoch(q.Reply)
		if ep == 0 || !faultMovesLeader(h.Faults[ep-1].Kind) {
			warnings.add("leader changed from %s to %s at %v with no fault that moves leadership before it", cur, x, q.Reply)
		}
		r.changes = append(r.changes, change{epoch: ep, from: cur, to: x, at: q.Reply})
		superseded[cur] = q.Reply
		delete(superseded, x)
		cur = x
	}
}
