package capstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/stock"
)

// TestRaftTermRisesWithANewLeader: the replies of a Store carry the raft
// term, and a serializable read reports the same term while the raft leader
// lives; after the raft leader of a three-member etcd stops, a surviving
// member reports a higher one. That is how a writer tells a write stuck on
// a dead raft leader from a slow one.
func TestRaftTermRisesWithANewLeader(t *testing.T) {
	members, cli, stop := testenv.EtcdCluster(t, 3)
	s := capstore.New(cli, "/raftterm")

	if s.RaftTerm() != 0 {
		t.Fatalf("RaftTerm %d before any reply, want 0", s.RaftTerm())
	}
	key := "/raftterm/leader"
	rev, _ := lead(t, cli, key)
	if ok, err := s.Commit(ctx(t), key, rev, map[string]stock.Record{"a": {Limit: 10, Cap: 1}}, nil); err != nil || !ok {
		t.Fatalf("Commit: %v, %v", ok, err)
	}
	term := s.RaftTerm()
	if term == 0 {
		t.Fatal("RaftTerm still 0 after a committed write")
	}
	if got, err := s.ReadRaftTerm(ctx(t)); err != nil || got != term {
		t.Fatalf("ReadRaftTerm = %d, %v with the raft leader alive; want %d", got, err, term)
	}

	testenv.StopRaftLeader(t, members, stop)
	testenv.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		got, err := s.ReadRaftTerm(ctx(t))
		if err != nil {
			return err
		}
		if got <= term {
			return fmt.Errorf("raft term %d, still not above %d", got, term)
		}
		return nil
	})
	if s.RaftTerm() <= term {
		t.Errorf("RaftTerm %d did not follow the read above %d", s.RaftTerm(), term)
	}
}
