package election

import (
	"context"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// watchKey ends the leadership as soon as etcd deletes the leader key (its
// lease was revoked, say by a standby that found this process gone, or it
// expired), without waiting for the next keepalive, which may be a third of
// the TTL away. etcd sends the delete to every watcher at once, so this node
// stops serving about when the standby starts its campaign, and well before
// that standby has loaded and written its first cap. If the watch breaks
// (etcd lost its raft leader, compaction) the key is read again and watched
// anew; the keepalives and the local deadline still bound the term meanwhile.
// It returns when the leadership ends.
func (l *Leadership) watchKey() {
	defer l.e.wg.Done()
	defer l.wg.Done()
	for l.ctx.Err() == nil {
		if l.watchDelete() {
			l.e.log.Warn("leadership lost: leader key deleted", "key", l.key)
			l.finish(fmt.Errorf("%w: leader key deleted", ErrLeaseLost))
			return
		}
		select {
		case <-l.ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
		ctx, cancel := context.WithTimeout(l.ctx, l.ttl/3)
		resp, err := l.e.cli.Get(ctx, l.key)
		cancel()
		if err == nil && (len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != l.rev) {
			l.e.log.Warn("leadership lost: leader key gone", "key", l.key)
			l.finish(fmt.Errorf("%w: leader key gone", ErrLeaseLost))
			return
		}
	}
}

// watchDelete watches the leader key from its creation and reports whether
// a delete was seen; it returns false when the watch ends without one.
func (l *Leadership) watchDelete() bool {
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(l.ctx))
	defer cancel()
	for wr := range l.e.cli.Watch(ctx, l.key, clientv3.WithRev(l.rev)) {
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete {
				return true
			}
		}
		if wr.Err() != nil {
			return false
		}
	}
	return false
}
