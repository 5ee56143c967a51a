package responder

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stockstate/stock/responder/liveness"
	"github.com/stockstate/stock/wire"
)

// Server serves the stock protocol: for each partition of the SKUs it
// campaigns for the partition's leadership and serves its SKUs during each
// term it wins. Create it with New or NewPartitioned and run it with Run.
type Server struct {
	cfg          Config
	nc           *nats.Conn
	log          *slog.Logger
	dedupe       *dedupe
	leader       []byte // cfg.ID as a JSON string
	events       string // what precedes the SKU of a stock event
	parts        []*partition
	leadingParts atomic.Int32 // partitions whose terms serve now
	counters     counters
	started      time.Time
	balance      *balancer
}

// New returns a Server of one partition (all SKUs) that answers on nc and
// persists through store; cfg.Watch, if set, is the election's queue.
func New(nc *nats.Conn, store Store, campaign Campaign, cfg Config) (*Server, error) {
	return NewPartitioned(nc, []Partition{{Store: store, Campaign: campaign, Queue: cfg.Watch}}, cfg)
}

// NewPartitioned returns a Server of len(parts) partitions: a SKU belongs to
// partition wire.Partition(sku, len(parts)). With more than one, request
// subjects carry the partition after the SKU token (wire.SKUSubject), as a
// NATS mapping appends it, and batches of one partition go to its own
// subject; cfg.Watch is not used (each Partition has its Queue).
func NewPartitioned(nc *nats.Conn, parts []Partition, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if nc == nil || len(parts) == 0 || len(parts) > wire.MaxPartitions {
		return nil, fmt.Errorf("responder: nil connection, or not 1 to %d partitions", wire.MaxPartitions)
	}
	for _, p := range parts {
		if p.Store == nil || p.Campaign == nil {
			return nil, errors.New("responder: nil store or campaign")
		}
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
		started: time.Now().UTC(),
		cfg:     cfg,
		nc:      nc,
		log:     cfg.Logger,
		dedupe:  newDedupe(cfg.DedupeHorizon),
		leader:  wire.Quote(cfg.ID),
		events:  cfg.Prefix + "." + wire.SubjectEvents + ".",
		parts:   make([]*partition, len(parts)),
	}
	for i, p := range parts {
		s.parts[i] = newPartition(s, i, p)
	}
	s.balance = newBalancer(s)
	return s, nil
}

// Leading reports whether this node serves a term of any partition now.
func (s *Server) Leading() bool { return s.leadingParts.Load() > 0 }

// Partitions is the number of partitions.
func (s *Server) Partitions() int { return len(s.parts) }

// LeadingPartitions returns the partitions whose terms this node serves now.
func (s *Server) LeadingPartitions() []int {
	var out []int
	for _, p := range s.parts {
		if p.leading.Load() {
			out = append(out, p.index)
		}
	}
	return out
}

// Run campaigns for every partition and serves the terms it wins until ctx
// ends. When it ends, Run stops every term gracefully: it stops taking
// requests, answers those in flight, trims every cap to what was sold, and
// resigns. Run returns nil after a graceful stop, or an error that made
// serving impossible: first of all, NATS not routing the SKU subjects as
// the number of partitions needs (checkRouting).
func (s *Server) Run(ctx context.Context) error {
	subs, err := s.answerProcess()
	defer func() {
		for _, sub := range subs {
			_ = sub.Unsubscribe()
		}
	}()
	if err != nil {
		return err
	}
	if err := s.nc.FlushTimeout(s.cfg.WriteTimeout); err != nil { // a failed flush is sent again on reconnect
		s.log.Warn("probe subscription not confirmed by NATS yet", "err", err)
	}
	if err := checkRouting(s.nc, s.cfg.Prefix, s.cfg.Instance, len(s.parts), s.cfg.WriteTimeout); err != nil {
		return err
	}
	wctx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		s.watch(wctx)
	}()
	defer func() { stopWatch(); <-watched }()

	var wg sync.WaitGroup
	for _, p := range s.parts {
		wg.Go(func() { p.run(ctx) })
	}
	wg.Wait()
	return nil
}

// answerProcess subscribes to what every process answers, leading or not:
// probes of its liveness, discovery, the number of partitions, and, with
// partitions, the batches of any SKUs to split.
func (s *Server) answerProcess() ([]*nats.Subscription, error) {
	probes, err := liveness.Answer(s.nc, liveness.Subject(s.cfg.Prefix, s.cfg.Instance), wire.Quote(s.cfg.ID))
	if err != nil {
		return nil, fmt.Errorf("responder: subscribe to probes: %w", err)
	}
	subs := []*nats.Subscription{probes}
	discovery, err := s.answerDiscovery()
	subs = append(subs, discovery...)
	if err != nil {
		return subs, fmt.Errorf("responder: subscribe to discovery: %w", err)
	}
	count := wire.AppendPartitions(nil, len(s.parts))
	sub, err := s.nc.Subscribe(s.cfg.Prefix+"."+wire.SubjectPartitions, func(m *nats.Msg) {
		if m.Reply != "" {
			_ = s.nc.Publish(m.Reply, count)
		}
	})
	if err != nil {
		return subs, fmt.Errorf("responder: subscribe to %s: %w", wire.SubjectPartitions, err)
	}
	subs = append(subs, sub)
	if len(s.parts) > 1 {
		splits, err := answerSplits(s.nc, s.cfg.Prefix, s.cfg.Prefix+".split", len(s.parts), s.cfg.MaxWait+s.cfg.WriteTimeout, s.log)
		subs = append(subs, splits...)
		if err != nil {
			return subs, fmt.Errorf("responder: subscribe to batches to split: %w", err)
		}
	}
	return subs, nil
}

// watch probes the processes of the other candidates of every partition,
// if the partitions have queues, and evens out leadership from what it
// sees, until ctx ends.
func (s *Server) watch(ctx context.Context) {
	queues := make([]liveness.Queue, len(s.parts))
	any := false
	for i, p := range s.parts {
		if p.queue != nil {
			queues[i], any = p.queue, true
		}
	}
	if !any {
		return
	}
	w := &liveness.Watcher{
		NC: s.nc, Queues: queues, Prefix: s.cfg.Prefix, Self: s.cfg.Instance, ID: s.cfg.ID,
		Start: s.started, Warmup: s.cfg.ProbeWarmup, Interval: s.cfg.ProbeInterval, Failures: s.cfg.ProbeFailures,
		Timeout: s.cfg.WriteTimeout, Log: s.log, Revoked: func() { s.counters.revoked.Add(1) },
	}
	if len(s.parts) > 1 {
		w.View = s.balance.see
	}
	w.Run(ctx)
}

// Instance is this process's identity, probed by standbys.
func (s *Server) Instance() string { return s.cfg.Instance }
