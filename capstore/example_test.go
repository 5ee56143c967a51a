package capstore_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/internal/embedded"
	"github.com/stockstate/stock/stock"
)

// A leader wins the election under ElectionPrefix, then fences every write
// on its key's create revision.
func ExampleStore_Commit() {
	dir, err := os.MkdirTemp("", "capstore-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	e, err := embedded.StartEtcd(embedded.EtcdConfig{Dir: dir, ClientAddr: freeAddr(), PeerAddr: freeAddr()})
	if err != nil {
		panic(err)
	}
	defer e.Close()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.Clients[0].Addr().String()}, Logger: zap.NewNop()})
	if err != nil {
		panic(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	sess, err := concurrency.NewSession(cli)
	if err != nil {
		panic(err)
	}
	defer sess.Close()
	election := concurrency.NewElection(sess, capstore.ElectionPrefix(capstore.DefaultPrefix))
	if err := election.Campaign(ctx, "node-a"); err != nil {
		panic(err)
	}

	// The fence: Resign forgets the key, so keep it.
	leaderKey, leaderRev := election.Key(), election.Rev()

	s := capstore.New(cli, capstore.DefaultPrefix)
	ok, err := s.Commit(ctx, leaderKey, leaderRev, map[string]stock.Record{"sku1": {Limit: 100, Cap: 16}}, nil)
	fmt.Println("committed:", ok, err)

	recs, bad, err := s.Load(ctx)
	fmt.Println(recs, len(bad), err)

	if err := election.Resign(ctx); err != nil {
		panic(err)
	}
	ok, err = s.Commit(ctx, leaderKey, leaderRev, map[string]stock.Record{"sku1": {Limit: 100, Cap: 32}}, nil)
	fmt.Println("committed after resigning:", ok, err)
	// Output:
	// committed: true <nil>
	// map[sku1:{100 16 0 0}] 0 <nil>
	// committed after resigning: false <nil>
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}
