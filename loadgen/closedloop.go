package loadgen

// Closed loop: each worker owns a number of slots, and every slot always has
// one request in flight. A slot's next request is sent from the goroutine
// that ended the previous one: the reply handler on a reply, the sweeper on a
// timeout or a due retry. So -c requests stay in flight with no goroutine per
// request, and the loop slows down exactly as much as the responder does.
//
// "No responders" (nobody subscribed: a failover in progress) does not end a
// slot's request: it is re-sent after -backoff, and its latency still counts
// from the first attempt, as an order service waiting through a failover
// would see it. A request that has met nobody for -timeout is abandoned, as
// is one that times out; the slot moves on to a new request. -requests counts
// new requests, not retries. With -batch a slot's request is a batch message
// (see batch.go): -c and -requests count messages.

// slotsOf splits c slots over n workers as evenly as possible.
func slotsOf(c, n, i int) int {
	s := c / n
	if i < c%n {
		s++
	}
	return s
}

// startClosed sends the worker's first requests, one per slot.
func (w *worker) startClosed(slots int) {
	w.mu.Lock()
	now := w.ph.since()
	batch := make([]request, 0, slots)
	for range slots {
		r, ok := w.nextLocked(now)
		if !ok {
			break
		}
		batch = append(batch, r)
	}
	w.maybeDoneLocked()
	w.mu.Unlock()
	for _, r := range batch {
		w.publish(r)
	}
}
