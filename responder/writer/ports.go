package writer

import (
	"context"
	"time"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/stock"
)

// Store is the fenced store the writer writes to. committed=false with a
// nil error means the fence failed; a non-nil error means the outcome is
// unknown. Refence moves the fence if the leader key still has create
// revision leaderRev (ok=false: it does not). RaftTerm is the highest etcd
// raft term in a reply so far (0: none); ReadRaftTerm reads the current one
// without needing a raft leader.
type Store interface {
	CommitWrites(ctx context.Context, leaderKey string, fenceRev int64, w capstore.Writes) (committed bool, err error)
	Refence(ctx context.Context, leaderKey string, leaderRev int64) (fenceRev int64, ok bool, err error)
	RaftTerm() uint64
	ReadRaftTerm(ctx context.Context) (uint64, error)
}

// Lease is the leadership every write is fenced on. Done closes when it is
// over; Valid is false from its local deadline on.
type Lease interface {
	Key() string
	Rev() int64
	Done() <-chan struct{}
	Valid() bool
}

// Planner keeps the work queued for the writer and plans each round of it.
// Its methods, and those of its plans, are called from the writer goroutine
// only. Plan may be called while the writes of up to Config.Depth-1 earlier
// plans are in flight, which may land in any order: a plan must not write a
// key that a plan not yet applied or abandoned writes, nor depend on
// memory that applying one will change.
type Planner interface {
	// Hurried reports whether queued work is waited for, so that the round
	// starts now instead of being coalesced with later refills.
	Hurried() bool
	// Plan takes one round of the queued work and returns what it writes.
	// Writes a plan makes itself compare fence. more reports work left for
	// another round. An error ends the writer; Plan has then answered what
	// it took.
	Plan(now time.Time, policy stock.Policy, fence int64) (p Plan, more bool, err error)
}

// Plan is one round's records, and what to do once their write is known.
type Plan interface {
	Records() capstore.Writes
	// Applied is called once the records are durable (or there are none);
	// took is the time the write took, retries included.
	Applied(took time.Duration)
	// Abandoned is called when the write was refused or its outcome is
	// unknown; the writer then stops with the reason.
	Abandoned()
}
