package capstore_test

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

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
	members, stop := etcdCluster(t, 3)
	var eps []string
	for _, m := range members {
		eps = append(eps, testenv.Endpoint(m))
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
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

	for i, m := range members {
		if m.Server.Leader() == m.Server.MemberID() {
			stop(i)
			break
		}
	}
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

// etcdCluster starts an etcd of n members on free loopback ports, with a
// 100 ms election timeout, and waits until it serves. stop(i) stops member
// i; the others stop when the test ends.
func etcdCluster(t *testing.T, n int) (members []*embed.Etcd, stop func(i int)) {
	t.Helper()
	cfgs := make([]*embed.Config, n)
	var initial []string
	for i := range cfgs {
		cfg := embed.NewConfig()
		cfg.Name = fmt.Sprintf("m%d", i)
		cfg.Dir = t.TempDir()
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
		cfg.TickMs, cfg.ElectionMs = 10, 100
		client, peer := url.URL{Scheme: "http", Host: testenv.FreeAddr(t)}, url.URL{Scheme: "http", Host: testenv.FreeAddr(t)}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
		initial = append(initial, cfg.Name+"="+peer.String())
		cfgs[i] = cfg
	}
	members = make([]*embed.Etcd, n)
	stops := make([]func(), n)
	stop = func(i int) { stops[i]() }
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, cfg := range cfgs {
		cfg.InitialCluster = strings.Join(initial, ",")
		wg.Go(func() { members[i], errs[i] = embed.StartEtcd(cfg) })
	}
	wg.Wait()
	for i, m := range members {
		if m != nil {
			stops[i] = sync.OnceFunc(m.Close)
			t.Cleanup(stops[i])
		}
		if errs[i] != nil {
			t.Fatalf("member %d: %v", i, errs[i])
		}
	}
	for i, m := range members {
		select {
		case <-m.Server.ReadyNotify():
		case err := <-m.Err():
			t.Fatalf("member %d: %v", i, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("member %d not ready in 30s", i)
		}
	}
	return members, stop
}
