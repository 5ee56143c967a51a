package responder

import "time"

// Observer is told of events that counters cannot describe, such as the
// latency of each store write, for metrics. Its methods are called from the
// writer and the term goroutines and must not block.
type Observer interface {
	// StoreWrite reports one store write: its duration, the SKU records it
	// carried, and how it ended: "committed", "fenced" or "unknown".
	StoreWrite(d time.Duration, records int, outcome string)
	// Leading reports that this node started (true) or stopped (false)
	// serving a term.
	Leading(leading bool)
}

type nopObserver struct{}

func (nopObserver) StoreWrite(time.Duration, int, string) {}
func (nopObserver) Leading(bool)                          {}

func outcome(committed bool, err error) string {
	switch {
	case err != nil:
		return "unknown"
	case !committed:
		return "fenced"
	}
	return "committed"
}
