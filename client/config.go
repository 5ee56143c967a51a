package client

import (
	"errors"
	"fmt"
	"time"

	"github.com/stockstate/stock/wire"
)

// Config tunes a Client. Start from DefaultConfig.
//
// A call makes attempts until one gets a final reply or the call's context
// ends; the context is the caller's, bounded further by CallTimeout. There
// is no count of attempts: "no responders" comes back at once, so a count
// would measure the backoff, not the outage.
type Config struct {
	Prefix string // subject prefix of the responders, "stock"

	// Partitions is the cluster's number of partitions P, from 1 to
	// wire.MaxPartitions, by which the Client routes each SKU to its
	// partition's subjects (wire.SKUSubject, wire.PartitionBatchSubject);
	// 0 asks the cluster (<prefix>.partitions) on the first call that needs
	// it, retried as a call is, and keeps the answer. 1 by default: the
	// subjects without a partition, as before partitions, which every
	// cluster serves (a partitioned one through its NATS subject mappings
	// and by splitting unpartitioned batches), but a hop and a split
	// slower than sending to the partition. A P other than the cluster's
	// sends SKUs to partitions that do not hold them: those requests get
	// ErrBadRequest, or no responders until the call gives up.
	Partitions int

	// Timeout bounds one attempt: a request with no reply by then is sent
	// again, with the same id, so a copy that reaches the same leader while
	// the first waits for a refill joins it instead of being served twice.
	// 300ms by default: a leader answers from memory in microseconds, but a
	// request that reached a process as it died is never answered, and the
	// copy finds the new leader about when a standby has taken over.
	Timeout time.Duration

	// CallTimeout bounds one call with all its retries when the caller's
	// context has no earlier deadline. 10s by default, which outlasts a
	// failover after a crash (one lease TTL, 5s by default); 0 leaves the
	// caller's context as the only bound.
	CallTimeout time.Duration

	// Retry n (from 1) waits a random time in [0, min(BackoffMax,
	// BackoffMin*2^(n-1))) ("full jitter"), so clients that failed together
	// do not retry together.
	BackoffMin time.Duration // 5ms by default
	BackoffMax time.Duration // 500ms by default

	// Batch coalesces concurrent Acquire calls into batch requests on
	// <prefix>.acquire, or with partitions on each partition's batch
	// subject (see Client.Acquire and the package documentation).
	// Off by default, for three reasons: a responder older than the batch
	// subject does not answer it, and the client cannot tell that from a
	// failover, so every Acquire would retry until CallTimeout; with Batch a
	// Client runs goroutines that only Close stops, where without it New
	// starts none and existing callers never call Close; and a batch reply
	// carries no error message, so errors of batched calls have a generic
	// one. Turn it on when many goroutines share one Client against
	// responders that serve the batch subject: a call then costs the
	// responder and NATS a small part of a message instead of a whole one.
	Batch bool

	// MaxBatch is the most acquires in one batch request, from 1 to
	// wire.MaxBatchItems. 1024 by default. Used only with Batch.
	MaxBatch int

	// MaxInFlight is the most batch requests a Client has in flight at
	// once to one partition. 1 by default, as in TiDB PD's timestamp
	// client: one batch is in flight and every call that arrives meanwhile
	// joins the next, so the batches grow with the load and an idle client
	// sends a call at once. Partitions are served by leaders of their own,
	// so each has its own batches in flight, and one that is slow or
	// failing over holds up only its own calls. Used only with Batch.
	MaxInFlight int
}

// DefaultConfig returns the defaults: prefix "stock", one partition, 300ms
// per attempt, 10s per call, backoff from 5ms up to 500ms, no batching (but
// batches of up to 1024 acquires, one in flight per partition, once Batch
// is set).
func DefaultConfig() Config {
	return Config{
		Prefix:      "stock",
		Partitions:  1,
		Timeout:     300 * time.Millisecond,
		CallTimeout: 10 * time.Second,
		BackoffMin:  5 * time.Millisecond,
		BackoffMax:  500 * time.Millisecond,
		MaxBatch:    1024,
		MaxInFlight: 1,
	}
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case !wire.ValidPrefix(c.Prefix):
		return fmt.Errorf("client: prefix %q is not a NATS subject prefix", c.Prefix)
	case c.Partitions < 0 || c.Partitions > wire.MaxPartitions:
		return fmt.Errorf("client: partitions must be from 1 to %d, or 0 to ask the cluster, got %d", wire.MaxPartitions, c.Partitions)
	case c.Timeout <= 0:
		return errors.New("client: timeout must be positive")
	case c.CallTimeout < 0:
		return errors.New("client: call timeout must not be negative")
	case c.BackoffMin <= 0 || c.BackoffMax < c.BackoffMin:
		return errors.New("client: backoff must satisfy 0 < min <= max")
	case c.Batch && (c.MaxBatch < 1 || c.MaxBatch > wire.MaxBatchItems):
		return fmt.Errorf("client: max batch must be from 1 to %d, got %d", wire.MaxBatchItems, c.MaxBatch)
	case c.Batch && c.MaxInFlight < 1:
		return fmt.Errorf("client: max in flight must be at least 1, got %d", c.MaxInFlight)
	}
	return nil
}
