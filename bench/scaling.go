package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stockstate/stock/loadgen"
	"github.com/stockstate/stock/wire"
)

// The partitioned scenarios, scaling and partkill, run clusters of
// responders with -partitions benchPartitions against a nats-server of
// their own, started from a configuration file whose mappings append the
// partition to the SKU subjects (partitionsConf); the bench's other
// nats-server has none, as its responders have one partition. Each cluster
// is an etcd process and responders on it, started for one measurement and
// stopped after it, also on error.
//
// scaling measures the grants per second of 1, 2 and 4 responders, each
// confined to -scaling-quota of a CPU by a cgroup v1 group (cgroup.go), so
// that they, not nats-server, etcd or loadgen (unconfined), are what runs
// out; it reports what each of those used, to check that. It needs root.

const (
	benchPartitions = 16
	scalingSKUs     = 1000
	scalingBatch    = 4096 // acquires per batch, split by loadgen into one message per partition
	scalingInFlight = 8    // batches in flight per responder
	// spreadSteady is how long the partitions' leaders must stay spread
	// before a measurement starts.
	spreadSteady = 2 * time.Second
	spreadWait   = 60 * time.Second
)

// scalingCounts are the numbers of responders measured; the first is the
// baseline of the ratios.
var scalingCounts = []int{1, 2, 4}

// partitionRows runs the partitioned scenarios that o.scenarios names and
// prints their results to w.
func (p *procs) partitionRows(ctx context.Context, o options, bin func(string) string, w io.Writer) error {
	want := strings.Split(o.scenarios, ",")
	doScaling, doKill := slices.Contains(want, "scaling"), slices.Contains(want, "partkill")
	if !doScaling && !doKill {
		return nil
	}
	natsURL, err := p.startPartitionedNATS(ctx, bin, benchPartitions)
	if err != nil {
		return err
	}
	defer p.stop("nats-partitions")
	if doScaling {
		rows, err := p.scaling(ctx, o, bin, natsURL)
		if err != nil {
			return fmt.Errorf("scaling: %w", err)
		}
		printScaling(w, o, rows)
	}
	if doKill {
		runs, err := p.partkill(ctx, o, bin, natsURL)
		if err != nil {
			return fmt.Errorf("partkill: %w", err)
		}
		printPartkill(w, runs)
	}
	return nil
}

// checkScenarios fails at once, before anything is built, when o asks for
// scaling on a machine where it cannot confine the responders.
func checkScenarios(o options) error {
	if !slices.Contains(strings.Split(o.scenarios, ","), "scaling") {
		return nil
	}
	if !(o.scalingQuota > 0) {
		return fmt.Errorf("-scaling-quota must be a positive share of a CPU, got %g", o.scalingQuota)
	}
	return systemCgroups().check()
}

// partitionsConf is a nats-server configuration that listens on addr and
// maps the SKU subjects under prefix to n partitions in the global account,
// as deploy/nats-server.conf does in its STOCK account.
func partitionsConf(addr, prefix string, n int) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# The bench's nats-server for clusters of %d partitions: a request to\n", n)
	fmt.Fprintf(&b, "# %s.<verb>.<sku> is delivered on %s.<verb>.<sku>.<fnv1a32(sku) mod %d>.\n", prefix, prefix, n)
	fmt.Fprintf(&b, "host: %q\nport: %s\n\nmappings {\n", host, port)
	for _, m := range wire.PartitionMappings(prefix, n) {
		fmt.Fprintf(&b, "  %s\n", m.ConfigLine())
	}
	b.WriteString("}\n")
	return b.String(), nil
}

// startPartitionedNATS writes the configuration of partitionsConf into the
// work directory and starts nats-server from it.
func (p *procs) startPartitionedNATS(ctx context.Context, bin func(string) string, n int) (string, error) {
	addr := freeAddr()
	conf, err := partitionsConf(addr, "stock", n)
	if err != nil {
		return "", err
	}
	path := filepath.Join(p.dir, "nats-partitions.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return "", err
	}
	if err := p.start(ctx, "nats-partitions", bin("nats-server"), "-c", path); err != nil {
		return "", err
	}
	if err := waitTCP(addr, 10*time.Second); err != nil {
		return "", err
	}
	return "nats://" + addr, nil
}

// fleet is an etcd and responders on it, all with benchPartitions
// partitions.
type fleet struct {
	p          *procs
	etcd       string // process name
	etcdAddr   string
	responders []fleetMember
}

// fleetMember is one responder of a fleet.
type fleetMember struct{ name, id, http string }

// pid is the responder's process id, 0 once it is stopped.
func (r fleetMember) pid(p *procs) int {
	if cmd := p.cmds[r.name]; cmd != nil {
		return cmd.Process.Pid
	}
	return 0
}

// startFleet starts an etcd, with its data under <name>-etcd, and n
// responders on it (ids r1..rn), calling placed with each responder's
// index and pid right after it starts. On error it stops what it started.
func (p *procs) startFleet(ctx context.Context, bin func(string) string, natsURL, name string, n int, logLevel string,
	placed func(i, pid int) error) (*fleet, error) {
	c := &fleet{p: p, etcd: name + "-etcd", etcdAddr: freeAddr()}
	if err := p.start(ctx, c.etcd, bin("etcd"), "--data-dir", filepath.Join(p.dir, name+"-etcd"),
		"--listen-client-urls", "http://"+c.etcdAddr, "--advertise-client-urls", "http://"+c.etcdAddr,
		"--listen-peer-urls", "http://"+freeAddr(), "--log-level", "error"); err != nil {
		return nil, err
	}
	if err := waitTCP(c.etcdAddr, 20*time.Second); err != nil {
		c.stop()
		return nil, err
	}
	for i := range n {
		r := fleetMember{name: fmt.Sprintf("%s-r%d", name, i+1), id: fmt.Sprintf("r%d", i+1), http: freeAddr()}
		if err := p.start(ctx, r.name, bin("responder"), "-nats", natsURL, "-etcd", c.etcdAddr,
			"-partitions", strconv.Itoa(benchPartitions), "-id", r.id, "-http", r.http, "-log-level", logLevel); err != nil {
			c.stop()
			return nil, err
		}
		c.responders = append(c.responders, r)
		if placed != nil {
			if err := placed(i, r.pid(p)); err != nil {
				c.stop()
				return nil, err
			}
		}
	}
	return c, nil
}

// stop ends the responders, all at once with SIGTERM so that none hands
// its partitions to another that is about to stop too, then the etcd.
func (c *fleet) stop() {
	for _, r := range c.responders {
		if pid := r.pid(c.p); pid != 0 {
			_ = syscall.Kill(-pid, syscall.SIGTERM)
		}
	}
	for _, r := range c.responders {
		c.p.stop(r.name)
	}
	c.p.stop(c.etcd)
}

// leaderCounts reads, from each live responder's /metrics, how many
// partitions it leads (stock_partitions_leading), and checks that each
// knows the cluster's partitions (stock_partitions).
func (c *fleet) leaderCounts() ([]int, error) {
	var counts []int
	for _, r := range c.responders {
		if r.pid(c.p) == 0 {
			continue
		}
		m, err := metricsOf(r.http)
		if err != nil {
			return nil, err
		}
		if m["stock_partitions"] != benchPartitions {
			return nil, fmt.Errorf("%s: stock_partitions %v, want %d", r.id, m["stock_partitions"], benchPartitions)
		}
		counts = append(counts, int(m["stock_partitions_leading"]))
	}
	return counts, nil
}

// spreadEvenly reports whether leaders' counts cover parts partitions and differ
// by at most one: each of N leads parts/N (rounded down or up).
func spreadEvenly(counts []int, parts int) bool {
	if len(counts) == 0 {
		return false
	}
	sum := 0
	for _, n := range counts {
		sum += n
	}
	return sum == parts && slices.Max(counts)-slices.Min(counts) <= 1
}

// waitSpread waits until the live responders' leadership is spread and
// has stayed the same for spreadSteady (read every 100 ms).
func (c *fleet) waitSpread(ctx context.Context) error {
	deadline := time.Now().Add(spreadWait)
	var last []int
	var since time.Time
	for {
		counts, err := c.leaderCounts()
		switch {
		case err == nil && spreadEvenly(counts, benchPartitions):
			if !slices.Equal(counts, last) {
				last, since = counts, time.Now()
			}
			if time.Since(since) >= spreadSteady {
				return nil
			}
		default:
			last = nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("leadership of %d partitions not spread over %d responders after %v: counts %v, %v",
				benchPartitions, len(c.responders), spreadWait, counts, err)
		}
		if err := sleepOrDone(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// leadingParts reads which partitions a responder leads from its
// /debug/stats.
func leadingParts(httpAddr string) ([]int, error) {
	resp, err := http.Get("http://" + httpAddr + "/debug/stats")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st struct{ LeadingParts []int }
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return nil, fmt.Errorf("%s/debug/stats: %w", httpAddr, err)
	}
	return st.LeadingParts, nil
}

// metricsOf reads the unlabelled samples of a responder's /metrics.
func metricsOf(httpAddr string) (map[string]float64, error) {
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	m := map[string]float64{}
	for line := range strings.Lines(string(b)) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			m[name] = v
		}
	}
	return m, nil
}

func sleepOrDone(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// scalingRun is one measurement of N confined responders.
type scalingRun struct {
	grants    float64 // grants per second of the measured phase
	p99       int64   // µs, per acquire
	cpu       float64 // CPUs the responders used together in the measured phase
	throttled float64 // share of their CFS periods that used up the quota
	nats      float64 // CPUs nats-server used in it
	etcd      float64 // CPUs etcd used in it
	loadgen   float64 // CPUs loadgen used in it
	refills   float64 // store writes raising caps per second, of all the responders
	stalls    float64 // acquires that waited for a raised cap, per 1,000 grants
}

// scalingRow is the runs of one number of responders.
type scalingRow struct {
	n    int
	runs []scalingRun
}

// scaling measures each of scalingCounts in a cluster of its own.
func (p *procs) scaling(ctx context.Context, o options, bin func(string) string, natsURL string) ([]scalingRow, error) {
	var rows []scalingRow
	for _, n := range scalingCounts {
		row, err := p.scalingCluster(ctx, o, bin, natsURL, n)
		if err != nil {
			return rows, fmt.Errorf("%d responders: %w", n, err)
		}
		rows = append(rows, row)
	}
	return rows, nil
}

// scalingCluster starts n responders, each in a cgroup of its own
// (stock-bench-1..n) with o.scalingQuota of a CPU, waits for their
// leadership to spread and measures o.runs times. The cluster is stopped
// and the cgroups removed on the way out, whatever happened.
func (p *procs) scalingCluster(ctx context.Context, o options, bin func(string) string, natsURL string, n int) (row scalingRow, err error) {
	row.n = n
	root := systemCgroups()
	var groups []*cpuGroup
	defer func() {
		for _, g := range groups {
			err = errors.Join(err, g.remove())
		}
	}()
	for i := range n {
		g, err := root.makeGroup(fmt.Sprintf("stock-bench-%d", i+1), o.scalingQuota)
		if err != nil {
			return row, err
		}
		groups = append(groups, g)
	}
	c, err := p.startFleet(ctx, bin, natsURL, fmt.Sprintf("scaling-%d", n), n, "warn",
		func(i, pid int) error { return groups[i].add(pid) })
	if err != nil {
		return row, err
	}
	defer c.stop()
	if err := c.waitSpread(ctx); err != nil {
		return row, err
	}
	for i := range o.runs {
		r, err := p.scalingRun(ctx, o, bin, natsURL, c, groups, i > 0)
		if err != nil {
			return row, fmt.Errorf("run %d: %w", i+1, err)
		}
		fmt.Fprintf(os.Stderr, "scaling %d run %d: %.0f grants/s, p99 %dus; responders %.3f CPU (quota %.2f), %.0f%% of periods throttled, %.0f refill writes/s, %.1f stalls per 1,000 grants; nats-server %.2f, etcd %.2f, loadgen %.2f CPU\n",
			n, i+1, r.grants, r.p99, r.cpu, float64(n)*o.scalingQuota, 100*r.throttled, r.refills, r.stalls, r.nats, r.etcd, r.loadgen)
		row.runs = append(row.runs, r)
	}
	return row, nil
}

// usageSample is the CPU used so far by the measured processes, at a time.
type usageSample struct {
	at                  time.Time
	groups              []cpuSample
	nats, etcd, loadgen time.Duration
	refills, stalls     float64 // the responders' stock_refills_total and stock_refill_stalls_total, summed
}

// scalingRun runs loadgen once against c and reads, at the first and last
// progress line of its measured phase, the CPU the responders' groups and
// the other processes had used.
func (p *procs) scalingRun(ctx context.Context, o options, bin func(string) string, natsURL string, c *fleet, groups []*cpuGroup, existing bool) (scalingRun, error) {
	var r scalingRun
	args := []string{"-nats", natsURL, "-partitions", strconv.Itoa(benchPartitions), "-skus", strconv.Itoa(scalingSKUs),
		"-stock", "1000000000", "-sku-prefix", "scale", "-batch", strconv.Itoa(scalingBatch),
		"-c", strconv.Itoa(scalingInFlight * len(groups)), "-conns", "4",
		"-d", o.duration.String(), "-warmup", o.warmup.String(), "-json", "-progress", "500ms"}
	if existing {
		args = append(args, "-existing")
	}
	pidOf := func(name string) int {
		if cmd := p.cmds[name]; cmd != nil {
			return cmd.Process.Pid
		}
		return 0
	}
	var samples []usageSample
	var sampleErr error
	s, err := runLoadgenSampled(ctx, bin("loadgen"), args, func(loadgenPid int) {
		u := usageSample{at: time.Now()}
		var errs []error
		for _, g := range groups {
			gs, err := g.sample()
			errs = append(errs, err)
			u.groups = append(u.groups, gs)
		}
		var err error
		u.nats, err = procCPU(pidOf("nats-partitions"))
		errs = append(errs, err)
		u.etcd, err = procCPU(pidOf(c.etcd))
		errs = append(errs, err)
		u.loadgen, err = procCPU(loadgenPid)
		errs = append(errs, err)
		for _, m := range c.responders {
			mm, err := metricsOf(m.http)
			errs = append(errs, err)
			u.refills += mm["stock_refills_total"]
			u.stalls += mm["stock_refill_stalls_total"]
		}
		if err := errors.Join(errs...); err != nil {
			sampleErr = err
			return
		}
		samples = append(samples, u)
	})
	if err != nil {
		return r, err
	}
	if sampleErr != nil {
		return r, sampleErr
	}
	if len(samples) < 2 {
		return r, fmt.Errorf("%d CPU samples in the measured phase: -d %v is too short to sample every 500ms", len(samples), o.duration)
	}
	a, b := samples[0], samples[len(samples)-1]
	secs := b.at.Sub(a.at).Seconds()
	var periods int64
	for i := range groups {
		r.cpu += (b.groups[i].usage - a.groups[i].usage).Seconds() / secs
		periods += b.groups[i].periods - a.groups[i].periods
		r.throttled += float64(b.groups[i].throttled - a.groups[i].throttled)
	}
	if periods > 0 {
		r.throttled /= float64(periods)
	}
	r.nats = (b.nats - a.nats).Seconds() / secs
	r.etcd = (b.etcd - a.etcd).Seconds() / secs
	r.loadgen = (b.loadgen - a.loadgen).Seconds() / secs
	r.grants, r.p99 = s.Real.GrantThroughput, s.Real.Latency.P99
	r.refills = (b.refills - a.refills) / secs
	r.stalls = 1000 * (b.stalls - a.stalls) / secs / r.grants
	return r, nil
}

// runLoadgenSampled runs loadgen as runLoadgen does, and calls sample (on
// the goroutine reading loadgen's stderr) at each progress line of the
// measured phase ("real ..."), with loadgen's pid.
func runLoadgenSampled(ctx context.Context, path string, args []string, sample func(pid int)) (*loadgen.Summary, error) {
	var out strings.Builder
	var errb strings.Builder
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout = &out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "real ") {
				sample(cmd.Process.Pid)
				continue
			}
			if !strings.HasPrefix(line, "warm ") {
				errb.WriteString(line + "\n")
			}
		}
	})
	wg.Wait() // the pipe is read to its end before Wait closes it
	runErr := cmd.Wait()
	var s loadgen.Summary
	if err := json.Unmarshal([]byte(out.String()), &s); err != nil || s.Real == nil || s.Verify == nil {
		return nil, fmt.Errorf("loadgen %s: %v %v\n%s", strings.Join(args, " "), runErr, err, errb.String())
	}
	if !s.Verify.OK {
		return nil, fmt.Errorf("loadgen %s: VERIFY FAILED\n%s", strings.Join(args, " "), errb.String())
	}
	return &s, nil
}

// procCPU is the CPU time (user and system) process pid has used, from
// /proc/<pid>/stat, in clock ticks of 10 ms (Linux's USER_HZ).
func procCPU(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, errors.New("no such process")
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcStat(string(b))
}

// parseProcStat reads utime and stime, the 14th and 15th fields, from the
// text of /proc/<pid>/stat; the 2nd, the command in parentheses, may hold
// spaces.
func parseProcStat(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc stat %.40q: no command", stat)
	}
	f := strings.Fields(stat[i+1:]) // f[0] is field 3
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat %.40q: %d fields", stat, len(f)+2)
	}
	var ticks int64
	for _, s := range f[11:13] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc stat: %w", err)
		}
		ticks += v
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// scalingMedians are a row's medians and the spread of its grants.
type scalingMedians struct {
	grants, lo, hi                        float64
	p99, cpu, throttled, nats, etcd, load float64
	refills, stalls                       float64
}

func (r scalingRow) medians() scalingMedians {
	col := func(f func(scalingRun) float64) []float64 {
		var xs []float64
		for _, run := range r.runs {
			xs = append(xs, f(run))
		}
		return xs
	}
	g := col(func(x scalingRun) float64 { return x.grants })
	return scalingMedians{
		grants: median(g), lo: slices.Min(g), hi: slices.Max(g),
		p99:       median(col(func(x scalingRun) float64 { return float64(x.p99) })),
		cpu:       median(col(func(x scalingRun) float64 { return x.cpu })),
		throttled: median(col(func(x scalingRun) float64 { return x.throttled })),
		nats:      median(col(func(x scalingRun) float64 { return x.nats })),
		etcd:      median(col(func(x scalingRun) float64 { return x.etcd })),
		load:      median(col(func(x scalingRun) float64 { return x.loadgen })),
		refills:   median(col(func(x scalingRun) float64 { return x.refills })),
		stalls:    median(col(func(x scalingRun) float64 { return x.stalls })),
	}
}

// scalingTarget is the least ratio of N responders' grants to N times one's.
const scalingTarget = 0.8

func printScaling(w io.Writer, o options, rows []scalingRow) {
	if len(rows) == 0 || len(rows[0].runs) == 0 {
		return
	}
	fmt.Fprintf(w, "\nScaling: %s SKUs (uniform) over %d partitions, batches of %d split by partition, %d batches in flight per responder; "+
		"each responder in a cgroup with %.2f of a CPU (cpu.cfs_quota_us %d per %d µs); nats-server, etcd and loadgen unconfined; "+
		"medians of %d runs of %v after %v of warm-up; CPU over the measured phase.\n\n",
		thousands(scalingSKUs), benchPartitions, scalingBatch, scalingInFlight, o.scalingQuota,
		int64(o.scalingQuota*float64(cfsPeriod/time.Microsecond)), cfsPeriod/time.Microsecond, o.runs, o.duration, o.warmup)
	fmt.Fprintln(w, "| responders | grants/s | runs | ratio to N × one | target | responders' CPU (of quota) | periods throttled | µs of responder CPU per grant | refill writes/s | stalls per 1,000 grants | p99 | nats-server CPU | etcd CPU | loadgen CPU |")
	fmt.Fprintln(w, "|---:|---:|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	one := rows[0].medians().grants / float64(rows[0].n)
	for _, r := range rows {
		m := r.medians()
		ratio := m.grants / (float64(r.n) * one)
		met := "met"
		if ratio < scalingTarget {
			met = "not met"
		}
		fmt.Fprintf(w, "| %d | %s | %s–%s | %.2f | %.1f (%s) | %.2f (%.2f) | %.0f%% | %.2f | %.0f | %.1f | %.1f ms | %.2f | %.2f | %.2f |\n",
			r.n, thousands(m.grants), thousands(m.lo), thousands(m.hi), ratio, scalingTarget, met,
			m.cpu, float64(r.n)*o.scalingQuota, 100*m.throttled, 1e6*m.cpu/m.grants, m.refills, m.stalls, m.p99/1000, m.nats, m.etcd, m.load)
	}
}
