package writer

import (
	"testing"
	"time"

	"github.com/stockstate/stock/stock"
)

// TestKeyBudgetSettlesAtTheBudget simulates SKUs whose key writes fall in
// proportion as their windows grow: the scale settles where the writes
// meet the budget, and returns to 1 when demand falls.
func TestKeyBudgetSettlesAtTheBudget(t *testing.T) {
	k := keyBudget{perSecond: 2000}
	base := stock.DefaultPolicy()
	now := time.Unix(0, 0)
	demand := 8000.0 // keys per second at scale 1
	var written float64
	for range 20 {
		p := k.policy(base, now)
		written = demand * float64(base.Interval) / float64(p.Interval)
		k.spend(int(written), now)
		now = now.Add(time.Second)
	}
	if written < 1800 || written > 2200 {
		t.Fatalf("writes settled at %.0f keys/s, want about 2000", written)
	}
	if p := k.policy(base, now); p.MinWindow < 3*base.MinWindow {
		t.Fatalf("min window not scaled: %d", p.MinWindow)
	}
	demand = 500
	for range 20 {
		p := k.policy(base, now)
		k.spend(int(demand*float64(base.Interval)/float64(p.Interval)), now)
		now = now.Add(time.Second)
	}
	if p := k.policy(base, now); p != base {
		t.Fatalf("policy still scaled when demand is under the budget: %+v", p)
	}
}

// TestKeyBudgetReinsInAFloodEarly: a second's budget spent within the first
// tenth of a second scales windows at once, not a second later, while
// spending under the budget waits for the second to end.
func TestKeyBudgetReinsInAFloodEarly(t *testing.T) {
	base := stock.DefaultPolicy()
	start := time.Unix(0, 0)

	k := keyBudget{perSecond: 2000}
	k.spend(3000, start)
	if p := k.policy(base, start.Add(budgetMinSpan/2)); p != base {
		t.Fatalf("scaled after %v, before the shortest bucket ended: %+v", budgetMinSpan/2, p)
	}
	at := start.Add(150 * time.Millisecond)
	p := k.policy(base, at)
	// 3000 keys in 150 ms is 20,000 keys/s: ten times the budget.
	if want := 10 * base.Interval; p.Interval < want*9/10 || p.Interval > want*11/10 {
		t.Fatalf("interval %v after a flood of 3000 keys in 150 ms, want about %v", p.Interval, want)
	}

	k = keyBudget{perSecond: 2000}
	k.spend(1500, start)
	if p := k.policy(base, start.Add(500*time.Millisecond)); p != base {
		t.Fatalf("scaled within the second while under the budget: %+v", p)
	}
}
