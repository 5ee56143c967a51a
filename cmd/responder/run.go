package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/election"
	"github.com/stockstate/stock/internal/embedded"
	"github.com/stockstate/stock/responder"
)

// Main is the program: flags, the servers it embeds, its clients and the
// responder. Tests build it, run it, and stop it by cancelling Run's context.
type Main struct {
	Options Options
	Logger  *slog.Logger // nil: text to stderr at Options.LogLevel

	// Ready is closed once the responder runs (campaigning or leading).
	Ready chan struct{}

	natsSrv  *server.Server
	etcd     *embed.Etcd
	nc       *nats.Conn
	cli      *clientv3.Client
	elector  *election.Elector
	resp     atomic.Pointer[responder.Server]
	closed   atomic.Bool
	natsURL  string
	etcdURLs []string
	httpAddr string
	log      *slog.Logger
}

// NewMain returns a Main with default options.
func NewMain() *Main {
	m := &Main{Ready: make(chan struct{})}
	_ = m.ParseFlags(nil, func(string) string { return "" })
	return m
}

// Run starts what the options ask for and serves until ctx ends, then stops
// gracefully (drain, trim, resign). Close releases what Run started.
func (m *Main) Run(ctx context.Context) error {
	o := m.Options
	log := m.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: o.LogLevel}))
	}
	log = log.With("node", o.ID)
	m.log = log

	m.natsURL = o.NATS
	if m.natsURL == "" {
		srv, err := embedded.StartNATS(o.NATSListen)
		if err != nil {
			return err
		}
		m.natsSrv, m.natsURL = srv, srv.ClientURL()
		log.Info("embedded NATS server started", "url", m.natsURL)
	}
	m.etcdURLs = o.Etcd
	if len(m.etcdURLs) == 0 {
		e, err := embedded.StartEtcd(embedded.EtcdConfig{Dir: o.DataDir, ClientAddr: o.EtcdListen, PeerAddr: o.EtcdPeer})
		if err != nil {
			return err
		}
		m.etcd, m.etcdURLs = e, []string{o.EtcdListen}
		log.Info("embedded etcd started", "endpoint", o.EtcdListen, "data_dir", o.DataDir)
	}

	nc, err := nats.Connect(m.natsURL,
		nats.Name("stock-responder "+o.ID),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.RetryOnFailedConnect(false),
	)
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", m.natsURL, err)
	}
	m.nc = nc

	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   m.etcdURLs,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return fmt.Errorf("connect to etcd at %s: %w", strings.Join(m.etcdURLs, ","), err)
	}
	m.cli = cli
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err = cli.Status(sctx, m.etcdURLs[0])
	cancel()
	if err != nil && ctx.Err() == nil {
		return fmt.Errorf("etcd at %s does not answer: %w", strings.Join(m.etcdURLs, ","), err)
	}

	store := capstore.New(cli, o.EtcdPrefix)
	m.elector = election.New(cli, capstore.ElectionPrefix(o.EtcdPrefix), o.ID, o.LeaseTTL, log)
	campaign := func(ctx context.Context) (responder.Leadership, error) {
		l, err := m.elector.Campaign(ctx)
		if err != nil {
			return nil, err
		}
		return l, nil
	}
	cfg := responder.DefaultConfig()
	cfg.Prefix, cfg.ID, cfg.Logger = o.Prefix, o.ID, log
	resp, err := responder.New(nc, store, campaign, cfg)
	if err != nil {
		return err
	}
	m.resp.Store(resp)
	if o.HTTP != "" {
		stop, err := m.serveHTTP(ctx, o.HTTP, nil)
		if err != nil {
			return err
		}
		defer stop()
		log.Info("http listening", "addr", m.httpAddr)
	}
	close(m.Ready)
	log.Info("responder running", "nats", m.natsURL, "etcd", strings.Join(m.etcdURLs, ","), "prefix", o.Prefix)
	err = resp.Run(ctx)
	log.Info("responder stopped")
	return err
}

// Leading reports whether the responder serves a term now.
func (m *Main) Leading() bool {
	r := m.resp.Load()
	return r != nil && r.Leading()
}

// HTTPAddr is where the HTTP server listens, once Ready.
func (m *Main) HTTPAddr() string { return m.httpAddr }

// NATSURL and EtcdEndpoints are where Run connected, embedded or not.
func (m *Main) NATSURL() string         { return m.natsURL }
func (m *Main) EtcdEndpoints() []string { return m.etcdURLs }

// Close releases clients and embedded servers. Safe to call twice.
func (m *Main) Close() error {
	if m.closed.Swap(true) {
		return nil
	}
	var errs []error
	if m.elector != nil {
		errs = append(errs, m.elector.Close())
	}
	if m.nc != nil {
		m.nc.Close()
	}
	if m.cli != nil {
		errs = append(errs, m.cli.Close())
	}
	if m.etcd != nil {
		m.etcd.Close()
	}
	if m.natsSrv != nil {
		m.natsSrv.Shutdown()
		m.natsSrv.WaitForShutdown()
	}
	return errors.Join(errs...)
}
