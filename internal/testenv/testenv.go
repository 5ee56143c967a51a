// Package testenv gives tests real servers: an in-process NATS server and an
// in-process single-node etcd, each stopped by t.Cleanup.
package testenv

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"

	"github.com/stockstate/stock/internal/embedded"
)

// NATS starts a NATS server on a free loopback port and returns it.
func NATS(t testing.TB) *server.Server {
	t.Helper()
	srv, err := embedded.StartNATS("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

// Conn connects to srv; the connection is closed by t.Cleanup.
func Conn(t testing.TB, srv *server.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(srv.ClientURL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Etcd starts a single-node etcd on free loopback ports with its data in a
// temporary directory, and returns it; Endpoint gives its client address.
func Etcd(t testing.TB) *embed.Etcd {
	t.Helper()
	e, err := embedded.StartEtcd(embedded.EtcdConfig{
		Dir:        t.TempDir(),
		ClientAddr: FreeAddr(t),
		PeerAddr:   FreeAddr(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// Endpoint is the client address of an embedded etcd.
func Endpoint(e *embed.Etcd) string {
	return e.Clients[0].Addr().String()
}

// Client connects an etcd client to endpoint; it is closed by t.Cleanup.
func Client(t testing.TB, endpoint string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{endpoint},
		DialTimeout: 5 * time.Second,
		Logger:      nopLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// FreeAddr returns a loopback "host:port" that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Eventually calls f until it returns nil or total passes, sleeping between
// tries, and fails the test with f's last error.
func Eventually(t testing.TB, total, sleep time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", total, err)
		}
		time.Sleep(sleep)
	}
}

// Connect connects to a NATS URL; the connection is closed by t.Cleanup.
func Connect(t testing.TB, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}
