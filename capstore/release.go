package capstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stockstate/stock/stock"
)

// Release writes, in one transaction fenced on the leader key at fenceRev,
// sku's new record rec and the key <prefix>/release/<sku>/<id> holding
// reply, attached to a lease that keeps it at least ttl (the dedupe
// horizon), but only if that id key does not exist yet. So a release
// retried within ttl, even to a new leader, changes nothing and gets the
// first reply back.
//
// committed=false, err=nil: the fence failed (this node is not the leader,
// or its fence moved); nothing was written. committed=true, prev != nil: id was seen before;
// nothing was written and prev is the first reply. committed=true, prev ==
// nil: rec and the id were written. err != nil: the outcome is unknown; a
// retry with the same id is safe and tells which.
//
// An invalid rec (ErrInvalidRecord), an empty sku, id or leader key
// (ErrInvalidName), or a ttl below one second is refused before anything is
// written.
//
// Leases are shared: one granted for ttl+LeaseSlack serves every Release
// while it has at least ttl left, so ids outlive ttl by up to LeaseSlack.
func (s *Store) Release(ctx context.Context, leaderKey string, fenceRev int64, sku string, rec stock.Record, id string, reply []byte, ttl time.Duration) (committed bool, prev []byte, err error) {
	switch {
	case sku == "" || id == "" || leaderKey == "":
		return false, nil, fmt.Errorf("capstore: release %q id %q fenced on %q: %w: empty SKU, id or leader key", sku, id, leaderKey, ErrInvalidName)
	case !rec.Valid():
		return false, nil, fmt.Errorf("capstore: release %s: %w: limit %d, cap %d", sku, ErrInvalidRecord, rec.Limit, rec.Cap)
	case ttl < time.Second:
		return false, nil, fmt.Errorf("capstore: release %s: dedupe horizon %v below 1s", sku, ttl)
	}
	committed, prev, err = s.release(ctx, leaderKey, fenceRev, sku, rec, id, reply, ttl)
	if errors.Is(err, rpctypes.ErrLeaseNotFound) {
		// The server checks leases before applying anything, so nothing was
		// written: the shared lease is gone (revoked, or expired early after
		// a restore). Forget it and try once more with a new one.
		committed, prev, err = s.release(ctx, leaderKey, fenceRev, sku, rec, id, reply, ttl)
	}
	if err != nil {
		return false, nil, fmt.Errorf("capstore: release %s id %q fenced on %s@%d: %w", sku, id, leaderKey, fenceRev, err)
	}
	return committed, prev, nil
}

func (s *Store) release(ctx context.Context, leaderKey string, fenceRev int64, sku string, rec stock.Record, id string, reply []byte, ttl time.Duration) (bool, []byte, error) {
	lease, err := s.lease(ctx, ttl)
	if err != nil {
		return false, nil, err
	}
	idKey := s.releaseKey(sku, id)
	once := clientv3.OpTxn(
		[]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(idKey), "=", 0)},
		[]clientv3.Op{
			clientv3.OpPut(s.skuKey(sku), string(encodeRecord(rec))),
			clientv3.OpPut(idKey, string(reply), clientv3.WithLease(lease)),
		},
		[]clientv3.Op{clientv3.OpGet(idKey)},
	)
	resp, err := s.cli.Txn(ctx).If(fence(leaderKey, fenceRev)).Then(once).Commit()
	if err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			s.forgetLease(lease)
		}
		return false, nil, err
	}
	s.observe(resp.Header)
	if !resp.Succeeded {
		return false, nil, nil
	}
	inner := resp.Responses[0].GetResponseTxn()
	if inner.GetSucceeded() {
		return true, nil, nil
	}
	kvs := inner.GetResponses()[0].GetResponseRange().GetKvs()
	if len(kvs) == 0 {
		return false, nil, fmt.Errorf("id key %s exists but read nothing", idKey)
	}
	return true, append([]byte{}, kvs[0].Value...), nil
}

// lease returns a lease with at least ttl left, granting one of
// ttl+LeaseSlack if the current one has less. Concurrent callers wait for
// one grant.
func (s *Store) lease(ctx context.Context, ttl time.Duration) (clientv3.LeaseID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := time.Now()
	if s.leaseID != 0 && s.leaseExpires.Sub(start) >= ttl {
		return s.leaseID, nil
	}
	secs := int64(math.Ceil((ttl + LeaseSlack).Seconds()))
	resp, err := s.cli.Grant(ctx, secs)
	if err != nil {
		return 0, fmt.Errorf("grant lease of %ds: %w", secs, err)
	}
	// The server starts the TTL after start, so this errs early.
	expires := start.Add(time.Duration(resp.TTL) * time.Second)
	if time.Until(expires) < ttl {
		return 0, fmt.Errorf("lease %x granted for %ds, want %v", resp.ID, resp.TTL, ttl)
	}
	s.leaseID, s.leaseExpires = resp.ID, expires
	return resp.ID, nil
}

// forgetLease drops id if it is still the current lease.
func (s *Store) forgetLease(id clientv3.LeaseID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.leaseID == id {
		s.leaseID, s.leaseExpires = 0, time.Time{}
	}
}
