package election_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/stockstate/stock/election"
	"github.com/stockstate/stock/internal/embedded"
)

func ExampleElector_Campaign() {
	etcd, stop := exampleEtcd()
	defer stop()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		panic(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	a := election.New(cli, "/example/leader", "node-a", 2*time.Second, nil)
	defer a.Close()
	b := election.New(cli, "/example/leader", "node-b", 2*time.Second, nil)
	defer b.Close()

	la, err := a.Campaign(ctx)
	if err != nil {
		panic(err)
	}
	leader, _ := b.Leader(ctx)
	fmt.Println("leader:", leader)

	// Every write of a leader is fenced on its leadership.
	fence := clientv3.Compare(clientv3.CreateRevision(la.Key()), "=", la.Rev())
	resp, err := cli.Txn(ctx).If(fence).Then(clientv3.OpPut("/example/cap", "10")).Commit()
	if err != nil {
		panic(err)
	}
	fmt.Println("node-a writes while leading:", resp.Succeeded)

	next := make(chan *election.Leadership, 1)
	go func() {
		lb, err := b.Campaign(ctx)
		if err != nil {
			panic(err)
		}
		next <- lb
	}()
	if err := la.Resign(ctx); err != nil {
		panic(err)
	}
	lb := <-next
	defer lb.End()
	leader, _ = a.Leader(ctx)
	fmt.Println("leader:", leader)

	resp, err = cli.Txn(ctx).If(fence).Then(clientv3.OpPut("/example/cap", "20")).Commit()
	if err != nil {
		panic(err)
	}
	fmt.Println("node-a writes after resigning:", resp.Succeeded)

	// Output:
	// leader: node-a
	// node-a writes while leading: true
	// leader: node-b
	// node-a writes after resigning: false
}

// exampleEtcd starts an embedded etcd in a temporary directory and returns
// its client address and a function that stops it.
func exampleEtcd() (string, func()) {
	dir, err := os.MkdirTemp("", "election-example")
	if err != nil {
		panic(err)
	}
	e, err := embedded.StartEtcd(embedded.EtcdConfig{Dir: dir, ClientAddr: freeAddr(), PeerAddr: freeAddr()})
	if err != nil {
		panic(err)
	}
	return e.Clients[0].Addr().String(), func() {
		e.Close()
		os.RemoveAll(dir)
	}
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}
