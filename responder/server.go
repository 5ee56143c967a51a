package responder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stockstate/stock/responder/liveness"
	"github.com/stockstate/stock/wire"
)

// Server campaigns for leadership and serves the stock protocol during each
// term it wins. Create it with New and run it with Run.
type Server struct {
	cfg      Config
	nc       *nats.Conn
	store    Store
	campaign Campaign
	log      *slog.Logger
	dedupe   *dedupe
	leader   []byte               // cfg.ID as a JSON string
	prefixes [numEndpoints]string // per endpoint, what precedes the SKU token
	events   string               // what precedes the SKU of a stock event
	leading  atomic.Bool
	term     atomic.Pointer[term] // the term being served, or nil
	counters counters
	started  time.Time
}

// New returns a Server that answers on nc and persists through store.
func New(nc *nats.Conn, store Store, campaign Campaign, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if nc == nil || store == nil || campaign == nil {
		return nil, errors.New("responder: nil connection, store or campaign")
	}
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	if cfg.Instance == "" {
		cfg.Instance = nats.NewInbox()[len(nats.InboxPrefix):]
	}
	if cfg.Queue == "" {
		cfg.Queue = cfg.Prefix + "." + cfg.Instance
	}
	s := &Server{
		started:  time.Now().UTC(),
		cfg:      cfg,
		nc:       nc,
		store:    store,
		campaign: campaign,
		log:      cfg.Logger,
		dedupe:   newDedupe(cfg.DedupeHorizon),
		leader:   wire.Quote(cfg.ID),
		events:   cfg.Prefix + "." + wire.SubjectEvents + ".",
	}
	for i := range endpoints {
		s.prefixes[i] = cfg.Prefix + "." + endpoints[i].subject + "."
	}
	return s, nil
}

// Leading reports whether this node is serving a term now.
func (s *Server) Leading() bool { return s.leading.Load() }

// Run campaigns and serves terms until ctx ends. When it ends during a term,
// Run stops gracefully: it stops taking requests, answers those in flight,
// trims every cap to what was sold, and resigns. Run returns nil after a
// graceful stop, or an error that made serving impossible.
func (s *Server) Run(ctx context.Context) error {
	probes, err := liveness.Answer(s.nc, liveness.Subject(s.cfg.Prefix, s.cfg.Instance), wire.Quote(s.cfg.ID))
	if err != nil {
		return fmt.Errorf("responder: subscribe to probes: %w", err)
	}
	defer probes.Unsubscribe()
	if err := s.nc.FlushTimeout(s.cfg.WriteTimeout); err != nil { // a failed flush is sent again on reconnect
		s.log.Warn("probe subscription not confirmed by NATS yet", "err", err)
	}
	discovery, err := s.answerDiscovery()
	if err != nil {
		return fmt.Errorf("responder: subscribe to discovery: %w", err)
	}
	defer func() {
		for _, sub := range discovery {
			_ = sub.Unsubscribe()
		}
	}()
	backoff := 50 * time.Millisecond
	for {
		lead, err := s.campaignWatching(ctx)
		if ctx.Err() != nil {
			if lead != nil {
				lead.End()
			}
			return nil
		}
		if err != nil {
			s.log.Warn("campaign failed", "err", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		s.log.Info("leading", "id", s.cfg.ID, "key", lead.Key(), "rev", lead.Rev())
		t := newTerm(s, lead)
		s.term.Store(t)
		err = t.run(ctx)
		s.term.Store(nil)
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("leadership lost", "err", err)
	}
}

// campaignWatching campaigns, and meanwhile probes the other candidates if
// a Watch is configured.
func (s *Server) campaignWatching(ctx context.Context) (Leadership, error) {
	if s.cfg.Watch == nil {
		return s.campaign(ctx)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	w := &liveness.Watcher{
		NC: s.nc, Queue: s.cfg.Watch, Prefix: s.cfg.Prefix, Self: s.cfg.Instance,
		Start: s.started, Warmup: s.cfg.ProbeWarmup, Interval: s.cfg.ProbeInterval, Failures: s.cfg.ProbeFailures,
		Timeout: s.cfg.WriteTimeout, Log: s.log, Revoked: func() { s.counters.revoked.Add(1) },
	}
	go func() {
		defer close(done)
		w.Run(wctx)
	}()
	defer func() { stop(); <-done }()
	return s.campaign(ctx)
}

// Instance is this process's identity, probed by standbys.
func (s *Server) Instance() string { return s.cfg.Instance }
