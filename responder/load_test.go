package responder_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/wire"
)

// load acquires one unit at a time from workers goroutines, retrying what
// failover makes retriable, and keeps the history of what clients saw.
type load struct {
	limit int64

	mu       sync.Mutex
	granted  int64
	units    map[int64]int // grants naming each unit
	times    []time.Time   // when each grant was seen
	timeouts int           // outcome unknown to the client
	retries  int
	errs     []string
}

func startLoad(ctx context.Context, nc *nats.Conn, sku string, limit int64, workers int) (*load, func()) {
	l := &load{limit: limit, units: map[int64]int{}}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				r, err := tryRequest(nc, "stock.acquire."+sku, `{"n":1}`, 2*time.Second)
				l.record(r, err)
				if err != nil || r.Error == wire.ErrUnavailable {
					time.Sleep(2 * time.Millisecond)
				}
			}
		}()
	}
	return l, wg.Wait
}

func (l *load) record(r reply, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err == nats.ErrTimeout:
		l.timeouts++
	case retriable(r, err):
		l.retries++
	case err != nil:
		l.errs = append(l.errs, err.Error())
	case r.Error == "":
		l.granted += r.Granted
		l.times = append(l.times, time.Now())
		for u := l.limit - r.Remaining - r.Granted; u < l.limit-r.Remaining; u++ {
			l.units[u]++
		}
	case r.Error != wire.ErrSoldOut:
		l.errs = append(l.errs, fmt.Sprintf("%+v", r.Reply))
	}
}

func (l *load) grants() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.granted
}

// waitGrants waits until clients have seen at least n more units than now.
func (l *load) waitGrants(t testing.TB, n int64) {
	t.Helper()
	target := l.grants() + n
	testenv.Eventually(t, 20*time.Second, time.Millisecond, func() error {
		if got := l.grants(); got < target {
			return fmt.Errorf("grants stuck at %d, want %d", got, target)
		}
		return nil
	})
}

// firstGrantAfter is the delay from t0 to the first grant seen after it.
func (l *load) firstGrantAfter(t0 time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, at := range l.times {
		if at.After(t0) {
			return at.Sub(t0)
		}
	}
	return -1
}

// check asserts the history is safe: no unit granted twice, the grants sum
// to at most the limit, and the responder sold at least what clients saw.
// It returns the units sold that no client saw (lost to the failover).
func (l *load) check(t testing.TB, sold int64) int64 {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.errs {
		t.Errorf("unexpected reply: %s", e)
	}
	for u, k := range l.units {
		if k != 1 || u < 0 || u >= l.limit {
			t.Errorf("unit %d granted %d times (limit %d)", u, k, l.limit)
		}
	}
	if l.granted > l.limit {
		t.Errorf("oversold: clients saw %d units granted, limit %d", l.granted, l.limit)
	}
	if sold < l.granted {
		t.Errorf("responder reports %d sold, clients saw %d granted", sold, l.granted)
	}
	return sold - l.granted
}
