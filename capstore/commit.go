package capstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stockstate/stock/stock"
)

// Commit writes puts and deletes in transactions fenced on the leader key at
// fenceRev (see "Fencing" in the package doc): CommitWrites without holds.
func (s *Store) Commit(ctx context.Context, leaderKey string, fenceRev int64, puts map[string]stock.Record, deletes []string) (committed bool, err error) {
	return s.CommitWrites(ctx, leaderKey, fenceRev, Writes{Puts: puts, Deletes: deletes})
}

// Writes is what one CommitWrites writes. Horizon is the dedupe horizon: the
// keys of holds that ended live at least that long.
type Writes struct {
	Puts    map[string]stock.Record
	Deletes []string
	Holds   []HoldWrite
	Horizon time.Duration
}

// Len is the number of keys w writes.
func (w Writes) Len() int { return len(w.Puts) + len(w.Deletes) + len(w.Holds) }

// CommitWrites writes w in transactions fenced on the leader key at
// fenceRev (see "Fencing" in the package doc), each of at most MaxTxnOps
// operations counting the compare, in SKU order: first the puts, each with
// the cancelled holds of its SKU, then the other holds, then the deletes. A
// SKU's record and its cancelled holds are always in one transaction, so a
// cancel never lands without the change of limit that returns its units;
// more of them for one put SKU than MaxTxnOps-2 is an error. Other holds
// change no record and go in any transaction: a live or confirmed hold's
// units are under a cap already durable, and an expired hold's return is
// the record's expiry mark (stock.Record.ExpiredMS), which the caller
// writes first. So do hold deletes (HoldWrite.Delete).
//
// Arguments are checked before anything is written: a record that is not
// Valid gives an error wrapping ErrInvalidRecord; an empty SKU, hold id or
// leader key one wrapping ErrInvalidName; a SKU both put and deleted a plain
// error, as is an ended hold without a Horizon of at least a second.
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
// Deleting a SKU leaves its release ids to expire with their lease, and its
// holds as they are.
func (s *Store) CommitWrites(ctx context.Context, leaderKey string, fenceRev int64, w Writes) (committed bool, err error) {
	if leaderKey == "" {
		return false, fmt.Errorf("capstore: commit: %w: empty leader key", ErrInvalidName)
	}
	groups, lease, err := s.groups(ctx, w)
	if err != nil {
		return false, err
	}
	defer func() {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			s.forgetLease(lease) // nothing was written; a retry gets a new lease
		}
	}()
	cmp := fence(leaderKey, fenceRev)
	chunks, err := pack(groups, s.maxTxnOps()-1)
	if err != nil {
		return false, err
	}
	n := len(chunks)
	if n == 1 {
		return s.commitChunk(ctx, cmp, chunks[0], 1, 1, leaderKey, fenceRev)
	}
	// Chunks touch disjoint keys, so they go concurrently: etcd then syncs
	// them to disk together instead of one after another.
	type result struct {
		committed bool
		err       error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i, chunk := range chunks {
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

// groups checks w and turns it into groups of operations that must share a
// transaction, in the order CommitWrites documents, with the lease of ended
// holds' keys (0 if none).
func (s *Store) groups(ctx context.Context, w Writes) (_ [][]clientv3.Op, lease clientv3.LeaseID, err error) {
	returning := map[string][]HoldWrite{} // cancelled, by SKU, to go with its record
	var others []HoldWrite
	var ended bool
	for _, h := range w.Holds {
		if h.SKU == "" || h.ID == "" {
			return nil, 0, fmt.Errorf("capstore: commit: %w: empty SKU or hold id", ErrInvalidName)
		}
		if h.Rec.Hold.State == stock.HoldCancelled && !h.Delete {
			returning[h.SKU] = append(returning[h.SKU], h)
		} else {
			others = append(others, h)
		}
		ended = ended || (h.Rec.Hold.State != stock.HoldLive && !h.Delete)
	}
	if ended {
		if w.Horizon < time.Second {
			return nil, 0, fmt.Errorf("capstore: commit: dedupe horizon %v below 1s", w.Horizon)
		}
		if lease, err = s.lease(ctx, w.Horizon); err != nil {
			return nil, 0, fmt.Errorf("capstore: commit: %w", err)
		}
	}
	holdOp := func(h HoldWrite) (clientv3.Op, error) {
		if h.Delete {
			return clientv3.OpDelete(s.holdKey(h.SKU, h.ID)), nil
		}
		v, err := encodeHold(h.Rec)
		if err != nil {
			return clientv3.Op{}, fmt.Errorf("capstore: commit hold %s/%s: %w", h.SKU, h.ID, err)
		}
		var opts []clientv3.OpOption
		if h.Rec.Hold.State != stock.HoldLive {
			opts = append(opts, clientv3.WithLease(lease))
		}
		return clientv3.OpPut(s.holdKey(h.SKU, h.ID), string(v), opts...), nil
	}

	var groups [][]clientv3.Op
	for _, sku := range slices.Sorted(maps.Keys(w.Puts)) {
		r := w.Puts[sku]
		if sku == "" {
			return nil, 0, fmt.Errorf("capstore: commit: %w: empty SKU", ErrInvalidName)
		}
		if !r.Valid() {
			return nil, 0, fmt.Errorf("capstore: commit %s: %w: limit %d, cap %d", sku, ErrInvalidRecord, r.Limit, r.Cap)
		}
		g := []clientv3.Op{clientv3.OpPut(s.skuKey(sku), string(encodeRecord(r)))}
		for _, h := range returning[sku] {
			op, err := holdOp(h)
			if err != nil {
				return nil, 0, err
			}
			g = append(g, op)
		}
		delete(returning, sku)
		groups = append(groups, g)
	}
	for _, sku := range slices.Sorted(maps.Keys(returning)) { // returned without a record: none planned one
		others = append(others, returning[sku]...)
	}
	slices.SortStableFunc(others, func(a, b HoldWrite) int { return strings.Compare(a.SKU, b.SKU) })
	for _, h := range others {
		op, err := holdOp(h)
		if err != nil {
			return nil, 0, err
		}
		groups = append(groups, []clientv3.Op{op})
	}
	for _, sku := range slices.Compact(slices.Sorted(slices.Values(w.Deletes))) {
		if sku == "" {
			return nil, 0, fmt.Errorf("capstore: commit: %w: empty SKU", ErrInvalidName)
		}
		if _, ok := w.Puts[sku]; ok {
			return nil, 0, fmt.Errorf("capstore: commit %s: both put and deleted", sku)
		}
		groups = append(groups, []clientv3.Op{clientv3.OpDelete(s.skuKey(sku))})
	}
	return groups, lease, nil
}

// pack fills chunks of at most size operations with whole groups, in order;
// there is always at least one chunk, maybe empty.
func pack(groups [][]clientv3.Op, size int) ([][]clientv3.Op, error) {
	chunks := [][]clientv3.Op{nil}
	for _, g := range groups {
		if len(g) > size {
			return nil, fmt.Errorf("capstore: commit: %d operations must share a transaction of at most %d", len(g), size)
		}
		if last := chunks[len(chunks)-1]; len(last)+len(g) > size {
			chunks = append(chunks, nil)
		}
		chunks[len(chunks)-1] = append(chunks[len(chunks)-1], g...)
	}
	return chunks, nil
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
