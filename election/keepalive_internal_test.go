package election

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/stockstate/stock/internal/testenv"
)

// startWatchOnly grants a lease and runs only the watchdog of a leadership on
// it: the session keeps the lease alive at etcd, but nothing moves the local
// deadline unless the test calls extend. So Done can only close through the
// deadline timer.
func startWatchOnly(t *testing.T, e *Elector) *Leadership {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sent := time.Now()
	resp, err := e.cli.Grant(ctx, e.ttlSecs)
	if err != nil {
		t.Fatal(err)
	}
	l := newLeadership(e, resp.ID, time.Duration(resp.TTL)*time.Second, sent)
	l.session, err = concurrency.NewSession(e.cli, concurrency.WithLease(resp.ID), concurrency.WithContext(l.ctx))
	if err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	e.live[l] = struct{}{}
	e.wg.Add(1)
	l.wg.Add(1)
	e.mu.Unlock()
	go l.watch()
	return l
}

func TestDeadlineTimer(t *testing.T) {
	const slack = 100 * time.Millisecond
	cli := testenv.Client(t, testenv.Endpoint(testenv.Etcd(t)))

	tests := []struct {
		name string
		// extendAfter, if set, moves the deadline forward once this long
		// after the grant, as a successful keepalive sent then would.
		extendAfter time.Duration
	}{
		{name: "passes"},
		{name: "moved by a keepalive", extendAfter: 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New(cli, "/stock/leader", "a", 2*time.Second, testenv.Logger(t))
			t.Cleanup(func() {
				if err := e.Close(); err != nil {
					t.Error(err)
				}
			})
			l := startWatchOnly(t, e)
			want := l.Deadline()
			if tt.extendAfter > 0 {
				time.Sleep(time.Until(l.base.Add(tt.extendAfter)))
				l.extend(time.Now(), l.ttl)
				if !l.Deadline().After(want) {
					t.Fatalf("extend did not move the deadline")
				}
				want = l.Deadline()
			}
			if got := want.Sub(l.base); tt.extendAfter == 0 && got != l.ttl-margin(l.ttl) {
				t.Errorf("deadline %v after grant, want TTL - margin = %v", got, l.ttl-margin(l.ttl))
			}
			if !l.Valid() {
				t.Fatal("not valid before the deadline")
			}

			doneAt := WaitOnTime(t, l.Done(), want, slack)
			if doneAt.Before(want) {
				t.Errorf("Done closed %v before the deadline", want.Sub(doneAt))
			}
			if l.Valid() || !errors.Is(l.Err(), ErrDeadline) {
				t.Errorf("after deadline: valid %v, err %v", l.Valid(), l.Err())
			}

			// The lease is still alive at etcd (the session kept it): the
			// local deadline ended the leadership on its own.
			resp, err := cli.TimeToLive(context.Background(), l.lease)
			if err != nil {
				t.Fatal(err)
			}
			if resp.TTL <= 0 {
				t.Errorf("lease gone at etcd (ttl %d); the test proves nothing", resp.TTL)
			}
			l.End()
		})
	}
}

func TestMargin(t *testing.T) {
	tests := []struct {
		ttl, want time.Duration
	}{
		{2 * time.Second, 90 * time.Millisecond},
		{10 * time.Second, 250 * time.Millisecond},
		{60 * time.Second, 1250 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := margin(tt.ttl); got != tt.want {
			t.Errorf("margin(%v) = %v, want %v", tt.ttl, got, tt.want)
		}
	}
}
