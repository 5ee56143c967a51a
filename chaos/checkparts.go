package chaos

import (
	"cmp"
	"slices"
	"sort"
	"time"

	"github.com/stockstate/stock/client"
)

// The checker's part on partitions. A fault hits the partitions whose
// leader it hit (Fault.Partitions; none recorded: all of them); its gap is
// that of the slowest of them to serve again, each measured on the grants
// of its own SKUs, since the clients of one partition are held up by
// nothing another partition does. The other partitions should not notice
// the fault at all: their longest gap is reported beside it, leaving out
// the stretches of a partition that meet a change of its own leader or
// the client attempt timeout after it (a handoff, reported on its own: a
// request caught in it may get no answer and be sent again only when its
// attempt times out).

// partGrants are the grants of each partition's SKUs, in reply order.
func partGrants(h *History, grants [][]grant) [][]grant {
	out := make([][]grant, max(h.Partitions, 1))
	for si, gs := range grants {
		p := h.SKUs[si].Partition
		out[p] = append(out[p], gs...)
	}
	for _, gs := range out {
		slices.SortFunc(gs, func(a, b grant) int { return cmp.Compare(a.reply, b.reply) })
	}
	return out
}

// hitPartitions are the partitions f hit, as a set over n.
func hitPartitions(f Fault, n int) []bool {
	hit := make([]bool, n)
	for _, p := range f.Partitions {
		if p >= 0 && p < n {
			hit[p] = true
		}
	}
	if len(f.Partitions) == 0 {
		for p := range hit {
			hit[p] = true
		}
	}
	return hit
}

// partitionGaps sets the gaps of fr over its epoch [at, end): Gap,
// FirstGrant and NoGrant over the partitions it hit, OtherGap over the
// others, leaving out stretches that meet a change of their leader (moves,
// per partition).
func partitionGaps(fr *FaultResult, byPart [][]grant, at, end time.Duration, moves [][]span) {
	hit := hitPartitions(fr.Fault, len(byPart))
	fr.Gap, fr.FirstGrant = 0, 0
	for p, gs := range byPart {
		if hit[p] {
			g, first, _, none := gaps(gs, at, end, 0, 0)
			if g > fr.Gap {
				fr.Gap, fr.GapPartition = g, p
			}
			fr.FirstGrant = max(fr.FirstGrant, first)
			fr.NoGrant = fr.NoGrant || none
			continue
		}
		fr.Others++
		if g := gapBesides(gs, at, end, moves[p]); g > fr.OtherGap {
			fr.OtherGap, fr.OtherGapPartition = g, p
		}
	}
}

// span is a stretch of the run's time.
type span struct{ from, to time.Duration }

// meets reports whether s and the stretch (from, to) overlap.
func (s span) meets(from, to time.Duration) bool { return s.from < to && s.to > from }

// gapBesides is the longest stretch without a grant in gs (sorted by
// reply) from at to the last grant before end, not counting stretches that
// meet one of skip (the first stretch is judged from the grant before at);
// with no grant at all, end - at.
func gapBesides(gs []grant, at, end time.Duration, skip []span) time.Duration {
	lo := sort.Search(len(gs), func(i int) bool { return gs[i].reply > at })
	hi := sort.Search(len(gs), func(i int) bool { return gs[i].reply >= end })
	if lo >= hi {
		return end - at
	}
	var gap time.Duration
	prev, from := at, at
	if lo > 0 {
		from = gs[lo-1].reply
	}
	for _, g := range gs[lo:hi] {
		if !slices.ContainsFunc(skip, func(s span) bool { return s.meets(from, g.reply) }) {
			gap = max(gap, g.reply-prev)
		}
		prev, from = g.reply, g.reply
	}
	return gap
}

// HandoffResult is one change of a partition's leader that no fault
// explains: a leader handing a partition to another to even out
// leadership (drain, trim, resign).
type HandoffResult struct {
	Partition int
	From, To  string
	At        time.Duration // the change's lower bound
	// Gap is the longest stretch without a grant of the partition's SKUs
	// that meets the change's bracket or the attempt timeout after it,
	// from the giver's term on.
	Gap time.Duration
	// Unserved: the giver granted nothing of the partition in its term
	// (it handed over right after taking over), so Gap holds its takeover
	// too; such handoffs are left out of the gap figures.
	Unserved bool
}

// causedBy reports whether a change of a partition's leader away from
// node, between lo and hi, can be the doing of fault f: f hit node (a
// responder fault) or the shared infrastructure, from its injection to a
// lease and two seconds after its healing (a killed node's key may be
// revoked after its restart).
func causedBy(f Fault, node string, lo, hi, ttl time.Duration) bool {
	if !infrastructure(f.Kind) && f.Target != node {
		return false
	}
	return hi >= f.At && lo <= max(f.Healed, f.At)+ttl+2*time.Second
}

// handoffs finds the changes of h.Leaders that no fault explains while
// the load ran (those at start-up and after it cost nothing anyone saw),
// with the gap each cost, and returns also every change's span per
// partition: its bracket and the attempt timeout after it (for
// gapBesides).
func handoffs(h *History, byPart [][]grant) ([]HandoffResult, [][]span) {
	n := max(h.Partitions, 1)
	timeout := h.Timeout
	if timeout == 0 {
		timeout = client.DefaultConfig().Timeout
	}
	moves := make([][]span, n)
	var out []HandoffResult
	last := map[int]LeaderChange{}
	for _, c := range h.Leaders {
		if c.Partition < 0 || c.Partition >= n {
			continue
		}
		prev, ok := last[c.Partition]
		last[c.Partition] = c
		from := prev.Node
		if !ok || from == "" || c.Node == "" || from == c.Node {
			continue
		}
		moves[c.Partition] = append(moves[c.Partition], span{c.Lo, c.Hi + timeout})
		gs := byPart[c.Partition]
		if len(gs) == 0 || gs[0].reply > c.Lo || c.Hi >= h.End ||
			slices.ContainsFunc(h.Faults, func(f Fault) bool { return causedBy(f, from, c.Lo, c.Hi, h.LeaseTTL) }) {
			continue
		}
		hr := HandoffResult{Partition: c.Partition, From: from, To: c.Node, At: c.Lo}
		// the stretches that meet [Lo, Hi + timeout], from the last grant
		// replied by Lo (or the giver's term's start) on
		i := sort.Search(len(gs), func(i int) bool { return gs[i].reply > c.Lo }) - 1
		t := max(gs[i].reply, prev.Hi)
		hr.Unserved = gs[i].reply < prev.Hi
		for ; i+1 < len(gs) && gs[i].reply <= c.Hi+timeout; i++ {
			hr.Gap = max(hr.Gap, gs[i+1].reply-t)
			t = gs[i+1].reply
		}
		out = append(out, hr)
	}
	return out, moves
}

// QuietWindow is how long the windows of quietGaps are.
const QuietWindow = time.Second

// quietGaps are, for each partition and each QuietWindow of the load that
// no fault and no change of the partition's leader comes near (from a
// fault's injection to a second after its healing; from half a second
// before a change to its span's end), the longest stretch without a grant
// of the partition's SKUs: the noise the gaps of faults stand on, as the
// same clients on the same machine see it.
func quietGaps(h *History, byPart [][]grant, moves [][]span) []time.Duration {
	busy := make([]span, 0, len(h.Faults))
	for _, f := range h.Faults {
		busy = append(busy, span{f.At, max(f.Healed, f.At) + time.Second})
	}
	var out []time.Duration
	for p, gs := range byPart {
		if len(gs) == 0 {
			continue
		}
		near := slices.Clone(busy)
		for _, m := range moves[p] {
			near = append(near, span{m.from - 500*time.Millisecond, m.to})
		}
		for from := gs[0].reply; from+QuietWindow <= h.End; from += QuietWindow {
			to := from + QuietWindow
			if slices.ContainsFunc(near, func(s span) bool { return s.meets(from, to) }) {
				continue
			}
			i := sort.Search(len(gs), func(i int) bool { return gs[i].reply >= from })
			var gap time.Duration
			prev := from
			for ; i < len(gs) && gs[i].reply < to; i++ {
				gap = max(gap, gs[i].reply-prev)
				prev = gs[i].reply
			}
			out = append(out, max(gap, to-prev))
		}
	}
	return out
}
