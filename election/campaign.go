package election

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// campaign puts this node's key under its lease, unless it is there already
// (a retried put), waits until every key created before it is deleted, and
// checks that its own key is still there.
// It gives up when ctx ends or the leadership ends (lease lost, deadline).
//
// It follows concurrency.Election.Campaign but does not resign on
// cancellation: that Resign runs on the client's context without a timeout,
// and would hang while etcd is unreachable. The caller revokes the lease
// instead, which deletes the key.
func (l *Leadership) campaign(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(l.ctx, cancel)
	defer stop()

	cli := l.e.cli
	resp, err := cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(l.key), "=", 0)).
		Then(clientv3.OpPut(l.key, l.e.value, clientv3.WithLease(l.lease))).
		Else(clientv3.OpGet(l.key)).
		Commit()
	if err != nil {
		return l.cause(fmt.Errorf("%w: put %s: %w", ErrEtcd, l.key, err))
	}
	l.rev = resp.Header.Revision
	if !resp.Succeeded {
		kvs := resp.Responses[0].GetResponseRange().Kvs
		if len(kvs) == 0 {
			return fmt.Errorf("%w: key %s vanished", ErrLeaseLost, l.key)
		}
		l.rev = kvs[0].CreateRevision
	}
	if err := waitDeletes(ctx, cli, l.e.prefix, l.rev-1); err != nil {
		return l.cause(err)
	}
	// The keys ahead are gone, but so may be this one (its lease revoked or
	// expired while waiting); concurrency.Election does not look.
	own, err := cli.Get(ctx, l.key)
	if err != nil {
		return l.cause(fmt.Errorf("%w: get %s: %w", ErrEtcd, l.key, err))
	}
	if len(own.Kvs) == 0 || own.Kvs[0].CreateRevision != l.rev {
		return fmt.Errorf("%w: key %s deleted while waiting", ErrLeaseLost, l.key)
	}
	return nil
}

// cause prefers why the leadership ended over the cancellation it caused.
func (l *Leadership) cause(err error) error {
	if reason := l.Err(); reason != nil {
		return fmt.Errorf("%w: %w", reason, err)
	}
	return err
}

// waitDeletes waits until no key under prefix has a CreateRevision of
// maxRev or less. etcd is the source of truth: after each watched delete,
// or a watch that ended (compaction), it reads again.
func waitDeletes(ctx context.Context, cli *clientv3.Client, prefix string, maxRev int64) error {
	opts := append(clientv3.WithLastCreate(), clientv3.WithMaxCreateRev(maxRev))
	for {
		resp, err := cli.Get(ctx, prefix, opts...)
		if err != nil {
			return fmt.Errorf("%w: get %s: %w", ErrEtcd, prefix, err)
		}
		if len(resp.Kvs) == 0 {
			return nil
		}
		if err := waitDelete(ctx, cli, string(resp.Kvs[0].Key), resp.Header.Revision); err != nil {
			return err
		}
	}
}

// waitDelete watches key from rev until it is deleted. It returns nil also
// when the watch was cut by compaction, so that the caller reads again.
func waitDelete(ctx context.Context, cli *clientv3.Client, key string, rev int64) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	var last error
	for wr := range cli.Watch(wctx, key, clientv3.WithRev(rev)) {
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete {
				return nil
			}
		}
		if err := wr.Err(); err != nil {
			last = err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if last != nil && !errors.Is(last, rpctypes.ErrCompacted) {
		return fmt.Errorf("%w: watch %s: %w", ErrEtcd, key, last)
	}
	return nil
}
