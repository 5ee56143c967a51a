package responder

import (
	"container/heap"
	"slices"
	"sync"
	"time"

	"github.com/stockstate/stock/capstore"
)

// expiryTick is how often the term looks for holds past their expiry, and
// for ended holds past the dedupe horizon: a hold's units come back within
// a tick and a writer round of its expires_at.
const expiryTick = 100 * time.Millisecond

// expiry is a term's schedule of holds: live ones by expiry, which it
// queues for the writer (opExpire) once due, and ended ones by end, which it
// forgets once the dedupe horizon has passed. Its goroutine runs from
// startExpiry to close. A hold extended after it was scheduled is simply
// scheduled again: the writer ignores an expiry that is not yet due.
type expiry struct {
	t    *term
	stop chan struct{} // closed by close
	done chan struct{} // closed when the goroutine returns

	mu    sync.Mutex
	due   dueHeap
	ended []dueHold // in the order they ended
}

// dueHold is a hold of e, named by id, and when something is due for it.
type dueHold struct {
	at time.Time
	e  *entry
	id string
}

// startExpiry starts t's expiry goroutine.
func startExpiry(t *term) *expiry {
	x := &expiry{t: t, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(x.done)
		x.run()
	}()
	return x
}

// close stops the goroutine and waits for it. Call it once.
func (x *expiry) close() {
	close(x.stop)
	<-x.done
}

// schedule queues the expiry of hold id of e at at.
func (x *expiry) schedule(e *entry, id string, at time.Time) {
	x.mu.Lock()
	heap.Push(&x.due, dueHold{at: at, e: e, id: id})
	x.mu.Unlock()
}

// scheduleAll queues many expiries at once, as a new term resumes its
// holds: one heap.Init rather than a push each.
func (x *expiry) scheduleAll(ds []dueHold) {
	x.mu.Lock()
	x.due = append(x.due, ds...)
	heap.Init(&x.due)
	x.mu.Unlock()
}

// forgetLater forgets hold id of e one horizon after it ended: its key is
// deleted, and once that is durable the hold leaves memory and its id is
// free (round.applyForgets). Until then repeats still get its answers, so
// no new hold of that id is written before the delete.
func (x *expiry) forgetLater(e *entry, id string, ended time.Time) {
	x.mu.Lock()
	x.ended = append(x.ended, dueHold{at: ended, e: e, id: id})
	x.mu.Unlock()
}

func (x *expiry) run() {
	tick := time.NewTicker(expiryTick)
	defer tick.Stop()
	for {
		select {
		case <-x.stop:
			return
		case now := <-tick.C:
			for e, ids := range x.takeDue(now) {
				x.t.q.submit(&op{kind: opExpire, sku: e.sku, ids: ids})
			}
			if ended := x.takeEnded(now.Add(-x.t.s.cfg.DedupeHorizon)); len(ended) > 0 {
				x.t.q.tidyLater(forgets(ended))
			}
		}
	}
}

// forgetAll forgets many ended holds, as a new term resumes its holds:
// each one horizon after it ended, so the list is kept in that order.
func (x *expiry) forgetAll(ds []dueHold) {
	x.mu.Lock()
	x.ended = append(x.ended, ds...)
	slices.SortStableFunc(x.ended, func(a, b dueHold) int { return a.at.Compare(b.at) })
	x.mu.Unlock()
}

// forgets are the deletes of the keys of the holds ds.
func forgets(ds []dueHold) []capstore.HoldWrite {
	ws := make([]capstore.HoldWrite, len(ds))
	for i, d := range ds {
		ws[i] = capstore.HoldWrite{SKU: d.e.sku, ID: d.id, Delete: true}
	}
	return ws
}

// takeDue removes every hold due by now, and returns their ids by SKU:
// each SKU's are expired together, by one op (round.planExpire).
func (x *expiry) takeDue(now time.Time) map[*entry][]string {
	x.mu.Lock()
	defer x.mu.Unlock()
	var due map[*entry][]string
	for len(x.due) > 0 && !x.due[0].at.After(now) {
		d := heap.Pop(&x.due).(dueHold)
		if due == nil {
			due = map[*entry][]string{}
		}
		due[d.e] = append(due[d.e], d.id)
	}
	return due
}

// takeEnded removes the holds that ended by before.
func (x *expiry) takeEnded(before time.Time) []dueHold {
	x.mu.Lock()
	defer x.mu.Unlock()
	i := 0
	for i < len(x.ended) && !x.ended[i].at.After(before) {
		i++
	}
	old := x.ended[:i:i]
	x.ended = x.ended[i:]
	return old
}

// dueHeap orders holds by when they are due (container/heap).
type dueHeap []dueHold

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(v any)        { *h = append(*h, v.(dueHold)) }
func (h *dueHeap) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}
