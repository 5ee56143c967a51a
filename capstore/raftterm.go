package capstore

import (
	"context"
	"fmt"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The raft term tells a write stuck on a dead etcd raft leader from a slow
// one. etcd neither applies nor fails a request that a member forwarded to a
// leader that then died; once the other members elect a new leader, their
// raft term has risen past the term of every reply from the old one.

// RaftTerm returns the highest raft term in the replies of this Store's
// writes, reads and ReadRaftTerm calls so far; 0 before the first.
func (s *Store) RaftTerm() uint64 { return s.raftTerm.Load() }

// ReadRaftTerm asks the etcd member the client is talking to for its raft
// term, with a serializable read that the member answers by itself, without
// a raft leader. A term above RaftTerm means etcd elected a new leader (or
// is electing one) since this Store's last reply.
func (s *Store) ReadRaftTerm(ctx context.Context) (uint64, error) {
	resp, err := s.cli.Get(ctx, s.prefix+"/", clientv3.WithSerializable(), clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("capstore: read raft term: %w", err)
	}
	s.observe(resp.Header)
	return resp.Header.RaftTerm, nil
}

// observe notes the raft term of a reply.
func (s *Store) observe(h *etcdserverpb.ResponseHeader) {
	if h == nil {
		return
	}
	for {
		cur := s.raftTerm.Load()
		if h.RaftTerm <= cur || s.raftTerm.CompareAndSwap(cur, h.RaftTerm) {
			return
		}
	}
}
