package responder

import (
	"sync"
	"time"
)

// dedupe remembers the answers to requests that carried an id, for at least
// the horizon (at most twice it): two generations of maps, the older dropped
// whole when the newer is a horizon old. A request whose first copy is still
// being served waits for that copy's answer instead of running twice.
//
// Acquire ids live in memory only: after a change of leader a repeated
// acquire is served again, which can only under-sell.
type dedupe struct {
	horizon time.Duration

	mu      sync.Mutex
	cur     map[string]*dedupeEntry
	prev    map[string]*dedupeEntry
	rotated time.Time
}

type dedupeEntry struct {
	done    bool
	ans     answer
	waiting []request // copies that arrived while pending
}

func newDedupe(horizon time.Duration) *dedupe {
	return &dedupe{horizon: horizon, cur: map[string]*dedupeEntry{}, prev: map[string]*dedupeEntry{}, rotated: time.Now()}
}

// begin registers rq under its key. It returns first=true if the caller
// must serve it and then call finish. Otherwise rq is a repeat: if its
// answer is known it is returned (done=true); if not, rq was queued and
// finish returns it.
func (d *dedupe) begin(rq request) (first bool, ans answer, done bool) {
	key := rq.key
	d.mu.Lock()
	defer d.mu.Unlock()
	if now := time.Now(); now.Sub(d.rotated) >= d.horizon {
		d.prev, d.cur, d.rotated = d.cur, make(map[string]*dedupeEntry, len(d.cur)), now
	}
	e := d.cur[key]
	if e == nil {
		if e = d.prev[key]; e != nil {
			d.cur[key] = e
		}
	}
	switch {
	case e == nil:
		d.cur[key] = &dedupeEntry{}
		return true, answer{}, false
	case e.done:
		return false, e.ans, true
	default:
		e.waiting = append(e.waiting, rq)
		return false, answer{}, false
	}
}

// finish records the answer to key and returns the repeats that wait for
// it. An answer that is not final is forgotten, so a
// later retry is served afresh.
func (d *dedupe) finish(key string, a answer) (waiting []request) {
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.cur[key]
	if e == nil {
		e = d.prev[key]
	}
	if e == nil {
		return nil
	}
	waiting, e.waiting = e.waiting, nil
	if a.final() {
		e.done, e.ans = true, a
	} else {
		delete(d.cur, key)
		delete(d.prev, key)
	}
	return waiting
}
