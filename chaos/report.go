package chaos

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Target is one of the product's targets, judged on a run.
type Target struct {
	Name   string
	Met    bool
	Tested bool // the run had faults of the kind
	Detail string
}

// Targets judges the product's targets on r, a check of a run with lease ttl.
func Targets(r *Result, ttl time.Duration) []Target {
	kind := map[Kind]KindResult{}
	for _, k := range r.Kinds {
		kind[k.Kind] = k
	}
	var ts []Target
	ts = append(ts, Target{Name: "0 units oversold", Tested: true, Met: r.Oversold == 0 && r.OK(),
		Detail: fmt.Sprintf("oversold %d, safety violations %d", r.Oversold, len(r.Violations))})
	if b := r.Buyers; b != nil {
		ts = append(ts, Target{Name: "0 buyers over their cap", Tested: true, Met: b.OverCap == 0,
			Detail: fmt.Sprintf("%d buyers, %d over their cap of %d; caps hit %d times", b.Buyers, b.OverCap, PerBuyer, b.CapsHit)})
	}
	if k, ok := kind[KillLeader]; ok {
		ts = append(ts, Target{Name: "kill -9 of the leader: gap p50 <= 0.5s, p99 <= 1s (the partitions it led)", Tested: true,
			Met:    k.GapP50 <= 500*time.Millisecond && k.GapP99 <= time.Second,
			Detail: fmt.Sprintf("p50 %v, p99 %v, max %v over %d", rd(k.GapP50), rd(k.GapP99), rd(k.GapMax), k.Count)})
		if k.OtherCount > 0 {
			ts = append(ts, Target{Name: fmt.Sprintf("kill -9 of one of %d responders: no gap over 50ms in the other partitions", Size), Tested: true,
				Met:    k.OtherGapMax <= 50*time.Millisecond,
				Detail: fmt.Sprintf("p99 %v, max %v over %d", rd(k.OtherGapP99), rd(k.OtherGapMax), k.OtherCount)})
		}
	}
	for _, kk := range []Kind{PauseLeader, CutLeader} {
		if k, ok := kind[kk]; ok {
			ts = append(ts, Target{Name: fmt.Sprintf("%s: gap <= TTL+1s (%v)", kk, ttl+time.Second), Tested: true,
				Met:    k.GapMax <= ttl+time.Second,
				Detail: fmt.Sprintf("p50 %v, p99 %v, max %v over %d", rd(k.GapP50), rd(k.GapP99), rd(k.GapMax), k.Count)})
		}
	}
	if k, ok := kind[StopLeader]; ok {
		ts = append(ts, Target{Name: "graceful handoff: gap <= 100ms, 0 units lost", Tested: true,
			Met: k.GapMax <= 100*time.Millisecond && k.OverBound == 0 && k.Lost <= k.Unknown,
			Detail: fmt.Sprintf("p50 %v, p99 %v, max %v over %d; lost %d units (%d of unknown outcome), %d handoffs lost more than their unknown",
				rd(k.GapP50), rd(k.GapP99), rd(k.GapMax), k.Count, k.Lost, k.Unknown, k.OverBound)})
	}
	if hs := handoffGaps(r.Handoffs); len(hs) > 0 {
		ts = append(ts, Target{Name: "handoff evening out leadership: gap <= 100ms", Tested: true,
			Met:    percentile(hs, 1) <= 100*time.Millisecond,
			Detail: fmt.Sprintf("p50 %v, p99 %v, max %v over %d", rd(percentile(hs, 0.5)), rd(percentile(hs, 0.99)), rd(percentile(hs, 1)), len(hs))})
	}
	if k, ok := kind[KillEtcd]; ok {
		ts = append(ts, Target{Name: "one etcd member of three lost: no gap over 1s", Tested: true,
			Met:    k.GapMax <= time.Second,
			Detail: fmt.Sprintf("p50 %v, p99 %v, max %v over %d", rd(k.GapP50), rd(k.GapP99), rd(k.GapMax), k.Count)})
	}
	return ts
}

// handoffGaps are the gaps of the handoffs by a leader that had served.
func handoffGaps(hs []HandoffResult) []time.Duration {
	var out []time.Duration
	for _, h := range hs {
		if !h.Unserved {
			out = append(out, h.Gap)
		}
	}
	return out
}

// unserved counts the handoffs by a leader that had not served yet.
func unserved(hs []HandoffResult) int {
	n := 0
	for _, h := range hs {
		if h.Unserved {
			n++
		}
	}
	return n
}

func rd(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	default:
		return d.Round(time.Millisecond)
	}
}

// WriteSummary writes the run's parameters, the per-SKU and per-kind tables,
// the targets and the findings as Markdown.
func WriteSummary(w io.Writer, h *History, r *Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d, lease TTL %v, %d partitions, %d clients, load %v, %d faults, %d acquire attempts, %d queries, %d changes of a partition's leader\n\n",
		h.Seed, h.LeaseTTL, max(h.Partitions, 1), h.Clients, rd(h.End), len(h.Faults), len(h.Acquires), len(h.Queries), len(h.Leaders))

	b.WriteString("| sku | partition | limit | sold at end | grants | units seen | lost | unknown | oversold | dup units | out of range | stale |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	var tot SKUResult
	for i, s := range r.SKUs {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d |\n",
			s.Name, h.SKUs[i].Partition, s.Limit, s.SoldEnd, s.Grants, s.Units, s.Lost, s.Unknown, s.Oversold, s.Overlaps, s.OutOfRange, s.Stale)
		tot.SoldEnd += s.SoldEnd
		tot.Grants += s.Grants
		tot.Units += s.Units
		tot.Lost += s.Lost
		tot.Unknown += s.Unknown
		tot.Oversold += s.Oversold
		tot.Overlaps += s.Overlaps
		tot.OutOfRange += s.OutOfRange
		tot.Stale += s.Stale
	}
	if len(r.SKUs) > 1 {
		fmt.Fprintf(&b, "| all %d | | | %d | %d | %d | %d | %d | %d | %d | %d | %d |\n",
			len(r.SKUs), tot.SoldEnd, tot.Grants, tot.Units, tot.Lost, tot.Unknown, tot.Oversold, tot.Overlaps, tot.OutOfRange, tot.Stale)
	}
	fmt.Fprintf(&b, "\nlost before the first fault: %d units\n\n", r.Unattributed)
	if hr := r.Holds; hr != nil {
		fmt.Fprintf(&b, "holds of %s (ttl %v): %d asked, %d held, %d refused, %d unknown; of the held, %d confirmed, %d cancelled, %d expired, %d abandoned, %d ended unknown. "+
			"Units back: %d (due %d, at most %d); none held %v after the load stopped\n\n",
			h.HoldSKU.Name, HoldTTL, hr.Holds, hr.Held, hr.Refused, hr.Unknown, hr.Confirmed, hr.Cancelled, hr.Expired, hr.Abandoned, hr.EndUnknown,
			hr.Returned, hr.DueBack, hr.DueBack+hr.Either+hr.Maybe, rd(hr.BackAfter))
	}

	if br := r.Buyers; br != nil {
		var names []string
		for _, s := range h.BuyerSKUs {
			names = append(names, fmt.Sprintf("%s (limit %d)", s.Name, s.Limit))
		}
		fmt.Fprintf(&b, "buyers of %s, per_buyer %d, %d buyers a SKU at a time: %d buyers, %d acquires and %d holds; %d granted, %d held, caps hit %d, refused %d, unknown %d; "+
			"of the held, %d confirmed, %d cancelled, %d expired, %d abandoned, %d ended unknown. Units sold for good seen %d, bought by the buyers' counts %d, back %d (due %d, at most %d); "+
			"buyers over their cap: %d (most seen for one buyer %d); counts read after the run: %d\n\n",
			strings.Join(names, ", "), PerBuyer, BuyersPerSKU, br.Buyers, br.Acquires, br.Holds, br.Granted, br.Held, br.CapsHit, br.Refused, br.Unknown,
			br.Confirmed, br.Cancelled, br.Expired, br.Abandoned, br.EndUnknown, br.UnitsSeen, br.UnitsBought, br.Returned, br.DueBack, br.MostBack,
			br.OverCap, br.MostSeen, br.Checked)
	}

	b.WriteString("Per fault kind: the gaps are those of the partitions the fault hit (each partition measured on its own SKUs' grants), " +
		"\"other max\" the longest gap of a partition it did not hit (but for a change of that partition's own leader).\n\n")
	b.WriteString("| fault | n | partitions hit | gap p50 | gap p99 | gap max | other p99 | other max | first grant p50 | first grant p99 | worst client max | units lost | lost max/fault | unknown units | over window | over share | leader changed | partitions moved |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, k := range r.Kinds {
		op99, omax := "-", "-"
		if k.OtherCount > 0 {
			op99, omax = rd(k.OtherGapP99).String(), rd(k.OtherGapMax).String()
		}
		fmt.Fprintf(&b, "| %s | %d | %.1f | %v | %v | %v | %s | %s | %v | %v | %v | %d | %d | %d | %d | %d | %d | %d |\n",
			k.Kind, k.Count, k.Partitions, rd(k.GapP50), rd(k.GapP99), rd(k.GapMax), op99, omax, rd(k.FirstP50), rd(k.FirstP99), rd(k.WorstClientMax),
			k.Lost, k.LostMax, k.Unknown, k.OverBound, k.OverShare, k.LeaderChange, k.Moved)
	}
	if q := r.Quiet; len(q) > 0 {
		fmt.Fprintf(&b, "\nthe same away from faults and handoffs, the longest stretch without a grant of a partition in a second: p50 %v, p99 %v, max %v over %d seconds of partitions\n",
			rd(percentile(q, 0.5)), rd(percentile(q, 0.99)), rd(percentile(q, 1)), len(q))
	}
	if hs := handoffGaps(r.Handoffs); len(r.Handoffs) > 0 {
		fmt.Fprintf(&b, "\nhandoffs evening out leadership (a partition's leader changed with no fault to explain it, after the load started): %d; "+
			"of the %d by a leader that had served the partition, gap p50 %v, p99 %v, max %v; %d right after taking over, before serving\n",
			len(r.Handoffs), len(hs), rd(percentile(hs, 0.5)), rd(percentile(hs, 0.99)), rd(percentile(hs, 1)), unserved(r.Handoffs))
	} else if len(h.Leaders) > 0 {
		b.WriteString("\nhandoffs evening out leadership: none\n")
	}
	b.WriteString("\nTargets:\n\n")
	for _, t := range Targets(r, h.LeaseTTL) {
		verdict := "met"
		if !t.Met {
			verdict = "NOT met"
		}
		fmt.Fprintf(&b, "- %s: **%s** (%s)\n", t.Name, verdict, t.Detail)
	}
	list := func(title string, xs []string) {
		if len(xs) == 0 {
			fmt.Fprintf(&b, "\n%s: none\n", title)
			return
		}
		fmt.Fprintf(&b, "\n%s (%d):\n\n", title, len(xs))
		for _, x := range xs {
			fmt.Fprintf(&b, "- %s\n", x)
		}
	}
	list("Safety violations", r.Violations)
	list("Losses over their bound", r.Excess)
	list("Warnings", r.Warnings)
	list("Events", h.Events)
	list("Responders at the end", h.Notes)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteFaults writes one line per fault: what, when, and what it cost.
func WriteFaults(w io.Writer, r *Result) error {
	tw := tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)
	fmt.Fprintln(tw, "#\tkind\ttarget\tleader\tparts\tat\thealed\tgap\tother gap\tfirst\tworst client\tlost\tunknown\twindow\tbound\trate/s\tmoved\tnew leader\tdetail")
	for i, f := range r.Faults {
		other := "-"
		if f.Others > 0 {
			other = fmt.Sprintf("%v (p%d)", rd(f.OtherGap), f.OtherGapPartition)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%v\t%v\t%v\t%s\t%v\t%v\t%d\t%d\t%d\t%d\t%.0f\t%d\t%s\t%s\n", i, f.Kind, f.Target, f.Leader, len(f.Partitions),
			rd(f.At), rd(f.Healed), fmt.Sprintf("%v (p%d)", rd(f.Gap), f.GapPartition), other, rd(f.FirstGrant), rd(f.WorstClient), f.Lost, f.Unknown, f.Window, f.Bound, f.Rate, f.Changes, f.NewLeader, f.Detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Handoffs) == 0 {
		return nil
	}
	fmt.Fprintln(tw, "\nhandoff\tpartition\tfrom\tto\tat\tgap\t")
	for i, h := range r.Handoffs {
		note := ""
		if h.Unserved {
			note = "before serving"
		}
		fmt.Fprintf(tw, "%d\tp%d\t%s\t%s\t%v\t%v\t%s\n", i, h.Partition, h.From, h.To, rd(h.At), rd(h.Gap), note)
	}
	return tw.Flush()
}
