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
	"github.com/stockstate/stock/responder/liveness"
	"github.com/stockstate/stock/wire"
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
	parts    atomic.Pointer[[]part]           // read by /readyz, /live.json
	resp     atomic.Pointer[responder.Server] // read by /readyz, /metrics, /debug/stats, /live.json
	closed   atomic.Bool
	natsURL  string
	etcdURLs []string
	httpAddr string
	log      *slog.Logger
}

// part is one partition's store and election.
type part struct {
	store   *capstore.Store
	elector *election.Elector
}

// NewMain returns a Main with default options.
func NewMain() *Main {
	m := &Main{Ready: make(chan struct{})}
	newFlagSet(&m.Options)
	return m
}

// Run starts what the options ask for and serves until ctx ends, then stops
// gracefully (drain, trim, resign). Close releases what Run started.
//
// The HTTP server starts first, so /healthz answers (and /readyz says
// "starting") while Run waits up to -connect-timeout for NATS and then etcd
// to answer. Run returns an error when they do not, when credentials are
// refused, or when serving becomes impossible; it returns nil when ctx ends,
// also while it is still connecting.
func (m *Main) Run(ctx context.Context) error {
	o := m.Options
	log := m.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: o.LogLevel}))
	}
	log = log.With("node", o.ID)
	m.log = log

	reg, observer, err := m.newRegistry()
	if err != nil {
		return err
	}
	if o.HTTP != "" {
		stop, err := m.serveHTTP(o.HTTP, reg)
		if err != nil {
			return err
		}
		defer stop()
		log.Info("http listening", "addr", m.httpAddr)
	}

	if err := m.startEmbedded(); err != nil {
		return err
	}
	if err := m.connect(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}

	n, err := capstore.Partitions(ctx, m.cli, o.EtcdPrefix, o.Partitions)
	if err != nil {
		return err
	}
	if m.natsSrv != nil {
		for _, mp := range wire.PartitionMappings(o.Prefix, n) {
			if err := m.natsSrv.GlobalAccount().AddMapping(mp.From, mp.To); err != nil {
				return fmt.Errorf("embedded NATS: map %s: %w", mp.From, err)
			}
		}
	}
	// The instance is unique to this process: standbys probe the leader's
	// process by it, which a restart under the same -id does not reuse.
	instance := nats.NewInbox()[len(nats.InboxPrefix):]
	parts := make([]part, n)
	rparts := make([]responder.Partition, n)
	for i := range parts {
		prefix := capstore.PartitionPrefix(o.EtcdPrefix, i, n)
		plog := log
		if n > 1 {
			plog = log.With("partition", i)
		}
		p := part{
			store:   capstore.New(m.cli, prefix),
			elector: election.New(m.cli, capstore.ElectionPrefix(prefix), liveness.CandidateValue(o.ID, instance), o.LeaseTTL, plog),
		}
		parts[i] = p
		rparts[i] = responder.Partition{
			Store: p.store,
			Campaign: func(ctx context.Context) (responder.Leadership, error) {
				l, err := p.elector.Campaign(ctx)
				if err != nil {
					return nil, err
				}
				return l, nil
			},
			Queue: p.elector, // a standby revokes a dead leader's lease at once
		}
	}
	m.parts.Store(&parts)
	cfg := responder.DefaultConfig()
	cfg.Prefix, cfg.ID, cfg.Instance, cfg.Logger, cfg.Observer = o.Prefix, o.ID, instance, log, observer
	cfg.WriteDepth = o.WriteDepth
	if version != "" {
		cfg.Version = strings.TrimPrefix(version, "v") // discovery reports semver
	}
	resp, err := responder.NewPartitioned(m.nc, rparts, cfg)
	if err != nil {
		return err
	}
	m.resp.Store(resp)
	close(m.Ready)
	log.Info("responder running", "version", Version(), "nats", m.nc.ConnectedUrlRedacted(),
		"etcd", strings.Join(m.etcdURLs, ","), "prefix", o.Prefix, "partitions", n)
	err = resp.Run(ctx)
	log.Info("responder stopped")
	return err
}

// startEmbedded starts the embedded NATS server and etcd when no external
// ones are named.
func (m *Main) startEmbedded() error {
	o := m.Options
	m.natsURL = o.NATS
	if m.natsURL == "" {
		srv, err := embedded.StartNATS(o.NATSListen)
		if err != nil {
			return err
		}
		m.natsSrv, m.natsURL = srv, srv.ClientURL()
		m.log.Info("embedded NATS server started", "url", m.natsURL)
	}
	m.etcdURLs = o.Etcd
	if len(m.etcdURLs) == 0 {
		e, err := embedded.StartEtcd(embedded.EtcdConfig{Dir: o.DataDir, ClientAddr: o.EtcdListen, PeerAddr: o.EtcdPeer})
		if err != nil {
			return err
		}
		m.etcd, m.etcdURLs = e, []string{o.EtcdListen}
		m.log.Info("embedded etcd started", "endpoint", o.EtcdListen, "data_dir", o.DataDir)
	}
	return nil
}

// connect connects to NATS, then to etcd, each retried for up to
// -connect-timeout while it comes up.
func (m *Main) connect(ctx context.Context) error {
	o := m.Options
	log := m.log
	natsOpts, err := o.NATSAuth.options()
	if err != nil {
		return err
	}
	natsOpts = append(natsOpts,
		nats.Name("stock-responder "+o.ID),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			if m.closed.Load() {
				return
			}
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			// Permission violations, slow consumers.
			log.Error("nats error", "err", err, "subject", subject)
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if !m.closed.Load() {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			if !m.closed.Load() {
				log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
			}
		}),
	)
	etcdCfg := clientv3.Config{
		Endpoints:   m.etcdURLs,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	}
	if err := o.EtcdAuth.apply(&etcdCfg); err != nil {
		return err
	}

	if m.nc, err = connectNATS(ctx, m.natsURL, o.ConnectTimeout, log, natsOpts...); err != nil {
		return err
	}
	m.cli, err = connectEtcd(ctx, etcdCfg, o.EtcdPrefix, o.ConnectTimeout, log)
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

// Close releases clients and embedded servers. Call it after Run returns.
// Safe to call twice.
func (m *Main) Close() error {
	if m.closed.Swap(true) {
		return nil
	}
	var errs []error
	if parts := m.parts.Load(); parts != nil {
		for _, p := range *parts {
			errs = append(errs, p.elector.Close())
		}
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
