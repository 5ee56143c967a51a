package election_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stockstate/stock/election"
	"github.com/stockstate/stock/internal/testenv"
)

const (
	prefix = "/stock/leader"
	// ttl is the lease TTL of the tests. The embedded etcd's minimum lease
	// TTL is 1.5 election timeouts (1.5 s) rounded up, so 2 s is what it
	// grants anyway.
	ttl = 2 * time.Second
	// slack is how late a timer-driven event may be and still count as on time.
	slack = 100 * time.Millisecond
)

// newElector returns an Elector for node on its own client to endpoint,
// closed by t.Cleanup.
func newElector(t testing.TB, endpoint, node string) *election.Elector {
	t.Helper()
	e := election.New(testenv.Client(t, endpoint), prefix, node, ttl, testenv.Logger(t).With("test_node", node))
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("close %s: %v", node, err)
		}
	})
	return e
}

type result struct {
	l   *election.Leadership
	err error
	at  time.Time // when Campaign returned
}

// campaign runs e.Campaign(ctx) in a goroutine. The goroutine ends when the
// campaign does, at the latest when e is closed by t.Cleanup.
func campaign(ctx context.Context, e *election.Elector) <-chan result {
	ch := make(chan result, 1)
	go func() {
		l, err := e.Campaign(ctx)
		ch <- result{l, err, time.Now()}
	}()
	return ch
}

// lead campaigns and fails the test unless e leads within 10 s.
func lead(t testing.TB, e *election.Elector) *election.Leadership {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := e.Campaign(ctx)
	if err != nil {
		t.Fatalf("campaign: %v", err)
	}
	return l
}

// within waits up to d for a result.
func within(t testing.TB, ch <-chan result, d time.Duration) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(d):
		t.Fatalf("no campaign result within %v", d)
		return result{}
	}
}

// closedWithin fails the test unless ch is closed within d.
func closedWithin(t testing.TB, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ch:
		return
	default:
	}
	select {
	case <-ch:
	case <-timer.C:
		t.Fatalf("%s: not closed within %v", what, d)
	}
}

// waitCandidates waits until n keys exist under the election prefix.
func waitCandidates(t testing.TB, cli *clientv3.Client, n int) {
	t.Helper()
	testenv.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		resp, err := cli.Get(context.Background(), prefix+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return err
		}
		if resp.Count != int64(n) {
			return fmt.Errorf("%d candidates, want %d", resp.Count, n)
		}
		return nil
	})
}

// fenced tries a write fenced on l's key and revision, as every leader write is.
func fenced(t testing.TB, cli *clientv3.Client, l *election.Leadership) bool {
	t.Helper()
	resp, err := cli.Txn(context.Background()).
		If(clientv3.Compare(clientv3.CreateRevision(l.Key()), "=", l.Rev())).
		Then(clientv3.OpPut("/stock/cap/sku1", "100")).
		Commit()
	if err != nil {
		t.Fatalf("fenced txn: %v", err)
	}
	return resp.Succeeded
}

func leaderIs(t testing.TB, e *election.Elector, want string) {
	t.Helper()
	got, err := e.Leader(context.Background())
	if err != nil {
		t.Fatalf("leader: %v", err)
	}
	if got != want {
		t.Fatalf("leader = %q, want %q", got, want)
	}
}

func TestLeadership(t *testing.T) {
	ep := testenv.Endpoint(testenv.Etcd(t))
	direct := testenv.Client(t, ep)
	e := newElector(t, ep, "a")
	leaderIs(t, e, "")

	before := time.Now()
	l := lead(t, e)
	if !strings.HasPrefix(l.Key(), prefix+"/") {
		t.Errorf("key %q not under %q", l.Key(), prefix)
	}
	if l.Rev() <= 0 || l.LeaseID() == clientv3.NoLease {
		t.Errorf("rev %d, lease %x", l.Rev(), l.LeaseID())
	}
	if !l.Valid() || l.Err() != nil {
		t.Fatalf("new leadership: valid %v, err %v", l.Valid(), l.Err())
	}
	if d := l.Deadline(); !d.After(time.Now()) || d.After(before.Add(ttl)) {
		t.Errorf("deadline %v after now, want within (now, start+ttl]", time.Until(d))
	}
	leaderIs(t, e, "a")
	if !fenced(t, direct, l) {
		t.Error("leader's fenced write failed")
	}

	// The keepalive loop moves the deadline forward, and never beyond
	// a TTL from now.
	first := l.Deadline()
	testenv.Eventually(t, 2*ttl, 20*time.Millisecond, func() error {
		if d := l.Deadline(); !d.After(first) {
			return fmt.Errorf("deadline did not move from %v", first)
		}
		return nil
	})
	if d := l.Deadline(); d.After(time.Now().Add(ttl)) {
		t.Errorf("deadline %v ahead, more than the TTL", time.Until(d))
	}
}

func TestOneLeaderAtATime(t *testing.T) {
	ep := testenv.Endpoint(testenv.Etcd(t))
	direct := testenv.Client(t, ep)
	electors := map[string]*election.Elector{"a": newElector(t, ep, "a"), "b": newElector(t, ep, "b")}
	results := map[string]<-chan result{
		"a": campaign(context.Background(), electors["a"]),
		"b": campaign(context.Background(), electors["b"]),
	}

	var winner, loser string
	var won result
	select {
	case won = <-results["a"]:
		winner, loser = "a", "b"
	case won = <-results["b"]:
		winner, loser = "b", "a"
	case <-time.After(10 * time.Second):
		t.Fatal("nobody leads")
	}
	if won.err != nil {
		t.Fatalf("%s: %v", winner, won.err)
	}
	// Both keys exist, so the loser is campaigning; it must keep waiting.
	waitCandidates(t, direct, 2)
	select {
	case r := <-results[loser]:
		t.Fatalf("%s leads too (err %v) while %s leads", loser, r.err, winner)
	case <-time.After(300 * time.Millisecond):
	}
	leaderIs(t, electors["a"], winner)
	leaderIs(t, electors["b"], winner)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resigned := time.Now()
	if err := won.l.Resign(ctx); err != nil {
		t.Fatalf("resign: %v", err)
	}
	next := within(t, results[loser], time.Second)
	if next.err != nil {
		t.Fatalf("%s: %v", loser, next.err)
	}
	t.Logf("%s took over %v after %s resigned", loser, time.Since(resigned), winner)
	closedWithin(t, won.l.Done(), 0, "resigned leadership's Done")
	if won.l.Valid() || !errors.Is(won.l.Err(), election.ErrResigned) {
		t.Errorf("after resign: valid %v, err %v", won.l.Valid(), won.l.Err())
	}
	leaderIs(t, electors[winner], loser)
	if fenced(t, direct, won.l) {
		t.Error("resigned leader's fenced write succeeded")
	}
	if !fenced(t, direct, next.l) {
		t.Error("new leader's fenced write failed")
	}

	if err := next.l.Resign(ctx); err != nil {
		t.Fatalf("resign: %v", err)
	}
	leaderIs(t, electors[winner], "")
}

func TestLeaseRevokedFromOutside(t *testing.T) {
	ep := testenv.Endpoint(testenv.Etcd(t))
	direct := testenv.Client(t, ep)
	a, b := newElector(t, ep, "a"), newElector(t, ep, "b")
	la := lead(t, a)
	standby := campaign(context.Background(), b)
	waitCandidates(t, direct, 2)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := direct.Revoke(ctx, la.LeaseID()); err != nil {
		t.Fatal(err)
	}
	// The session's keepalive stream or our KeepAliveOnce learns of it at
	// the next renewal, a third of the TTL later.
	closedWithin(t, la.Done(), ttl/3+time.Second, "Done after revoke")
	if la.Valid() || !errors.Is(la.Err(), election.ErrLeaseLost) {
		t.Errorf("after revoke: valid %v, err %v", la.Valid(), la.Err())
	}
	lb := within(t, standby, time.Second)
	if lb.err != nil {
		t.Fatal(lb.err)
	}
	leaderIs(t, a, "b")
	if fenced(t, direct, la) {
		t.Error("old leader's fenced write succeeded after its lease was revoked")
	}
	if !fenced(t, direct, lb.l) {
		t.Error("new leader's fenced write failed")
	}
	la.End()
}

func TestDeadlineWhenEtcdUnreachable(t *testing.T) {
	ep := testenv.Endpoint(testenv.Etcd(t))
	direct := testenv.Client(t, ep)
	p := newProxy(t, ep)
	e := newElector(t, p.addr(), "a")
	l := lead(t, e)
	standby := campaign(context.Background(), newElector(t, ep, "b"))
	waitCandidates(t, direct, 2)

	// Let a keepalive succeed, so the deadline comes from the loop and not
	// from the grant.
	first := l.Deadline()
	testenv.Eventually(t, 2*ttl, 10*time.Millisecond, func() error {
		if !l.Deadline().After(first) {
			return errors.New("no keepalive yet")
		}
		return nil
	})

	paused := time.Now()
	p.pause()
	// No keepalive sent after the pause can succeed, so the deadline stays
	// below a TTL after the pause. Done closes at the deadline, or earlier if
	// the session's own keepalive gives up first (no answer for a TTL since
	// its last answer, which may be older than our last one).
	deadline := l.Deadline()
	if !deadline.Before(paused.Add(ttl)) {
		t.Errorf("deadline %v after pause, want < TTL %v", deadline.Sub(paused), ttl)
	}
	doneAt := election.WaitOnTime(t, l.Done(), deadline, slack)
	if l.Deadline() != deadline {
		t.Errorf("deadline moved by %v while etcd was unreachable", l.Deadline().Sub(deadline))
	}
	t.Logf("paused, then deadline after %v, Done after %v", deadline.Sub(paused), doneAt.Sub(paused))
	if l.Valid() {
		t.Error("valid after Done")
	}
	if err := l.Err(); !errors.Is(err, election.ErrDeadline) && !errors.Is(err, election.ErrLeaseLost) {
		t.Errorf("err %v, want ErrDeadline or ErrLeaseLost", err)
	}

	// The deadline did not lie: the standby, which reaches etcd directly,
	// wins only once etcd has expired the old lease, and by then the old
	// leader's deadline had passed. Leaderships never overlap.
	r := within(t, standby, 2*ttl)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !deadline.Before(r.at) {
		t.Errorf("standby led %v before the old leader's deadline", deadline.Sub(r.at))
	}
	t.Logf("standby led %v after the old leader's deadline", r.at.Sub(deadline))
	resp, err := direct.TimeToLive(context.Background(), l.LeaseID())
	if err != nil {
		t.Fatal(err)
	}
	if resp.TTL != -1 {
		t.Errorf("old lease still at etcd (ttl %d) while the standby leads", resp.TTL)
	}

	// Back online, the ended leadership stays ended; a new campaign gets a
	// new term.
	p.resume()
	l.End()
	if l.Valid() {
		t.Error("ended leadership valid again")
	}
	if fenced(t, direct, l) {
		t.Error("old term's fenced write succeeded")
	}
	if !fenced(t, direct, r.l) {
		t.Error("new leader's fenced write failed")
	}
	if err := r.l.Resign(context.Background()); err != nil {
		t.Fatal(err)
	}
	l2 := lead(t, e)
	if l2.Key() == l.Key() || l2.Rev() <= l.Rev() {
		t.Errorf("new term reuses key %s / rev %d (old %s / %d)", l2.Key(), l2.Rev(), l.Key(), l.Rev())
	}
}

func TestCampaignAfterEnd(t *testing.T) {
	ep := testenv.Endpoint(testenv.Etcd(t))
	direct := testenv.Client(t, ep)
	e := newElector(t, ep, "a")
	l1 := lead(t, e)
	l1.End()
	l1.End()
	closedWithin(t, l1.Done(), 0, "Done after End")
	if l1.Valid() || !errors.Is(l1.Err(), election.ErrEnded) {
		t.Errorf("after end: valid %v, err %v", l1.Valid(), l1.Err())
	}

	l2 := lead(t, e)
	if l2.Key() == l1.Key() || l2.Rev() == l1.Rev() || l2.LeaseID() == l1.LeaseID() {
		t.Fatalf("second term key %s rev %d lease %x, first key %s rev %d lease %x",
			l2.Key(), l2.Rev(), l2.LeaseID(), l1.Key(), l1.Rev(), l1.LeaseID())
	}
	if !l2.Valid() {
		t.Fatal("second term not valid")
	}
	// End revoked the first lease in the background.
	testenv.Eventually(t, 2*time.Second, 10*time.Millisecond, func() error {
		resp, err := direct.TimeToLive(context.Background(), l1.LeaseID())
		if err != nil {
			return err
		}
		if resp.TTL != -1 {
			return fmt.Errorf("first lease still there, ttl %d", resp.TTL)
		}
		return nil
	})
	if fenced(t, direct, l1) {
		t.Error("first term's fenced write succeeded")
	}
	if !fenced(t, direct, l2) {
		t.Error("second term's fenced write failed")
	}
}

func TestClose(t *testing.T) {
	ep := testenv.Endpoint(testenv.Etcd(t))
	direct := testenv.Client(t, ep)
	a, b, c := newElector(t, ep, "a"), newElector(t, ep, "b"), newElector(t, ep, "c")
	la := lead(t, a)
	rb := campaign(context.Background(), b)
	waitCandidates(t, direct, 2)

	// Closing a leader ends its leadership and revokes its lease before
	// returning; the standby takes over.
	if err := a.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	closedWithin(t, la.Done(), 0, "Done after Close")
	if la.Valid() || !errors.Is(la.Err(), election.ErrClosed) {
		t.Errorf("after close: valid %v, err %v", la.Valid(), la.Err())
	}
	resp, err := direct.Get(context.Background(), la.Key())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 0 {
		t.Error("leader key still there after Close")
	}
	if err := a.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := a.Campaign(context.Background()); !errors.Is(err, election.ErrClosed) {
		t.Errorf("campaign after close: %v, want ErrClosed", err)
	}
	lb := within(t, rb, time.Second)
	if lb.err != nil {
		t.Fatal(lb.err)
	}

	// Closing a standby ends its campaign with ErrClosed and removes its key.
	rc := campaign(context.Background(), c)
	waitCandidates(t, direct, 2)
	if err := c.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if r := within(t, rc, time.Second); !errors.Is(r.err, election.ErrClosed) {
		t.Errorf("campaign during close: %v, want ErrClosed", r.err)
	}
	waitCandidates(t, direct, 1)
	if !lb.l.Valid() {
		t.Error("b's leadership ended by c's Close")
	}
}

func TestCampaignContext(t *testing.T) {
	ep := testenv.Endpoint(testenv.Etcd(t))
	direct := testenv.Client(t, ep)
	lead(t, newElector(t, ep, "leader"))
	e := newElector(t, ep, "standby")

	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		// cancelWhileWaiting cancels once the standby's key is in etcd.
		cancelWhileWaiting bool
		want               error
	}{
		{
			name: "canceled before",
			ctx: func() (context.Context, context.CancelFunc) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, cancel
			},
			want: context.Canceled,
		},
		{
			name:               "canceled while waiting",
			ctx:                func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) },
			cancelWhileWaiting: true,
			want:               context.Canceled,
		},
		{
			name: "deadline while waiting",
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 500*time.Millisecond)
			},
			want: context.DeadlineExceeded,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			r := campaign(ctx, e)
			if tt.cancelWhileWaiting {
				waitCandidates(t, direct, 2)
				cancel()
			}
			got := within(t, r, 5*time.Second)
			if got.err != tt.want || got.l != nil {
				t.Fatalf("campaign = %v, %v; want nil, %v", got.l, got.err, tt.want)
			}
			// The abandoned attempt's lease is revoked, so its key goes.
			waitCandidates(t, direct, 1)
		})
	}
}

// TestCandidates: the queue is listed in campaign order with each key's
// lease, and revoking a standby's lease takes it out of the queue.
func TestCandidates(t *testing.T) {
	ep := testenv.Endpoint(testenv.Etcd(t))
	direct := testenv.Client(t, ep)
	a, b, c := newElector(t, ep, "a"), newElector(t, ep, "b"), newElector(t, ep, "c")
	la := lead(t, a)
	campaign(context.Background(), b)
	waitCandidates(t, direct, 2)
	campaign(context.Background(), c)
	waitCandidates(t, direct, 3)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	values := func(cs []election.Candidate) string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Value)
		}
		return strings.Join(out, ",")
	}
	all, err := c.Candidates(ctx, 8)
	if err != nil {
		t.Fatal(err)
	}
	if got := values(all); got != "a,b,c" {
		t.Fatalf("candidates %s, want a,b,c", got)
	}
	if all[0].Lease != int64(la.LeaseID()) {
		t.Errorf("leader's lease %x, want %x", all[0].Lease, la.LeaseID())
	}
	first, err := c.Candidates(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := values(first); got != "a,b" {
		t.Fatalf("first two candidates %s, want a,b", got)
	}

	if err := a.RevokeLease(ctx, all[1].Lease); err != nil {
		t.Fatal(err)
	}
	if err := a.RevokeLease(ctx, all[1].Lease); err != nil {
		t.Errorf("revoking a lease that is gone: %v", err)
	}
	left, err := a.Candidates(ctx, 8)
	if err != nil {
		t.Fatal(err)
	}
	if got := values(left); got != "a,c" {
		t.Fatalf("candidates after revoking b %s, want a,c", got)
	}
	la.End()
}

// TestKeyDeletedEndsLeadership: the leader key deleted while its lease
// lives on (nothing the keepalives would notice) ends the leadership at
// once, through the watch on the key.
func TestKeyDeletedEndsLeadership(t *testing.T) {
	ep := testenv.Endpoint(testenv.Etcd(t))
	direct := testenv.Client(t, ep)
	a := newElector(t, ep, "a")
	la := lead(t, a)
	if _, err := direct.Delete(context.Background(), la.Key()); err != nil {
		t.Fatal(err)
	}
	closedWithin(t, la.Done(), ttl, "Done after the leader key was deleted")
	if !errors.Is(la.Err(), election.ErrLeaseLost) {
		t.Errorf("Err = %v, want ErrLeaseLost", la.Err())
	}
	la.End()
}

// TestCampaignKeyDeletedWhileWaiting: a standby whose own key is deleted
// while it waits does not win when the keys ahead of it go; its campaign
// fails and it campaigns again with a new key.
func TestCampaignKeyDeletedWhileWaiting(t *testing.T) {
	ep := testenv.Endpoint(testenv.Etcd(t))
	direct := testenv.Client(t, ep)
	a, b := newElector(t, ep, "a"), newElector(t, ep, "b")
	la := lead(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	standby := campaign(ctx, b)
	waitCandidates(t, direct, 2)
	resp, err := direct.Get(ctx, prefix+"/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range resp.Kvs {
		keys = append(keys, string(kv.Key))
	}
	if _, err := direct.Delete(ctx, keys[1]); err != nil {
		t.Fatal(err)
	}
	if err := la.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	r := within(t, standby, 5*time.Second)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.l.Key() == keys[1] {
		t.Fatalf("won with the deleted key %s", keys[1])
	}
	if !fenced(t, direct, r.l) {
		t.Error("the winner's fenced write failed")
	}
	r.l.End()
}

// TestCandidatesOf: the queues of 200 elections, read in transactions of
// at most 128, are each what Candidates reads of it; electors of another
// client are refused.
func TestCandidatesOf(t *testing.T) {
	ep := testenv.Endpoint(testenv.Etcd(t))
	cliA, cliB := testenv.Client(t, ep), testenv.Client(t, ep)
	const n = 200
	as, bs := make([]*election.Elector, n), make([]*election.Elector, n)
	for i := range n {
		as[i] = election.New(cliA, fmt.Sprintf("/queues/%d", i), fmt.Sprintf("a%d", i), ttl, nil)
		bs[i] = election.New(cliB, fmt.Sprintf("/queues/%d", i), fmt.Sprintf("b%d", i), ttl, nil)
		t.Cleanup(func() { as[i].Close(); bs[i].Close() })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, i := range []int{0, 127, 128, 199} {
		lead(t, as[i])
	}
	for _, i := range []int{0, 128} {
		campaign(ctx, bs[i])
	}
	testenv.Eventually(t, 5*time.Second, 10*time.Millisecond, func() error {
		for _, i := range []int{0, 128} {
			if q, err := as[i].Candidates(ctx, 8); err != nil || len(q) != 2 {
				return fmt.Errorf("queue %d: %v %v", i, q, err)
			}
		}
		return nil
	})
	got, err := election.CandidatesOf(ctx, 8, as)
	if err != nil || len(got) != n {
		t.Fatalf("CandidatesOf: %d queues, %v", len(got), err)
	}
	for i := range n {
		want, err := as[i].Candidates(ctx, 8)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got[i], want) {
			t.Errorf("queue %d: %v, want %v", i, got[i], want)
		}
	}
	if len(got[0]) != 2 || got[0][0].Value != "a0" || got[0][1].Value != "b0" || len(got[199]) != 1 || len(got[1]) != 0 {
		t.Errorf("queues 0, 199, 1: %v %v %v", got[0], got[199], got[1])
	}
	if _, err := election.CandidatesOf(ctx, 8, []*election.Elector{as[0], bs[1]}); err == nil {
		t.Error("CandidatesOf of two clients' electors: no error")
	}
}
