package chaos

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

var (
	flagSeed     = flag.Uint64("chaos.seed", 0, "seed of the fault schedule; 0 picks one from the clock (printed)")
	flagDuration = flag.Duration("chaos.duration", 0, "inject faults for this long; 0 runs one round of every kind (the short run)")
	flagKinds    = flag.String("chaos.kinds", "", "comma-separated fault kinds (kill9,pause,term,etcd-cut,etcd-kill,nats-kill,standby-kill); empty: all")
	flagTTL      = flag.Duration("chaos.ttl", 5*time.Second, "the responders' -lease-ttl")
	flagElection = flag.Duration("chaos.etcd-election", 500*time.Millisecond, "etcd's --election-timeout (heartbeat a tenth of it); 0: etcd's default (1s)")
	flagParts    = flag.Int("chaos.partitions", DefaultPartitions, "the responders' -partitions: SKUs spread over that many partitions, each with its own leader; 1: none")
	flagClients  = flag.Int("chaos.clients", 0, "acquire clients: 3 patient ones that send to every partition, the others one partition each; 0: 3 + 2 per partition, at least 16")
	flagHolders  = flag.Int("chaos.holders", 4, "hold clients, which hold, then confirm, cancel or abandon, on a SKU of their own")
	flagBuyers   = flag.Int("chaos.buyers", DefaultConfig().Buyers, "buyer clients, on SKUs capped per buyer, of their own; 0 turns them off")
	flagOut      = flag.String("chaos.out", "", "also write the summary and the fault list to this file")
	flagKeep     = flag.String("chaos.keep", "", "keep data and logs of every process in this directory, empty or new (else a temporary one)")
	flagStrict   = flag.Bool("chaos.strict", false, "fail when a target of the product is not met, not only on a safety violation")
	flagBin      = flag.String("chaos.bin", "", "use the responder, etcd and nats-server binaries in this directory instead of building them")
	flagHistory  = flag.String("chaos.history", "", "also write the recorded history to this file (gzipped JSON; ReadHistory reads it)")
	flagTimeline = flag.String("chaos.timeline", "", "also write the timeline picture of the run to this file (SVG)")
	flagTrace    = flag.Bool("chaos.trace", false, "log every change of the election keys in etcd (always watched), and run etcd at log level info")
)

var (
	binOnce sync.Once
	binDir  string
	bins    Binaries
	binErr  error
)

// binaries builds the three programs once per test binary; TestMain
// removes them.
func binaries(t testing.TB) Binaries {
	t.Helper()
	binOnce.Do(func() {
		if *flagBin != "" {
			bins = Binaries{Responder: *flagBin + "/responder", Etcd: *flagBin + "/etcd", NATS: *flagBin + "/nats-server"}
			return
		}
		binDir, binErr = os.MkdirTemp("", "chaos-bin-")
		if binErr != nil {
			return
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		bins, binErr = Build(ctx, binDir)
		if binErr == nil {
			fmt.Fprintf(os.Stderr, "chaos: built responder, etcd and nats-server in %v\n", time.Since(start).Round(time.Millisecond))
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return bins
}

// TestMain removes the binaries and fails the run if a goroutine outlives
// the tests (clients, proxies, process waiters).
func TestMain(m *testing.M) {
	flag.Parse()
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	if code == 0 {
		// toxiproxy's own pipe goroutine of a link can stay blocked sending
		// to a writer that ended with its connection (once in the seven
		// fresh-clone runs of one round); it is the library's, not ours.
		if err := goleak.Find(goleak.IgnoreAnyFunction("github.com/Shopify/toxiproxy/v2/toxics.(*ToxicStub).Run")); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func seed(t testing.TB) uint64 {
	s := *flagSeed
	if s == 0 {
		s = uint64(time.Now().UnixNano()) & (1<<53 - 1)
	}
	t.Logf("seed %d (replay with -chaos.seed %d)", s, s)
	return s
}

func runConfig(t *testing.T) Config {
	cfg := DefaultConfig()
	cfg.Bin = binaries(t)
	cfg.Seed = seed(t)
	cfg.Duration = *flagDuration
	cfg.LeaseTTL = *flagTTL
	cfg.EtcdElection = *flagElection
	cfg.Partitions = *flagParts
	cfg.Clients = *flagClients
	cfg.Holders = *flagHolders
	cfg.Buyers = *flagBuyers
	kinds, err := ParseKinds(*flagKinds)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Kinds = kinds
	cfg.Trace = *flagTrace
	cfg.Dir = t.TempDir()
	if *flagKeep != "" {
		cfg.Dir = *flagKeep
		if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	cfg.Logf = func(format string, args ...any) {
		t.Logf("%8v "+format, append([]any{time.Since(start).Round(time.Millisecond)}, args...)...)
	}
	return cfg
}

// report logs the summary and the fault list, and writes them to -chaos.out
// and the history to -chaos.history.
func report(t *testing.T, h *History, r *Result) {
	if *flagHistory != "" {
		writeFile(t, *flagHistory, func(w io.Writer) error { return WriteHistory(w, h) })
	}
	timeline := *flagTimeline
	if timeline == "" {
		timeline = filepath.Join(t.TempDir(), "timeline.svg")
	}
	writeFile(t, timeline, func(w io.Writer) error { return WriteTimeline(w, h) })
	if b, err := os.ReadFile(timeline); err != nil {
		t.Error(err)
	} else if n := len(count(parseSVG(t, b), "g", "fault")); n != len(h.Faults) {
		t.Errorf("the timeline marks %d faults of %d", n, len(h.Faults))
	}
	var b strings.Builder
	_ = WriteSummary(&b, h, r)
	b.WriteString("\n```\n")
	_ = WriteFaults(&b, r)
	b.WriteString("```\n")
	t.Log("\n" + b.String())
	if *flagOut != "" {
		if err := os.WriteFile(*flagOut, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// writeFile creates path and writes it with write.
func writeFile(t *testing.T, path string, write func(io.Writer) error) {
	f, err := os.Create(path)
	if err == nil {
		err = write(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		t.Error(err)
	}
}

// TestChaos runs the product through faults of every kind and checks the
// history. Without flags it is the short run of 16 partitions: one fault
// of each kind.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 9 processes and injects faults for about a minute")
	}
	cfg := runConfig(t)
	start := time.Now()
	h, r := runChecked(t, cfg, 10*time.Minute)
	t.Logf("run took %v (seed %d)", time.Since(start).Round(time.Millisecond), cfg.Seed)
	seen := map[Kind]bool{}
	for _, f := range h.Faults {
		seen[f.Kind] = true
	}
	for _, k := range cfg.Kinds {
		if !seen[k] {
			t.Errorf("no fault of kind %s was injected", k)
		}
	}
	if *flagStrict {
		for _, tg := range Targets(r, cfg.LeaseTTL) {
			if !tg.Met {
				t.Errorf("target not met: %s: %s", tg.Name, tg.Detail)
			}
		}
	}
}

// TestChaosGraceful stops the leader gracefully again and again: every
// unit the responders count as sold must have been seen granted by a
// client, except those of requests whose outcome is unknown (timeouts).
func TestChaosGraceful(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 9 processes")
	}
	cfg := runConfig(t)
	cfg.Kinds = []Kind{StopLeader}
	cfg.Weights = map[Kind]int{StopLeader: 1}
	if cfg.Duration == 0 {
		cfg.Duration = 20 * time.Second // with partitions a stop waits for leadership to even out after the last
	}
	h, r := runChecked(t, cfg, 5*time.Minute)
	if len(h.Faults) < 3 {
		t.Errorf("only %d graceful stops", len(h.Faults))
	}
	for _, s := range r.SKUs {
		if s.Lost > s.Unknown {
			t.Errorf("%s: sold %d at the end, clients saw %d units granted: %d lost, only %d of unknown outcome",
				s.Name, s.SoldEnd, s.Units, s.Lost, s.Unknown)
		}
	}
}

// runChecked runs cfg (for its duration plus slack at most), checks the
// history and reports it; a safety violation or a loss over its bound fails
// t.
func runChecked(t *testing.T, cfg Config, slack time.Duration) (*History, *Result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Duration+slack)
	defer cancel()
	h, err := Run(ctx, cfg)
	if h == nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Errorf("run ended early: %v", err)
	}
	r := Check(h, DefaultBounds())
	report(t, h, r)
	for _, v := range r.Violations {
		t.Errorf("safety: %s", v)
	}
	for _, e := range r.Excess {
		t.Errorf("loss: %s", e)
	}
	checkSpread(t, h)
	return h, r
}

// checkSpread checks that the run did what a partitioned run should: every
// partition sold and had its leaders watched, and each fault of a leader
// hit some partitions but, with several, not all.
func checkSpread(t *testing.T, h *History) {
	t.Helper()
	n := max(h.Partitions, 1)
	units := make([]int64, n)
	for _, a := range h.Acquires {
		if a.Outcome == Granted {
			units[h.SKUs[a.SKU].Partition] += a.Granted
		}
	}
	watched := make([]bool, n)
	for _, c := range h.Leaders {
		watched[c.Partition] = true
	}
	for p := range n {
		if units[p] == 0 {
			t.Errorf("partition %d: no unit granted", p)
		}
		if !watched[p] {
			t.Errorf("partition %d: no leader seen in etcd", p)
		}
	}
	for i, f := range h.Faults {
		switch f.Kind {
		case KillLeader, PauseLeader, StopLeader, CutLeader:
			if len(f.Partitions) == 0 || (n > 1 && len(f.Partitions) == n) {
				t.Errorf("fault %d (%s of %s) hit %d of %d partitions", i, f.Kind, f.Target, len(f.Partitions), n)
			}
		}
	}
}
