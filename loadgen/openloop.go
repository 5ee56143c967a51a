package loadgen

import "time"

// Open loop: each worker sends at rate/conns on a fixed schedule, whatever
// the replies do, and a request's latency counts from its scheduled time, not
// from when it could actually be sent. A stall of the responder (or of
// loadgen) therefore shows in the percentiles instead of silently slowing the
// senders down (coordinated omission). Requests in flight are capped at
// -max-outstanding; a scheduled request that finds the cap reached is not sent
// and is counted as unsent. No-responders replies are not retried. With
// -batch, the schedule and the cap are of batch messages.

// schedule runs the worker's open-loop schedule until the phase ends or quit
// closes. Worker idx of n starts idx/n of an interval late, so the workers
// interleave instead of sending in bursts.
func (w *worker) schedule(idx, n int, quit <-chan struct{}) {
	defer w.stop()
	interval := float64(time.Second) * float64(n) / w.ph.rate
	offset := interval * float64(idx) / float64(n)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := 0; ; i++ {
		due := time.Duration(offset + float64(i)*interval)
		if w.ph.halted.Load() || (w.ph.dur > 0 && due >= w.ph.dur) {
			return
		}
		key, ok := w.ph.takeBudget()
		if !ok {
			return
		}
		now := w.ph.since()
		if due > now {
			timer.Reset(due - now)
			select {
			case <-timer.C:
			case <-quit:
				return
			case <-w.ph.haltc:
				return
			}
			now = w.ph.since()
		}
		w.mu.Lock()
		if len(w.inflight) >= w.maxOut {
			w.counts.Unsent += int64(max(w.ph.batch, 1))
			w.mu.Unlock()
			continue
		}
		r := w.startLocked(w.newLocked(due, key), now)
		w.mu.Unlock()
		w.publish(r)
	}
}

// stop ends the worker's issuing of requests; done closes once the requests
// in flight have ended.
func (w *worker) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopping = true
	w.maybeDoneLocked()
}
