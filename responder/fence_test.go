package responder_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/election"
	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/responder"
	"github.com/stockstate/stock/responder/liveness"
	"github.com/stockstate/stock/stock"
)

// lateStore holds back the first write instead of sending it and
// reports its outcome as unknown (a timeout), as when etcd loses its raft
// leader; the test sends it later, after newer writes, as a request delayed
// in the network would arrive.
type lateStore struct {
	responder.Store
	mu      sync.Mutex
	held    map[string]stock.Record // the write held back, or nil
	fence   int64                   // its fence
	key     string
	commits int // writes that landed after it was held back
}

func (s *lateStore) CommitWrites(ctx context.Context, leaderKey string, fenceRev int64, w capstore.Writes) (bool, error) {
	puts, deletes := w.Puts, w.Deletes
	s.mu.Lock()
	if s.held == nil && len(puts) > 0 && len(deletes) == 0 {
		s.held = make(map[string]stock.Record, len(puts))
		for k, v := range puts {
			s.held[k] = v
		}
		s.key, s.fence = leaderKey, fenceRev
		s.mu.Unlock()
		return false, context.DeadlineExceeded
	}
	s.mu.Unlock()
	ok, err := s.Store.CommitWrites(ctx, leaderKey, fenceRev, w)
	if ok && err == nil {
		s.mu.Lock()
		if s.held != nil {
			s.commits++
		}
		s.mu.Unlock()
	}
	return ok, err
}

// TestLateWriteIsFenced: a write whose outcome was unknown is written again
// and the leader sells on and raises its cap further; when the first
// attempt finally arrives at etcd it must be refused, not lower the cap
// below what was sold (a next leader would resume from it and sell those
// units again).
func TestLateWriteIsFenced(t *testing.T) {
	c := newCluster(t)
	cli := testenv.Client(t, c.Etcd)
	store := &lateStore{Store: capstore.New(cli, capstore.DefaultPrefix)}
	cfg := responder.DefaultConfig()
	cfg.ID, cfg.Logger = "node-a", testenv.Logger(t)
	cfg.Instance = nats.NewInbox()[len(nats.InboxPrefix):]
	el := election.New(cli, capstore.ElectionPrefix(capstore.DefaultPrefix), liveness.CandidateValue(cfg.ID, cfg.Instance), testTTL, cfg.Logger)
	t.Cleanup(func() { _ = el.Close() })
	campaign := func(ctx context.Context) (responder.Leadership, error) { return el.Campaign(ctx) }
	srv, err := responder.New(testenv.Conn(t, c.NATS), store, campaign, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	setLimit(t, c.NC, "sku1", 1_000_000)
	var sold int64
	testenv.Eventually(t, 20*time.Second, time.Millisecond, func() error {
		if r := request(t, c.NC, "stock.acquire.sku1", `{"n":50}`); r.Granted == 50 {
			sold += 50
		}
		store.mu.Lock()
		defer store.mu.Unlock()
		if store.held == nil || store.commits < 3 {
			return fmt.Errorf("held %v, %d writes after it", store.held != nil, store.commits)
		}
		return nil
	})

	late, err := capstore.New(cli, capstore.DefaultPrefix).Commit(context.Background(), store.key, store.fence, store.held, nil)
	if err != nil || late {
		t.Fatalf("the late attempt: committed %v, err %v; want refused", late, err)
	}
	recs, _, err := capstore.New(cli, capstore.DefaultPrefix).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := recs["sku1"].Cap; got < sold {
		t.Fatalf("stored cap %d is below the %d units sold", got, sold)
	}
	if r := request(t, c.NC, "stock.acquire.sku1", `{"n":1}`); r.Granted != 1 {
		t.Fatalf("acquire after the late write: %+v", r.Reply)
	}
}
