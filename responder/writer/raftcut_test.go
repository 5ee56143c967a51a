package writer

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/internal/testenv"
)

// TestAttemptCutForNewRaftLeader: a write attempt without a reply is cut off
// once etcd reports a raft term above the store's last reply (a new raft
// leader, while the attempt may be stuck on the dead one), not at its
// timeout; while the raft leader lives, the watch leaves it alone.
func TestAttemptCutForNewRaftLeader(t *testing.T) {
	members, cli, stop := testenv.EtcdCluster(t, 3)
	store := capstore.New(cli, "/cut")
	if _, err := store.ReadRaftTerm(t.Context()); err != nil {
		t.Fatal(err)
	}
	// With a recent write time of 1 s an attempt may run 8 s (WriteTimeout
	// is 10 s), so only the watch can end it sooner.
	w := &Writer{store: store, cfg: Config{WriteTimeout: 10 * time.Second}}
	w.write.Store(int64(time.Second))
	ctx, cancel := w.attemptContext()
	defer cancel()

	select {
	case <-ctx.Done():
		t.Fatalf("attempt cut off with the raft leader alive: %v", context.Cause(ctx))
	case <-time.After(2 * minAttempt): // the watch has polled for minAttempt
	}

	testenv.StopRaftLeader(t, members, stop)
	<-ctx.Done()
	if cause := context.Cause(ctx); !errors.Is(cause, errNewRaftLeader) {
		t.Fatalf("attempt ended with %v after the raft leader stopped, want %v", cause, errNewRaftLeader)
	}
}
