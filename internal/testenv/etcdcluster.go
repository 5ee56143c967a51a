package testenv

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/goleak"
)

// EtcdCluster starts an etcd of n members on free loopback ports, with a
// 100 ms election timeout, waits until it serves, and returns its members
// and a client of all of them. stop(i) stops member i; the rest stop when
// the test ends.
func EtcdCluster(t testing.TB, n int) (members []*embed.Etcd, cli *clientv3.Client, stop func(i int)) {
	t.Helper()
	cfgs := make([]*embed.Config, n)
	var initial, endpoints []string
	for i := range cfgs {
		cfg := embed.NewConfig()
		cfg.Name = fmt.Sprintf("m%d", i)
		cfg.Dir = t.TempDir()
		cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(nopLogger())
		cfg.TickMs, cfg.ElectionMs = 10, 100
		client, peer := url.URL{Scheme: "http", Host: FreeAddr(t)}, url.URL{Scheme: "http", Host: FreeAddr(t)}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
		initial = append(initial, cfg.Name+"="+peer.String())
		endpoints = append(endpoints, client.Host)
		cfgs[i] = cfg
	}
	members = make([]*embed.Etcd, n)
	stops := make([]func(), n)
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
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("etcd member %d: %v", i, err)
		}
	}
	for i, m := range members {
		select {
		case <-m.Server.ReadyNotify():
		case err := <-m.Err():
			t.Fatalf("etcd member %d: %v", i, err)
		case <-time.After(30 * time.Second):
			t.Fatalf("etcd member %d not ready in 30s", i)
		}
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: nopLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return members, cli, func(i int) { stops[i]() }
}

// StopRaftLeader stops the member of members that is the raft leader.
func StopRaftLeader(t testing.TB, members []*embed.Etcd, stop func(i int)) {
	t.Helper()
	for i, m := range members {
		if m.Server.Leader() == m.Server.MemberID() {
			stop(i)
			return
		}
	}
	t.Fatal("no member is the raft leader")
}

// EtcdClusterLeaks are goroutines a stopped EtcdCluster may leave for a
// while: the HTTP connections between its members end on their own. For
// goleak.VerifyTestMain in packages that speak no HTTP themselves.
var EtcdClusterLeaks = []goleak.Option{
	goleak.IgnoreAnyFunction("net/http.(*conn).serve"),
	goleak.IgnoreAnyFunction("net/http.(*connReader).backgroundRead"),
	goleak.IgnoreAnyFunction("net/http.(*persistConn).readLoop"),
	goleak.IgnoreAnyFunction("net/http.(*persistConn).writeLoop"),
}
