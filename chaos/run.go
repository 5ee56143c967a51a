package chaos

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stockstate/stock/client"
)

// Config is one chaos run.
type Config struct {
	Bin      Binaries
	Dir      string        // data and logs of every process; empty or not there yet
	Seed     uint64        // draws the schedule of faults and the clients' choices
	Duration time.Duration // faults keep coming until it passes; 0: one round of every kind, once each
	Kinds    []Kind        // nil: AllKinds
	Weights  map[Kind]int  // copies of each kind per round when Duration > 0; nil: LongWeights
	LeaseTTL time.Duration // the responders' -lease-ttl
	// EtcdElection is etcd's --election-timeout (its heartbeat a tenth of
	// it); 0 keeps etcd's default of 1 s. Losing etcd's raft leader stops
	// every write for one election, so it bounds that fault's gap. The
	// default, 500 ms, is what docker-compose.yml runs.
	EtcdElection time.Duration
	// Partitions is the responders' -partitions: SKUs spread over that
	// many partitions, each with its own leader. 1: none.
	Partitions int
	// Clients is the number of acquire clients: the first Size of them
	// wait longer than a lease for each reply and send to every
	// partition, each of the others sends to one partition (client i to
	// partition (i-Size) mod Partitions), so that a client stuck on a
	// partition whose leader is gone holds up no other partition. 0:
	// DefaultClients.
	Clients int
	Holders int           // hold clients, on a SKU of their own (holds.go)
	Buyers  int           // buyer clients, on capped SKUs of their own (buyers.go)
	Think   time.Duration // each client's pause between requests (an acquire client's drawn from 0.5 to 1.5 times it)
	Trace   bool          // log every change of the election queues (always watched); etcd logs at info
	Logf    func(format string, args ...any)
}

// DefaultConfig returns a short run of 16 partitions with the responder's
// default lease.
func DefaultConfig() Config {
	return Config{LeaseTTL: 5 * time.Second, EtcdElection: 500 * time.Millisecond, Partitions: DefaultPartitions,
		Holders: 4, Buyers: 6, Think: 10 * time.Millisecond, Logf: func(string, ...any) {}}
}

// DefaultPartitions is what docker-compose.yml runs.
const DefaultPartitions = 16

// DefaultClients is the number of acquire clients for n partitions: Size
// patient ones, and 2 for each partition, at least 13 in all.
func DefaultClients(n int) int { return Size + max(13, 2*max(n, 1)) }

func (c *Config) validate() error {
	switch {
	case c.Bin.Responder == "" || c.Bin.Etcd == "" || c.Bin.NATS == "":
		return errors.New("chaos: binaries not set")
	case c.Dir == "":
		return errors.New("chaos: no directory")
	case c.LeaseTTL < time.Second || c.LeaseTTL%time.Second != 0:
		return errors.New("chaos: lease TTL must be whole seconds, at least 1s")
	case c.EtcdElection != 0 && c.EtcdElection < 50*time.Millisecond:
		return errors.New("chaos: etcd election timeout below 50ms")
	case c.Partitions < 0 || c.Partitions > 1024:
		return errors.New("chaos: partitions must be 1 to 1024 (0 means 1)")
	case c.Clients != 0 && c.Clients < Size+max(c.Partitions, 1):
		return fmt.Errorf("chaos: at least %d clients: %d patient ones and one for each partition", Size+max(c.Partitions, 1), Size)
	case c.Holders < 0:
		return errors.New("chaos: negative holders")
	case c.Buyers < 0:
		return errors.New("chaos: negative buyers")
	}
	if entries, err := os.ReadDir(c.Dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("chaos: directory %s is not empty (etcd would start from an old cluster's data)", c.Dir)
	}
	c.Partitions = max(c.Partitions, 1)
	if c.Clients == 0 {
		c.Clients = DefaultClients(c.Partitions)
	}
	if c.Kinds == nil {
		c.Kinds = AllKinds
	}
	if c.Weights == nil {
		c.Weights = LongWeights
	}
	if c.Duration == 0 {
		c.Weights = nil
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
	return nil
}

// run is one Run in progress.
type run struct {
	cfg     Config
	c       *cluster
	load    *recorder
	skus    []SKU
	holdSKU SKU
	// buyerSKUs are capped at PerBuyer units per buyer (buyers.go).
	buyerSKUs []SKU
	start     time.Time
}

func (r *run) now() time.Duration { return time.Since(r.start) }

// waitGrantSentAfter waits up to d for a grant to a request sent after t
// in each of parts (nil: every partition).
func (r *run) waitGrantSentAfter(ctx context.Context, parts []int, t, d time.Duration) bool {
	if parts == nil {
		for p := range r.cfg.Partitions {
			parts = append(parts, p)
		}
	}
	return poll(ctx, d, 10*time.Millisecond, func() error {
		for _, p := range parts {
			if time.Duration(r.load.lastGrantSent[p].Load()) <= t {
				return fmt.Errorf("no grant yet in partition %d", p)
			}
		}
		return nil
	}) == nil
}

// skusFor returns the SKUs of the acquire clients of a run expected to last
// about d, three of them in each partition: one that never
// sells out and two that sell out about a third and two thirds of the way
// through at the partition's expected rate, so that windows near sell-out
// (at most a quarter of what remains) are crossed by faults too; with
// their weights within their partition. They are ordered by kind, then
// partition, so that SKUs next to each other are of different partitions.
// With one partition they are hot, scarce-a and scarce-b.
func skusFor(d time.Duration, cfg Config) ([]SKU, []float64, error) {
	n := cfg.Partitions
	perClient := 1 / (cfg.Think.Seconds() + 0.002) * 2 // requests/s times the mean n
	used := map[string]bool{}
	var skus []SKU
	var weights []float64
	for _, k := range []struct {
		base  string
		share float64 // of the scarce stock of the partition's run
		w     float64
	}{{"hot", 0, 0.7}, {"scarce-a", 1.0 / 3, 0.15}, {"scarce-b", 2.0 / 3, 0.15}} {
		names, err := namesIn(k.base, n, used)
		if err != nil {
			return nil, nil, err
		}
		for p, name := range names {
			perSec := perClient * (float64(len(clientsOf(p, n, cfg.Clients))) + float64(Size)/float64(n))
			s := SKU{Name: name, Limit: 1_000_000_000_000, Partition: p}
			if k.share > 0 {
				s.Limit = max(int64(perSec*0.15*d.Seconds()*k.share), int64(500*k.share*3))
			}
			skus = append(skus, s)
			weights = append(weights, k.w)
		}
	}
	return skus, weights, nil
}

// clientsOf are the acquire clients of partition p among n, besides the
// patient ones, which send to every partition.
func clientsOf(p, n, clients int) []int {
	var out []int
	for i := Size + p; i < clients; i += n {
		out = append(out, i)
	}
	return out
}

// Run starts the cluster and the load, injects faults until the schedule
// ends, stops the load, reads the final state and returns the History.
// Every process it starts is stopped before it returns.
func Run(ctx context.Context, cfg Config) (*History, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, start: time.Now()}
	h := &History{Seed: cfg.Seed, LeaseTTL: cfg.LeaseTTL, Partitions: cfg.Partitions, Clients: cfg.Clients, Patient: Size,
		Timeout: client.DefaultConfig().Timeout}
	expected := cfg.Duration
	if expected == 0 {
		expected = time.Duration(len(cfg.Kinds)) * (cfg.LeaseTTL + 2*time.Second)
	}
	var weights []float64
	var err error
	if r.skus, weights, err = skusFor(expected, cfg); err != nil {
		return nil, err
	}
	h.SKUs = r.skus
	r.holdSKU = SKU{Name: "held", Limit: 1_000_000_000_000, Partition: partitionOf("held", cfg.Partitions)}
	h.HoldSKU = r.holdSKU
	if cfg.Buyers > 0 {
		r.buyerSKUs = buyerSKUsFor(expected, cfg.Partitions)
		h.BuyerSKUs = r.buyerSKUs
	}

	r.c, err = startCluster(ctx, clusterConfig{
		bin: cfg.Bin, dir: cfg.Dir, leaseTTL: cfg.LeaseTTL, etcdElection: cfg.EtcdElection, partitions: cfg.Partitions,
		token: fmt.Sprintf("chaos-%d", cfg.Seed), logf: cfg.Logf, trace: cfg.Trace,
	}, r.start)
	if err != nil {
		return nil, err
	}
	defer r.c.close()
	// The election keys are watched from before the first responder
	// campaigns to after the last answer is in.
	tr, err := startTrace(r.c.etcdEndpoints(), cfg.Partitions, r.start, cfg.Trace, cfg.Logf)
	if err != nil {
		return nil, err
	}
	traced := false
	defer func() {
		if !traced {
			tr.stop()
		}
	}()
	if err := r.c.startResponders(ctx); err != nil {
		return nil, err
	}
	if _, counts, err := r.c.leading(ctx, 30*time.Second, true); err != nil {
		return nil, fmt.Errorf("chaos: leadership of %d partitions not spread out: %w", cfg.Partitions, err)
	} else {
		cfg.Logf("cluster up after %v, partitions led %v", r.now().Round(time.Millisecond), counts)
	}
	for _, s := range append(slices.Clone(r.skus), r.holdSKU) {
		if err := r.c.setLimit(ctx, s.Name, s.Limit); err != nil {
			return nil, err
		}
	}
	for _, s := range r.buyerSKUs {
		if err := r.c.setLimitPerBuyer(ctx, s.Name, s.Limit, PerBuyer); err != nil {
			return nil, err
		}
	}
	lcfg := loadConfig{
		clients: cfg.Clients, patient: Size, think: cfg.Think,
		timeout: h.Timeout, patientTimeout: 3*cfg.LeaseTTL + 5*time.Second, maxAttempts: 200,
		queryEvery: 25 * time.Millisecond, queryTimeout: time.Second,
		skus: r.skus, weights: weights, partitions: cfg.Partitions,
		holders: cfg.Holders, holdSKU: r.holdSKU, buyers: cfg.Buyers, buyerSKUs: r.buyerSKUs,
		seed: cfg.Seed, start: r.start,
	}
	for i, n := range r.c.nats {
		lcfg.urls[i] = "nats://" + n.client
	}
	r.load, err = startLoad(lcfg)
	if err != nil {
		return nil, err
	}
	defer r.load.stop()
	sctx, stopScrape := context.WithCancel(ctx)
	windows := make([][]WindowSample, Size)
	scraped := make(chan struct{})
	go func() {
		defer close(scraped)
		var wg sync.WaitGroup
		for i := range Size {
			wg.Add(1)
			go func() {
				defer wg.Done()
				windows[i] = r.scrapeWindows(sctx, i)
			}()
		}
		wg.Wait()
	}()
	defer func() { stopScrape(); <-scraped }()
	if !r.waitGrantSentAfter(ctx, nil, r.now(), 30*time.Second) {
		return nil, errors.New("chaos: not every partition granted within 30s of starting the load")
	}
	if err := sleepCtx(ctx, time.Second); err != nil {
		return nil, err
	}

	runErr := r.faults(ctx, h)

	h.End = r.now()
	r.load.stop()
	stopped := r.now()
	stopScrape()
	<-scraped
	for _, w := range windows {
		h.Windows = append(h.Windows, w...)
	}
	slices.SortFunc(h.Windows, func(a, b WindowSample) int { return cmp.Compare(a.At, b.At) })
	h.Acquires, h.Queries, h.Holds = r.load.history()
	h.BuyerOps = r.load.buyerHistory()
	h.Final = make([]Final, len(r.skus))
	for i, s := range r.skus {
		_ = poll(ctx, 3*cfg.LeaseTTL+10*time.Second, 50*time.Millisecond, func() error {
			rep, err := r.c.query(s.Name, time.Second)
			if err != nil {
				return err
			}
			h.Final[i] = Final{Limit: rep.Limit, Sold: rep.Sold, Leader: rep.Leader, OK: true}
			return nil
		})
	}
	if cfg.Holders > 0 {
		h.HoldFinal = r.waitHoldsBack(ctx, stopped, HoldsBackWithin(cfg.LeaseTTL))
	}
	if cfg.Buyers > 0 {
		h.BuyerSKUFinal = r.waitBuyerSKUsBack(ctx, stopped, HoldsBackWithin(cfg.LeaseTTL))
		h.BuyerFinals = r.queryBuyers(ctx, h.BuyerOps)
		cfg.Logf("queried %d buyers after the run", len(h.BuyerFinals))
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i, p := range r.c.resp {
		if st := r.c.stats(sctx, i); st != nil {
			h.Notes = append(h.Notes, fmt.Sprintf("%s (started %d times): leading=%v partitions=%v terms=%d units=%d refills=%d fenced=%d unknown=%d revoked=%d stalls=%d wait_timeouts=%d",
				p.id, p.starts, st.Leading, st.LeadingParts, st.Terms, st.Units, st.Refills, st.Fenced, st.Unknown, st.Revoked, st.Stalls, st.WaitTimeouts))
		}
	}
	h.Leaders = tr.stop()
	traced = true
	h.Events = r.c.takeEvents()
	return h, runErr
}

// faults injects faults until the schedule ends.
func (r *run) faults(ctx context.Context, h *History) error {
	cfg := r.cfg
	sched := newSchedule(cfg.Seed, cfg.Kinds, cfg.Weights)
	const maxFaults = 100_000
	for n := 0; n < maxFaults; n++ {
		if cfg.Duration > 0 && r.now() >= cfg.Duration {
			return nil
		}
		if cfg.Duration == 0 && n > 0 && sched.roundDone() {
			return nil
		}
		if err := r.ensureUp(ctx); err != nil {
			return err
		}
		st := sched.next()
		f, ok, err := r.inject(ctx, st)
		if ok {
			h.Faults = append(h.Faults, f)
			cfg.Logf("fault %d: %-12s %-5s at %8v (%s) healed %8v %s", len(h.Faults)-1, f.Kind, f.Target,
				f.At.Round(time.Millisecond), r.start.Add(f.At).UTC().Format("15:04:05.000"), f.Healed.Round(time.Millisecond), f.Detail)
		}
		if err != nil {
			return fmt.Errorf("chaos: fault %s: %w", st.kind, err)
		}
		wait := 4*cfg.LeaseTTL + 5*time.Second
		if !r.waitGrantSentAfter(ctx, nil, max(f.Healed, f.At), wait) {
			r.c.event("not every partition granted within %v of healing %s of %s", wait, f.Kind, f.Target)
		}
		if err := sleepCtx(ctx, 500*time.Millisecond+frac(time.Second, st.u[3])); err != nil {
			return err
		}
	}
	return nil
}

// ensureUp restarts whatever exited without being asked to, heals any cut
// left behind, and waits (a while) until the partitions' leadership is
// spread out, so that each fault starts from a whole cluster.
func (r *run) ensureUp(ctx context.Context) error {
	c := r.c
	for i, m := range c.etcd {
		if !m.running() {
			c.event("restarting %s", m.name)
			if err := m.start(); err != nil {
				return err
			}
			if err := c.waitEtcd(ctx, i, 30*time.Second); err != nil {
				return err
			}
		}
	}
	for i, n := range c.nats {
		if !n.running() {
			c.event("restarting %s", n.name)
			if err := n.start(); err != nil {
				return err
			}
			if err := c.waitNATS(ctx, i, 20*time.Second); err != nil {
				return err
			}
		}
	}
	for i, p := range c.resp {
		if p.cut != "" {
			if err := c.healEtcd(ctx, i); err != nil {
				return err
			}
		}
		if !p.running() {
			c.event("restarting %s", p.id)
			if err := c.startResponder(ctx, i); err != nil {
				return err
			}
		}
	}
	if _, _, err := c.leading(ctx, 0, true); err == nil {
		return nil
	}
	// Leadership is being evened out: let it finish, and the partitions
	// that moved serve again for a while, so that the next fault is not
	// measured on top of handoffs.
	if _, counts, err := c.leading(ctx, 10*time.Second, true); err != nil {
		c.event("leadership not spread out within 10s (%v partitions each): %v", counts, err)
		return nil
	}
	if !r.waitGrantSentAfter(ctx, nil, r.now(), 4*r.cfg.LeaseTTL) {
		c.event("not every partition granted after leadership was spread out")
	}
	return sleepCtx(ctx, 500*time.Millisecond)
}

func splitComma(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// scrapeWindows samples responder i's windows every 100ms while it leads,
// until ctx ends.
func (r *run) scrapeWindows(ctx context.Context, i int) []WindowSample {
	var out []WindowSample
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for range maxSamples {
		select {
		case <-ctx.Done():
			return out
		case <-t.C:
		}
		at := r.now()
		sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		st := r.c.stats(sctx, i)
		cancel()
		if st != nil && st.Leading {
			out = append(out, WindowSample{At: at, Node: r.c.resp[i].id, Window: st.WindowUnits})
		}
	}
	return out
}

// maxSamples bounds the polling loops (scrapes, traces): a day at 10 a second.
const maxSamples = 864_000
