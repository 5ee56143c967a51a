package capstore

import (
	"context"
	"fmt"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// fence is the compare every write is guarded by: the leader key still has
// the mod revision the leader last saw it at.
func fence(leaderKey string, fenceRev int64) clientv3.Cmp {
	return clientv3.Compare(clientv3.ModRevision(leaderKey), "=", fenceRev)
}

// Refence rewrites the leader key in place (same value, same lease) if it
// still has create revision leaderRev, and returns its new mod revision: the
// fence of every later write. Writes fenced on an older revision, attempts
// whose outcome was unknown among them, then fail their compare wherever
// and whenever they arrive.
//
// ok=false, err=nil: the key is gone or another's; this node does not lead.
// err != nil: the outcome is unknown; calling Refence again is safe, and
// only the revision it returns is current.
func (s *Store) Refence(ctx context.Context, leaderKey string, leaderRev int64) (fenceRev int64, ok bool, err error) {
	if leaderKey == "" {
		return 0, false, fmt.Errorf("capstore: refence: %w: empty leader key", ErrInvalidName)
	}
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(leaderKey), "=", leaderRev)).
		Then(clientv3.OpPut(leaderKey, "", clientv3.WithIgnoreValue(), clientv3.WithIgnoreLease())).
		Commit()
	if err != nil {
		return 0, false, fmt.Errorf("capstore: refence %s@%d: %w", leaderKey, leaderRev, err)
	}
	s.observe(resp.Header)
	if !resp.Succeeded {
		return 0, false, nil
	}
	return resp.Header.Revision, true, nil
}
