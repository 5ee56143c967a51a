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
	"github.com/stockstate/stock/wire"
)

// TTL is the lease TTL of test responders.
const TTL = 2 * time.Second

// Cluster is a real NATS server and a real etcd that responders join.
type Cluster struct {
	t          testing.TB
	NATS       *server.Server
	Etcd       string     // etcd client endpoint
	NC         *nats.Conn // a client connection
	Partitions int        // of the SKUs: 1, or more with NATS mapping the subjects
}

// NewCluster starts NATS and etcd; t.Cleanup stops them.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	srv := testenv.NATS(t)
	e := testenv.Etcd(t)
	return &Cluster{t: t, NATS: srv, Etcd: testenv.Endpoint(e), NC: testenv.Conn(t, srv), Partitions: 1}
}

// NewPartitionedCluster is NewCluster with n partitions: the NATS server
// maps the SKU subjects as wire.PartitionMappings says, and every responder
// started serves n partitions.
func NewPartitionedCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := NewCluster(t)
	c.Partitions = n
	for _, m := range wire.PartitionMappings("stock", n) {
		if err := c.NATS.GlobalAccount().AddMapping(m.From, m.To); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// Node is one responder running in the process.
type Node struct {
	ID       string
	Server   *responder.Server
	Client   *clientv3.Client
	Elector  *election.Elector         // of partition 0
	Electors []*election.Elector       // one per partition
	NC       *nats.Conn                // the responder's own connection
	Leads    chan *election.Leadership // every leadership won, in order
	cancel   context.CancelFunc
	done     chan error
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
	cfg.DrainTimeout = 3 * time.Second
	for _, o := range opts {
		o(&cfg)
	}
	parts := make([]responder.Partition, c.Partitions)
	for i := range parts {
		prefix := capstore.PartitionPrefix(capstore.DefaultPrefix, i, c.Partitions)
		e := election.New(cli, capstore.ElectionPrefix(prefix), liveness.CandidateValue(id, cfg.Instance), TTL, log)
		n.Electors = append(n.Electors, e)
		parts[i] = responder.Partition{
			Store: capstore.New(cli, prefix),
			Campaign: func(ctx context.Context) (responder.Leadership, error) {
				l, err := e.Campaign(ctx)
				if err != nil {
					return nil, err
				}
				select {
				case n.Leads <- l:
				default:
				}
				return l, nil
			},
			Queue: e,
		}
	}
	n.Elector = n.Electors[0]
	srv, err := responder.NewPartitioned(nc, parts, cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.Server = srv
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() {
		err := srv.Run(ctx)
		if err != nil {
			log.Error("run failed", "err", err)
		}
		n.done <- err
	}()
	t.Cleanup(func() {
		n.Stop(t)
		for _, e := range n.Electors {
			e.Close()
		}
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
