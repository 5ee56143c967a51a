// Package stocktest runs responders in the test's process against a real
// NATS server and a real etcd, for the tests of every package that talks to
// the product.
package stocktest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/election"
	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/responder"
	"github.com/stockstate/stock/responder/liveness"
)

// TTL is the lease TTL of test responders.
const TTL = 2 * time.Second

// Cluster is a real NATS server and a real etcd that responders join.
type Cluster struct {
	t    testing.TB
	NATS *server.Server
	Etcd string     // etcd client endpoint
	NC   *nats.Conn // a client connection
}

// NewCluster starts NATS and etcd; t.Cleanup stops them.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	srv := testenv.NATS(t)
	e := testenv.Etcd(t)
	return &Cluster{t: t, NATS: srv, Etcd: testenv.Endpoint(e), NC: testenv.Conn(t, srv)}
}

// Node is one responder running in the process.
type Node struct {
	ID      string
	Server  *responder.Server
	Client  *clientv3.Client
	Elector *election.Elector
	NC      *nats.Conn                // the responder's own connection
	Leads   chan *election.Leadership // every leadership won, in order
	cancel  context.CancelFunc
	done    chan error
}

// Option changes a node's responder configuration.
type Option func(*responder.Config)

// Start runs a responder named id whose etcd client dials etcdAddr ("" for
// the cluster's etcd). It stops gracefully at cleanup if still running.
func (c *Cluster) Start(id, etcdAddr string, opts ...Option) *Node {
	c.t.Helper()
	return c.StartAt(id, "", etcdAddr, opts...)
}

// StartAt is Start with the NATS address too ("" for the cluster's server),
// so that a test can put a proxy in front of either.
func (c *Cluster) StartAt(id, natsAddr, etcdAddr string, opts ...Option) *Node {
	t := c.t
	t.Helper()
	if etcdAddr == "" {
		etcdAddr = c.Etcd
	}
	natsURL := c.NATS.ClientURL()
	if natsAddr != "" {
		natsURL = "nats://" + natsAddr
	}
	cli := testenv.Client(t, etcdAddr)
	nc := testenv.Connect(t, natsURL)
	log := testenv.Logger(t).With("node", id)
	n := &Node{ID: id, Client: cli, NC: nc, Leads: make(chan *election.Leadership, 16), done: make(chan error, 1)}
	cfg := responder.DefaultConfig()
	cfg.ID, cfg.Logger = id, log
	cfg.Instance = nats.NewInbox()[len(nats.InboxPrefix):]
	n.Elector = election.New(cli, capstore.ElectionPrefix(capstore.DefaultPrefix), liveness.CandidateValue(id, cfg.Instance), TTL, log)
	cfg.Watch = n.Elector
	cfg.DrainTimeout = 3 * time.Second
	for _, o := range opts {
		o(&cfg)
	}
	campaign := func(ctx context.Context) (responder.Leadership, error) {
		l, err := n.Elector.Campaign(ctx)
		if err != nil {
			return nil, err
		}
		select {
		case n.Leads <- l:
		default:
		}
		return l, nil
	}
	srv, err := responder.New(nc, capstore.New(cli, capstore.DefaultPrefix), campaign, cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.Server = srv
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() { n.done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		n.Stop(t)
		n.Elector.Close()
	})
	return n
}

// Stop stops the node gracefully and waits for Run to return.
func (n *Node) Stop(t testing.TB) {
	t.Helper()
	if n.cancel == nil {
		return
	}
	n.cancel()
	n.cancel = nil
	select {
	case err := <-n.done:
		if err != nil {
			t.Errorf("node %s: Run: %v", n.ID, err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("node %s did not stop", n.ID)
	}
}

// WaitLeading waits until n serves.
func (n *Node) WaitLeading(t testing.TB) {
	t.Helper()
	testenv.Eventually(t, 15*time.Second, 5*time.Millisecond, func() error {
		if !n.Server.Leading() {
			return fmt.Errorf("%s does not lead", n.ID)
		}
		return nil
	})
}
