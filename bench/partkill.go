package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/client"
	"github.com/stockstate/stock/wire"
)

// The partkill scenario: kill -9 of one responder of three under load, with
// benchPartitions partitions. Each run starts a cluster of its own, sets
// killSKUsPer SKUs in every partition to a limit no run reaches, and keeps
// killLoops closed loops of single acquires per SKU going from the bench
// itself, straight to each SKU's partition subject (wire.SKUSubject), so
// that every grant is seen with the time its request was sent, the time
// its reply came and the reply's remaining. Once leadership is spread and
// the load has run killLoad, the responder leading the most partitions is
// killed with SIGKILL; the load goes on killAfter more.
//
// Per partition the kill orphaned, the result is the time from the kill to
// the first grant of one of its SKUs to a request sent after the kill (a
// reply already on its way from the killed process does not count); per
// other partition, the longest time without a grant of its SKUs in the
// killAfter after the kill. Every grant names its units, so the grants
// seen show whether any unit was granted twice or beyond the limit.
//
// A request whose reply does not come within killAttempt (one in flight
// to the killed responder) is followed by the next; its reply, should it
// still come, counts when it comes. One that meets no responders (its
// partition has no leader yet) is sent again after a millisecond.

const (
	killResponders = 3
	killSKUsPer    = 10
	killLimit      = 1_000_000_000
	killLoops      = 2
	killConns      = 4
	killLoad       = 2 * time.Second
	killAfter      = 5 * time.Second
	killAttempt    = 100 * time.Millisecond
	killRetry      = time.Millisecond

	orphanTarget = 500 * time.Millisecond // median, kill → first grant again
	gapTarget    = 50 * time.Millisecond  // longest gap of a partition the kill did not orphan
)

// seenGrant is one grant the load saw; times are since the run's start.
type seenGrant struct {
	sent, at           time.Duration
	granted, remaining int64
}

// killRun is one run's results.
type killRun struct {
	killed   string          // id of the killed responder
	killedAt time.Time       // when, to match the responders' logs
	orphans  []time.Duration // per orphaned partition: kill → first grant again (killAfter if none)
	never    int             // orphaned partitions with no grant again within killAfter
	regaps   []time.Duration // per orphaned partition granting again: its longest gap after that, to the end
	gaps     []time.Duration // per other partition: longest gap after the kill
	oversold int64           // units granted beyond the limits
	twice    int64           // units named by more than one grant
	grants   int64           // grants seen
	moves    int             // partitions that changed leader after the kill beyond the orphans (handoffs)
	after    []int           // partitions each survivor led at the end

	// Attempts that granted nothing.
	timeouts, noResponders, unavailable int64
	late                                int64 // grants whose reply came after killAttempt
}

// killSKUs are killSKUsPer SKU names in each of benchPartitions
// partitions, by partition.
func killSKUs() [][]string {
	byPart := make([][]string, benchPartitions)
	left := benchPartitions
	for i := 0; left > 0; i++ {
		sku := fmt.Sprintf("pk-%d", i)
		p := wire.Partition(sku, benchPartitions)
		if len(byPart[p]) < killSKUsPer {
			byPart[p] = append(byPart[p], sku)
			if len(byPart[p]) == killSKUsPer {
				left--
			}
		}
	}
	return byPart
}

// partkill runs o.runs kills, each in a cluster of its own.
func (p *procs) partkill(ctx context.Context, o options, bin func(string) string, natsURL string) ([]killRun, error) {
	var runs []killRun
	for i := range o.runs {
		r, err := p.killRun(ctx, bin, natsURL, i)
		if err != nil {
			return runs, fmt.Errorf("run %d: %w", i+1, err)
		}
		fmt.Fprintf(os.Stderr, "partkill run %d: killed %s at %s, leader of %d; orphaned: first grant again after %v median (%v–%v), %d never, then gaps up to %v; "+
			"others' longest gap %v median, %v at most; %d handoffs after the kill, survivors lead %v; "+
			"%d grants seen (%d of them late), %d timeouts, %d no responders, %d unavailable; %d oversold, %d granted twice\n",
			i+1, r.killed, r.killedAt.UTC().Format("15:04:05.000"), len(r.orphans), medianDur(r.orphans), slices.Min(r.orphans), slices.Max(r.orphans), r.never, maxDur(r.regaps),
			medianDur(r.gaps), slices.Max(r.gaps), r.moves, r.after,
			r.grants, r.late, r.timeouts, r.noResponders, r.unavailable, r.oversold, r.twice)
		runs = append(runs, r)
	}
	return runs, nil
}

// killRun is one run: cluster, SKUs, load, kill, results.
func (p *procs) killRun(ctx context.Context, bin func(string) string, natsURL string, i int) (killRun, error) {
	var res killRun
	c, err := p.startFleet(ctx, bin, natsURL, fmt.Sprintf("partkill-%d", i), killResponders, "info", nil)
	if err != nil {
		return res, err
	}
	defer c.stop()
	if err := c.waitSpread(ctx); err != nil {
		return res, err
	}
	byPart := killSKUs()
	if err := killSetLimits(ctx, natsURL, byPart); err != nil {
		return res, err
	}

	conns := make([]*nats.Conn, killConns)
	for k := range conns {
		if conns[k], err = nats.Connect(natsURL); err != nil {
			return res, err
		}
		defer conns[k].Close()
	}
	start := time.Now()
	lctx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	type loop struct {
		part, sku int
		grants    []seenGrant
		counts    loopCounts
		err       error
	}
	var loops []*loop
	var wg sync.WaitGroup
	for part, skus := range byPart {
		for s, sku := range skus {
			subject := wire.SKUSubject("stock", wire.SubjectAcquire, sku, benchPartitions)
			for range killLoops {
				l := &loop{part: part, sku: s}
				nc := conns[len(loops)%len(conns)]
				loops = append(loops, l)
				wg.Go(func() { l.grants, l.err = acquireLoop(lctx, nc, subject, start, &l.counts) })
			}
		}
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			stopLoad()
			wg.Wait()
		}
	}
	defer stop()

	if err := sleepOrDone(ctx, killLoad); err != nil {
		return res, err
	}
	victim, orphaned, termsBefore, err := c.pickVictim()
	if err != nil {
		return res, err
	}
	res.killed = victim.id
	if err := syscall.Kill(-victim.pid(p), syscall.SIGKILL); err != nil {
		return res, err
	}
	kill := time.Since(start)
	res.killedAt = start.Add(kill)
	if err := sleepOrDone(ctx, killAfter); err != nil {
		return res, err
	}
	end := kill + killAfter
	stop()
	p.stop(victim.name) // reaps it
	for _, l := range loops {
		if l.err != nil {
			return res, l.err
		}
	}

	counts, err := c.leaderCounts()
	if err != nil {
		return res, err
	}
	res.after = counts
	if termsAfter, err := c.terms(); err == nil {
		res.moves = termsAfter - termsBefore - len(orphaned)
	}

	perPart := make([][]seenGrant, benchPartitions)
	perSKU := map[[2]int][]seenGrant{}
	for _, l := range loops {
		perPart[l.part] = append(perPart[l.part], l.grants...)
		key := [2]int{l.part, l.sku}
		perSKU[key] = append(perSKU[key], l.grants...)
		res.grants += int64(len(l.grants))
		res.timeouts += l.counts.timeouts
		res.noResponders += l.counts.noResponders
		res.unavailable += l.counts.unavailable
		res.late += l.counts.late
	}
	for part, gs := range perPart {
		if slices.Contains(orphaned, part) {
			t, ok := firstGrantAgain(gs, kill, end)
			if !ok {
				res.never++
				t = killAfter
			} else {
				res.regaps = append(res.regaps, longestGap(gs, kill+t, end))
			}
			res.orphans = append(res.orphans, t)
			continue
		}
		res.gaps = append(res.gaps, longestGap(gs, kill, end))
	}
	for _, gs := range perSKU {
		over, twice := unitsCheck(gs, killLimit)
		res.oversold += over
		res.twice += twice
	}
	if len(res.orphans) == 0 || len(res.gaps) == 0 {
		return res, fmt.Errorf("the killed responder %s led %d of %d partitions: nothing to compare", victim.id, len(orphaned), benchPartitions)
	}
	return res, nil
}

// pickVictim returns the responder leading the most partitions, the
// partitions it leads, and the terms the others have served so far. The
// live responders' partitions must be all of them, each led once.
func (c *fleet) pickVictim() (victim fleetMember, parts []int, terms int, err error) {
	seen := map[int]string{}
	for _, r := range c.responders {
		led, err := leadingParts(r.http)
		if err != nil {
			return victim, nil, 0, err
		}
		for _, part := range led {
			if other, dup := seen[part]; dup {
				return victim, nil, 0, fmt.Errorf("partition %d led by both %s and %s", part, other, r.id)
			}
			seen[part] = r.id
		}
		if len(led) > len(parts) {
			victim, parts = r, led
		}
	}
	if len(seen) != benchPartitions {
		return victim, nil, 0, fmt.Errorf("%d of %d partitions have a leader before the kill", len(seen), benchPartitions)
	}
	for _, r := range c.responders {
		if r.name == victim.name {
			continue
		}
		m, err := metricsOf(r.http)
		if err != nil {
			return victim, nil, 0, err
		}
		terms += int(m["stock_terms_total"])
	}
	return victim, parts, terms, nil
}

// terms is the terms the live responders have served so far.
func (c *fleet) terms() (int, error) {
	n := 0
	for _, r := range c.responders {
		if r.pid(c.p) == 0 {
			continue
		}
		m, err := metricsOf(r.http)
		if err != nil {
			return 0, err
		}
		n += int(m["stock_terms_total"])
	}
	return n, nil
}

// killSetLimits creates every SKU with killLimit units, 16 at a time.
func killSetLimits(ctx context.Context, natsURL string, byPart [][]string) error {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	cfg := client.DefaultConfig()
	cfg.Partitions = benchPartitions
	cl, err := client.New(nc, cfg)
	if err != nil {
		return err
	}
	defer cl.Close()
	var mu sync.Mutex
	var errs []error
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, skus := range byPart {
		for _, sku := range skus {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if _, err := cl.SetLimit(ctx, sku, killLimit); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("set %s: %w", sku, err))
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// loopCounts are the attempts of one loop that granted nothing.
type loopCounts struct{ timeouts, noResponders, unavailable, late int64 }

// acquireLoop acquires one unit of subject's SKU at a time until ctx ends,
// and returns the grants it saw. Each request has a reply subject of its
// own on the loop's subscription, so a reply that comes after killAttempt,
// when the next request is already out, still counts, at the time it came
// and with the time its request was sent. An error reply other than
// unavailable (the SKU unknown, sold out, a bad request) ends the loop with
// an error.
func acquireLoop(ctx context.Context, nc *nats.Conn, subject string, start time.Time, counts *loopCounts) ([]seenGrant, error) {
	prefix := nats.NewInbox()
	sub, err := nc.SubscribeSync(prefix + ".*")
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	var out []seenGrant
	var v wire.ReplyView
	pending := map[string]time.Duration{} // reply subject → when its request was sent
	for seq := 1; ctx.Err() == nil; seq++ {
		reply := prefix + "." + strconv.Itoa(seq)
		sent := time.Since(start)
		pending[reply] = sent
		if err := nc.PublishRequest(subject, reply, nil); err != nil {
			if ctx.Err() != nil {
				return out, nil
			}
			return out, fmt.Errorf("%s: %w", subject, err)
		}
		for answered := false; !answered && ctx.Err() == nil; {
			wait := sent + killAttempt - time.Since(start)
			if wait <= 0 {
				counts.timeouts++
				break
			}
			m, err := sub.NextMsg(wait)
			at := time.Since(start)
			switch {
			case errors.Is(err, nats.ErrTimeout):
				continue // counted above, on the next turn
			case errors.Is(err, nats.ErrNoResponders):
				// Only a request sent while nobody listens gets this, and
				// at once: the one just sent.
				delete(pending, reply)
				counts.noResponders++
				answered = true
				_ = sleepOrDone(ctx, killRetry)
				continue
			case err != nil:
				if ctx.Err() != nil {
					return out, nil
				}
				return out, fmt.Errorf("%s: %w", subject, err)
			}
			sentAt, ok := pending[m.Subject]
			if !ok {
				continue
			}
			delete(pending, m.Subject)
			current := m.Subject == reply
			answered = current
			ok = wire.DecodeReplyView(m.Data, &v)
			code := m.Header.Get(wire.HeaderErrorCode)
			switch {
			case string(v.Error) == wire.ErrUnavailable || code == strconv.Itoa(wire.Code(wire.ErrUnavailable)):
				counts.unavailable++
				if current {
					_ = sleepOrDone(ctx, killRetry)
				}
				continue
			case !ok || code != "" || len(v.Error) > 0 || v.Granted != 1:
				return out, fmt.Errorf("%s: reply %q (error code %q)", subject, m.Data, code)
			}
			if !current {
				counts.late++
			}
			out = append(out, seenGrant{sent: sentAt, at: at, granted: v.Granted, remaining: v.Remaining})
		}
	}
	return out, nil
}

// firstGrantAgain returns how long after kill the first grant (of gs, in
// any order) to a request sent after kill came, and false if none came by
// end.
func firstGrantAgain(gs []seenGrant, kill, end time.Duration) (time.Duration, bool) {
	first, ok := time.Duration(0), false
	for _, g := range gs {
		if g.sent >= kill && g.at <= end && (!ok || g.at < first) {
			first, ok = g.at, true
		}
	}
	return first - kill, ok
}

// longestGap returns the longest time without a grant (of gs, in any
// order) from kill to end: it runs from the last grant at or before kill
// (kill itself if there is none) over every grant after it, to end.
func longestGap(gs []seenGrant, kill, end time.Duration) time.Duration {
	prev := time.Duration(-1)
	var after []time.Duration
	for _, g := range gs {
		switch {
		case g.at <= kill:
			prev = max(prev, g.at)
		case g.at <= end:
			after = append(after, g.at)
		}
	}
	if prev < 0 {
		prev = kill
	}
	slices.Sort(after)
	longest := time.Duration(0)
	for _, t := range append(after, end) {
		longest = max(longest, t-prev)
		prev = t
	}
	return longest
}

// unitsCheck returns, of the grants gs of one SKU with limit units, the
// units granted beyond the limit (the more of: the grants' sum less the
// limit, and the units named outside [0, limit)) and the units named by
// more than one grant. A grant of n with remaining r names the units
// [limit-r-n, limit-r).
func unitsCheck(gs []seenGrant, limit int64) (oversold, twice int64) {
	type span struct{ lo, hi int64 }
	spans := make([]span, 0, len(gs))
	var sum, outside int64
	for _, g := range gs {
		hi := limit - g.remaining
		s := span{hi - g.granted, hi}
		spans = append(spans, s)
		sum += g.granted
		outside += max(0, min(s.hi, 0)-s.lo) + max(0, s.hi-max(s.lo, limit))
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.lo, b.lo) })
	reach := int64(math.MinInt64)
	for _, s := range spans {
		if reach > s.lo {
			twice += min(reach, s.hi) - s.lo
		}
		reach = max(reach, s.hi)
	}
	return max(0, sum-limit, outside), twice
}

func maxDur(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	return slices.Max(ds)
}

func medianDur(ds []time.Duration) time.Duration {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return time.Duration(median(xs))
}

// msText formats a duration in milliseconds for the table.
func msText(d time.Duration) string { return fmt.Sprintf("%.0f ms", d.Seconds()*1000) }

func printPartkill(w io.Writer, runs []killRun) {
	if len(runs) == 0 {
		return
	}
	var orphans, regaps, gaps, perRun []time.Duration
	var oversold, twice, grants, never int64
	var over []string
	var moves []string
	for i, r := range runs {
		orphans = append(orphans, r.orphans...)
		regaps = append(regaps, r.regaps...)
		gaps = append(gaps, r.gaps...)
		perRun = append(perRun, medianDur(r.orphans))
		oversold, twice, grants, never = oversold+r.oversold, twice+r.twice, grants+r.grants, never+int64(r.never)
		for _, g := range r.gaps {
			if g > gapTarget {
				over = append(over, fmt.Sprintf("run %d: %s", i+1, msText(g)))
			}
		}
		moves = append(moves, fmt.Sprint(r.moves))
	}
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "not met"
	}
	perRunText := make([]string, len(perRun))
	for i, d := range perRun {
		perRunText[i] = msText(d)
	}
	fmt.Fprintf(w, "\nKill -9 under load: %d responders, %d partitions, %d SKUs (%d per partition), %d closed loops of single acquires per SKU from the bench (reply timeout %v); "+
		"the responder leading the most partitions killed %v into the load, measured for %v after; %d runs, each a cluster of its own.\n\n",
		killResponders, benchPartitions, benchPartitions*killSKUsPer, killSKUsPer, killLoops, killAttempt, killLoad, killAfter, len(runs))
	fmt.Fprintln(w, "| measure | median | min–max (all runs) | target | |")
	fmt.Fprintln(w, "|---|---:|---|---|---|")
	fmt.Fprintf(w, "| orphaned partitions (%d, over %d runs): kill → first grant again | %s | %s–%s | median ≤ %s | %s |\n",
		len(orphans), len(runs), msText(medianDur(orphans)), msText(slices.Min(orphans)), msText(slices.Max(orphans)), msText(orphanTarget),
		met(medianDur(orphans) <= orphanTarget && never == 0))
	fmt.Fprintf(w, "| other partitions (%d, over %d runs): longest gap between grants after the kill | %s | %s–%s | never > %s | %s |\n",
		len(gaps), len(runs), msText(medianDur(gaps)), msText(slices.Min(gaps)), msText(slices.Max(gaps)), msText(gapTarget), met(len(over) == 0))
	if len(regaps) > 0 {
		fmt.Fprintf(w, "| orphaned partitions (%d): longest gap after granting again (handoffs by the balancer) | %s | %s–%s | | |\n",
			len(regaps), msText(medianDur(regaps)), msText(slices.Min(regaps)), msText(slices.Max(regaps)))
	}
	fmt.Fprintf(w, "| units oversold | %d | | 0 | %s |\n", oversold, met(oversold == 0))
	fmt.Fprintf(w, "| units granted twice | %d | | 0 | %s |\n", twice, met(twice == 0))
	fmt.Fprintf(w, "\nMedian per run of the orphaned partitions: %s; orphaned partitions with no grant within %v: %d; handoffs after the kill per run: %s; %d grants seen in all.\n",
		strings.Join(perRunText, ", "), killAfter, never, strings.Join(moves, ", "), grants)
	if len(over) > 0 {
		fmt.Fprintf(w, "Gaps over %s: %s.\n", msText(gapTarget), strings.Join(over, "; "))
	}
}
