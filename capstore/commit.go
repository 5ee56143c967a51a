package capstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stockstate/stock/stock"
)

// Commit writes puts and deletes in transactions fenced on the leader key at
// fenceRev (see "Fencing" in the package doc), each of at most MaxTxnOps
// operations counting the compare, in SKU order: first the puts, then the
// deletes. With nothing to write it only checks the fence.
//
// Arguments are checked before anything is written: a record that is not
// Valid gives an error wrapping ErrInvalidRecord; an empty SKU or leader key
// one wrapping ErrInvalidName; a SKU both put and deleted a plain error.
//
// The transactions of one Commit run concurrently. committed=true, err=nil:
// everything was written. committed=false, err=nil: a fence compare failed:
// this node is not the leader, or its fence moved (transactions that passed
// the fence before that did apply). err != nil: the outcome of some transaction is unknown
// (it may or may not have applied). A Commit of more than MaxTxnOps-1
// operations is atomic per transaction, not as a whole, so after a failure
// the caller must treat every SKU of it as possibly old, possibly new. Each
// SKU is one key, so each stays Valid either way.
//
// Deleting a SKU leaves its release ids to expire with their lease.
func (s *Store) Commit(ctx context.Context, leaderKey string, fenceRev int64, puts map[string]stock.Record, deletes []string) (committed bool, err error) {
	if leaderKey == "" {
		return false, fmt.Errorf("capstore: commit: %w: empty leader key", ErrInvalidName)
	}
	ops := make([]clientv3.Op, 0, len(puts)+len(deletes))
	for _, sku := range slices.Sorted(maps.Keys(puts)) {
		r := puts[sku]
		if sku == "" {
			return false, fmt.Errorf("capstore: commit: %w: empty SKU", ErrInvalidName)
		}
		if !r.Valid() {
			return false, fmt.Errorf("capstore: commit %s: %w: limit %d, cap %d", sku, ErrInvalidRecord, r.Limit, r.Cap)
		}
		ops = append(ops, clientv3.OpPut(s.skuKey(sku), string(encodeRecord(r))))
	}
	for _, sku := range slices.Compact(slices.Sorted(slices.Values(deletes))) {
		if sku == "" {
			return false, fmt.Errorf("capstore: commit: %w: empty SKU", ErrInvalidName)
		}
		if _, ok := puts[sku]; ok {
			return false, fmt.Errorf("capstore: commit %s: both put and deleted", sku)
		}
		ops = append(ops, clientv3.OpDelete(s.skuKey(sku)))
	}

	cmp := fence(leaderKey, fenceRev)
	size := s.maxTxnOps() - 1
	n := max((len(ops)+size-1)/size, 1)
	if n == 1 {
		return s.commitChunk(ctx, cmp, ops, 1, 1, leaderKey, fenceRev)
	}
	// Chunks touch disjoint keys, so they go concurrently: etcd then syncs
	// them to disk together instead of one after another.
	type result struct {
		committed bool
		err       error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range n {
		chunk := ops[i*size : min((i+1)*size, len(ops))]
		wg.Go(func() {
			c, err := s.commitChunk(ctx, cmp, chunk, i+1, n, leaderKey, fenceRev)
			results[i] = result{c, err}
		})
	}
	wg.Wait()
	committed = true
	for _, r := range results {
		if r.err != nil {
			return false, r.err
		}
		committed = committed && r.committed
	}
	return committed, nil
}

func (s *Store) commitChunk(ctx context.Context, cmp clientv3.Cmp, chunk []clientv3.Op, i, n int, leaderKey string, fenceRev int64) (bool, error) {
	resp, err := s.cli.Txn(ctx).If(cmp).Then(chunk...).Commit()
	if err != nil {
		return false, fmt.Errorf("capstore: commit transaction %d of %d (%d ops) fenced on %s@%d: %w",
			i, n, len(chunk), leaderKey, fenceRev, err)
	}
	s.observe(resp.Header)
	return resp.Succeeded, nil
}
