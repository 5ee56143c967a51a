package responder

import (
	"context"
	"time"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/stock"
)

// Store persists limits and caps. Every write is fenced on the leader key's
// mod revision: committed=false with a nil error means the fence failed
// (this node does not lead, or the fence moved); a non-nil error means the
// outcome is unknown.
type Store interface {
	// Get reads the records of skus; a SKU without one is absent from recs,
	// one that does not parse is in bad.
	Get(ctx context.Context, skus []string) (recs map[string]stock.Record, bad map[string]error, err error)
	Commit(ctx context.Context, leaderKey string, fenceRev int64, puts map[string]stock.Record, deletes []string) (committed bool, err error)
	// CommitWrites is Commit with holds: a SKU's record and its holds
	// change in one transaction. LoadHolds reads every hold.
	CommitWrites(ctx context.Context, leaderKey string, fenceRev int64, w capstore.Writes) (committed bool, err error)
	LoadHolds(ctx context.Context) (holds map[string]map[string]capstore.HoldRecord, bad map[string]error, err error)
	// LoadBuyers reads the records of buyers of SKUs with a per-buyer cap;
	// a buyer without one is absent from recs.
	LoadBuyers(ctx context.Context, keys []capstore.BuyerKey) (recs map[capstore.BuyerKey]capstore.BuyerRecord, bad map[capstore.BuyerKey]error, err error)
	// Release writes rec and the release id in one transaction unless the id
	// was seen within ttl; then prev is the first reply and nothing changes.
	Release(ctx context.Context, leaderKey string, fenceRev int64, sku string, rec stock.Record, id string, reply []byte, ttl time.Duration) (committed bool, prev []byte, err error)
	// Refence moves the fence if the leader key still has create revision
	// leaderRev, so that writes fenced on an older revision fail; ok=false
	// means this node does not lead.
	Refence(ctx context.Context, leaderKey string, leaderRev int64) (fenceRev int64, ok bool, err error)
	// RaftTerm is the highest etcd raft term in a reply so far (0: none);
	// ReadRaftTerm reads the term of the member the client talks to,
	// without needing a raft leader.
	RaftTerm() uint64
	ReadRaftTerm(ctx context.Context) (uint64, error)
}

// Leadership is one term of leading. Done closes when the term is over for
// any reason; Valid is false from the local lease deadline on.
type Leadership interface {
	Key() string
	Rev() int64
	Done() <-chan struct{}
	Valid() bool
	Resign(ctx context.Context) error
	End()
}

// Campaign blocks until this node leads, or ctx ends.
type Campaign func(ctx context.Context) (Leadership, error)
