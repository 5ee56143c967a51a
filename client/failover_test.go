package client_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stockstate/stock/client"
	"github.com/stockstate/stock/internal/stocktest"
	"github.com/stockstate/stock/internal/testenv"
)

// load runs workers that Acquire one unit of a SKU in a loop until told to
// stop or the SKU sells out. Every call has its own 30s context, so no
// call is cut short by the test: every grant the server made, a worker saw
// (but for acquires served twice across a failover, which only under-sell).
type load struct {
	granted atomic.Int64
	stop    atomic.Bool
	wg      sync.WaitGroup
	mu      sync.Mutex
	errs    []error // errors other than ErrSoldOut
}

func startLoad(c *client.Client, sku string, workers int) *load {
	l := &load{}
	for range workers {
		l.wg.Go(func() {
			for !l.stop.Load() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				g, err := c.Acquire(ctx, sku, 1)
				cancel()
				switch {
				case err == nil:
					l.granted.Add(g.Granted)
				case errors.Is(err, client.ErrSoldOut):
					return
				default:
					l.mu.Lock()
					l.errs = append(l.errs, err)
					l.mu.Unlock()
					return
				}
			}
		})
	}
	return l
}

// waitGrants waits until n more units are granted than when it was called.
func (l *load) waitGrants(t testing.TB, n int64) {
	t.Helper()
	target := l.granted.Load() + n
	testenv.Eventually(t, 30*time.Second, time.Millisecond, func() error {
		if g := l.granted.Load(); g < target {
			return fmt.Errorf("%d units granted, waiting for %d", g, target)
		}
		return nil
	})
}

// wait stops the workers (once their current call returns, if stop) and
// fails t if any saw an error other than ErrSoldOut.
func (l *load) wait(t testing.TB, stop bool) {
	t.Helper()
	if stop {
		l.stop.Store(true)
	}
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, err := range l.errs {
		t.Error(err)
	}
}

// failoverModes are the loads of the failover tests: single requests from
// 16 workers, and batches from 64, so that batches of many items are in
// flight when the leader goes.
var failoverModes = []struct {
	name    string
	edit    func(*client.Config)
	workers int
}{
	{"single", nil, 16},
	{"batched", batched, 64},
}

// leaderAndStandby starts node-a, leading, and node-b, standing by, and a
// client with cfg's defaults changed by edit, and sets sku1's limit.
func leaderAndStandby(t *testing.T, edit func(*client.Config), limit int64) (*stocktest.Cluster, *stocktest.Node, *stocktest.Node, *client.Client) {
	t.Helper()
	c := stocktest.NewCluster(t)
	a := c.Start("node-a", "")
	a.WaitLeading(t)
	b := c.Start("node-b", "")
	cl := newClient(t, c.NC, edit)
	if _, err := cl.SetLimit(ctx(t), "sku1", limit); err != nil {
		t.Fatal(err)
	}
	return c, a, b, cl
}

// TestRetryAcrossGracefulHandoff: workers buy a SKU out while its leader
// stops gracefully and a standby takes over. No error but "sold out" ever
// reaches them, and they were granted exactly the limit: nothing lost,
// nothing granted twice.
func TestRetryAcrossGracefulHandoff(t *testing.T) {
	for _, m := range failoverModes {
		t.Run(m.name, func(t *testing.T) { testRetryAcrossGracefulHandoff(t, m.edit, m.workers) })
	}
}

func testRetryAcrossGracefulHandoff(t *testing.T, edit func(*client.Config), workers int) {
	const limit = 20_000
	_, a, b, cl := leaderAndStandby(t, edit, limit)

	l := startLoad(cl, "sku1", workers)
	l.waitGrants(t, 2000)
	stopped := l.granted.Load()
	a.Stop(t)
	b.WaitLeading(t)
	l.wait(t, false) // until sold out
	if t.Failed() {
		return
	}

	s, err := cl.Query(ctx(t), "sku1")
	if err != nil {
		t.Fatal(err)
	}
	granted := l.granted.Load()
	t.Logf("granted %d (%d when node-a stopped), server %+v", granted, stopped, s)
	if s.Leader != "node-b" {
		t.Fatalf("leader %q after the handoff, want node-b", s.Leader)
	}
	if granted != s.Sold || s.Sold != limit || s.Remaining != 0 {
		t.Fatalf("clients were granted %d, server sold %d of %d", granted, s.Sold, limit)
	}
}

// TestRetryAcrossLostSession: the leader's lease is revoked under load.
// Calls keep succeeding once the standby leads; no error but "sold out"
// reaches the workers; what they were granted is at most what the server
// counts as sold, which is at most the limit.
func TestRetryAcrossLostSession(t *testing.T) {
	for _, m := range failoverModes {
		t.Run(m.name, func(t *testing.T) { testRetryAcrossLostSession(t, m.edit, m.workers) })
	}
}

func testRetryAcrossLostSession(t *testing.T, edit func(*client.Config), workers int) {
	const limit = 1_000_000
	c, a, b, cl := leaderAndStandby(t, edit, limit)

	l := startLoad(cl, "sku1", workers)
	l.waitGrants(t, 2000)
	lead := <-a.Leads
	if _, err := testenv.Client(t, c.Etcd).Revoke(ctx(t), lead.LeaseID()); err != nil {
		t.Fatal(err)
	}
	b.WaitLeading(t)
	l.waitGrants(t, 2000)
	l.wait(t, true)
	if t.Failed() {
		return
	}

	s, err := cl.Query(ctx(t), "sku1")
	if err != nil {
		t.Fatal(err)
	}
	granted := l.granted.Load()
	t.Logf("granted %d, server %+v: %d units left unsold by the failover", granted, s, s.Sold-granted)
	if s.Leader != "node-b" {
		t.Fatalf("leader %q after the failover, want node-b", s.Leader)
	}
	if granted > s.Sold || s.Sold > limit {
		t.Fatalf("oversold: clients were granted %d, server sold %d of %d", granted, s.Sold, limit)
	}
}
