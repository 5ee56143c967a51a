package stock_test

import (
	"testing"
	"time"

	"github.com/stockstate/stock/stock"
)

var t0 = time.Date(2025, 11, 11, 0, 0, 0, 0, time.UTC)

// share is the MaxShare bound on a window planned while rem units remain.
func share(p stock.Policy, rem int64) int64 { return max(int64(float64(rem)*p.MaxShare), 1) }

// checkPlan fails t unless PlanRefill(_, p, need) returning target, ok on an
// item that was before obeys the bounds PlanRefill documents.
func checkPlan(t testing.TB, before, after stock.Item, p stock.Policy, need, target int64, ok bool) {
	t.Helper()
	if got := stateOf(&after); got != stateOf(&before) {
		t.Fatalf("PlanRefill changed %+v to %+v", stateOf(&before), got)
	}
	rem := before.Limit - before.Sold
	if rem <= 0 || before.Cap >= before.Limit {
		if ok || target != before.Cap {
			t.Fatalf("PlanRefill on %+v = %d, %v; want %d, false", stateOf(&before), target, ok, before.Cap)
		}
		return
	}
	if !ok {
		if target != before.Cap {
			t.Fatalf("PlanRefill = %d, false; want the cap %d", target, before.Cap)
		}
		if w := before.Cap - before.Sold; w < min(need, rem) {
			t.Fatalf("PlanRefill = false, but the window %d does not hold need %d", w, need)
		}
		return
	}
	if target <= before.Cap || target > before.Limit {
		t.Fatalf("PlanRefill on %+v = %d: not in (Cap, Limit]", stateOf(&before), target)
	}
	w := target - before.Sold
	if w < min(need, rem) {
		t.Fatalf("window %d does not hold need %d (remaining %d)", w, need, rem)
	}
	if hi := max(share(p, rem), need); w > hi {
		t.Fatalf("window %d exceeds max(MaxShare of %d, need %d) = %d", w, rem, need, hi)
	}
}

// plan calls PlanRefill and checks it with checkPlan.
func plan(t testing.TB, it *stock.Item, now time.Time, p stock.Policy, need int64) (int64, bool) {
	t.Helper()
	before := *it
	target, ok := it.PlanRefill(now, p, need)
	checkPlan(t, before, *it, p, need, target, ok)
	return target, ok
}

// take acquires n units in requests of at most MaxUnits, raising the cap to
// fit them first if needed, as a leader that persisted the raise would.
func take(t testing.TB, it *stock.Item, n int64) {
	t.Helper()
	if it.Window() < n {
		it.Raise(it.Sold + n)
	}
	for n > 0 {
		k := min(n, stock.MaxUnits)
		if _, o := it.Acquire(k); o != stock.Granted {
			t.Fatalf("Acquire(%d) = %v on %+v", k, o, stateOf(it))
		}
		n -= k
	}
}

func TestPlanRefill(t *testing.T) {
	p := stock.DefaultPolicy()
	for _, tc := range []struct {
		name       string
		item       stock.Item
		need       int64
		wantTarget int64
		wantOK     bool
	}{
		{name: "min window", item: stock.Item{Limit: 1000}, wantTarget: 16, wantOK: true},
		{name: "min window above sold", item: stock.Item{Limit: 1000, Sold: 400, Cap: 400}, wantTarget: 416, wantOK: true},
		{name: "need beats min window", item: stock.Item{Limit: 1000, Sold: 400, Cap: 400}, need: 100, wantTarget: 500, wantOK: true},
		{name: "max share beats min window", item: stock.Item{Limit: 40}, wantTarget: 10, wantOK: true},
		{name: "need beats max share", item: stock.Item{Limit: 40}, need: 30, wantTarget: 30, wantOK: true},
		{name: "need capped by remaining", item: stock.Item{Limit: 40, Sold: 10, Cap: 10}, need: 100, wantTarget: 40, wantOK: true},
		{name: "tiny remaining gets one unit", item: stock.Item{Limit: 3}, wantTarget: 1, wantOK: true},
		{name: "last unit", item: stock.Item{Limit: 100, Sold: 99, Cap: 99}, wantTarget: 100, wantOK: true},
		{name: "window counts from sold", item: stock.Item{Limit: 1000, Sold: 400, Cap: 410}, wantTarget: 416, wantOK: true},
		{name: "window already large", item: stock.Item{Limit: 1000, Sold: 400, Cap: 500}, wantTarget: 500, wantOK: false},
		{name: "window already holds need", item: stock.Item{Limit: 1000, Sold: 400, Cap: 500}, need: 100, wantTarget: 500, wantOK: false},
		{name: "need one past window", item: stock.Item{Limit: 1000, Sold: 400, Cap: 500}, need: 101, wantTarget: 501, wantOK: true},
		{name: "cap at limit", item: stock.Item{Limit: 100, Sold: 50, Cap: 100}, need: 60, wantTarget: 100, wantOK: false},
		{name: "sold out", item: stock.Item{Limit: 100, Sold: 100, Cap: 100}, need: 1, wantTarget: 100, wantOK: false},
		{name: "zero value", item: stock.Item{}, need: 1, wantTarget: 0, wantOK: false},
		{name: "max limit", item: stock.Item{Limit: stock.MaxLimit}, need: stock.MaxUnits, wantTarget: stock.MaxUnits, wantOK: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := tc.item
			target, ok := plan(t, &it, t0, p, tc.need)
			if target != tc.wantTarget || ok != tc.wantOK {
				t.Fatalf("PlanRefill(need %d) on %+v = %d, %v; want %d, %v",
					tc.need, stateOf(&tc.item), target, ok, tc.wantTarget, tc.wantOK)
			}
		})
	}
}

func TestPlanRefillTracksRate(t *testing.T) {
	const limit = 1_000_000_000_000
	for _, tc := range []struct {
		name       string
		interval   time.Duration
		units      int64         // granted after the first plan
		dt         time.Duration // time between the two plans
		wantWindow int64
	}{
		{name: "hot", interval: 100 * time.Millisecond, units: 1000, dt: 100 * time.Millisecond, wantWindow: 1000},
		{name: "hotter", interval: 100 * time.Millisecond, units: 5000, dt: 50 * time.Millisecond, wantWindow: 10_000},
		{name: "warm", interval: 100 * time.Millisecond, units: 1000, dt: time.Second, wantWindow: 100},
		{name: "cold gets min window", interval: 100 * time.Millisecond, units: 50, dt: time.Second, wantWindow: 16},
		{name: "long interval", interval: time.Minute, units: 100, dt: 10 * time.Second, wantWindow: 600},
		{name: "very hot", interval: 100 * time.Millisecond, units: 3_000_000, dt: 10 * time.Millisecond, wantWindow: 30_000_000},
		{name: "rate capped by max share", interval: time.Second, units: 1_000_000, dt: time.Microsecond, wantWindow: (limit - 1_000_000) / 4},
		{name: "rate times interval past int64", interval: 4 * time.Hour, units: stock.MaxUnits, dt: time.Nanosecond, wantWindow: (limit - stock.MaxUnits) / 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := stock.DefaultPolicy()
			p.Interval = tc.interval
			it := stock.Item{Limit: limit}
			target, ok := plan(t, &it, t0, p, tc.units)
			if !ok {
				t.Fatal("first PlanRefill = false")
			}
			it.Raise(target)
			take(t, &it, tc.units)
			target, ok = plan(t, &it, t0.Add(tc.dt), p, 0)
			if !ok {
				t.Fatalf("second PlanRefill = %d, false; window left %d", target, it.Window())
			}
			if w := target - it.Sold; w < tc.wantWindow-1 || w > tc.wantWindow+1 {
				t.Fatalf("window = %d, want about %d (%d units in %v, interval %v)",
					w, tc.wantWindow, tc.units, tc.dt, tc.interval)
			}
		})
	}
}

func TestPlanRefillAveragesRate(t *testing.T) {
	p := stock.DefaultPolicy() // 100 ms
	it := stock.Item{Limit: 1_000_000_000}
	now := t0
	steps := []struct {
		name       string
		units      int64 // granted in the 100 ms before the plan
		wantWindow int64 // window planned, from Sold
		wantOK     bool
	}{
		{name: "first plan has no rate", units: 0, wantWindow: 16, wantOK: true},
		{name: "10k per second", units: 1000, wantWindow: 1000, wantOK: true},
		{name: "30k per second averages to 20k", units: 3000, wantWindow: 2000, wantOK: true},
		{name: "idle halves the rate", units: 0, wantWindow: 1000, wantOK: false},
		{name: "idle again", units: 0, wantWindow: 500, wantOK: false},
	}
	for i, st := range steps {
		if i > 0 {
			take(t, &it, st.units)
			now = now.Add(100 * time.Millisecond)
		}
		target, ok := plan(t, &it, now, p, 0)
		if ok != st.wantOK {
			t.Fatalf("%s: PlanRefill = %d, %v; want ok %v", st.name, target, ok, st.wantOK)
		}
		if !ok {
			// The window left is larger than the one planned: no raise, and
			// not below the low-water mark yet.
			if it.Window() < st.wantWindow || it.NeedsRefill() {
				t.Fatalf("%s: window %d left, NeedsRefill %v", st.name, it.Window(), it.NeedsRefill())
			}
			continue
		}
		if w := target - it.Sold; w != st.wantWindow {
			t.Fatalf("%s: window = %d, want %d", st.name, w, st.wantWindow)
		}
		it.Raise(target)
	}
}

func TestPlanRefillStallDoubles(t *testing.T) {
	for _, tc := range []struct {
		name       string
		limit      int64
		first      int64         // need of the first plan: its window
		dt         time.Duration // time in which that window sold
		need       int64         // need of the plan after the stall
		wantWindow int64
	}{
		{name: "no time passed", limit: 1_000_000, first: 100, need: 1, wantWindow: 200},
		{name: "slow rate", limit: 1_000_000, first: 100, dt: 10 * time.Second, need: 1, wantWindow: 200},
		{name: "rate beats doubling", limit: 1_000_000, first: 100, dt: time.Millisecond, need: 1, wantWindow: 10_000},
		{name: "need beats doubling", limit: 1_000_000, first: 100, need: 500, wantWindow: 500},
		{name: "max share caps doubling", limit: 300, first: 100, need: 1, wantWindow: 50},
		{name: "need beats max share", limit: 300, first: 100, need: 150, wantWindow: 150},
		{name: "remaining caps need", limit: 300, first: 100, need: 1000, wantWindow: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := stock.DefaultPolicy()
			it := stock.Item{Limit: tc.limit}
			target, _ := plan(t, &it, t0, p, tc.first)
			if target != tc.first {
				t.Fatalf("first window = %d, want %d", target, tc.first)
			}
			it.Raise(target)
			take(t, &it, tc.first)
			if _, o := it.Acquire(tc.need); o != stock.Wait && o != stock.Insufficient {
				t.Fatalf("Acquire(%d) = %v on an empty window", tc.need, o)
			}
			if _, o := it.Acquire(1); o != stock.Wait {
				t.Fatalf("Acquire(1) = %v on an empty window, want wait", o)
			}
			target, ok := plan(t, &it, t0.Add(tc.dt), p, tc.need)
			if !ok || target-it.Sold != tc.wantWindow {
				t.Fatalf("window after stall = %d, %v; want %d", target-it.Sold, ok, tc.wantWindow)
			}
		})
	}
}

func TestPlanRefillStallsKeepDoubling(t *testing.T) {
	p := stock.DefaultPolicy()
	it := stock.Item{Limit: stock.MaxLimit}
	want := int64(16)
	for i := range 20 {
		target, ok := plan(t, &it, t0, p, 1)
		if !ok || target-it.Sold != want {
			t.Fatalf("stall %d: window = %d, %v; want %d", i, target-it.Sold, ok, want)
		}
		it.Raise(target)
		take(t, &it, want)
		if _, o := it.Acquire(1); o != stock.Wait {
			t.Fatalf("stall %d: Acquire(1) = %v, want wait", i, o)
		}
		want *= 2
	}
}

// TestPlanRefillBounds sweeps small and large remainders, needs and stalls
// through checkPlan: never past the limit, never more than MaxShare of what
// remains unless need requires more, always enough for need.
func TestPlanRefillBounds(t *testing.T) {
	rems := []int64{1, 2, 3, 4, 5, 7, 15, 16, 17, 63, 64, 65, 100, 1000, stock.MaxUnits, stock.MaxLimit}
	for _, p := range []stock.Policy{
		stock.DefaultPolicy(),
		{Interval: time.Second, MinWindow: 1000, MaxShare: 0.1},
		{Interval: time.Millisecond, MinWindow: 1, MaxShare: 1},
	} {
		for _, rem := range rems {
			for _, need := range []int64{0, 1, rem / 2, rem, rem + 1, stock.MaxUnits} {
				for _, stall := range []bool{false, true} {
					it := stock.Item{Limit: stock.MaxLimit, Sold: stock.MaxLimit - rem, Cap: stock.MaxLimit - rem}
					if stall {
						it.Acquire(1)
					}
					plan(t, &it, t0, p, need)
				}
			}
		}
	}
}

func TestNeedsRefill(t *testing.T) {
	p := stock.DefaultPolicy()
	// planned returns an item with a planned and persisted window of 16.
	planned := func(t *testing.T) stock.Item {
		it := stock.Item{Limit: 1000}
		target, _ := plan(t, &it, t0, p, 0)
		it.Raise(target)
		if it.Window() != 16 {
			t.Fatalf("window = %d, want 16", it.Window())
		}
		return it
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) stock.Item
		want  bool
	}{
		{name: "zero value", setup: func(*testing.T) stock.Item { return stock.Item{} }, want: false},
		{name: "fresh resume", setup: func(*testing.T) stock.Item { return stock.Resume(stock.Record{Limit: 100, Cap: 40}) }, want: true},
		{name: "fresh resume sold out", setup: func(*testing.T) stock.Item { return stock.Resume(stock.Record{Limit: 100, Cap: 100}) }, want: false},
		{name: "cap at limit", setup: func(*testing.T) stock.Item { return stock.Item{Limit: 100, Sold: 99, Cap: 100} }, want: false},
		{name: "full window", setup: planned, want: false},
		{name: "half window left", setup: func(t *testing.T) stock.Item {
			it := planned(t)
			take(t, &it, 8)
			return it
		}, want: false},
		{name: "below half", setup: func(t *testing.T) stock.Item {
			it := planned(t)
			take(t, &it, 9)
			return it
		}, want: true},
		{name: "empty window", setup: func(t *testing.T) stock.Item {
			it := planned(t)
			take(t, &it, 16)
			return it
		}, want: true},
		{name: "request waited", setup: func(t *testing.T) stock.Item {
			it := planned(t)
			it.Acquire(17)
			return it
		}, want: true},
		{name: "plan clears the stall", setup: func(t *testing.T) stock.Item {
			it := planned(t)
			it.Acquire(17)
			target, _ := plan(t, &it, t0, p, 17)
			it.Raise(target)
			return it
		}, want: false},
		{name: "insufficient is no stall", setup: func(t *testing.T) stock.Item {
			it := planned(t)
			it.Acquire(1001)
			return it
		}, want: false},
		{name: "window left but cap reached limit", setup: func(t *testing.T) stock.Item {
			it := stock.Item{Limit: 16}
			target, _ := plan(t, &it, t0, p, 16)
			it.Raise(target)
			take(t, &it, 15)
			return it
		}, want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := tc.setup(t)
			if got := it.NeedsRefill(); got != tc.want {
				t.Fatalf("NeedsRefill() on %+v = %v, want %v", stateOf(&it), got, tc.want)
			}
		})
	}
}

func TestRaise(t *testing.T) {
	for _, tc := range []struct {
		name    string
		item    stock.Item
		target  int64
		wantCap int64
	}{
		{name: "raises", item: stock.Item{Limit: 100, Sold: 10, Cap: 20}, target: 50, wantCap: 50},
		{name: "to the limit", item: stock.Item{Limit: 100, Sold: 10, Cap: 20}, target: 100, wantCap: 100},
		{name: "never above limit", item: stock.Item{Limit: 100, Sold: 10, Cap: 20}, target: 200, wantCap: 100},
		{name: "same cap", item: stock.Item{Limit: 100, Sold: 10, Cap: 20}, target: 20, wantCap: 20},
		{name: "never lowers", item: stock.Item{Limit: 100, Sold: 10, Cap: 20}, target: 15, wantCap: 20},
		{name: "never below sold", item: stock.Item{Limit: 100, Sold: 10, Cap: 20}, target: 5, wantCap: 20},
		{name: "cap at limit", item: stock.Item{Limit: 100, Sold: 10, Cap: 100}, target: 150, wantCap: 100},
		{name: "after limit lowered", item: stock.Item{Limit: 30, Sold: 10, Cap: 20}, target: 50, wantCap: 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := tc.item
			it.Raise(tc.target)
			checkItem(t, &it)
			if want := (lsc{tc.item.Limit, tc.item.Sold, tc.wantCap}); stateOf(&it) != want {
				t.Fatalf("Raise(%d) on %+v = %+v, want %+v", tc.target, stateOf(&tc.item), stateOf(&it), want)
			}
		})
	}
}

func TestPlanRefillAllocatesNothing(t *testing.T) {
	p := stock.DefaultPolicy()
	it := stock.Item{Limit: stock.MaxLimit}
	now := t0
	a := testing.AllocsPerRun(1000, func() {
		now = now.Add(time.Millisecond)
		target, _ := it.PlanRefill(now, p, 1)
		it.Raise(target)
		it.Acquire(1)
	})
	if a != 0 {
		t.Fatalf("PlanRefill allocates %v times per call, want 0", a)
	}
}
