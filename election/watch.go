package election

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// LeaderLease returns the current leader's value and the lease its key is
// attached to (0 and "" if nobody leads). A standby uses the lease to end a
// leader it has found dead.
func (e *Elector) LeaderLease(ctx context.Context) (value string, lease int64, err error) {
	resp, err := e.cli.Get(ctx, e.prefix, clientv3.WithFirstCreate()...)
	if err != nil {
		return "", 0, fmt.Errorf("%w: get leader: %w", ErrEtcd, err)
	}
	if len(resp.Kvs) == 0 {
		return "", 0, nil
	}
	return string(resp.Kvs[0].Value), resp.Kvs[0].Lease, nil
}

// RevokeLease ends another node's lease at once, deleting its leader key, so
// the next candidate leads without waiting for the TTL. Safety does not
// depend on it being right: the revoked leader's writes fail their fence,
// and a live one stops serving when its keepalives fail. A lease that is
// already gone is not an error.
func (e *Elector) RevokeLease(ctx context.Context, lease int64) error {
	_, err := e.cli.Revoke(ctx, clientv3.LeaseID(lease))
	if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("%w: revoke lease %x: %w", ErrEtcd, lease, err)
	}
	return nil
}
