package chaos

import (
	"cmp"
	"slices"
	"sort"
	"time"
)

type change struct {
	epoch     int
	partition int
	from, to  string
	at        time.Duration
}

// checkLeaders checks that a superseded leader of a partition stays silent
// for that partition's SKUs, in two ways.
//
// From the election keys (h.Leaders), per partition: a node leads from the
// change that put its key at the head of the queue to the change that took
// it away, and etcd committed both within their brackets. A node serves
// only once it saw its key at the head, and stops before the key goes (a
// graceful stop or handoff drains first; a node cut off or paused stops at
// its lease deadline, which passes before etcd expires the key). So a query
// answer from a node, for a SKU of a partition, whose send-to-reply span
// meets none of the node's spans as that partition's leader (from the
// lower bound of the change that made it leader to the upper bound of the
// one that ended it) came from a node that did not lead the partition.
// The rule holds whatever moves leadership, faults or the handoffs that
// even out the partitions among the responders.
//
// From the queries alone, with one partition (which no handoff moves): when
// a node answers after another had been answering, the other is superseded
// from that reply on; an answer from a superseded node to a query sent
// after that is stale, unless a fault that can move leadership away from
// the new leader was injected in between. Answers to queries sent before
// the change were in flight and are skipped.
//
// The leader changes it finds (from the keys if the run watched them, else
// from the queries) are counted per fault epoch.
func (r *Result) checkLeaders(h *History, violations, warnings *messages) {
	epoch := func(t time.Duration) int {
		return sort.Search(len(h.Faults), func(i int) bool { return h.Faults[i].At > t })
	}
	var fromQueries []change
	if max(h.Partitions, 1) == 1 {
		fromQueries = checkQueryLeaders(h, epoch, violations, warnings)
	}
	if len(h.Leaders) == 0 {
		r.changes = fromQueries
		return
	}
	spans := leaderSpans(h)
	for _, q := range h.Queries {
		if q.Outcome != Granted || q.Leader == "" || int(q.SKU) >= len(h.SKUs) {
			continue
		}
		p := h.SKUs[q.SKU].Partition
		ok := false
		for _, s := range spans[p] {
			if s.leader == q.Leader && s.from <= q.Reply && s.to >= q.Send {
				ok = true
				break
			}
		}
		if !ok {
			violations.add("stale leader: %s answered a query of %s (partition %d) sent at %v, replied %v, while it did not lead partition %d (%s)",
				q.Leader, h.SKUs[q.SKU].Name, p, q.Send, q.Reply, p, describeSpans(spans[p], q.Send))
		}
	}
	last := map[int]string{}
	for _, c := range h.Leaders {
		from := last[c.Partition]
		last[c.Partition] = c.Node
		if from == "" || c.Node == "" || from == c.Node {
			continue
		}
		// by the upper bound: a fault's own change is committed after it
		r.changes = append(r.changes, change{epoch: epoch(c.Hi), partition: c.Partition, from: from, to: c.Node, at: c.Hi})
	}
}

// leaderSpan is a time during which a node may have led a partition.
type leaderSpan struct {
	leader   string
	from, to time.Duration // to is the end of time for the last one
}

// leaderSpans are, per partition, the spans of h.Leaders: from the lower
// bound of a change to the upper bound of the next.
func leaderSpans(h *History) map[int][]leaderSpan {
	out := map[int][]leaderSpan{}
	for _, c := range h.Leaders {
		ss := out[c.Partition]
		if n := len(ss); n > 0 {
			ss[n-1].to = max(c.Hi, ss[n-1].from)
		}
		out[c.Partition] = append(ss, leaderSpan{leader: c.Node, from: c.Lo, to: time.Duration(1<<63 - 1)})
	}
	return out
}

// describeSpans says who led a partition around t.
func describeSpans(ss []leaderSpan, t time.Duration) string {
	i := sort.Search(len(ss), func(i int) bool { return ss[i].from > t })
	if i == 0 {
		return "nobody led it yet"
	}
	s := ss[i-1]
	who := s.leader
	if who == "" {
		who = "nobody"
	}
	return who + " led it from " + s.from.String()
}

// checkQueryLeaders is the rule from the queries alone (one partition).
func checkQueryLeaders(h *History, epoch func(time.Duration) int, violations, warnings *messages) []change {
	qs := make([]Query, 0, len(h.Queries))
	for _, q := range h.Queries {
		if q.Outcome == Granted && q.Leader != "" {
			qs = append(qs, q)
		}
	}
	slices.SortStableFunc(qs, func(a, b Query) int { return cmp.Compare(a.Reply, b.Reply) })
	explained := func(from, to time.Duration, who string) bool {
		for _, f := range h.Faults {
			if f.At >= from && f.At <= to && faultMovesLeader(f.Kind) && (f.Target != who || infrastructure(f.Kind)) {
				return true
			}
		}
		return false
	}
	var changes []change
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
		changes = append(changes, change{epoch: ep, from: cur, to: x, at: q.Reply})
		superseded[cur] = q.Reply
		delete(superseded, x)
		cur = x
	}
	return changes
}
