package stock_test

import (
	"encoding/binary"
	"errors"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/stockstate/stock/stock"
)

// FuzzItem drives leaders of one SKU through a sequence of operations decoded
// from the input, with a store that holds the durable Record, and checks
// after every step that no unit is ever granted twice or past the limit:
//
//   - every leader: 0 <= Sold <= Cap <= Limit <= MaxLimit, and Cap <= the
//     durable cap (memory never grants past what is persisted);
//   - every grant names the units [L-remaining-n, L-remaining); the names of
//     all grants, by all leaders, are disjoint and below the current leader's
//     Sold, so their total is at most Sold <= L (which implies the weaker
//     granted - released <= L);
//   - PlanRefill obeys its bounds, tracks the rate and doubles after a stall;
//   - every record written carries the per-buyer cap the leader has, or the
//     one PlanSet sets, and the current leader's is always the durable one.
//
// Earlier leaders stay around as paused leaders that wake up and keep
// granting from the window they had; their writes are fenced out, so they
// only acquire.
func FuzzItem(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		newModel(t, &input{b: data}).run()
	})
}

// Operations, as the first byte of each step (taken modulo opCount).
const (
	opAcquire = iota
	opAcquire2
	opAcquirePaused
	opRefill
	opRefill2
	opLimit
	opRelease
	opTrimResume
	opCrashResume
	opCount
)

// Outcomes of a store write (taken modulo 4).
const (
	wrote        = 0
	wrote2       = 1
	writeFailed  = 2 // known not applied
	wroteUnknown = 3 // applied, but the leader was told it timed out
)

const exact = 0xff // a selector byte that announces an exact value

type input struct{ b []byte }

func (in *input) empty() bool { return len(in.b) == 0 }

func (in *input) byte() byte {
	if len(in.b) == 0 {
		return 0
	}
	c := in.b[0]
	in.b = in.b[1:]
	return c
}

func (in *input) u16() int64 {
	return int64(in.byte())<<8 | int64(in.byte())
}

func (in *input) u32() int64 {
	return in.u16()<<16 | in.u16()
}

func (in *input) u64() uint64 {
	return uint64(in.u32())<<32 | uint64(in.u32())
}

func clamp(v, lo, hi int64) int64 { return max(lo, min(v, hi)) }

// n decodes a request size in 1..MaxUnits, mostly small.
func (in *input) n() int64 {
	b := in.byte()
	if b == exact {
		return clamp(in.u32(), 1, stock.MaxUnits)
	}
	switch b >> 5 {
	case 5:
		return 1 + in.u16()
	case 6:
		return 1 + in.u32()%stock.MaxUnits
	case 7:
		return stock.MaxUnits
	}
	return 1 + int64(b&31)
}

// need decodes the units waiting requests ask for.
func (in *input) need() int64 {
	b := in.byte()
	if b == exact {
		return in.u32()
	}
	switch b % 4 {
	case 1:
		return int64(b >> 2)
	case 2:
		return in.u16()
	case 3:
		return 1 + in.u32()%(4*stock.MaxUnits)
	}
	return 0
}

// step decodes how far the clock moves.
func (in *input) step() time.Duration {
	b := in.byte()
	if b == exact {
		return time.Duration(in.u32())
	}
	v := time.Duration(in.byte())
	switch b % 6 {
	case 1:
		return v
	case 2:
		return v * time.Microsecond
	case 3:
		return v * time.Millisecond
	case 4:
		return v * time.Second
	case 5:
		return v * time.Hour
	}
	return 0
}

// limit decodes a new limit for it, in 0..MaxLimit.
func (in *input) limit(it *stock.Item) int64 {
	b := in.byte()
	if b == exact {
		return clamp(int64(in.u64()&(1<<62-1)), 0, stock.MaxLimit)
	}
	v := in.u16()
	var l int64
	switch b % 6 {
	case 0:
		l = it.Sold - v
	case 1:
		l = it.Sold + v
	case 2:
		l = it.Cap + v - 1<<15
	case 3:
		l = it.Limit + v
	case 4:
		l = it.Limit - v
	case 5:
		l = v * v * v
	}
	return clamp(l, 0, stock.MaxLimit)
}

// leader is one leader's Item and what the test knows of its refill state.
type leader struct {
	it          stock.Item
	planned     bool      // a PlanRefill got past its early return
	lastPlan    time.Time // time of that plan
	soldAtPlan  int64     // Sold at that plan
	window      int64     // window it planned, if windowKnown
	windowKnown bool
	stalled     bool // a Wait since that plan
}

func newLeader(r stock.Record) *leader {
	return &leader{it: stock.Resume(r), windowKnown: true}
}

type span struct{ lo, hi int64 }

type model struct {
	t       *testing.T
	in      *input
	p       stock.Policy
	now     time.Time
	durable stock.Record // what the store holds
	cur     *leader
	paused  []*leader // earlier leaders that may wake up and grant
	names   []span    // units named by grants: sorted, disjoint
	granted int64     // units granted by all leaders
	back    int64     // units released, as applied by a leader
}

func newModel(t *testing.T, in *input) *model {
	var limit int64
	switch b := in.byte(); {
	case b == exact:
		limit = clamp(int64(in.u64()&(1<<62-1)), 0, stock.MaxLimit)
	case b%4 == 0:
		limit = int64(in.byte())
	case b%4 == 1:
		limit = in.u16()
	case b%4 == 2:
		limit = in.u32()
	default:
		limit = stock.MaxLimit - in.u16()
	}
	var cp int64
	if b := in.byte(); b == exact {
		cp = clamp(int64(in.u64()&(1<<62-1)), 0, limit)
	} else {
		cp = limit * int64(b) / 254
	}
	p := stock.DefaultPolicy()
	if b := in.byte(); b&1 == 1 {
		v := time.Duration(1 + in.byte())
		p.Interval = []time.Duration{v * time.Millisecond, v * time.Second, v * time.Minute}[b>>1%3]
		p.MinWindow = int64(in.byte() % 64)
		p.MaxShare = []float64{0.01, 0.1, 0.25, 0.5, 1}[in.byte()%5]
	}
	// The per-buyer cap comes from the limit, so that inputs keep their
	// layout: often 0 (none), else small.
	rec := stock.Record{Limit: limit, Cap: cp, PerBuyer: limit % 4}
	m := &model{t: t, in: in, p: p, now: t0, durable: rec, cur: newLeader(rec)}
	t.Logf("start %+v, policy %+v", rec, p)
	return m
}

func (m *model) run() {
	m.check()
	for steps := 0; !m.in.empty() && steps < 5000; steps++ {
		switch op := m.in.byte() % opCount; op {
		case opAcquire, opAcquire2:
			m.acquire(m.cur, m.in.n())
		case opAcquirePaused:
			l := m.cur
			if len(m.paused) > 0 {
				l = m.paused[int(m.in.byte())%len(m.paused)]
			}
			m.acquire(l, m.in.n())
		case opRefill, opRefill2:
			m.refill()
		case opLimit:
			m.setLimit()
		case opRelease:
			m.release()
		case opTrimResume:
			m.trimResume()
		case opCrashResume:
			m.crashResume()
		}
		m.check()
	}
}

// acquire asks l for n units and checks the outcome against the arithmetic.
func (m *model) acquire(l *leader, n int64) {
	t := m.t
	t.Helper()
	before := l.it
	rem, o := l.it.Acquire(n)
	r, w := before.Limit-before.Sold, before.Cap-before.Sold
	want, wantRem := stock.Granted, r-n
	switch {
	case r <= 0:
		want, wantRem = stock.SoldOut, 0
	case n > r:
		want, wantRem = stock.Insufficient, r
	case n > w:
		want, wantRem = stock.Wait, r
	}
	if o != want || rem != wantRem {
		t.Fatalf("Acquire(%d) on %+v = %d, %v; want %d, %v", n, stateOf(&before), rem, o, wantRem, want)
	}
	if o != stock.Granted {
		if stateOf(&l.it) != stateOf(&before) {
			t.Fatalf("%v changed %+v to %+v", o, stateOf(&before), stateOf(&l.it))
		}
		if o == stock.Wait {
			l.stalled = true
		}
		return
	}
	lo, hi := l.it.Limit-rem-n, l.it.Limit-rem
	if lo != before.Sold || hi != l.it.Sold || l.it.Cap != before.Cap || l.it.Limit != before.Limit {
		t.Fatalf("grant of %d names [%d, %d), item went %+v to %+v", n, lo, hi, stateOf(&before), stateOf(&l.it))
	}
	m.name(lo, hi)
	m.granted += n
}

// name records that the units [lo, hi) were granted; no unit twice.
func (m *model) name(lo, hi int64) {
	i := sort.Search(len(m.names), func(i int) bool { return m.names[i].lo >= lo })
	if i > 0 && m.names[i-1].hi > lo || i < len(m.names) && m.names[i].lo < hi {
		m.t.Fatalf("units [%d, %d) granted twice", lo, hi)
	}
	switch {
	case i > 0 && m.names[i-1].hi == lo:
		m.names[i-1].hi = hi
		if i < len(m.names) && m.names[i].lo == hi {
			m.names[i-1].hi = m.names[i].hi
			m.names = slices.Delete(m.names, i, i+1)
		}
	case i < len(m.names) && m.names[i].lo == hi:
		m.names[i].lo = lo
	default:
		m.names = slices.Insert(m.names, i, span{lo, hi})
	}
}

func (m *model) refill() {
	t := m.t
	t.Helper()
	l := m.cur
	m.now = m.now.Add(m.in.step())
	need := m.in.need()
	outcome := m.in.byte() % 4
	before := l.it
	target, ok := l.it.PlanRefill(m.now, m.p, need)
	checkPlan(t, before, l.it, m.p, need, target, ok)
	if before.Cap >= before.Limit {
		return // early return: PlanRefill changed nothing
	}
	// The window planned is target-Sold if ok; if not, it fits in Cap-Sold.
	w := before.Cap - before.Sold
	if ok {
		w = target - before.Sold
	}
	rem := before.Limit - before.Sold
	sh := share(m.p, rem)
	if lb := min(m.p.MinWindow, sh, rem); w < lb {
		t.Fatalf("window %d below min(MinWindow, share, remaining) = %d", w, lb)
	}
	if l.stalled && l.windowKnown {
		if lb := min(2*l.window, sh, rem); w < lb {
			t.Fatalf("window %d after a stall, previous %d: want at least %d", w, l.window, lb)
		}
	}
	if dt := m.now.Sub(l.lastPlan).Seconds(); l.planned && dt > 0 {
		// The rate estimate is at least half the rate just observed.
		observed := float64(before.Sold-l.soldAtPlan) / dt
		lb := min(observed/2*m.p.Interval.Seconds()*(1-1e-9)-1, float64(sh), float64(rem))
		if float64(w) < lb {
			t.Fatalf("window %d: %d units in %gs, interval %v, want at least %g",
				w, before.Sold-l.soldAtPlan, dt, m.p.Interval, lb)
		}
	}
	l.planned, l.lastPlan, l.soldAtPlan, l.stalled = true, m.now, before.Sold, false
	l.window, l.windowKnown = w, ok
	if !ok {
		return
	}
	switch outcome {
	case wrote, wrote2:
		m.durable.Cap = target
		l.it.Raise(target)
		if l.it.Cap != target {
			t.Fatalf("Raise(%d) left cap %d", target, l.it.Cap)
		}
	case wroteUnknown:
		// Not served from until known: a larger durable cap only wastes.
		m.durable.Cap = target
	}
}

// inFlight grants from the current leader while a write is in flight.
func (m *model) inFlight() {
	for k := m.in.byte() % 4; k > 0; k-- {
		m.acquire(m.cur, m.in.n())
	}
}

func (m *model) setLimit() {
	t := m.t
	t.Helper()
	it := &m.cur.it
	l := m.in.limit(it)
	before := *it
	// An odd limit goes with a per-buyer cap, by PlanSet, as an admin set
	// that names one.
	set, per := l%2 == 1, before.PerBuyer
	var rec stock.Record
	if set {
		per = l % 3
		rec = it.PlanSet(l, per)
	} else {
		rec = it.PlanLimit(l)
	}
	if want := (stock.Record{Limit: max(l, before.Sold), Cap: min(before.Cap, max(l, before.Sold)), PerBuyer: per}); rec != want {
		t.Fatalf("PlanLimit(%d) (set %v) on %+v = %+v, want %+v", l, set, stateOf(&before), rec, want)
	}
	if it.PerBuyer != before.PerBuyer {
		t.Fatalf("planning changed the per-buyer cap in memory from %d to %d", before.PerBuyer, it.PerBuyer)
	}
	if want := (lsc{before.Limit, before.Sold, rec.Cap}); stateOf(it) != want {
		t.Fatalf("PlanLimit(%d) left %+v, want %+v", l, stateOf(it), want)
	}
	m.inFlight()
	if it.Sold > rec.Limit {
		t.Fatalf("sold %d past the limit %d being written", it.Sold, rec.Limit)
	}
	switch m.in.byte() % 4 {
	case wrote, wrote2:
		m.durable = rec
		capBefore := it.Cap
		it.Apply(rec)
		if want := (lsc{rec.Limit, it.Sold, min(capBefore, rec.Cap)}); stateOf(it) != want || it.PerBuyer != per {
			t.Fatalf("Apply(%+v) left %+v, per-buyer cap %d; want %+v, %d", rec, stateOf(it), it.PerBuyer, want, per)
		}
	default:
		// Failed: the limit stays, the lowered cap is safe. (An unknown
		// outcome of a limit write is not modelled: the leader must not
		// assume either.)
	}
}

func (m *model) release() {
	t := m.t
	t.Helper()
	it := &m.cur.it
	var n int64
	switch b := m.in.byte(); b % 4 {
	case 0, 1:
		n = 1 + m.in.u16()%max(1, min(m.granted-m.back, stock.MaxUnits))
	case 2:
		n = min(it.Sold+1, stock.MaxUnits)
	default:
		n = m.in.n()
	}
	before := *it
	rec, err := it.PlanRelease(n)
	if *it != before {
		t.Fatalf("PlanRelease changed %+v to %+v", before, *it)
	}
	switch {
	case n > before.Sold:
		if !errors.Is(err, stock.ErrReleaseExceedsSold) {
			t.Fatalf("PlanRelease(%d) with %d sold: err %v, want ErrReleaseExceedsSold", n, before.Sold, err)
		}
	case before.Limit+n > stock.MaxLimit:
		if err == nil || errors.Is(err, stock.ErrReleaseExceedsSold) {
			t.Fatalf("PlanRelease(%d) past MaxLimit: err %v", n, err)
		}
	case err != nil || rec != (stock.Record{Limit: before.Limit + n, Cap: before.Cap, PerBuyer: before.PerBuyer}):
		t.Fatalf("PlanRelease(%d) on %+v = %+v, %v", n, stateOf(&before), rec, err)
	}
	m.inFlight()
	outcome := m.in.byte() % 4
	if err != nil {
		return
	}
	switch outcome {
	case wrote, wrote2:
		m.durable = rec
		it.Apply(rec)
		m.back += n
		if it.Limit != before.Limit+n {
			t.Fatalf("Apply(%+v): limit %d, want %d", rec, it.Limit, before.Limit+n)
		}
	case wroteUnknown:
		// The store has the higher limit, the leader does not: it
		// undersells until the next leader.
		m.durable = rec
	}
}

// trimResume is a graceful change of leader: the old leader stops granting,
// writes the trim, and the next one resumes from whatever the store holds.
func (m *model) trimResume() {
	t := m.t
	t.Helper()
	old := m.cur.it
	rec := m.cur.it.Trim()
	if rec != (stock.Record{Limit: old.Limit, Cap: old.Sold, PerBuyer: old.PerBuyer}) || m.cur.it != old {
		t.Fatalf("Trim() on %+v = %+v, item now %+v", stateOf(&old), rec, stateOf(&m.cur.it))
	}
	if m.in.byte()%4 != writeFailed {
		m.durable = rec
	}
	m.resume(old)
}

// crashResume is a crash or pause of the leader: it keeps the window it had
// and may wake up and grant from it, while the next leader resumes.
func (m *model) crashResume() {
	m.paused = append(m.paused, m.cur)
	if len(m.paused) > 4 {
		m.paused = m.paused[1:]
	}
	m.resume(m.cur.it)
}

func (m *model) resume(old stock.Item) {
	t := m.t
	t.Helper()
	m.cur = newLeader(m.durable)
	if it := &m.cur.it; it.Sold != m.durable.Cap || it.Sold < old.Sold || it.Window() != 0 {
		t.Fatalf("Resume(%+v) = %+v after a leader at %+v", m.durable, stateOf(it), stateOf(&old))
	}
}

// expectRefill is what NeedsRefill must say of l, and whether the test knows.
func expectRefill(l *leader) (want, known bool) {
	it := &l.it
	switch {
	case it.Cap >= it.Limit:
		return false, true
	case l.stalled || it.Cap == it.Sold:
		return true, true
	case l.windowKnown:
		return 2*(it.Cap-it.Sold) < l.window, true
	}
	return false, false
}

func (m *model) check() {
	t := m.t
	t.Helper()
	if !m.durable.Valid() {
		t.Fatalf("durable record %+v is invalid", m.durable)
	}
	for _, l := range append([]*leader{m.cur}, m.paused...) {
		checkItem(t, &l.it)
		if l.it.Cap > m.durable.Cap {
			t.Fatalf("cap %d in memory past the durable cap %d", l.it.Cap, m.durable.Cap)
		}
		if want, known := expectRefill(l); known && l.it.NeedsRefill() != want {
			t.Fatalf("NeedsRefill() on %+v = %v, want %v", stateOf(&l.it), !want, want)
		}
	}
	cur := &m.cur.it
	if cur.PerBuyer != m.durable.PerBuyer {
		t.Fatalf("per-buyer cap %d in memory, %d durable", cur.PerBuyer, m.durable.PerBuyer)
	}
	if cur.Limit > m.durable.Limit {
		t.Fatalf("limit %d in memory past the durable limit %d", cur.Limit, m.durable.Limit)
	}
	if n := len(m.names); n > 0 && m.names[n-1].hi > cur.Sold {
		t.Fatalf("unit %d granted, but the leader's sold is %d", m.names[n-1].hi-1, cur.Sold)
	}
	if m.granted > cur.Sold || m.granted > cur.Limit || m.granted-m.back > cur.Limit {
		t.Fatalf("granted %d, released %d, leader %+v", m.granted, m.back, stateOf(cur))
	}
}

// script builds fuzz inputs, for the seed corpus.
type script []byte

func newScript(r stock.Record) script { return newScriptPolicy(r, 0) }

// newScriptPolicy starts a script with policy bytes as newModel decodes them.
func newScriptPolicy(r stock.Record, policy ...byte) script {
	s := script{exact}
	s = binary.BigEndian.AppendUint64(s, uint64(r.Limit))
	s = append(s, exact)
	s = binary.BigEndian.AppendUint64(s, uint64(r.Cap))
	return append(s, policy...)
}

func (s script) n(n int64) script { return binary.BigEndian.AppendUint32(append(s, exact), uint32(n)) }

func (s script) acquire(n int64) script { return append(s, opAcquire).n(n) }

func (s script) acquirePaused(i byte, n int64) script {
	return append(s, opAcquirePaused, i).n(n)
}

func (s script) refill(step time.Duration, need int64, outcome byte) script {
	s = binary.BigEndian.AppendUint32(append(s, opRefill, exact), uint32(step))
	s = binary.BigEndian.AppendUint32(append(s, exact), uint32(need))
	return append(s, outcome)
}

// item reaches tc by a resume at tc.Sold and a refill of the window.
func itemScript(it stock.Item) script {
	s := newScript(stock.Record{Limit: it.Limit, Cap: it.Sold})
	if it.Cap > it.Sold {
		s = s.refill(0, it.Cap-it.Sold, wrote)
	}
	return s
}

func (s script) setLimit(l int64, during []int64, outcome byte) script {
	s = binary.BigEndian.AppendUint64(append(s, opLimit, exact), uint64(l))
	s = append(s, byte(len(during)))
	for _, n := range during {
		s = s.n(n)
	}
	return append(s, outcome)
}

func (s script) release(n int64, outcome byte) script {
	return append(s, opRelease, 3).n(n).append(0, outcome)
}

func (s script) append(b ...byte) script { return append(s, b...) }

func (s script) trimResume(outcome byte) script { return append(s, opTrimResume, outcome) }

func (s script) crashResume() script { return append(s, opCrashResume) }

func fuzzSeeds() [][]byte {
	var seeds []script
	for _, tc := range acquireCases {
		seeds = append(seeds, itemScript(tc.item).acquire(tc.n).acquire(tc.n))
	}
	hot := itemScript(stock.Item{Limit: 10_000, Sold: 100, Cap: 200})
	for _, step := range []time.Duration{0, time.Nanosecond, time.Millisecond, 100 * time.Millisecond, time.Hour} {
		s := hot
		for range 8 {
			s = s.acquire(30).acquire(30).refill(step, 0, wrote).acquire(500).refill(step, 500, wrote)
		}
		seeds = append(seeds, s)
	}
	for _, l := range []int64{0, 50, 100, 150, 199, 200, 1000, stock.MaxLimit} {
		for _, o := range []byte{wrote, writeFailed} {
			seeds = append(seeds, hot.acquire(20).setLimit(l, []int64{30, 80}, o).acquire(5).refill(time.Millisecond, 10, wrote).acquire(10))
		}
	}
	for _, o := range []byte{wrote, writeFailed, wroteUnknown} {
		seeds = append(seeds,
			itemScript(stock.Item{Limit: 100, Sold: 95, Cap: 100}).release(10, o).acquire(5).acquire(10).refill(0, 10, wrote).acquire(10),
			hot.acquire(40).trimResume(o).acquire(1).refill(0, 1, o).acquire(1),
			hot.refill(time.Millisecond, 50, o).acquire(30).crashResume().refill(0, 20, wrote).acquire(20).acquirePaused(0, 50).acquirePaused(0, 1))
	}
	// A cold SKU's interval (240 minutes, MinWindow 16, MaxShare 0.25) with
	// a burst: rate times interval is past int64.
	seeds = append(seeds, newScriptPolicy(stock.Record{Limit: 1_000_000_000}, 5, 239, 16, 2).
		refill(0, stock.MaxUnits, wrote).acquire(stock.MaxUnits).refill(time.Nanosecond, 0, wrote))
	out := make([][]byte, len(seeds))
	for i, s := range seeds {
		out[i] = s
	}
	return out
}
