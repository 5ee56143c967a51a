package chaos

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/stockstate/stock/stock"
)

// MaxN is the most units a client asks for in one acquire.
const MaxN = 3

// Bounds are what the checker holds the stock lost at each fault to.
//
// A crash costs the unsold part of the leader's windows. A window is planned
// to last Interval at the observed rate, at least MinWindow units, doubled
// after a request had to wait, never more than MaxShare of what remains, but
// always enough for the requests that wait (at most MaxN per client that
// sends to the SKU). Units of requests whose outcome is unknown (timeouts,
// sent in the fault's epoch) may have been granted with no reply arriving,
// so they are allowed on top. Three bounds are checked per fault:
//
//   - the window: the units lost, over all SKUs, are at most
//     max(sum over the SKUs of the partitions it hit of
//     max(min(Slack*rate*Interval or Slack*MinWindow, MaxShare*remaining),
//     MaxN*clients), 2*W) + unknown, where rate is the SKU's grant rate
//     seen by clients over RateOver before the fault, remaining is what was
//     left after the last grant seen before it, clients are those that sent
//     to the SKU, and W is the sum, over the leaders of those partitions,
//     of the largest window (summed over its SKUs) each reported on GET
//     /debug/stats from a second before the fault to the end of its epoch;
//     Slack and the factor 2 allow for the rate estimate's lag and for a
//     refill that landed since the last report;
//   - the share, per SKU: at most max(MaxShare*remaining, MaxN*clients) + unknown;
//   - the partitions whose leader the fault did not hit lose nothing beyond
//     unknown, per SKU: their leaders only hand partitions over gracefully.
//
// A graceful stop (Kind term) must lose nothing beyond unknown.
type Bounds struct {
	Interval  time.Duration
	MinWindow int64
	MaxShare  float64
	Slack     float64
	RateOver  time.Duration
}

// DefaultBounds follows the responder's default window policy.
func DefaultBounds() Bounds {
	p := stock.DefaultPolicy()
	return Bounds{Interval: p.Interval, MinWindow: p.MinWindow, MaxShare: p.MaxShare, Slack: 4, RateOver: 2 * time.Second}
}

// SKUResult is the check of one SKU over the whole run.
type SKUResult struct {
	Name       string
	Limit      int64
	SoldEnd    int64 // the leader's sold after the run
	Grants     int64 // grant replies seen
	Units      int64 // units in them
	Oversold   int64 // units seen beyond the limit
	Overlaps   int64 // units named by more than one grant
	OutOfRange int64 // grants naming units outside [0, limit)
	Partial    int64 // grants of another number of units than asked for
	Unknown    int64 // units of attempts whose outcome is unknown
	Lost       int64 // SoldEnd - Units: sold, never seen granted
	Stale      int64 // grants and query answers from a term older than one already seen
}

// FaultResult is one fault with what it cost. Its epoch runs from its
// injection to the next fault's (or the end of the load).
type FaultResult struct {
	Fault
	// Gap is the longest stretch without a grant, from At on, within the
	// epoch, of a partition the fault hit, each partition measured on its
	// own SKUs' grants (checkparts.go).
	Gap time.Duration
	// FirstGrant is, for the slowest partition the fault hit, from At to
	// the reply of its first grant requested after At.
	FirstGrant time.Duration
	// OtherGap is the same as Gap over the Others partitions the fault did
	// not hit, not counting a stretch that meets a change of the
	// partition's own leader (a handoff).
	OtherGap time.Duration
	Others   int
	// GapPartition and OtherGapPartition are the partitions of Gap and
	// OtherGap.
	GapPartition, OtherGapPartition int
	WorstClient                     time.Duration // the longest stretch without a grant one client saw, from At on
	NoGrant                         bool          // no grant in the epoch in some partition it hit
	Lost                            int64         // units in holes attributed to the epoch
	Unknown                         int64         // units of unknown-outcome attempts sent in the epoch
	Bound                           int64         // the window bound on Lost (Bounds)
	Window                          int64         // the largest window the leader reported around the fault
	Rate                            float64       // units/s granted before the fault, all SKUs
	Changes                         int           // changes of a partition's leader in the epoch (election keys, else queries)
	NewLeader                       string        // the last new leader seen in the epoch
	OverBound                       bool          // lost more than Bound (or, stopped gracefully, anything but unknown)
	OverShare                       bool          // lost more than a quarter of a SKU's remaining stock
}

// KindResult sums the faults of one kind.
type KindResult struct {
	Kind                   Kind
	Count                  int
	Partitions             float64 // partitions hit per fault, on average
	GapP50, GapP99, GapMax time.Duration
	// OtherGapP99 and OtherGapMax are over the faults that left some
	// partition alone (Others > 0), OtherCount of them.
	OtherGapP99, OtherGapMax time.Duration
	OtherCount               int
	FirstP50, FirstP99       time.Duration
	WorstClientMax           time.Duration
	Lost, LostMax, Unknown   int64
	OverBound, OverShare     int
	LeaderChange             int // faults after which some partition's leader changed
	Moved                    int // changes of a partition's leader, in all
}

// Result is the verdict on a History.
type Result struct {
	SKUs   []SKUResult
	Faults []FaultResult
	Kinds  []KindResult
	// Violations break a safety property: units oversold or named twice,
	// grants outside the limit, answers from a term older than one a
	// client had already seen, sold going back.
	Violations []string
	// Excess are losses beyond their bound, and graceful stops that lost units.
	Excess []string
	// Warnings: leader changes no fault explains, epochs without a grant.
	Warnings []string
	// Unattributed is units lost before the first fault.
	Unattributed int64
	Oversold     int64
	// Handoffs are the changes of a partition's leader that no fault
	// explains: leadership evened out among the responders.
	Handoffs []HandoffResult
	// Quiet are the longest stretches without a grant of a partition in
	// the seconds that no fault and no change of its leader comes near
	// (quietGaps): what the gaps above stand on.
	Quiet []time.Duration
	// Holds is the check of the hold SKU, nil if the run had none.
	Holds *HoldResult
	// Buyers is the check of the capped SKUs, nil if the run had none.
	Buyers *BuyerResult

	changes []change // leader changes, in reply order
}

// OK reports whether no safety property was broken.
func (r *Result) OK() bool { return len(r.Violations) == 0 }

// faultMovesLeader reports whether a fault of kind k may legitimately move
// leadership away from its target, or (for the shared infrastructure) from
// anyone.
func faultMovesLeader(k Kind) bool { return k != KillStandby }

func infrastructure(k Kind) bool { return k == KillEtcd || k == KillNATS }

type grant struct {
	start, end int64
	send       time.Duration // first send of the id
	reply      time.Duration
	client     int32
}

// Check checks a History against the safety properties and the loss bounds.
func Check(h *History, b Bounds) *Result {
	r := &Result{}
	nsku := len(h.SKUs)
	nparts := max(h.Partitions, 1)
	for _, s := range h.SKUs {
		if s.Partition < 0 || s.Partition >= nparts {
			r.Violations = []string{fmt.Sprintf("%s: partition %d is not one of the %d", s.Name, s.Partition, nparts)}
			return r
		}
	}
	grants := make([][]grant, nsku)
	senders := make([]map[int32]bool, nsku) // per SKU, the clients that sent to it
	var all []grant
	unknown := make([][]int64, nsku) // per SKU, per epoch+1, by the attempt's send
	// inflight is, per SKU and epoch, the unknown units of attempts sent
	// before the epoch's fault and ended after it: their units may be the
	// holes of the epoch (a hole is filed under the reply of the grant after
	// it), so the fault's checks allow them too.
	inflight := make([][]int64, nsku)
	nep := len(h.Faults) + 1
	partial := make([]int64, nsku)
	for i := range unknown {
		unknown[i], inflight[i] = make([]int64, nep), make([]int64, nep)
	}
	epoch := func(t time.Duration) int {
		// index of the last fault with At <= t, plus one; 0 before any fault
		return sort.Search(len(h.Faults), func(i int) bool { return h.Faults[i].At > t })
	}
	for i := range h.Acquires {
		a := &h.Acquires[i]
		if int(a.SKU) >= nsku {
			continue
		}
		if senders[a.SKU] == nil {
			senders[a.SKU] = map[int32]bool{}
		}
		senders[a.SKU][a.Client] = true
		if a.Outcome.Unknown() {
			unknown[a.SKU][epoch(a.Send)] += a.N
			for ep := epoch(a.Send) + 1; ep <= epoch(a.Reply); ep++ {
				inflight[a.SKU][ep] += a.N
			}
		}
		if a.Outcome != Granted {
			continue
		}
		if a.Granted != a.N {
			partial[a.SKU]++
		}
		s, e := a.Units(h.SKUs[a.SKU].Limit)
		g := grant{start: s, end: e, send: a.FirstSend, reply: a.Reply, client: a.Client}
		grants[a.SKU] = append(grants[a.SKU], g)
		all = append(all, g)
	}

	var violations, excess, warnings messages
	lost := make([][]int64, nsku)
	// prefix maxima over grants in reply order, per SKU, for the rate,
	// remaining and staleness checks
	byReply := make([][]grant, nsku)
	maxEnd := make([][]int64, nsku)
	for si, sku := range h.SKUs {
		gs := grants[si]
		sr := SKUResult{Name: sku.Name, Limit: sku.Limit, Grants: int64(len(gs)), Partial: partial[si]}
		if sr.Partial > 0 {
			violations.add("%s: %d grants of another number of units than asked for (requests are all or nothing)", sku.Name, sr.Partial)
		}
		for _, u := range unknown[si] {
			sr.Unknown += u
		}
		inRange := gs[:0:0]
		for _, g := range gs {
			sr.Units += g.end - g.start
			if g.start < 0 || g.end > sku.Limit || g.end <= g.start {
				sr.OutOfRange++
				violations.add("%s: grant names units [%d, %d) outside [0, %d) (reply at %v)", sku.Name, g.start, g.end, sku.Limit, g.reply)
				continue
			}
			inRange = append(inRange, g)
		}
		gs = inRange
		if sr.Units > sku.Limit {
			sr.Oversold = sr.Units - sku.Limit
			violations.add("%s: oversold: clients saw %d units granted, the limit is %d", sku.Name, sr.Units, sku.Limit)
		}

		// Units named twice, and the holes between what was seen.
		sorted := slices.Clone(gs)
		slices.SortFunc(sorted, func(a, b grant) int { return cmp.Compare(a.start, b.start) })
		var top int64 // units [0, top) are covered or holes
		lost[si] = make([]int64, nep)
		for _, g := range sorted {
			if g.start < top {
				ov := min(g.end, top) - g.start
				sr.Overlaps += ov
				violations.add("%s: units [%d, %d) granted again (reply at %v)", sku.Name, g.start, min(g.end, top), g.reply)
			} else if g.start > top {
				lost[si][epoch(g.reply)] += g.start - top
			}
			top = max(top, g.end)
		}
		final := Final{Sold: top}
		if si < len(h.Final) && h.Final[si].OK {
			final = h.Final[si]
		} else {
			violations.add("%s: no final state: the last query was not answered", sku.Name)
		}
		sr.SoldEnd = final.Sold
		if final.Sold < top {
			violations.add("%s: final sold %d is below unit %d, already granted", sku.Name, final.Sold, top-1)
		} else if final.Sold > top {
			lost[si][epoch(h.End)] += final.Sold - top
		}
		sr.Lost = sr.SoldEnd - sr.Units

		// Staleness: a grant requested at s was served after s, and under any
		// one leader units are handed out in increasing order, while a newer
		// term starts above every unit of the older ones. So a grant naming
		// units below one already granted before s came from an older term
		// than a reply already seen: a leader that answered after losing
		// its lease. A retry keeps its id and may get the first reply
		// again, so s is the id's first send.
		rs := slices.Clone(gs)
		slices.SortFunc(rs, func(a, b grant) int { return cmp.Compare(a.reply, b.reply) })
		pm := make([]int64, len(rs))
		var m int64
		for i, g := range rs {
			m = max(m, g.end)
			pm[i] = m
		}
		byReply[si], maxEnd[si] = rs, pm
		for _, g := range rs {
			if f := frontier(rs, pm, g.send); g.start < f {
				sr.Stale++
				violations.add("%s: stale grant: units [%d, %d) replied at %v to a request first sent at %v, when unit %d had already been granted",
					sku.Name, g.start, g.end, g.reply, g.send, f-1)
			}
		}
		// Queries: sold never goes back, and covers every unit granted
		// before the query was sent.
		var qs []Query
		for _, q := range h.Queries {
			if int(q.SKU) == si && q.Outcome == Granted {
				qs = append(qs, q)
			}
		}
		slices.SortFunc(qs, func(a, b Query) int { return cmp.Compare(a.Reply, b.Reply) })
		qmax := make([]int64, len(qs))
		m = 0
		for i, q := range qs {
			m = max(m, q.Sold)
			qmax[i] = m
		}
		for _, q := range qs {
			f := frontier(rs, pm, q.Send)
			j := sort.Search(len(qs), func(i int) bool { return qs[i].Reply >= q.Send })
			if j > 0 {
				f = max(f, qmax[j-1])
			}
			if q.Sold < f {
				sr.Stale++
				violations.add("%s: stale query answer from %s: sold %d (sent %v, replied %v), but %d units were already known sold",
					sku.Name, q.Leader, q.Sold, q.Send, q.Reply, f)
			}
		}
		r.Oversold += sr.Oversold
		r.SKUs = append(r.SKUs, sr)
	}

	r.checkLeaders(h, &violations, &warnings)

	// Per fault: gaps, losses and their bounds.
	slices.SortFunc(all, func(a, b grant) int { return cmp.Compare(a.reply, b.reply) })
	byPart := partGrants(h, grants)
	var moves [][]span
	r.Handoffs, moves = handoffs(h, byPart)
	r.Quiet = quietGaps(h, byPart, moves)
	for si := range h.SKUs {
		r.Unattributed += lost[si][0]
	}
	for fi, f := range h.Faults {
		ep := fi + 1
		end := h.End
		if fi+1 < len(h.Faults) {
			end = h.Faults[fi+1].At
		}
		fr := FaultResult{Fault: f}
		_, _, fr.WorstClient, _ = gaps(all, f.At, end, h.Clients, h.Patient)
		partitionGaps(&fr, byPart, f.At, end, moves)
		if fr.NoGrant {
			warnings.add("fault %d (%s at %v): a partition it hit had no grant before the next fault (%v later)", fi, f.Kind, f.At, end-f.At)
		}
		hit := hitPartitions(f, nparts)
		var expected, unk int64
		for si, sku := range h.SKUs {
			l, u := lost[si][ep], unknown[si][ep]
			fr.Lost += l
			fr.Unknown += u
			u += inflight[si][ep]
			unk += u
			rs, pm := byReply[si], maxEnd[si]
			lo := sort.Search(len(rs), func(i int) bool { return rs[i].reply >= f.At-b.RateOver })
			hi := sort.Search(len(rs), func(i int) bool { return rs[i].reply >= f.At })
			var units int64
			for _, g := range rs[lo:hi] {
				units += g.end - g.start
			}
			rate := float64(units) / b.RateOver.Seconds()
			fr.Rate += rate
			rem := sku.Limit - frontier(rs, pm, f.At)
			need := int64(MaxN * max(len(senders[si]), 1))
			share := max(int64(b.MaxShare*float64(rem)), need)
			if rem > 0 && hit[sku.Partition] {
				w := int64(math.Ceil(max(b.Slack*rate*b.Interval.Seconds(), b.Slack*float64(b.MinWindow))))
				expected += max(min(w, share), need)
			}
			switch {
			case !hit[sku.Partition] && l > u:
				fr.OverShare = true
				excess.add("fault %d (%s of %s at %v): lost %d units of %s (partition %d, whose leader it did not hit; %d of unknown outcome)",
					fi, f.Kind, f.Target, f.At, l, sku.Name, sku.Partition, u)
			case f.Kind == StopLeader && l > u:
				fr.OverBound = true
				excess.add("fault %d (%s of %s at %v): graceful stop lost %d units of %s (%d of unknown outcome)", fi, f.Kind, f.Target, f.At, l, sku.Name, u)
			case l > share+u:
				fr.OverShare = true
				excess.add("fault %d (%s of %s at %v): lost %d units of %s, more than a quarter of the %d remaining (+%d unknown)",
					fi, f.Kind, f.Target, f.At, l, sku.Name, rem, u)
			}
		}
		fr.Window = leaderWindow(h, f, end)
		fr.Bound = max(expected, 2*fr.Window) + unk
		if fr.Lost > fr.Bound && f.Kind != StopLeader {
			fr.OverBound = true
			excess.add("fault %d (%s of %s at %v): lost %d units, more than its window: bound %d (rate %.0f/s, leader's window up to %d, %d unknown)",
				fi, f.Kind, f.Target, f.At, fr.Lost, fr.Bound, fr.Rate, fr.Window, unk)
		}
		r.Faults = append(r.Faults, fr)
	}
	for _, c := range r.changes {
		if c.epoch > 0 {
			r.Faults[c.epoch-1].Changes++
			r.Faults[c.epoch-1].NewLeader = c.to
		}
	}
	r.Kinds = kindResults(r.Faults)
	r.Violations, r.Excess, r.Warnings = violations.out(), excess.out(), warnings.out()
	if h.HoldSKU.Name != "" {
		hr, vs := checkHolds(h)
		r.Holds = &hr
		r.Violations = append(r.Violations, vs...)
	}
	if len(h.BuyerSKUs) > 0 {
		br, vs := checkBuyers(h)
		r.Buyers = &br
		r.Violations = append(r.Violations, vs...)
		r.Oversold += br.Oversold
	}
	return r
}

// leaderWindow is what the leaders of the partitions the fault hit may
// have had in their windows: the sum, over those leaders, of the largest
// window each reported from a second before the fault to the end of its
// epoch (a leader cut from etcd serves on for a while). With no leaders
// recorded per partition it is the fault's leader's, or, with none known,
// any leader's in the second before it.
func leaderWindow(h *History, f Fault, end time.Duration) int64 {
	nodes := map[string]bool{}
	if len(f.Leaders) > 0 {
		hit := hitPartitions(f, len(f.Leaders))
		for p, l := range f.Leaders {
			if hit[p] {
				nodes[l] = true
			}
		}
	} else if f.Leader != "" {
		nodes[f.Leader] = true
	}
	per := map[string]int64{}
	for _, s := range h.Windows {
		switch {
		case s.At < f.At-time.Second || s.At > end:
		case nodes[s.Node]:
			per[s.Node] = max(per[s.Node], s.Window)
		case len(nodes) == 0 && s.At <= f.At:
			per[""] = max(per[""], s.Window)
		}
	}
	var w int64
	for _, x := range per {
		w += x
	}
	return w
}

// frontier is the highest unit end among grants replied before t, in a
// slice sorted by reply with its prefix maxima.
func frontier(rs []grant, pm []int64, t time.Duration) int64 {
	i := sort.Search(len(rs), func(i int) bool { return rs[i].reply >= t })
	if i == 0 {
		return 0
	}
	return pm[i-1]
}

// gaps measures the epoch [at, end): the longest stretch without any grant
// from at on (to the last grant of the epoch), the time to the first grant
// requested after at, and the longest stretch one client saw (not counting
// the patient clients, 0..patient-1, whose long waits are deliberate).
func gaps(all []grant, at, end time.Duration, clients, patient int) (gap, first, worst time.Duration, none bool) {
	lo := sort.Search(len(all), func(i int) bool { return all[i].reply > at })
	hi := sort.Search(len(all), func(i int) bool { return all[i].reply >= end })
	ep := all[lo:hi]
	if len(ep) == 0 {
		return end - at, end - at, end - at, true
	}
	prev := at
	first = -1
	last := make(map[int32]time.Duration, clients)
	for _, g := range ep {
		gap = max(gap, g.reply-prev)
		prev = g.reply
		if first < 0 && g.send >= at {
			first = g.reply - at
		}
		if int(g.client) < patient {
			continue
		}
		p, ok := last[g.client]
		if !ok {
			p = at
		}
		worst = max(worst, g.reply-p)
		last[g.client] = g.reply
	}
	if first < 0 {
		first = end - at
	}
	return gap, first, worst, false
}
