// Package election makes one node the leader among several through etcd, and
// hands the leader its leadership as a value: a fence for its etcd writes
// (Key and Rev, to compare as CreateRevision(Key) == Rev), a Done channel,
// and a local lease Deadline that is never later than the lease's expiry at
// etcd.
//
// Keys follow the layout of etcd's concurrency.Election (prefix + "/" + the
// lease id in hex; the key created first leads), so that tools which observe a
// concurrency.Election see the same leader.
//
// Each campaign runs on a fresh lease with its own keepalive loop. The
// deadline is computed from when a keepalive was sent, not when its answer
// arrived, so a node that is partitioned from etcd, or paused, stops trusting
// its leadership before etcd can hand it to someone else. A leadership that
// ended is never revived: campaigning again creates a new lease and a new key,
// so a late etcd write of an earlier term fails its fence.
package election
