package responder_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/internal/netproxy"
	"github.com/stockstate/stock/internal/stocktest"
	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/responder"
	"github.com/stockstate/stock/responder/liveness"
	"github.com/stockstate/stock/stock"
)

// TestFailoverAfterSessionLoss: the leader's lease is revoked under load;
// the standby takes over; nothing is oversold and the stock lost is at most
// the old leader's window.
func TestFailoverAfterSessionLoss(t *testing.T) {
	const limit = 1_000_000
	c := newCluster(t)
	a := c.Start("node-a", "")
	a.WaitLeading(t)
	b := c.Start("node-b", "")
	setLimit(t, c.NC, "sku1", limit)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, wait := startLoad(ctx, c.NC, "sku1", limit, 16)
	l.waitGrants(t, 3000)
	started, before := time.Now(), l.grants()
	l.waitGrants(t, 3000)
	rate := float64(l.grants()-before) / time.Since(started).Seconds()

	lead := <-a.Leads
	cut := time.Now()
	if _, err := testenv.Client(t, c.Etcd).Revoke(context.Background(), lead.LeaseID()); err != nil {
		t.Fatal(err)
	}
	b.WaitLeading(t)
	l.waitGrants(t, 3000)
	cancel()
	wait()

	q := request(t, c.NC, "stock.query.sku1", "")
	if q.Leader != "node-b" {
		t.Fatalf("leader after failover: %+v", q.Reply)
	}
	lost := l.check(t, q.Sold)
	// A window lasts about Interval at the observed rate, and may double
	// after a stall; the bound allows for both and for rate noise.
	p := stock.DefaultPolicy()
	bound := max(int64(4*rate*p.Interval.Seconds()), 4*p.MinWindow)
	t.Logf("rate %.0f/s, gap to first grant after revoke %v, lost %d units (bound %d), timeouts %d",
		rate, l.firstGrantAfter(cut), lost, bound, l.timeouts)
	if lost > bound {
		t.Fatalf("lost %d units, more than a window (%d)", lost, bound)
	}
}

// TestGracefulHandoffLosesNothing: the leader stops gracefully under load;
// the standby serves, and its sold equals exactly what clients saw.
func TestGracefulHandoffLosesNothing(t *testing.T) {
	const limit = 1_000_000
	c := newCluster(t)
	a := c.Start("node-a", "")
	a.WaitLeading(t)
	b := c.Start("node-b", "")
	setLimit(t, c.NC, "sku1", limit)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l, wait := startLoad(ctx, c.NC, "sku1", limit, 16)
	l.waitGrants(t, 3000)
	stopAt := time.Now()
	a.Stop(t)
	b.WaitLeading(t)
	l.waitGrants(t, 3000)
	cancel()
	wait()

	q := request(t, c.NC, "stock.query.sku1", "")
	if q.Leader != "node-b" {
		t.Fatalf("leader after handoff: %+v", q.Reply)
	}
	if l.timeouts != 0 {
		t.Fatalf("%d requests timed out during a graceful handoff", l.timeouts)
	}
	lost := l.check(t, q.Sold)
	t.Logf("gap from stop to first grant on the new leader %v, sold %d, lost %d", l.firstGrantAfter(stopAt), q.Sold, lost)
	if lost != 0 {
		t.Fatalf("graceful handoff lost %d units", lost)
	}
}

// TestStaleLeaderAnswersNothing: the leader loses etcd (its connection
// stalls, as in a pause or a partition). Past its lease deadline it stops
// answering, before the standby starts, and it answers nothing afterwards.
func TestStaleLeaderAnswersNothing(t *testing.T) {
	c := newCluster(t)
	proxy, err := netproxy.Start(c.Etcd)
	if err != nil {
		t.Fatal(err)
	}
	a := c.Start("node-a", proxy.Addr())
	t.Cleanup(proxy.Close) // runs before a's cleanup: a's client sees closed conns, not a stall
	a.WaitLeading(t)
	b := c.Start("node-b", "")
	setLimit(t, c.NC, "sku1", 1000)
	request(t, c.NC, "stock.acquire.sku1", `{"n":1}`)

	overlap := make(chan string, 1)
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() { // both may never serve at once
		defer close(watched)
		for {
			select {
			case <-stopWatch:
				return
			default:
			}
			if a.Server.Leading() && b.Server.Leading() {
				overlap <- "both nodes served at once"
				return
			}
			time.Sleep(200 * time.Microsecond)
		}
	}()
	paused := time.Now()
	proxy.Pause()
	testenv.Eventually(t, 2*testTTL, time.Millisecond, func() error {
		if a.Server.Leading() {
			return fmt.Errorf("node-a still serves after its lease deadline")
		}
		return nil
	})
	stoppedAfter := time.Since(paused)
	b.WaitLeading(t)
	tookOver := time.Since(paused)
	close(stopWatch)
	<-watched
	select {
	case msg := <-overlap:
		t.Fatal(msg)
	default:
	}
	t.Logf("stale leader stopped %v after the pause; standby served %v after it", stoppedAfter, tookOver)

	for range 200 {
		q := request(t, c.NC, "stock.query.sku1", "")
		if q.Leader != "node-b" {
			t.Fatalf("answered by %q, want node-b only: %+v", q.Leader, q.Reply)
		}
	}
	r := request(t, c.NC, "stock.acquire.sku1", `{"n":1}`)
	if r.Granted != 1 {
		t.Fatalf("new leader acquire: %+v", r.Reply)
	}
}

// TestDeadLeaderIsRevoked: the leader's process "dies" as far as NATS can
// tell (its connection closes) while its lease stays alive. A standby's
// probes get "no responders", it revokes the lease, and it serves well
// within the TTL; without the probe the lease would never expire here.
func TestDeadLeaderIsRevoked(t *testing.T) {
	c := newCluster(t)
	a := c.Start("node-a", "")
	a.WaitLeading(t)
	b := c.Start("node-b", "")
	setLimit(t, c.NC, "sku1", 1000)

	died := time.Now()
	a.NC.Close()
	b.WaitLeading(t)
	gap := time.Since(died)
	t.Logf("standby served %v after the leader's connection closed", gap)
	if gap > stocktest.TTL {
		t.Fatalf("took %v, more than the lease TTL %v", gap, stocktest.TTL)
	}
	if st := b.Server.Stats(); st.Revoked != 1 {
		t.Fatalf("standby revoked %d leases, want 1", st.Revoked)
	}
	r := request(t, c.NC, "stock.acquire.sku1", `{"n":1}`)
	if r.Granted != 1 {
		t.Fatalf("acquire after takeover: %+v", r.Reply)
	}
	testenv.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		if a.Server.Leading() {
			return fmt.Errorf("the revoked leader still serves")
		}
		return nil
	})
}

// TestPausedLeaderIsNotRevoked: a leader that stalls (both its NATS and
// its etcd connections stop moving, as in SIGSTOP) keeps its NATS
// subscriptions, so probes time out rather than find no responders: nobody
// revokes its lease, and the standby leads only once the lease expires.
func TestPausedLeaderIsNotRevoked(t *testing.T) {
	c := newCluster(t)
	etcdProxy, err := netproxy.Start(c.Etcd)
	if err != nil {
		t.Fatal(err)
	}
	natsProxy, err := netproxy.Start(c.NATS.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := c.StartAt("node-a", natsProxy.Addr(), etcdProxy.Addr())
	t.Cleanup(etcdProxy.Close)
	t.Cleanup(natsProxy.Close)
	a.WaitLeading(t)
	b := c.Start("node-b", "")
	setLimit(t, c.NC, "sku1", 1000)

	paused := time.Now()
	natsProxy.Pause()
	etcdProxy.Pause()
	b.WaitLeading(t)
	took := time.Since(paused)
	t.Logf("standby led %v after the pause (TTL %v)", took, stocktest.TTL)
	if st := b.Server.Stats(); st.Revoked != 0 {
		t.Fatalf("standby revoked %d leases of a paused leader", st.Revoked)
	}
	if took < stocktest.TTL/2 {
		t.Fatalf("standby led after %v, before the paused leader's lease could expire", took)
	}
}

// TestDeadStandbyIsRevoked: a candidate whose process is gone (its key is
// in the election queue, kept alive by its lease, but nothing answers its
// probe) is revoked by a live node (every node probes the others), so that a graceful handoff goes to
// the live standby at once instead of to the dead key, which would then
// "lead" until its lease expired.
func TestDeadStandbyIsRevoked(t *testing.T) {
	c := newCluster(t)
	a := c.Start("node-a", "")
	a.WaitLeading(t)
	setLimit(t, c.NC, "sku1", 1000)

	ctx := context.Background()
	lease, err := a.Client.Grant(ctx, 3600)
	if err != nil {
		t.Fatal(err)
	}
	ghost := capstore.ElectionPrefix(capstore.DefaultPrefix) + "/ghost"
	if _, err := a.Client.Put(ctx, ghost, liveness.CandidateValue("node-x", "gone"), clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	b := c.Start("node-b", "")
	testenv.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		resp, err := a.Client.Get(ctx, ghost)
		if err != nil {
			return err
		}
		if len(resp.Kvs) != 0 {
			return fmt.Errorf("the dead candidate's key is still queued")
		}
		if n := a.Server.Stats().Revoked + b.Server.Stats().Revoked; n < 1 {
			return fmt.Errorf("the live nodes revoked %d leases, want the dead candidate's", n)
		}
		return nil
	})
	if st := a.Server.Stats(); !st.Leading || st.Terms != 1 {
		t.Fatalf("the leader lost its term: %+v", st)
	}

	a.Stop(t)
	b.WaitLeading(t)
	if r := request(t, c.NC, "stock.acquire.sku1", `{"n":1}`); r.Granted != 1 {
		t.Fatalf("acquire after the handoff: %+v", r.Reply)
	}
	if st := b.Server.Stats(); st.Terms != 1 {
		t.Fatalf("the standby served %d terms, want 1", st.Terms)
	}
}

// TestRestartReplacesItsEarlierProcess: a process that starts under the id
// of one that crashed revokes the crashed one's keys at once, before any
// probe could (its warm-up here lasts an hour), and leads.
func TestRestartReplacesItsEarlierProcess(t *testing.T) {
	c := newCluster(t)
	cli := testenv.Client(t, c.Etcd)
	ctx := context.Background()
	lease, err := cli.Grant(ctx, 3600)
	if err != nil {
		t.Fatal(err)
	}
	crashed := capstore.ElectionPrefix(capstore.DefaultPrefix) + "/crashed"
	if _, err := cli.Put(ctx, crashed, liveness.CandidateValue("node-a", "crashed"), clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	a := c.Start("node-a", "", func(cfg *responder.Config) { cfg.ProbeWarmup = time.Hour })
	a.WaitLeading(t)
	if resp, err := cli.Get(ctx, crashed); err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("the crashed process's key: %v %v", err, resp.Kvs)
	}
}
