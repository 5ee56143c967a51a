package responder

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
