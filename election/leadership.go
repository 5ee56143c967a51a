package election

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// maxRevokeTimeout bounds a best-effort revoke (End, Close).
const maxRevokeTimeout = time.Second

// A Leadership is one term of this node as leader, on its own lease. Once it
// ends it stays ended; campaign again for a new term (new lease, new key, new
// Rev), so an etcd write of this term that lands late fails its fence.
//
// All methods are safe for concurrent use. Valid and Deadline are cheap
// (an atomic load and a clock read) and meant to be called per request.
//
// It ends, closing Done, when any of these happens first: etcd deletes the
// leader key (a watch sees it at once), etcd reports the lease gone
// (KeepAliveOnce answers lease-not-found), the session's
// keepalive channel closes (lease gone, or no answer for a TTL since the last
// one), the local deadline passes without a successful keepalive (etcd
// unreachable or this process paused), Resign or End is called, or the
// Elector is closed. Err says which.
type Leadership struct {
	e       *Elector
	key     string
	rev     int64 // written by campaign before the Leadership is returned; read-only afterwards
	lease   clientv3.LeaseID
	ttl     time.Duration // as granted by etcd
	session *concurrency.Session

	base     time.Time    // when the Grant was sent; has a monotonic clock reading
	deadline atomic.Int64 // nanoseconds after base; only moves forward

	ctx    context.Context // cancelled when the leadership ends; stops its goroutines
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	err    error // why it ended: written inside once before done is closed
	endOne sync.Once
	wg     sync.WaitGroup // keepAlive and watch
}

func newLeadership(e *Elector, id clientv3.LeaseID, ttl time.Duration, sent time.Time) *Leadership {
	ctx, cancel := context.WithCancel(e.ctx)
	l := &Leadership{
		e:      e,
		key:    fmt.Sprintf("%s%x", e.prefix, int64(id)),
		lease:  id,
		ttl:    ttl,
		base:   sent,
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
	}
	l.deadline.Store(int64(ttl - margin(ttl)))
	return l
}

// Key returns the leader key in etcd.
func (l *Leadership) Key() string { return l.key }

// Rev returns the CreateRevision of the leader key: the fence. Guard every
// etcd write with clientv3.Compare(clientv3.CreateRevision(Key()), "=", Rev()).
// The key's ModRevision is also Rev() until someone rewrites the key; a
// leader that rewrites it on purpose (capstore.Store.Refence) can fence on
// the mod revision instead and so move its fence within the term.
func (l *Leadership) Rev() int64 { return l.rev }

// LeaseID returns the lease the leader key is attached to.
func (l *Leadership) LeaseID() clientv3.LeaseID { return l.lease }

// Done is closed once this leadership is over. Stop serving when it is.
func (l *Leadership) Done() <-chan struct{} { return l.done }

// Err returns nil while the leadership lasts, then why it ended: an error
// wrapping ErrLeaseLost, ErrDeadline, ErrResigned, ErrEnded or ErrClosed.
func (l *Leadership) Err() error {
	select {
	case <-l.done:
		return l.err
	default:
		return nil
	}
}

// Deadline returns the local lease deadline: the time the latest successful
// keepalive (or the Grant) was sent, plus the TTL etcd returned, minus a
// safety margin for clock drift. etcd renews the lease no earlier than the
// request was sent, so its expiry is never before Deadline.
func (l *Leadership) Deadline() time.Time {
	return l.base.Add(time.Duration(l.deadline.Load()))
}

// Valid reports whether this node may still act as leader: the deadline has
// not passed and Done is not closed. Check it before answering each request;
// fenced etcd writes stay the final word.
func (l *Leadership) Valid() bool {
	select {
	case <-l.done:
		return false
	default:
	}
	return time.Since(l.base) < time.Duration(l.deadline.Load())
}

// Resign ends the leadership gracefully: it closes Done and stops the
// keepalives first (so this node stops serving before anyone else can lead),
// then deletes the leader key (fenced on Rev) and revokes the lease, so a
// standby takes over within a round trip. Both requests use ctx; if they fail
// the error wraps ErrEtcd, the outcome is unknown, and the lease expires by
// its TTL at the latest (Close tries the revoke again). Calling Resign again,
// or after End, is harmless.
func (l *Leadership) Resign(ctx context.Context) error {
	l.finish(ErrResigned)
	l.wg.Wait()
	cli := l.e.cli
	var errs []error
	_, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(l.key), "=", l.rev)).
		Then(clientv3.OpDelete(l.key)).
		Commit()
	if err != nil {
		errs = append(errs, fmt.Errorf("delete %s: %w", l.key, err))
	}
	if _, err := cli.Revoke(ctx, l.lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		errs = append(errs, fmt.Errorf("revoke lease %x: %w", int64(l.lease), err))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: resign: %w", ErrEtcd, errors.Join(errs...))
	}
	l.e.forget(l)
	l.e.log.Info("resigned", "key", l.key)
	return nil
}

// End abandons the leadership after a failure, without blocking: it closes
// Done, stops the keepalives, and revokes the lease in the background,
// retrying until it succeeds, the lease's TTL has passed (it has expired by
// itself by then), or the Elector closes; a lease that lingered would keep
// every standby waiting. Safe to call more than once; Elector.Close waits
// for the background revoke.
func (l *Leadership) End() {
	l.finish(ErrEnded)
	l.endOne.Do(func() {
		l.e.goTracked(func() {
			until := time.Now().Add(l.ttl)
			for {
				err := l.revoke()
				if err == nil {
					return
				}
				if time.Now().After(until) {
					l.e.log.Warn("revoke after end failed; the lease expires by its TTL", "key", l.key, "err", err)
					return
				}
				select {
				case <-l.e.ctx.Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		})
	})
}

// finish ends the leadership: records why, closes Done and cancels the
// context its goroutines run under. It does not block; only the first call
// counts.
func (l *Leadership) finish(reason error) {
	l.once.Do(func() {
		l.err = reason
		close(l.done)
		l.cancel()
	})
}

// revoke revokes the lease (which deletes the key) with a short timeout, and
// forgets l. A lease already gone is not an error.
func (l *Leadership) revoke() error {
	ctx, cancel := context.WithTimeout(context.Background(), min(l.ttl, maxRevokeTimeout))
	defer cancel()
	_, err := l.e.cli.Revoke(ctx, l.lease)
	l.e.forget(l)
	if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("%w: revoke lease %x: %w", ErrEtcd, int64(l.lease), err)
	}
	return nil
}
