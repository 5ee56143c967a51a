package capstore_test

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/internal/testenv"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testenv.EtcdClusterLeaks...)
}

// setup starts an etcd and returns a client of it and a Store on prefix.
func setup(t testing.TB, prefix string) (*clientv3.Client, *capstore.Store) {
	t.Helper()
	cli := testenv.Client(t, testenv.Endpoint(testenv.Etcd(t)))
	return cli, capstore.New(cli, prefix)
}

// ctx returns a context that ends with the test or after 30s.
func ctx(t testing.TB) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// lead makes this test the leader: it puts key on a new lease if key is
// absent and returns the key's create revision (the fence) and the lease.
func lead(t testing.TB, cli *clientv3.Client, key string) (int64, clientv3.LeaseID) {
	t.Helper()
	l, err := cli.Grant(ctx(t), 30)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Txn(ctx(t)).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, "node", clientv3.WithLease(l.ID))).
		Commit()
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Succeeded {
		t.Fatalf("leader key %s exists", key)
	}
	g, err := cli.Get(ctx(t), key)
	if err != nil {
		t.Fatal(err)
	}
	return g.Kvs[0].CreateRevision, l.ID
}

// revision returns the store's current revision.
func revision(t testing.TB, cli *clientv3.Client) int64 {
	t.Helper()
	resp, err := cli.Get(ctx(t), "/no-such-key")
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

// count returns how many keys start with prefix.
func count(t testing.TB, cli *clientv3.Client, prefix string) int64 {
	t.Helper()
	resp, err := cli.Get(ctx(t), prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	return resp.Count
}
