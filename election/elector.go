package election

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Retry pacing of Campaign after a failed attempt (etcd unreachable, lease
// lost while waiting): doubling from minBackoff up to maxBackoff.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = time.Second
)

// An Elector campaigns for one node. Its methods are safe for concurrent use;
// several Campaign calls may run at once, each on its own lease (a node
// normally runs one at a time).
//
// Close ends every leadership the Elector handed out, revokes their leases,
// and waits for every goroutine the Elector started.
type Elector struct {
	cli     *clientv3.Client
	prefix  string // the election prefix with "/" appended, as concurrency.Election does
	value   string
	ttlSecs int64 // TTL asked of etcd; etcd may grant more (its minimum lease TTL)
	log     *slog.Logger

	ctx    context.Context // cancelled by Close: ends the campaigns in flight
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool                     // guarded by mu
	live   map[*Leadership]struct{} // guarded by mu: leases granted and not yet revoked
	// wg counts Campaign calls in flight and every goroutine started by the
	// package. Add is called only while holding mu with closed false, or from
	// within something wg already counts, so it never races with Close's Wait.
	wg sync.WaitGroup
}

// New returns an Elector that campaigns under prefix (e.g. "/stock/leader")
// with value (the node id, what Leader reports) and leases of ttl, rounded up
// to whole seconds (etcd may raise it to its minimum lease TTL; the deadline
// uses the TTL etcd grants). log may be nil (discard). New does no I/O.
func New(cli *clientv3.Client, prefix, value string, ttl time.Duration, log *slog.Logger) *Elector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	secs := int64(math.Ceil(ttl.Seconds()))
	if secs < 1 {
		secs = 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Elector{
		cli:     cli,
		prefix:  prefix + "/",
		value:   value,
		ttlSecs: secs,
		log:     log.With("election", prefix, "node", value),
		ctx:     ctx,
		cancel:  cancel,
		live:    make(map[*Leadership]struct{}),
	}
}

// Campaign blocks until this node leads, and returns the leadership.
//
// Each attempt grants a fresh lease, puts this node's key under it, and waits
// until every key created before it is gone. While waiting it also watches the
// lease (which concurrency.Election.Campaign does not): if the lease is lost,
// the attempt is abandoned and a new one starts with a new lease. Failed
// attempts (etcd unreachable, lease lost) are logged and retried with backoff.
//
// Campaign returns ctx.Err() once ctx ends, ErrClosed once the Elector is
// closed, and an error wrapping ErrClientClosed once the etcd client is
// closed. An abandoned attempt's lease is revoked in the background, which
// removes its key.
func (e *Elector) Campaign(ctx context.Context) (*Leadership, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !e.enter() {
		return nil, ErrClosed
	}
	defer e.wg.Done()

	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(e.ctx, cancel)
	defer stop()

	backoff := minBackoff
	for {
		start := time.Now()
		l, err := e.attempt(cctx)
		if err == nil {
			return l, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if e.ctx.Err() != nil {
			return nil, ErrClosed
		}
		if e.cli.Ctx().Err() != nil {
			return nil, fmt.Errorf("%w: %w", ErrClientClosed, err)
		}
		if time.Since(start) > maxBackoff {
			backoff = minBackoff // the attempt got far: not a tight failure loop
		}
		e.log.Warn("campaign attempt failed; retrying", "err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-cctx.Done():
			t.Stop()
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// attempt runs one campaign on a fresh lease. On failure the lease is
// abandoned (End) before returning.
func (e *Elector) attempt(ctx context.Context) (*Leadership, error) {
	l, err := e.grant(ctx)
	if err != nil {
		return nil, err
	}
	if err := l.campaign(ctx); err != nil {
		l.End()
		return nil, err
	}
	if !l.Valid() {
		l.End()
		return nil, fmt.Errorf("%w: won the election too late", ErrDeadline)
	}
	if !e.goLeadership(l, l.watchKey) {
		l.finish(ErrClosed)
		return nil, ErrClosed
	}
	e.log.Info("leading", "key", l.key, "rev", l.rev, "lease", fmt.Sprintf("%x", int64(l.lease)), "deadline", time.Until(l.Deadline()))
	return l, nil
}

// grant grants a lease and starts its keepalives. The request is bounded by
// the TTL: the deadline counts from when the request was sent, so a lease
// granted any later would be born expired; the attempt is logged and retried.
func (e *Elector) grant(ctx context.Context) (*Leadership, error) {
	gctx, cancel := context.WithTimeout(ctx, time.Duration(e.ttlSecs)*time.Second)
	sent := time.Now()
	resp, err := e.cli.Grant(gctx, e.ttlSecs)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%w: grant lease: %w", ErrEtcd, err)
	}
	l := newLeadership(e, resp.ID, time.Duration(resp.TTL)*time.Second, sent)
	s, err := concurrency.NewSession(e.cli, concurrency.WithLease(resp.ID), concurrency.WithContext(l.ctx))
	if err != nil {
		l.finish(ErrEnded)
		_ = l.revoke() // nothing was started yet; the lease expires by TTL if this fails
		return nil, fmt.Errorf("%w: session: %w", ErrEtcd, err)
	}
	l.session = s
	if !e.start(l) {
		l.finish(ErrClosed)
		s.Orphan()
		_ = l.revoke()
		return nil, ErrClosed
	}
	return l, nil
}

// start registers l as live and starts its goroutines, unless e is closed.
func (e *Elector) start(l *Leadership) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.live[l] = struct{}{}
	e.wg.Add(2)
	l.wg.Add(2)
	go l.keepAlive()
	go l.watch()
	return true
}

// goLeadership runs f, one of l's goroutines, counted in both e.wg and
// l.wg, unless e is closed.
func (e *Elector) goLeadership(l *Leadership, f func()) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.wg.Add(1)
	l.wg.Add(1)
	go f()
	return true
}

// enter counts a Campaign call in wg, unless e is closed.
func (e *Elector) enter() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.wg.Add(1)
	return true
}

// goTracked runs f in a goroutine counted in wg, unless e is closed.
func (e *Elector) goTracked(f func()) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		f()
	}()
	return true
}

// forget drops l from the live set once its lease was revoked (or tried to be).
func (e *Elector) forget(l *Leadership) {
	e.mu.Lock()
	delete(e.live, l)
	e.mu.Unlock()
}

// Leader returns the current leader's value (node id), or "" if none: the
// value of the key created first under the prefix. The answer is etcd's view;
// a leader whose local deadline passed may still be listed until its lease
// expires at etcd.
func (e *Elector) Leader(ctx context.Context) (string, error) {
	resp, err := e.cli.Get(ctx, e.prefix, clientv3.WithFirstCreate()...)
	if err != nil {
		return "", fmt.Errorf("%w: get leader: %w", ErrEtcd, err)
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}

// Close ends every leadership still live (closing their Done channels first),
// revokes their leases, makes campaigns in flight return ErrClosed, and waits
// for every goroutine the Elector started. Each revoke is bounded by a short
// timeout; an error means some lease may live on until its TTL. Close is safe
// to call twice and concurrently; later calls wait and return nil.
func (e *Elector) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		e.wg.Wait()
		return nil
	}
	e.closed = true
	live := make([]*Leadership, 0, len(e.live))
	for l := range e.live {
		live = append(live, l)
	}
	e.mu.Unlock()

	e.cancel()
	var errs []error
	for _, l := range live {
		l.finish(ErrClosed)
		if err := l.revoke(); err != nil {
			errs = append(errs, err)
		}
	}
	e.wg.Wait()
	return errors.Join(errs...)
}
