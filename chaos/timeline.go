package chaos

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/stockstate/stock/internal/svg"
)

// TimelineBin is the width of one bar of the timeline.
const TimelineBin = 100 * time.Millisecond

// timeline geometry, in pixels.
const (
	tlWidth   = 1200
	tlLeft    = 60  // the y axis' labels
	tlRight   = 20  // margin
	tlTop     = 30  // the title
	tlGrants  = 220 // height of the grants chart
	tlBand    = 22  // height of the leader band and of the fault band
	tlLegend  = 60  // the time axis and the legends
	gapColor  = "#f4c7c3"
	barColor  = "#3a7"
	axisColor = "#555"
)

var (
	leaderColors = []string{"#4c78a8", "#f58518", "#54a24b", "#b279a2", "#9d755d", "#e45756"}
	faultColors  = map[Kind]string{KillLeader: "#d62728", PauseLeader: "#ff7f0e", StopLeader: "#2ca02c",
		CutLeader: "#9467bd", KillEtcd: "#8c564b", KillNATS: "#e377c2", KillStandby: "#7f7f7f"}
)

// grantBins counts the grants of h by the 100 ms in which their reply came.
func grantBins(h *History) []int {
	end := h.End
	for _, a := range h.Acquires {
		end = max(end, a.Reply)
	}
	bins := make([]int, int(end/TimelineBin)+1)
	for _, a := range h.Acquires {
		if a.Outcome == Granted {
			bins[a.Reply/TimelineBin]++
		}
	}
	return bins
}

// emptyBins are the runs of bins without a grant while the load ran: from the
// first grant to the end of the load.
func emptyBins(bins []int, end time.Duration) [][2]int {
	first := slices.IndexFunc(bins, func(n int) bool { return n > 0 })
	if first < 0 {
		return nil
	}
	last := min(len(bins), int(end/TimelineBin))
	var out [][2]int
	for i := first; i < last; i++ {
		if bins[i] != 0 {
			continue
		}
		j := i
		for j < last && bins[j] == 0 {
			j++
		}
		out = append(out, [2]int{i, j})
		i = j
	}
	return out
}

// partEmptyBins are, per partition, the runs of bins without a grant of
// its SKUs while the load ran.
func partEmptyBins(h *History, nbins int) [][][2]int {
	n := max(h.Partitions, 1)
	bins := make([][]int, n)
	for p := range bins {
		bins[p] = make([]int, nbins)
	}
	for _, a := range h.Acquires {
		if a.Outcome == Granted && int(a.SKU) < len(h.SKUs) && int(a.Reply/TimelineBin) < nbins {
			bins[h.SKUs[a.SKU].Partition][a.Reply/TimelineBin]++
		}
	}
	out := make([][][2]int, n)
	for p := range bins {
		out[p] = emptyBins(bins[p], h.End)
	}
	return out
}

// bandSpans are the leader bands: per partition, who led it when, from the
// election keys; without them, one band of who answered queries, each span
// from an answer to the next answer of another node.
func bandSpans(h *History) [][]leaderSpan {
	if len(h.Leaders) > 0 {
		bands := make([][]leaderSpan, max(h.Partitions, 1))
		for p, ss := range leaderSpans(h) {
			if p < 0 || p >= len(bands) {
				continue
			}
			for _, s := range ss {
				if s.leader == "" {
					continue
				}
				s.to = min(s.to, h.End)
				bands[p] = append(bands[p], s)
			}
		}
		return bands
	}
	qs := slices.Clone(h.Queries)
	qs = slices.DeleteFunc(qs, func(q Query) bool { return q.Outcome != Granted || q.Leader == "" })
	slices.SortStableFunc(qs, func(a, b Query) int { return cmp.Compare(a.Reply, b.Reply) })
	var out []leaderSpan
	for _, q := range qs {
		if n := len(out); n > 0 {
			out[n-1].to = q.Reply
			if out[n-1].leader == q.Leader {
				continue
			}
		}
		out = append(out, leaderSpan{leader: q.Leader, from: q.Reply, to: q.Reply})
	}
	return [][]leaderSpan{out}
}

// WriteTimeline draws the run as an SVG picture: grants per 100 ms, the
// gaps without any grant shaded, which responder led (one band per
// partition, with the 100 ms without a grant of its SKUs darkened), and
// each fault as a marker from its injection to its healing (hover for
// details).
func WriteTimeline(w io.Writer, h *History) error {
	bins := grantBins(h)
	span := time.Duration(len(bins)) * TimelineBin
	plotW := float64(tlWidth - tlLeft - tlRight)
	x := func(t time.Duration) float64 { return tlLeft + plotW*float64(t)/float64(span) }
	binW := plotW / float64(len(bins))
	peak := max(1, slices.Max(bins))
	bands := bandSpans(h)
	rowH := float64(tlBand)
	if len(bands) > 1 {
		rowH = max(4, math.Floor(10*16/float64(len(bands)))) // 160 px for 16 partitions
	}
	bandY := float64(tlTop + tlGrants + 8)
	faultY := bandY + rowH*float64(len(bands)) + 6
	height := int(faultY) + tlBand + tlLegend
	d := svg.New(tlWidth, height)

	title := fmt.Sprintf("seed %d: grants per %v, leader, faults (%d); shaded: %v with no grant", h.Seed, TimelineBin, len(h.Faults), TimelineBin)
	if len(bands) > 1 {
		title = fmt.Sprintf("seed %d, %d partitions: grants per %v, leader of each partition (dark: %v without a grant of it), faults (%d)",
			h.Seed, len(bands), TimelineBin, TimelineBin, len(h.Faults))
	}
	d.Text(tlLeft, 18, title, `font-size="14"`)
	for _, g := range emptyBins(bins, h.End) {
		d.Rect(x(time.Duration(g[0])*TimelineBin), tlTop, float64(g[1]-g[0])*binW, float64(tlGrants), gapColor, `class="gap"`)
	}
	xy := make([]float64, 0, 4*len(bins))
	for i, n := range bins {
		y := tlTop + tlGrants - float64(tlGrants)*float64(n)/float64(peak)
		xy = append(xy, x(time.Duration(i)*TimelineBin), y, x(time.Duration(i+1)*TimelineBin), y)
	}
	d.Polyline(xy, barColor, `class="grants"`, `stroke-width="1"`)
	d.Line(tlLeft, tlTop, tlLeft, tlTop+tlGrants, axisColor)
	d.Line(tlLeft, tlTop+tlGrants, tlLeft+plotW, tlTop+tlGrants, axisColor)
	d.Text(4, tlTop+10, fmt.Sprint(peak))
	d.Text(4, tlTop+tlGrants, "0")

	colors := map[string]string{}
	var leaders []string
	for p, ss := range bands {
		y := bandY + rowH*float64(p)
		for _, s := range ss {
			c, ok := colors[s.leader]
			if !ok {
				c = leaderColors[len(colors)%len(leaderColors)]
				colors[s.leader] = c
				leaders = append(leaders, s.leader)
			}
			what := fmt.Sprintf("%s leads, %v to %v", s.leader, rd(s.from), rd(s.to))
			if len(bands) > 1 {
				what = fmt.Sprintf("%s leads partition %d, %v to %v", s.leader, p, rd(s.from), rd(s.to))
			}
			d.Group(what, `class="leader"`)
			d.Rect(x(s.from), y, max(1, x(s.to)-x(s.from)), rowH-1, c)
			d.End()
		}
	}
	if len(bands) > 1 {
		for p, gs := range partEmptyBins(h, len(bins)) {
			y := bandY + rowH*float64(p)
			for _, g := range gs {
				d.Rect(x(time.Duration(g[0])*TimelineBin), y, max(1, float64(g[1]-g[0])*binW), rowH-1, "#000", `class="pgap"`, `opacity="0.55"`)
			}
		}
		d.Text(4, bandY+15, "leaders")
		d.Text(4, bandY+29, fmt.Sprintf("p0-%d", len(bands)-1), `font-size="10"`)
	} else {
		d.Text(4, bandY+15, "leader")
	}
	d.Text(4, faultY+15, "faults")
	kinds := map[Kind]bool{}
	for _, f := range h.Faults {
		kinds[f.Kind] = true
		c := faultColors[f.Kind]
		if c == "" {
			c = "#000"
		}
		healed := max(f.Healed, f.At)
		d.Group(fmt.Sprintf("%s %s at %v, healed %v: %s", f.Kind, f.Target, rd(f.At), rd(healed), f.Detail), `class="fault"`)
		d.Rect(x(f.At), faultY, max(2, x(healed)-x(f.At)), tlBand, c, `opacity="0.6"`)
		d.Line(x(f.At), tlTop, x(f.At), faultY+tlBand, c, `stroke-width="1"`, `opacity="0.5"`)
		d.End()
	}

	axisY := faultY + tlBand + 16
	step := tickStep(span)
	for t := time.Duration(0); t <= span; t += step {
		d.Line(x(t), faultY+tlBand, x(t), faultY+tlBand+4, axisColor)
		d.Text(x(t)-8, axisY, fmt.Sprintf("%gs", t.Seconds()))
	}
	lx := float64(tlLeft)
	legendY := axisY + 22
	for _, l := range leaders {
		d.Rect(lx, legendY-10, 12, 12, colors[l])
		d.Text(lx+16, legendY, l)
		lx += 30 + 7*float64(len(l))
	}
	for _, k := range AllKinds {
		if !kinds[k] {
			continue
		}
		d.Rect(lx, legendY-10, 12, 12, faultColors[k], `opacity="0.6"`)
		d.Text(lx+16, legendY, string(k))
		lx += 30 + 7*float64(len(k))
	}
	_, err := d.WriteTo(w)
	return err
}

// tickStep is a round step giving about ten ticks over span.
func tickStep(span time.Duration) time.Duration {
	for _, s := range []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute} {
		if span/s <= 12 {
			return s
		}
	}
	return 10 * time.Minute
}
