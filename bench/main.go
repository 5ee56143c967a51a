// Command bench reproduces the table of BENCHMARKS.md from a fresh clone. It
// builds nats-server, etcd, the responder, the naive baseline and loadgen,
// starts them as separate processes on 127.0.0.1, runs every scenario as
// pairs of (null responder, real responder) measured by loadgen in the same
// run, and prints the medians as a Markdown table; it also draws the
// table's ratios as a bar chart (-chart, docs/bench.svg, which BENCHMARKS.md
// shows).
//
//	go run ./bench                    # 5 runs of 10 s per scenario
//
// Throughput is acquires answered per second (in batch rows, items, each a
// grant); p99 is per acquire. The null responder of a batch row answers a
// whole batch with fixed bytes. Each measured phase follows -warmup (1 s) of
// the same load, left out of its numbers but verified; the table gives the
// real responder's p99 in it too, the cost of a cold start.
//
// Hold rows count holds (or confirms) per second, one unit each, 256 in
// flight; a confirm row first makes the holds it confirms, unmeasured. The
// buyers row is the 1 SKU row with a per-buyer cap of 1 and a distinct
// buyer in every acquire, each run on a SKU of its own, so every grant is
// a buyer's durable record. The expiry and takeover measurements
// (holds.go) and the takeover of a SKU with 1,000,000 buyers (buyers.go)
// print a line each after the table.
//
//	go run ./bench -runs 3 -d 5s      # quicker
//	go run ./bench -scenarios hold,holdnaive,confirm,confirmnaive,beside,expiry,takeover
//	go run ./bench -scenarios one,buyers,buyerstakeover
//	go run ./bench -runs 3 -scenarios parttakeover   # partitions: takeovers at scale (parttakeover.go)
//	go run ./bench -scenarios scaling,partkill   # partitions: grants/s under a CPU quota per responder (root, cgroup v1), kill -9 under load
//	go run ./bench -stall-grants 10000000   # also count refill stalls over 10M grants at a constant rate
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/stockstate/stock/loadgen"
)

type options struct {
	runs        int
	duration    time.Duration
	scenarios   string
	stallGrants int64
	stallRate   int
	warmup      time.Duration
	keep        bool
	chart       string

	scalingQuota float64 // scaling: CPUs of each responder's cgroup (scaling.go)
}

func main() {
	var o options
	flag.IntVar(&o.runs, "runs", 5, "runs per scenario; the table shows medians")
	flag.DurationVar(&o.duration, "d", 10*time.Second, "duration of each phase of each run")
	flag.StringVar(&o.scenarios, "scenarios", "one,zipf,naive,batch,batch1000,hold,holdnaive,confirm,confirmnaive,beside,buyers,expiry,takeover,buyerstakeover,parttakeover,partkill",
		"comma-separated: one (1 SKU), zipf (10,000 SKUs), naive (every acquire an etcd transaction), batch and batch1000 (batches of 1024 over 1 and 1,000 SKUs), "+
			"hold and holdnaive (holds, and holds one etcd transaction each), confirm and confirmnaive (the same for confirms), beside (acquires while holds run on another SKU), "+
			"buyers (1 SKU capped at 1 unit per buyer, a distinct buyer per acquire), "+
			"expiry (100,000 holds due in one second), takeover (a new leader taking over 100,000 live holds) "+
			"and buyerstakeover (a new leader's first grants on a SKU with 1,000,000 buyer records); "+
			"parttakeover (16 partitions: a takeover of one with 100,000 SKUs, a full restart over 1,000,000 SKUs); "+
			"partkill (16 partitions, 3 responders: kill -9 of the one leading the most under load); "+
			"not in the default list, as it needs root and cgroup v1: scaling (grants/s of 1, 2 and 4 responders over 16 partitions, each held to -scaling-quota of a CPU)")
	flag.Int64Var(&o.stallGrants, "stall-grants", 0, "if > 0, also grant this many units at a constant rate and count refill stalls")
	flag.IntVar(&o.stallRate, "stall-rate", 100000, "requests per second of the stall run")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before each measured phase (loadgen -warmup); the table also gives the real responder's p99 in it")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (binaries, data, logs)")
	flag.StringVar(&o.chart, "chart", "docs/bench.svg", "write the ratios of the table as a bar chart (SVG) to this file, which BENCHMARKS.md shows; empty: none")
	flag.Float64Var(&o.scalingQuota, "scaling-quota", 0.25, "scaling: the CPU quota of each responder, in CPUs (a cgroup v1 cpu.cfs_quota_us per 100 ms period)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// scenario is one row of the table.
type scenario struct {
	name, title string
	naive       bool
	naiveArgs   []string // flags of the naive baseline
	args        []string // loadgen flags beyond the common ones
	requests    int      // > 0: each phase is this many requests, not -d after -warmup
	beside      []string // loadgen flags of unmeasured load run at the same time
	fresh       bool     // each run on SKUs of its own (not -existing ones): -per-buyer sets only the SKUs loadgen creates
	check       func(s *loadgen.Summary) error
}

var scenarios = []scenario{
	{name: "one", title: "1 SKU", args: []string{"-skus", "1", "-stock", "1000000000000"}},
	{name: "zipf", title: "10,000 SKUs, zipf", args: []string{"-skus", "10000", "-dist", "zipf", "-stock", "1000000000"}},
	{name: "naive", title: "1 SKU, naive (etcd txn per acquire)", naive: true, args: []string{"-skus", "1", "-stock", "1000000000000"}},
	{name: "batch", title: "1 SKU, batches of 1024 (grants/s)", args: []string{"-skus", "1", "-stock", "1000000000000", "-batch", "1024", "-c", "4", "-conns", "2"}},
	{name: "batch1000", title: "1,000 SKUs, batches of 1024 (grants/s)", args: []string{"-skus", "1000", "-stock", "1000000000", "-batch", "1024", "-c", "4", "-conns", "2"}},
	{name: "hold", title: "1 SKU, holds (holds/s)", args: []string{"-op", "hold", "-skus", "1", "-stock", "1000000000000"}},
	{name: "holdnaive", title: "1 SKU, holds, naive (etcd txn per hold)", naive: true, args: []string{"-op", "hold", "-skus", "1", "-stock", "1000000000000"}},
	{name: "confirm", title: "1 SKU, confirms of 200,000 holds (confirms/s)", requests: 200_000, args: []string{"-op", "confirm", "-skus", "1", "-stock", "1000000000000"}},
	{name: "confirmnaive", title: "1 SKU, confirms of 5,000 holds, naive (etcd txn per confirm, 64 at once)", naive: true, naiveArgs: []string{"-workers", "64"},
		requests: 5000, args: []string{"-op", "confirm", "-skus", "1", "-stock", "1000000000000"}},
	{name: "beside", title: "1 SKU, acquires while 64 holds stay in flight on another", args: []string{"-skus", "1", "-stock", "1000000000000"},
		beside: []string{"-op", "hold", "-skus", "1", "-stock", "1000000000000", "-c", "64", "-conns", "1", "-d", "1h"}},
	{name: "buyers", title: "1 SKU, per_buyer 1, a distinct buyer per acquire", fresh: true,
		args:  []string{"-skus", "1", "-stock", "1000000000000", "-per-buyer", "1", "-buyers", "1000000000"},
		check: everyBuyerOnce},
}

// everyBuyerOnce checks a buyers run: no request met a buyer's cap (every
// buyer was new), and each buyer got exactly its one unit.
func everyBuyerOnce(s *loadgen.Summary) error {
	var most, over int64
	for _, k := range s.Verify.SKUs {
		most, over = max(most, k.MostPerBuyer), over+k.BuyersOverCap
	}
	n := s.Real.Counts["buyer_limit"]
	if s.Warmup != nil {
		n += s.Warmup.Counts["buyer_limit"]
	}
	if n > 0 || most != 1 || over > 0 {
		return fmt.Errorf("%d buyer_limit replies, at most %d units per buyer, %d buyers over the cap: want every buyer new", n, most, over)
	}
	return nil
}

func run(ctx context.Context, o options) error {
	if err := checkScenarios(o); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "stock-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "work directory:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	bin := func(name string) string { return filepath.Join(dir, name) }
	for _, b := range []struct{ out, pkg string }{
		{"nats-server", "github.com/nats-io/nats-server/v2"},
		{"etcd", "go.etcd.io/etcd/server/v3"},
		{"responder", "./cmd/responder"},
		{"naive", "./bench/naive"},
		{"loadgen", "./cmd/loadgen"},
	} {
		fmt.Fprintf(os.Stderr, "building %s\n", b.out)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin(b.out), b.pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s: %w", b.pkg, err)
		}
	}

	p := &procs{dir: dir}
	defer p.stopAll()
	natsAddr := freeAddr()
	if err := p.start(ctx, "nats-server", bin("nats-server"), "-a", "127.0.0.1", "-p", port(natsAddr)); err != nil {
		return err
	}
	natsURL := "nats://" + natsAddr
	if err := waitTCP(natsAddr, 10*time.Second); err != nil {
		return err
	}

	var rows []row
	for _, sc := range scenarios {
		if !slices.Contains(strings.Split(o.scenarios, ","), sc.name) {
			continue
		}
		r, err := p.scenario(ctx, o, sc, bin, natsURL)
		if err != nil {
			return fmt.Errorf("%s: %w", sc.name, err)
		}
		rows = append(rows, r)
	}
	var stall *stallResult
	if o.stallGrants > 0 {
		if stall, err = p.stalls(ctx, o, bin, natsURL); err != nil {
			return fmt.Errorf("stall run: %w", err)
		}
	}
	var holds bytes.Buffer
	if err := p.holdRows(ctx, o, bin, natsURL, &holds); err != nil {
		return err
	}
	if err := p.buyerRows(ctx, o, bin, natsURL, &holds); err != nil {
		return err
	}
	if err := p.partitionRows(ctx, o, bin, &holds); err != nil {
		return err
	}
	if err := p.partTakeoverRows(ctx, o, bin, &holds); err != nil {
		return err
	}
	printTable(os.Stdout, o, rows, stall)
	if _, err := os.Stdout.Write(holds.Bytes()); err != nil {
		return err
	}
	if o.chart == "" || len(rows) == 0 {
		return nil
	}
	if err := saveChart(o.chart, o, rows); err != nil {
		return fmt.Errorf("chart: %w", err)
	}
	fmt.Fprintln(os.Stderr, "chart written to", o.chart)
	return nil
}

// scenario starts the server side of sc, runs the pairs and stops it again.
func (p *procs) scenario(ctx context.Context, o options, sc scenario, bin func(string) string, natsURL string) (row, error) {
	httpAddr := freeAddr()
	var stop func()
	var err error
	if sc.naive {
		etcdAddr := freeAddr()
		if err = p.start(ctx, "etcd", bin("etcd"), "--data-dir", filepath.Join(p.dir, "naive-etcd"),
			"--listen-client-urls", "http://"+etcdAddr, "--advertise-client-urls", "http://"+etcdAddr,
			"--listen-peer-urls", "http://"+freeAddr(), "--log-level", "error"); err != nil {
			return row{}, err
		}
		if err := waitTCP(etcdAddr, 20*time.Second); err != nil {
			return row{}, err
		}
		if err = p.start(ctx, "naive", bin("naive"), append([]string{"-nats", natsURL, "-etcd", etcdAddr}, sc.naiveArgs...)...); err != nil {
			return row{}, err
		}
		stop = func() { p.stop("naive"); p.stop("etcd") }
	} else {
		err = p.start(ctx, "responder", bin("responder"), "-nats", natsURL,
			"-data-dir", filepath.Join(p.dir, "data-"+sc.name), "-etcd-listen", freeAddr(), "-etcd-peer-listen", freeAddr(),
			"-http", httpAddr, "-id", "bench", "-log-level", "warn")
		if err != nil {
			return row{}, err
		}
		stop = func() { p.stop("responder") }
	}
	defer stop()

	r := row{title: sc.title}
	for i := range o.runs {
		skuPrefix := "b" + sc.name
		if sc.fresh {
			skuPrefix += fmt.Sprintf("-%d-", i)
		}
		args := []string{"-nats", natsURL, "-null", "-json", "-progress", "0", "-sku-prefix", skuPrefix}
		if sc.requests > 0 {
			args = append(args, "-requests", fmt.Sprint(sc.requests))
		} else {
			args = append(args, "-d", o.duration.String(), "-warmup", o.warmup.String())
		}
		if i > 0 && !sc.fresh {
			args = append(args, "-existing")
		}
		args = append(args, sc.args...)
		s, err := p.measure(ctx, bin("loadgen"), natsURL, sc, args)
		if err == nil && sc.check != nil {
			err = sc.check(s)
		}
		if err != nil {
			return r, err
		}
		fmt.Fprintf(os.Stderr, "%s run %d: null %.0f/s, real %.0f/s, ratio %.3f, p99 %dus/%dus, verify %v\n",
			sc.name, i+1, s.Null.Throughput, s.Real.Throughput, s.Ratio.Throughput, s.Null.Latency.P99, s.Real.Latency.P99, s.Verify.OK)
		r.runs = append(r.runs, s)
	}
	return r, nil
}

// measure runs loadgen with args, and sc's load beside it while it runs.
func (p *procs) measure(ctx context.Context, loadgenBin, natsURL string, sc scenario, args []string) (*loadgen.Summary, error) {
	if sc.beside == nil {
		return runLoadgen(ctx, loadgenBin, args...)
	}
	bctx, stop := context.WithCancel(ctx)
	beside := exec.CommandContext(bctx, loadgenBin, append([]string{"-nats", natsURL, "-progress", "0", "-sku-prefix", "beside" + sc.name}, sc.beside...)...)
	if err := beside.Start(); err != nil {
		stop()
		return nil, err
	}
	defer func() { stop(); _ = beside.Wait() }()
	time.Sleep(time.Second) // the load beside is running before the measurement starts
	return runLoadgen(ctx, loadgenBin, args...)
}

// stallResult is the refill stalls counted over a constant-rate run.
type stallResult struct {
	grants, stalls, refills int64
	rate                    float64
	verified                bool
}

func (p *procs) stalls(ctx context.Context, o options, bin func(string) string, natsURL string) (*stallResult, error) {
	httpAddr := freeAddr()
	if err := p.start(ctx, "responder", bin("responder"), "-nats", natsURL,
		"-data-dir", filepath.Join(p.dir, "data-stall"), "-etcd-listen", freeAddr(), "-etcd-peer-listen", freeAddr(),
		"-http", httpAddr, "-id", "bench", "-log-level", "warn"); err != nil {
		return nil, err
	}
	defer p.stop("responder")
	// Create the SKU and let its window adapt to the rate before counting.
	warm := []string{"-nats", natsURL, "-json", "-progress", "0", "-sku-prefix", "stall", "-skus", "1", "-stock", "1000000000000",
		"-rate", fmt.Sprint(o.stallRate), "-d", "3s"}
	if _, err := runLoadgen(ctx, bin("loadgen"), warm...); err != nil {
		return nil, err
	}
	before, err := stats(httpAddr)
	if err != nil {
		return nil, err
	}
	s, err := runLoadgen(ctx, bin("loadgen"), "-nats", natsURL, "-json", "-progress", "0", "-sku-prefix", "stall", "-skus", "1",
		"-existing", "-rate", fmt.Sprint(o.stallRate), "-requests", fmt.Sprint(o.stallGrants))
	if err != nil {
		return nil, err
	}
	after, err := stats(httpAddr)
	if err != nil {
		return nil, err
	}
	return &stallResult{
		grants:   s.Real.Units,
		stalls:   after.Stalls - before.Stalls,
		refills:  after.Refills - before.Refills,
		rate:     s.Real.Throughput,
		verified: s.Verify.OK,
	}, nil
}

// runLoadgen runs the loadgen binary, in its own process so that it does
// not share a runtime with what it measures, and decodes its -json report.
func runLoadgen(ctx context.Context, path string, args ...string) (*loadgen.Summary, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	runErr := cmd.Run()
	var s loadgen.Summary
	if err := json.Unmarshal(out.Bytes(), &s); err != nil || s.Real == nil || s.Verify == nil {
		return nil, fmt.Errorf("loadgen %s: %v %v\n%s", strings.Join(args, " "), runErr, err, errb.String())
	}
	if !s.Verify.OK {
		return nil, fmt.Errorf("loadgen %s: VERIFY FAILED\n%s", strings.Join(args, " "), errb.String())
	}
	if s.Null != nil && s.Ratio == nil {
		return nil, fmt.Errorf("loadgen: no ratio in the report")
	}
	return &s, nil
}

type serverStats struct {
	Stalls  int64
	Refills int64
}

func stats(addr string) (serverStats, error) {
	var st serverStats
	resp, err := http.Get("http://" + addr + "/debug/stats")
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// row is one scenario's runs.
type row struct {
	title string
	runs  []*loadgen.Summary
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (r row) medians() (null, real, ratio, nullP99, realP99, p99Ratio, warmP99 float64) {
	var a, b, c, d, e, f, g []float64
	for _, s := range r.runs {
		if s.Warmup != nil {
			g = append(g, float64(s.Warmup.Latency.P99))
		}
		a = append(a, s.Null.Throughput)
		b = append(b, s.Real.Throughput)
		c = append(c, s.Ratio.Throughput)
		d = append(d, float64(s.Null.Latency.P99))
		e = append(e, float64(s.Real.Latency.P99))
		f = append(f, s.Ratio.P99)
	}
	return median(a), median(b), median(c), median(d), median(e), median(f), median(g)
}

func printTable(w io.Writer, o options, rows []row, stall *stallResult) {
	warmup := "no warm-up"
	if o.warmup > 0 {
		warmup = fmt.Sprintf("each after %v of unmeasured warm-up", o.warmup)
	}
	fmt.Fprintf(w, "Medians of %d runs of %v per phase, %s; closed loop, c=256 over 4 connections (batch rows: 4 batches over 2), n=1; %d CPUs; %s.\n\n",
		o.runs, o.duration, warmup, runtime.NumCPU(), runtime.Version())
	fmt.Fprintln(w, "| scenario | null req/s | real req/s | ratio | null p99 | real p99 | p99 ratio | real p99 in warm-up | verify |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, r := range rows {
		null, real, ratio, np, rp, pr, wp := r.medians()
		warm := "–"
		if o.warmup > 0 {
			warm = fmt.Sprintf("%.2f ms", wp/1000)
		}
		fmt.Fprintf(w, "| %s | %.0f | %.0f | %.3f | %.2f ms | %.2f ms | %.2f | %s | OK ×%d |\n",
			r.title, null, real, ratio, np/1000, rp/1000, pr, warm, len(r.runs))
	}
	if stall != nil {
		fmt.Fprintf(w, "\nConstant rate: %d units granted at %.0f req/s: %d refill stalls, %d refill writes, verify %v.\n",
			stall.grants, stall.rate, stall.stalls, stall.refills, stall.verified)
	}
}

// procs are the processes the benchmark started.
type procs struct {
	dir  string
	cmds map[string]*exec.Cmd
}

func (p *procs) start(ctx context.Context, name, path string, args ...string) error {
	if p.cmds == nil {
		p.cmds = map[string]*exec.Cmd{}
	}
	log, err := os.Create(filepath.Join(p.dir, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	p.cmds[name] = cmd
	if name == "responder" {
		return p.waitReady(ctx, args)
	}
	return nil
}

// waitReady waits until the responder's /readyz says it leads.
func (p *procs) waitReady(ctx context.Context, args []string) error {
	addr := args[slices.Index(args, "-http")+1]
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.HasPrefix(string(b), "leading") {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("responder did not lead within 60s (see %s)", filepath.Join(p.dir, "responder.log"))
}

// stop ends a process with SIGTERM (then SIGKILL) and waits for it.
func (p *procs) stop(name string) {
	cmd := p.cmds[name]
	if cmd == nil {
		return
	}
	delete(p.cmds, name)
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

func (p *procs) stopAll() {
	for name := range p.cmds {
		p.stop(name)
	}
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func waitTCP(addr string, total time.Duration) error {
	deadline := time.Now().Add(total)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening after %v: %w", addr, total, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
