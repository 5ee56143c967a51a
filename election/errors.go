package election

import "errors"

// Why a leadership ended (Leadership.Err) and what Campaign and Close report.
var (
	// ErrClosed: the Elector was closed.
	ErrClosed = errors.New("election: elector closed")
	// ErrClientClosed: the etcd client was closed under a campaign.
	ErrClientClosed = errors.New("election: etcd client closed")
	// ErrLeaseLost: etcd says the lease is gone (revoked or expired), or
	// the session keeping it alive ended.
	ErrLeaseLost = errors.New("election: lease lost")
	// ErrDeadline: the local lease deadline passed before a keepalive
	// succeeded; etcd may still hold the lease for a little while.
	ErrDeadline = errors.New("election: lease deadline passed")
	// ErrResigned: Resign was called.
	ErrResigned = errors.New("election: resigned")
	// ErrEnded: End was called.
	ErrEnded = errors.New("election: ended")
	// ErrEtcd wraps a failed etcd request; its outcome may be unknown.
	ErrEtcd = errors.New("election: etcd request failed")
)
