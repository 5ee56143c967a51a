package client_test

import (
	"context"
	"net"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/election"
	"github.com/stockstate/stock/internal/embedded"
	"github.com/stockstate/stock/responder"
)

// exampleCluster starts a NATS server, an etcd and one responder named
// "node-a", waits until the responder leads, and returns a connection for
// clients and a function that stops everything.
func exampleCluster() (*nats.Conn, func()) {
	var stops []func() // run in reverse order
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	must := func(err error) {
		if err != nil {
			stop()
			panic(err)
		}
	}

	dir, err := os.MkdirTemp("", "client-example")
	must(err)
	stops = append(stops, func() { os.RemoveAll(dir) })
	ns, err := embedded.StartNATS("127.0.0.1:0")
	must(err)
	stops = append(stops, func() { ns.Shutdown(); ns.WaitForShutdown() })
	etcd, err := embedded.StartEtcd(embedded.EtcdConfig{Dir: dir, ClientAddr: freeAddr(), PeerAddr: freeAddr()})
	must(err)
	stops = append(stops, etcd.Close)
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{etcd.Clients[0].Addr().String()},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	must(err)
	stops = append(stops, func() { cli.Close() })

	// The responder's connection, and the clients'.
	rnc, err := nats.Connect(ns.ClientURL())
	must(err)
	stops = append(stops, rnc.Close)
	nc, err := nats.Connect(ns.ClientURL())
	must(err)
	stops = append(stops, nc.Close)

	cfg := responder.DefaultConfig()
	cfg.ID = "node-a"
	elector := election.New(cli, capstore.ElectionPrefix(capstore.DefaultPrefix), cfg.ID, 2*time.Second, nil)
	stops = append(stops, func() { elector.Close() })
	campaign := func(ctx context.Context) (responder.Leadership, error) {
		l, err := elector.Campaign(ctx)
		if err != nil {
			return nil, err
		}
		return l, nil
	}
	srv, err := responder.New(rnc, capstore.New(cli, capstore.DefaultPrefix), campaign, cfg)
	must(err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	stops = append(stops, func() {
		cancel()
		<-done
	})

	for deadline := time.Now().Add(15 * time.Second); !srv.Leading(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			stop()
			panic("the responder did not lead within 15s")
		}
	}
	return nc, stop
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}
