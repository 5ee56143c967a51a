package election

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// campaign puts this node's key under its lease, unless it is there already
// (a retried put), and waits until every key created before it is deleted
// while its own is still there.
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
	if err := waitTurn(ctx, cli, l.e.prefix, l.key, l.rev); err != nil {
		return l.cause(err)
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

// waitTurn waits until the key created first under prefix is key, created
// at rev: every key ahead of it is deleted. It fails with ErrLeaseLost if
// key itself is gone (its lease revoked or expired while it waited), which
// concurrency.Election does not check. Each round is one read of the first
// key, and a watch on it if it is another's; etcd is the source of truth,
// so after each watched delete, or a watch that ended (compaction), it reads
// again.
func waitTurn(ctx context.Context, cli *clientv3.Client, prefix, key string, rev int64) error {
	for {
		resp, err := cli.Get(ctx, prefix, clientv3.WithFirstCreate()...)
		if err != nil {
			return fmt.Errorf("%w: get %s: %w", ErrEtcd, prefix, err)
		}
		if len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision > rev {
			return fmt.Errorf("%w: key %s deleted while waiting", ErrLeaseLost, key)
		}
		first := resp.Kvs[0]
		if first.CreateRevision == rev && string(first.Key) == key {
			return nil
		}
		if err := waitDelete(ctx, cli, string(first.Key), resp.Header.Revision); err != nil {
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
