package election

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Candidate is one key in the election queue: the value a node campaigned
// with and the lease its key is attached to.
type Candidate struct {
	Value string
	Lease int64
}

// Candidates returns up to limit keys of the election queue in campaign
// order, the leader first (none if nobody campaigns). A standby uses the
// leases to end candidates it has found dead.
func (e *Elector) Candidates(ctx context.Context, limit int64) ([]Candidate, error) {
	resp, err := e.cli.Get(ctx, e.prefix, clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend),
		clientv3.WithLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("%w: get candidates: %w", ErrEtcd, err)
	}
	out := make([]Candidate, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		out[i] = Candidate{Value: string(kv.Value), Lease: kv.Lease}
	}
	return out, nil
}

// RevokeLease ends another node's lease at once, deleting its key, so the
// next candidate leads without waiting for the TTL. Safety does not depend
// on it being right: a revoked leader's writes fail their fence, and a live
// one stops serving when its keepalives fail. A lease that is already gone
// is not an error.
func (e *Elector) RevokeLease(ctx context.Context, lease int64) error {
	_, err := e.cli.Revoke(ctx, clientv3.LeaseID(lease))
	if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return fmt.Errorf("%w: revoke lease %x: %w", ErrEtcd, lease, err)
	}
	return nil
}
