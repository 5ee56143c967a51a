package stock

import "time"

// Policy sizes windows. The zero value is not useful; see DefaultPolicy.
type Policy struct {
	// Interval is the time a window should last at the observed rate. A crash
	// wastes at most one window, so it also bounds how many seconds of sales
	// a crash costs. The caller lengthens it for cold SKUs when many SKUs
	// compete for a budget of store writes.
	Interval time.Duration
	// MinWindow is the smallest window planned while enough stock remains.
	MinWindow int64
	// MaxShare caps a window at this share of the remaining stock, so that a
	// crash near sell-out wastes little. A request that waits still fits.
	MaxShare float64
}

// DefaultPolicy refills a hot SKU about every 100 ms.
func DefaultPolicy() Policy {
	return Policy{Interval: 100 * time.Millisecond, MinWindow: 16, MaxShare: 0.25}
}

// NeedsRefill reports whether the cap should be raised ahead of demand: the
// window is empty (as it is right after Resume), has fallen below half of the
// one last planned (the low-water mark), or a request had to wait, and the
// cap is below the limit.
func (it *Item) NeedsRefill() bool {
	if it.Cap >= it.Limit {
		return false
	}
	return it.stalled || it.Cap == it.Sold || 2*(it.Cap-it.Sold) < it.window
}

// PlanRefill returns the cap to persist next, and false if the cap needs no
// raise. need is the sum of units that waiting requests ask for; the new
// window holds them all whenever the limit allows. The window tracks the
// rate observed since the previous plan, doubles after a stall, and never
// exceeds p.MaxShare of what remains (nor what remains).
//
// PlanRefill changes only the rate estimate; the cap rises when the caller
// reports the write durable with Raise.
func (it *Item) PlanRefill(now time.Time, p Policy, need int64) (target int64, ok bool) {
	rem := it.Limit - it.Sold
	if rem <= 0 || it.Cap >= it.Limit {
		return it.Cap, false
	}
	if !it.lastPlan.IsZero() {
		if dt := now.Sub(it.lastPlan).Seconds(); dt > 0 {
			observed := float64(it.Sold-it.soldAtPlan) / dt
			if it.rate == 0 {
				it.rate = observed
			} else {
				it.rate = (it.rate + observed) / 2
			}
		}
	}
	// Clamp before converting: a float64 beyond int64 converts to an
	// implementation-defined value (math.MinInt64 on amd64).
	w := int64(min(it.rate*p.Interval.Seconds(), float64(rem)))
	if it.stalled && w < 2*it.window {
		w = 2 * it.window
	}
	w = max(w, p.MinWindow)
	if share := int64(float64(rem) * p.MaxShare); w > share {
		w = max(share, 1)
	}
	w = min(max(w, need), rem)

	it.lastPlan, it.soldAtPlan, it.window, it.stalled = now, it.Sold, w, false
	target = it.Sold + w
	if target <= it.Cap {
		return it.Cap, false
	}
	return target, true
}

// Raise records that a cap of target is durable. It never lowers the cap
// and never lifts it above the limit.
func (it *Item) Raise(target int64) {
	if target > it.Cap {
		it.Cap = min(target, it.Limit)
	}
}
