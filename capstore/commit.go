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
	Buyers  []BuyerWrite
	Horizon time.Duration
}

// Len is the number of records w writes or deletes.
func (w Writes) Len() int {
	return len(w.Puts) + len(w.Deletes) + len(w.Holds) + len(w.Buyers)
}

// CommitWrites writes w in transactions fenced on the leader key at
// fenceRev (see "Fencing" in the package doc), each of at most MaxTxnOps
// operations counting the compare. Some writes must land together, and
// always share a transaction:
//
//   - a SKU's record and its cancelled holds, so a cancel never lands
//     without the change of limit that returns its units;
//   - a SKU's record and its buyers' records written WithRecord (a release
//     with a buyer: the limit rises as the buyer's count falls); a
//     WithRecord buyer without a put of its SKU is an error;
//   - a buyer's record and the confirmed holds of that buyer (of the same
//     SKU) in w, so a confirm moves units from the buyer's holds to its
//     count entirely or not at all;
//   - a deleted SKU's key and the keys of all its buyers.
//
// These chain: a put may carry its cancelled holds, a WithRecord buyer and
// that buyer's confirmed holds. A group of more than MaxTxnOps-1
// operations is an error; the caller bounds them. Groups go in order:
// first the puts' groups in SKU order, then the other buyers' in (SKU,
// buyer) order, then the other holds by SKU, then the deletes. Other holds
// change no record and go in any transaction: a live or confirmed hold's
// units are under a cap already durable, and an expired hold's return is
// the record's expiry mark (stock.Record.ExpiredMS), which the caller
// writes first. So do hold deletes (HoldWrite.Delete).
//
// Arguments are checked before anything is written: a record that is not
// Valid gives an error wrapping ErrInvalidRecord; an empty SKU, hold id,
// buyer or leader key, or a buyer's SKU or buyer with a "/", one wrapping
// ErrInvalidName; a SKU both put and deleted, a buyer of a deleted SKU, a
// buyer written twice, or a buyer record that does not encode (its replies
// must be JSON objects, its ids not empty) a plain error, as is an ended
// hold without a Horizon of at least a second.
//
// The transactions of one Commit run concurrently. committed=true, err=nil:
// everything was written. committed=false, err=nil: a fence compare failed:
// this node is not the leader, or its fence moved (transactions that passed
// the fence before that did apply). err != nil: the outcome of some transaction is unknown
// (it may or may not have applied). A Commit of more than MaxTxnOps-1
// operations is atomic per transaction, not as a whole, so after a failure
// the caller must treat every key of it as possibly old, possibly new,
// group by group. Each SKU is one key, so each stays Valid either way.
//
// Deleting a SKU deletes its buyers' records, leaves its release ids to
// expire with their lease, and its holds as they are.
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
//
// Every operation is numbered in one order: the puts by SKU, the buyers by
// (SKU, buyer), the holds stably by SKU, the deletes by SKU. Operations
// that must land together are joined (union-find); a group keeps its
// operations in that order and goes where its first one is.
func (s *Store) groups(ctx context.Context, w Writes) (_ [][]clientv3.Op, lease clientv3.LeaseID, err error) {
	var ended bool
	for _, h := range w.Holds {
		if h.SKU == "" || h.ID == "" {
			return nil, 0, fmt.Errorf("capstore: commit: %w: empty SKU or hold id", ErrInvalidName)
		}
		ended = ended || (h.Rec.Hold.State != stock.HoldLive && !h.Delete)
	}
	deleted := map[string]bool{}
	for _, sku := range w.Deletes {
		if sku == "" {
			return nil, 0, fmt.Errorf("capstore: commit: %w: empty SKU", ErrInvalidName)
		}
		if _, ok := w.Puts[sku]; ok {
			return nil, 0, fmt.Errorf("capstore: commit %s: both put and deleted", sku)
		}
		deleted[sku] = true
	}
	for _, b := range w.Buyers {
		if err := checkBuyerKey(b.SKU, b.Buyer); err != nil {
			return nil, 0, fmt.Errorf("capstore: commit buyer: %w", err)
		}
		if deleted[b.SKU] {
			return nil, 0, fmt.Errorf("capstore: commit buyer %s/%s: its SKU is deleted", b.SKU, b.Buyer)
		}
		if _, ok := w.Puts[b.SKU]; b.WithRecord && !ok {
			return nil, 0, fmt.Errorf("capstore: commit buyer %s/%s: with the record of a SKU not put", b.SKU, b.Buyer)
		}
	}
	if ended {
		if w.Horizon < time.Second {
			return nil, 0, fmt.Errorf("capstore: commit: dedupe horizon %v below 1s", w.Horizon)
		}
		if lease, err = s.lease(ctx, w.Horizon); err != nil {
			return nil, 0, fmt.Errorf("capstore: commit: %w", err)
		}
	}

	var ops []clientv3.Op
	u := unionFind{}
	add := func(op clientv3.Op) int {
		ops = append(ops, op)
		u.parent = append(u.parent, len(u.parent))
		return len(ops) - 1
	}
	putAt := make(map[string]int, len(w.Puts))
	for _, sku := range slices.Sorted(maps.Keys(w.Puts)) {
		r := w.Puts[sku]
		if sku == "" {
			return nil, 0, fmt.Errorf("capstore: commit: %w: empty SKU", ErrInvalidName)
		}
		if !r.Valid() {
			return nil, 0, fmt.Errorf("capstore: commit %s: %w: limit %d, cap %d, expired_ms %d, per_buyer %d",
				sku, ErrInvalidRecord, r.Limit, r.Cap, r.ExpiredMS, r.PerBuyer)
		}
		putAt[sku] = add(clientv3.OpPut(s.skuKey(sku), string(encodeRecord(r))))
	}
	buyers := slices.SortedFunc(slices.Values(w.Buyers), func(a, b BuyerWrite) int {
		if c := strings.Compare(a.SKU, b.SKU); c != 0 {
			return c
		}
		return strings.Compare(a.Buyer, b.Buyer)
	})
	buyerAt := make(map[BuyerKey]int, len(buyers))
	for _, b := range buyers {
		k := BuyerKey{b.SKU, b.Buyer}
		if _, ok := buyerAt[k]; ok {
			return nil, 0, fmt.Errorf("capstore: commit buyer %s/%s: written twice", b.SKU, b.Buyer)
		}
		v, err := encodeBuyer(b.Rec)
		if err != nil {
			return nil, 0, fmt.Errorf("capstore: commit buyer %s/%s: %w", b.SKU, b.Buyer, err)
		}
		buyerAt[k] = add(clientv3.OpPut(s.buyerKey(b.SKU, b.Buyer), string(v)))
		if b.WithRecord {
			u.join(buyerAt[k], putAt[b.SKU])
		}
	}
	holds := slices.Clone(w.Holds)
	slices.SortStableFunc(holds, func(a, b HoldWrite) int { return strings.Compare(a.SKU, b.SKU) })
	for _, h := range holds {
		op, err := s.holdOp(h, lease)
		if err != nil {
			return nil, 0, err
		}
		i := add(op)
		switch {
		case h.Delete:
		case h.Rec.Hold.State == stock.HoldCancelled:
			if p, ok := putAt[h.SKU]; ok {
				u.join(i, p)
			}
		case h.Rec.Hold.State == stock.HoldConfirmed && h.Rec.Buyer != "":
			if b, ok := buyerAt[BuyerKey{h.SKU, h.Rec.Buyer}]; ok {
				u.join(i, b)
			}
		}
	}
	for _, sku := range slices.Sorted(maps.Keys(deleted)) {
		i := add(clientv3.OpDelete(s.skuKey(sku)))
		u.join(add(clientv3.OpDelete(s.buyerSKUPrefix(sku), clientv3.WithPrefix())), i)
	}

	var groups [][]clientv3.Op
	at := map[int]int{} // root: its group's index in groups
	for i, op := range ops {
		r := u.find(i)
		g, ok := at[r]
		if !ok {
			g = len(groups)
			at[r] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], op)
	}
	return groups, lease, nil
}

// holdOp is the operation that writes h, its key on lease if it ended.
func (s *Store) holdOp(h HoldWrite, lease clientv3.LeaseID) (clientv3.Op, error) {
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

// unionFind joins operations that must share a transaction.
type unionFind struct{ parent []int }

// find is the root of i's set, the set's smallest member.
func (u *unionFind) find(i int) int {
	for u.parent[i] != i {
		u.parent[i] = u.parent[u.parent[i]]
		i = u.parent[i]
	}
	return i
}

// join merges the sets of i and j under the smaller root, so that a group
// goes where its first operation is.
func (u *unionFind) join(i, j int) {
	a, b := u.find(i), u.find(j)
	if a > b {
		a, b = b, a
	}
	u.parent[b] = a
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
