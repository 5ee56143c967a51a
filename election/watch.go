package election

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.etcd.io/etcd/api/v3/mvccpb"
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
	resp, err := e.cli.Get(ctx, e.prefix, e.queueRead(limit)...)
	if err != nil {
		return nil, fmt.Errorf("%w: get candidates: %w", ErrEtcd, err)
	}
	return candidates(resp.Kvs), nil
}

// queueRead are the options of a read of the queue's first limit keys.
func (e *Elector) queueRead(limit int64) []clientv3.OpOption {
	return []clientv3.OpOption{clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend), clientv3.WithLimit(limit)}
}

// candidates are the queue's keys as read.
func candidates(kvs []*mvccpb.KeyValue) []Candidate {
	out := make([]Candidate, len(kvs))
	for i, kv := range kvs {
		out[i] = Candidate{Value: string(kv.Value), Lease: kv.Lease}
	}
	return out
}

// SameClient reports whether e and o talk to etcd through one client, as
// CandidatesOf needs.
func (e *Elector) SameClient(o *Elector) bool { return o != nil && e.cli == o.cli }

// queuesPerRead is how many queues one transaction of CandidatesOf reads:
// etcd's default --max-txn-ops.
const queuesPerRead = 128

// CandidatesOf returns, for each of es, what Candidates returns, reading
// the queues in transactions of up to 128 ranges: one linearizable read
// for 128 elections, where Candidates costs one each. The electors must
// share one client. Queues read by different transactions may be of
// different revisions, as with separate Candidates calls.
func CandidatesOf(ctx context.Context, limit int64, es []*Elector) ([][]Candidate, error) {
	out := make([][]Candidate, 0, len(es))
	for chunk := range slices.Chunk(es, queuesPerRead) {
		ops := make([]clientv3.Op, len(chunk))
		for i, e := range chunk {
			if !e.SameClient(es[0]) {
				return nil, errors.New("election: CandidatesOf: the electors do not share one client")
			}
			ops[i] = clientv3.OpGet(e.prefix, e.queueRead(limit)...)
		}
		resp, err := es[0].cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return nil, fmt.Errorf("%w: get candidates of %d elections: %w", ErrEtcd, len(chunk), err)
		}
		for _, r := range resp.Responses {
			out = append(out, candidates(r.GetResponseRange().GetKvs()))
		}
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
