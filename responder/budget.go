package responder

import "time"

// keyBudget lengthens the refill interval when refills write more store keys
// per second than the budget allows, so that many active SKUs get longer
// windows instead of flooding the store. Used by the writer goroutine only.
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

// interval scales base by how far the last second's writes exceeded the budget.
func (k *keyBudget) interval(base time.Duration, now time.Time) time.Duration {
	k.roll(now)
	used := max(k.spent, k.lastSpent)
	if used <= k.perSecond {
		return base
	}
	return base * time.Duration(used) / time.Duration(k.perSecond)
}
