package writer

import (
	"math"
	"time"

	"github.com/stockstate/stock/stock"
)

// keyBudget lengthens windows when refills write more store keys per second
// than the budget allows, so that many active SKUs get longer windows
// instead of flooding the store. Used by the writer goroutine only.
//
// Each SKU writes about 2/window keys per unit sold, so the keys written
// fall in proportion as windows grow: once a second the scale is multiplied
// by the ratio of keys written to the budget (never below 1), which settles
// where the writes meet the budget. A bucket that spends a whole second's
// budget ends early (after budgetMinSpan at least), so a sale whose SKUs all
// turn hot at once has long windows within a tenth of a second.
type keyBudget struct {
	perSecond int

	start time.Time // current one-second bucket
	spent int       // keys written in the current bucket
	scale float64   // factor applied to the policy; 0 means 1
}

// budgetMinSpan is the shortest bucket that may end early, when it has
// spent a whole second's budget: long enough that the rounds of one start-up
// do not count as a rate, short enough that a flood of refills at the start
// of a sale is reined in within its first tenth of a second, not a second.
const budgetMinSpan = 100 * time.Millisecond

func (k *keyBudget) roll(now time.Time) {
	if k.scale == 0 {
		k.scale, k.start = 1, now
	}
	d := now.Sub(k.start)
	if d < time.Second && (k.spent <= k.perSecond || d < budgetMinSpan) {
		return
	}
	perSecond := float64(k.spent) / d.Seconds()
	k.scale = min(max(1, k.scale*perSecond/float64(k.perSecond)), 1000)
	k.start, k.spent = now, 0
}

func (k *keyBudget) spend(keys int, now time.Time) {
	k.roll(now)
	k.spent += keys
}

// policy returns base with its interval and minimum window scaled to keep
// refills within the budget.
func (k *keyBudget) policy(base stock.Policy, now time.Time) stock.Policy {
	k.roll(now)
	if k.scale <= 1 {
		return base
	}
	base.Interval = time.Duration(float64(base.Interval) * k.scale)
	base.MinWindow = int64(math.Ceil(float64(base.MinWindow) * k.scale))
	return base
}
