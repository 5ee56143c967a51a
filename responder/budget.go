package responder

import (
	"time"

	"github.com/stockstate/stock/stock"
)

// keyBudget lengthens windows when refills write more store keys per second
// than the budget allows, so that many active SKUs get longer windows
// instead of flooding the store. Used by the writer goroutine only.
type keyBudget struct {
	perSecond int

	start     time.Time // current one-second bucket
	spent     int       // keys written in the current bucket
	lastSpent int       // keys written in the previous bucket
}

func (k *keyBudget) roll(now time.Time) {
	switch d := now.Sub(k.start); {
	case d >= 2*time.Second:
		k.start, k.spent, k.lastSpent = now, 0, 0
	case d >= time.Second:
		k.start, k.spent, k.lastSpent = k.start.Add(time.Second), 0, k.spent
	}
}

func (k *keyBudget) spend(keys int, now time.Time) {
	k.roll(now)
	k.spent += keys
}

// policy returns base with its interval and minimum window scaled by how
// far the last second's writes exceeded the budget: each SKU then refills
// less often, so the total falls back within the budget.
func (k *keyBudget) policy(base stock.Policy, now time.Time) stock.Policy {
	k.roll(now)
	used := max(k.spent, k.lastSpent)
	if used <= k.perSecond {
		return base
	}
	scale := float64(used) / float64(k.perSecond)
	base.Interval = time.Duration(float64(base.Interval) * scale)
	base.MinWindow = int64(float64(base.MinWindow) * scale)
	return base
}
