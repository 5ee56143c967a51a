package capstore

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Defaults for the tunable fields of a Store.
const (
	DefaultMaxTxnOps = 128    // etcd's default --max-txn-ops
	DefaultPageSize  = 10_000 // keys per range request in Load and LoadHolds
)

// LeaseSlack is how much longer than the dedupe horizon a release lease is
// granted for; a lease is reused while it has at least the horizon left, so
// one lease serves the releases of about LeaseSlack.
const LeaseSlack = time.Minute

var (
	// ErrInvalidRecord: a record to write is not Valid; nothing was written.
	ErrInvalidRecord = errors.New("capstore: invalid record")
	// ErrInvalidName: an empty SKU, release id or leader key; nothing was
	// written.
	ErrInvalidName = errors.New("capstore: invalid name")
	// ErrCorrupt: a stored record does not parse or is not Valid.
	ErrCorrupt = errors.New("capstore: corrupt record")
)

// Store reads and writes SKU records and release ids under one prefix. It is
// safe for concurrent use; set its exported fields before the first call.
type Store struct {
	// MaxTxnOps bounds the operations of one transaction, the fence compare
	// included; it must not exceed the server's --max-txn-ops. Values below
	// 2 mean DefaultMaxTxnOps.
	MaxTxnOps int
	// PageSize is how many keys Load reads per request. Values below 1 mean
	// DefaultPageSize.
	PageSize int64

	cli      *clientv3.Client
	prefix   string
	raftTerm atomic.Uint64 // highest raft term in a reply (RaftTerm)

	mu           sync.Mutex
	leaseID      clientv3.LeaseID // lease for release ids; 0 if none
	leaseExpires time.Time        // no later than the lease's expiry
}

// New returns a Store that keeps its keys under prefix ("" means
// DefaultPrefix; one trailing "/" is dropped).
func New(cli *clientv3.Client, prefix string) *Store {
	return &Store{cli: cli, prefix: normPrefix(prefix)}
}

// Prefix returns the normalised key prefix.
func (s *Store) Prefix() string { return s.prefix }

func (s *Store) maxTxnOps() int {
	if s.MaxTxnOps < 2 {
		return DefaultMaxTxnOps
	}
	return s.MaxTxnOps
}

func (s *Store) pageSize() int64 {
	if s.PageSize < 1 {
		return DefaultPageSize
	}
	return s.PageSize
}
