package responder_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/election"
	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/responder"
)

const testTTL = 2 * time.Second

// cluster is a real NATS server and a real etcd with responders beside them.
type cluster struct {
	t    testing.TB
	nats *server.Server
	etcd string // client endpoint
	nc   *nats.Conn
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	srv := testenv.NATS(t)
	e := testenv.Etcd(t)
	return &cluster{t: t, nats: srv, etcd: testenv.Endpoint(e), nc: testenv.Conn(t, srv)}
}

// node is one responder process, in the process.
type node struct {
	id      string
	srv     *responder.Server
	cli     *clientv3.Client
	elector *election.Elector
	lead    chan *election.Leadership // every leadership won, in order
	cancel  context.CancelFunc
	done    chan error
}

type nodeOption func(*responder.Config)

// start runs a responder named id whose etcd client dials etcdAddr ("" for
// the cluster's etcd). It stops gracefully at cleanup if still running.
func (c *cluster) start(id, etcdAddr string, opts ...nodeOption) *node {
	t := c.t
	t.Helper()
	if etcdAddr == "" {
		etcdAddr = c.etcd
	}
	cli := testenv.Client(t, etcdAddr)
	nc := testenv.Conn(t, c.nats)
	log := testenv.Logger(t).With("node", id)
	n := &node{id: id, cli: cli, lead: make(chan *election.Leadership, 16), done: make(chan error, 1)}
	n.elector = election.New(cli, capstore.ElectionPrefix(capstore.DefaultPrefix), id, testTTL, log)
	cfg := responder.DefaultConfig()
	cfg.ID, cfg.Logger = id, log
	cfg.DrainTimeout = 3 * time.Second
	for _, o := range opts {
		o(&cfg)
	}
	campaign := func(ctx context.Context) (responder.Leadership, error) {
		l, err := n.elector.Campaign(ctx)
		if err != nil {
			return nil, err
		}
		n.lead <- l
		return l, nil
	}
	srv, err := responder.New(nc, capstore.New(cli, capstore.DefaultPrefix), campaign, cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.srv = srv
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() { n.done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		n.stop(t)
		n.elector.Close()
	})
	return n
}

// stop stops the node gracefully and waits for Run to return.
func (n *node) stop(t testing.TB) {
	t.Helper()
	if n.cancel == nil {
		return
	}
	n.cancel()
	n.cancel = nil
	select {
	case err := <-n.done:
		if err != nil {
			t.Errorf("node %s: Run: %v", n.id, err)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("node %s did not stop", n.id)
	}
}

// waitLeading waits until n serves.
func (n *node) waitLeading(t testing.TB) {
	t.Helper()
	testenv.Eventually(t, 15*time.Second, 5*time.Millisecond, func() error {
		if !n.srv.Leading() {
			return fmt.Errorf("%s does not lead", n.id)
		}
		return nil
	})
}

// reply is a decoded answer with its status code (0 on success).
type reply struct {
	responder.Reply
	code   int
	header string
}

// request sends body to subject and decodes the reply.
func request(t testing.TB, nc *nats.Conn, subject, body string) reply {
	t.Helper()
	r, err := tryRequest(nc, subject, body, 5*time.Second)
	if err != nil {
		t.Fatalf("%s %s: %v", subject, body, err)
	}
	return r
}

func tryRequest(nc *nats.Conn, subject, body string, timeout time.Duration) (reply, error) {
	m, err := nc.Request(subject, []byte(body), timeout)
	if err != nil {
		return reply{}, err
	}
	return decodeReply(m)
}

func decodeReply(m *nats.Msg) (reply, error) {
	var r reply
	dec := json.NewDecoder(bytes.NewReader(m.Data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r.Reply); err != nil {
		return r, fmt.Errorf("reply %q: %w", m.Data, err)
	}
	if c := m.Header.Get(responder.HeaderErrorCode); c != "" {
		code, err := strconv.Atoi(c)
		if err != nil {
			return r, fmt.Errorf("bad code header %q", c)
		}
		r.code, r.header = code, m.Header.Get(responder.HeaderError)
	}
	if (r.code == 0) != (r.Error == "") {
		return r, fmt.Errorf("reply %q has code %d and error %q", m.Data, r.code, r.Error)
	}
	return r, nil
}

// retriable reports whether err or r asks the client to retry: no
// responders during a failover, a timeout, or unavailable.
func retriable(r reply, err error) bool {
	if err != nil {
		return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout)
	}
	return r.Error == responder.ErrUnavailable
}

// setLimit creates sku with limit through whichever node leads.
func setLimit(t testing.TB, nc *nats.Conn, sku string, limit int64) reply {
	t.Helper()
	var r reply
	testenv.Eventually(t, 15*time.Second, 10*time.Millisecond, func() error {
		var err error
		r, err = tryRequest(nc, "stock.admin.set."+sku, fmt.Sprintf(`{"limit":%d}`, limit), 5*time.Second)
		if retriable(r, err) {
			return fmt.Errorf("set %s: %v %+v", sku, err, r)
		}
		if err != nil {
			t.Fatal(err)
		}
		return nil
	})
	if r.Error != "" {
		t.Fatalf("set %s: %+v", sku, r)
	}
	return r
}
