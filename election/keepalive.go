package election

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// margin is taken off every deadline: 2% of the TTL for clock-rate drift
// between this host and etcd, plus 50ms for timer and scheduling latency.
func margin(ttl time.Duration) time.Duration {
	return ttl/50 + 50*time.Millisecond
}

// keepAlive renews the lease with KeepAliveOnce every ttl/3 and moves the
// deadline to (time the request was sent) + (TTL etcd returned) - margin.
// Each request is bounded by ttl/3, so an etcd that never answers cannot hold
// the loop past the deadline; a failed request is retried sooner. A
// lease-not-found answer ends the leadership. It returns when the leadership
// ends.
func (l *Leadership) keepAlive() {
	defer l.e.wg.Done()
	defer l.wg.Done()
	interval := l.ttl / 3
	t := time.NewTimer(interval - time.Since(l.base))
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-t.C:
		}
		sent := time.Now()
		ctx, cancel := context.WithTimeout(l.ctx, interval)
		resp, err := l.e.cli.KeepAliveOnce(ctx, l.lease)
		cancel()
		next := interval - time.Since(sent)
		switch {
		case err == nil:
			l.extend(sent, time.Duration(resp.TTL)*time.Second)
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			l.e.log.Warn("leadership lost: lease not found", "key", l.key)
			l.finish(fmt.Errorf("%w: %w", ErrLeaseLost, err))
			return
		case l.ctx.Err() != nil:
			return
		default:
			l.e.log.Warn("keepalive failed", "key", l.key, "err", err, "deadline_in", time.Until(l.Deadline()))
			next = interval / 4
		}
		t.Reset(max(next, 0))
	}
}

// extend moves the deadline forward to sent + ttl - margin. Only keepAlive
// calls it, so a plain load and store cannot lose an update.
func (l *Leadership) extend(sent time.Time, ttl time.Duration) {
	d := int64(sent.Sub(l.base) + ttl - margin(ttl))
	if d > l.deadline.Load() {
		l.deadline.Store(d)
	}
}

// watch ends the leadership when the session is lost (its keepalive channel
// closed: lease revoked or expired, or etcd unreachable for a TTL) or when
// the deadline passes, re-arming its timer as keepAlive moves the deadline.
// When the leadership ends for any reason it orphans the session, so nothing
// keeps the lease alive any more, and returns.
func (l *Leadership) watch() {
	defer l.e.wg.Done()
	defer l.wg.Done()
	defer l.session.Orphan()
	t := time.NewTimer(time.Until(l.Deadline()))
	defer t.Stop()
	for {
		select {
		case <-l.ctx.Done():
			l.finish(ErrClosed) // no-op unless the Elector's context ended first
			return
		case <-l.session.Done():
			if l.Err() == nil {
				l.e.log.Warn("leadership lost: session ended", "key", l.key)
			}
			l.finish(ErrLeaseLost)
			return
		case <-t.C:
			if d := time.Until(l.Deadline()); d > 0 {
				t.Reset(d)
				continue
			}
			l.e.log.Warn("leadership lost: lease deadline passed", "key", l.key)
			l.finish(ErrDeadline)
			return
		}
	}
}
