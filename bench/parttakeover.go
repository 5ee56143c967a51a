package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/client"
	"github.com/stockstate/stock/wire"
)

// Takeovers of partitioned clusters at scale, with SKU records written
// straight into etcd: a new leader of one partition holding ptOneSKUs
// SKUs after kill -9 of its leader, and a full restart (kill -9 of every
// responder, then all started at once) of ptResponders responders over
// ptAllSKUs SKUs spread over ptPartitions partitions. Each scenario runs its
// own nats-server (with the partitions' subject mappings) and etcd, kept
// for all its runs, so the records are written once per etcd data dir;
// every run starts its responders and ends them.

const (
	ptPartitions = 16
	ptOneSKUs    = 100_000   // SKUs of partition 0 in the one-partition takeover
	ptAllSKUs    = 1_000_000 // SKUs over every partition in the full restart
	ptResponders = 3         // responders of the full restart
	ptLimit      = 1_000_000_000
	ptTxnPuts    = 128 // etcd's default --max-txn-ops
	ptWriters    = 16  // transactions in flight while writing
	ptWriteLimit = 10 * time.Minute
	ptWaitLimit  = 60 * time.Second        // bounds every wait for leadership or a grant
	ptWarmup     = 1500 * time.Millisecond // past a responder's warm-up (1 s) before a kill
	ptEtcdPrefix = "/stock"                // the responder's default -etcd-prefix
	ptNATSPrefix = "stock"                 // the responder's default -prefix
)

// ptSKU is the i-th SKU name of tag.
func ptSKU(tag string, i int) string { return tag + "-" + strconv.Itoa(i) }

// ptSKUsOf returns the first count names ptSKU(tag, 0), ptSKU(tag,
// 1), ... that belong to partition part of n.
func ptSKUsOf(tag string, part, n, count int) []string {
	skus := make([]string, 0, count)
	for i := 0; len(skus) < count; i++ {
		if s := ptSKU(tag, i); wire.Partition(s, n) == part {
			skus = append(skus, s)
		}
	}
	return skus
}

// ptSpread returns ptSKU(tag, 0..count-1) by partition of n.
func ptSpread(tag string, n, count int) [][]string {
	by := make([][]string, n)
	for i := range count {
		s := ptSKU(tag, i)
		p := wire.Partition(s, n)
		by[p] = append(by[p], s)
	}
	return by
}

// ptRecord is a SKU record as capstore writes it (capstore/record.go,
// encodeRecord, unexported): its limit and cap, nothing else.
func ptRecord(limit, cap int64) string {
	return `{"limit":` + strconv.FormatInt(limit, 10) + `,"cap":` + strconv.FormatInt(cap, 10) + `}`
}

// ptKey is the key of sku's record in partition p of n.
func ptKey(p, n int, sku string) string {
	return capstore.PartitionPrefix(ptEtcdPrefix, p, n) + "/sku/" + sku
}

// ptWrite makes sure etcd holds a record of every SKU of by (by[p] the
// SKUs of partition p of len(by)), limit ptLimit and cap 0, and that the
// cluster's number of partitions is len(by). If every partition already
// holds exactly its SKUs' count of records nothing is written (a data dir
// written before is reused as it is, caps raised by earlier runs
// included); otherwise every record is put, in transactions of ptTxnPuts
// puts, ptWriters at once. The first error stops the rest; the whole is
// bounded by ptWriteLimit. wrote is 0 when nothing was written.
func ptWrite(ctx context.Context, cli *clientv3.Client, by [][]string) (wrote int, rate float64, err error) {
	ctx, cancel := context.WithTimeout(ctx, ptWriteLimit)
	defer cancel()
	n := len(by)
	if _, err := capstore.Partitions(ctx, cli, ptEtcdPrefix, n); err != nil {
		return 0, 0, err
	}
	complete := true
	for p, skus := range by {
		resp, err := cli.Get(ctx, capstore.PartitionPrefix(ptEtcdPrefix, p, n)+"/sku/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return 0, 0, err
		}
		complete = complete && resp.Count == int64(len(skus))
	}
	if complete {
		return 0, 0, nil
	}

	type op struct {
		p   int
		sku string
	}
	var all []op
	for p, skus := range by {
		for _, s := range skus {
			all = append(all, op{p, s})
		}
	}
	value := ptRecord(ptLimit, 0)
	start := time.Now()
	if err := putAll(ctx, cli, len(all), ptTxnPuts, ptWriters, func(i int) clientv3.Op {
		return clientv3.OpPut(ptKey(all[i].p, n, all[i].sku), value)
	}); err != nil {
		return 0, 0, fmt.Errorf("writing %d SKU records: %w", len(all), err)
	}
	return len(all), float64(len(all)) / time.Since(start).Seconds(), nil
}

// ptNATSConfig is a nats-server configuration listening on addr with the
// subject mappings of n partitions under the responder's default prefix.
func ptNATSConfig(addr string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %q\nmappings: {\n", addr)
	for _, m := range wire.PartitionMappings(ptNATSPrefix, n) {
		b.WriteString("  " + m.ConfigLine() + "\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// ptCluster is a scenario's nats-server and etcd, and the responders it
// started on them, by name.
type ptCluster struct {
	p        *procs
	bin      func(string) string
	name     string
	natsURL  string
	etcdAddr string
	cli      *clientv3.Client
	cl       *client.Client
	nc       *nats.Conn
	http     map[string]string // responder name -> its -http address
}

// startPTCluster starts name's nats-server and etcd (data under
// <name>-etcd) and connects to both. close stops what was started, also
// after an error.
func (p *procs) startPTCluster(ctx context.Context, bin func(string) string, name string) (c *ptCluster, err error) {
	c = &ptCluster{p: p, bin: bin, name: name, http: map[string]string{}}
	natsAddr := freeAddr()
	conf := filepath.Join(p.dir, name+"-nats.conf")
	if err := os.WriteFile(conf, []byte(ptNATSConfig(natsAddr, ptPartitions)), 0o644); err != nil {
		return c, err
	}
	if err := p.start(ctx, name+"-nats", bin("nats-server"), "-c", conf); err != nil {
		return c, err
	}
	if err := waitTCP(natsAddr, 10*time.Second); err != nil {
		return c, err
	}
	c.natsURL = "nats://" + natsAddr
	c.etcdAddr = freeAddr()
	if err := p.start(ctx, name+"-etcd", bin("etcd"), "--data-dir", filepath.Join(p.dir, name+"-etcd"),
		"--listen-client-urls", "http://"+c.etcdAddr, "--advertise-client-urls", "http://"+c.etcdAddr,
		"--listen-peer-urls", "http://"+freeAddr(), "--log-level", "error", "--quota-backend-bytes", "8589934592"); err != nil {
		return c, err
	}
	if err := waitTCP(c.etcdAddr, 20*time.Second); err != nil {
		return c, err
	}
	if c.cli, err = clientv3.New(clientv3.Config{Endpoints: []string{c.etcdAddr}, DialTimeout: 5 * time.Second}); err != nil {
		return c, err
	}
	if c.nc, err = nats.Connect(c.natsURL); err != nil {
		return c, err
	}
	cfg := client.DefaultConfig()
	cfg.Partitions = ptPartitions // straight to each partition's subjects
	cfg.BackoffMin, cfg.BackoffMax = time.Millisecond, 5*time.Millisecond
	if c.cl, err = client.New(c.nc, cfg); err != nil {
		return c, err
	}
	return c, nil
}

// close stops the responders, then etcd and nats-server, and closes the
// connections; a second call does nothing.
func (c *ptCluster) close() {
	for r := range c.http {
		c.p.stop(r)
		delete(c.http, r)
	}
	if c.cl != nil {
		c.cl.Close()
		c.cl = nil
	}
	if c.nc != nil {
		c.nc.Close()
		c.nc = nil
	}
	if c.cli != nil {
		c.cli.Close()
		c.cli = nil
	}
	c.p.stop(c.name + "-etcd")
	c.p.stop(c.name + "-nats")
}

// startResponder starts responder r (-id r) with ptPartitions partitions and
// a lease of 2 s, without waiting for it.
func (c *ptCluster) startResponder(ctx context.Context, r string) error {
	addr := freeAddr()
	c.http[r] = addr
	return c.p.start(ctx, r, c.bin("responder"), "-nats", c.natsURL, "-etcd", c.etcdAddr, "-partitions", strconv.Itoa(ptPartitions),
		"-log-level", "info", "-lease-ttl", "2s", "-id", r, "-http", addr)
}

// kill ends responder r with SIGKILL and reaps it.
func (c *ptCluster) kill(r string) error {
	cmd := c.p.cmds[r]
	if cmd == nil {
		return fmt.Errorf("%s is not running", r)
	}
	delete(c.p.cmds, r)
	delete(c.http, r)
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	_ = cmd.Wait()
	return err
}

// leads returns the partitions responder r serves, from its /debug/stats.
func (c *ptCluster) leads(r string) ([]int, error) {
	resp, err := http.Get("http://" + c.http[r] + "/debug/stats")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: /debug/stats %s", r, resp.Status)
	}
	var st struct{ LeadingParts []int }
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st.LeadingParts, err
}

// waitSpread waits until every partition is served and the running
// responders' counts differ by at most one, and returns who serves each.
func (c *ptCluster) waitSpread(ctx context.Context) (leader []string, err error) {
	deadline := time.Now().Add(ptWaitLimit)
	for {
		leader = make([]string, ptPartitions)
		lo, hi, served := ptPartitions, 0, 0
		for r := range c.http {
			parts, err := c.leads(r)
			if err != nil {
				lo = -1
				break
			}
			lo, hi, served = min(lo, len(parts)), max(hi, len(parts)), served+len(parts)
			for _, i := range parts {
				leader[i] = r
			}
		}
		if lo >= 0 && served == ptPartitions && hi-lo <= 1 && !slices.Contains(leader, "") {
			return leader, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("leadership not spread over %d responders within %v (served %d, counts %d..%d)", len(c.http), ptWaitLimit, served, lo, hi)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// grant acquires one unit of sku, under one id so that a retry after an
// attempt of unknown outcome cannot take a second, until it is granted
// (ptWaitLimit after since at most), and returns when.
func (c *ptCluster) grant(ctx context.Context, sku, id string, since time.Time) (time.Time, error) {
	for {
		actx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, err := c.cl.Acquire(actx, sku, 1, client.WithID(id))
		cancel()
		switch {
		case err == nil:
			return time.Now(), nil
		case errors.Is(err, client.ErrUnknownSKU), errors.Is(err, client.ErrBadRequest), errors.Is(err, client.ErrInternal):
			return time.Time{}, fmt.Errorf("%s: %w", sku, err)
		case ctx.Err() != nil:
			return time.Time{}, ctx.Err()
		case time.Since(since) > ptWaitLimit:
			return time.Time{}, fmt.Errorf("no grant of %s %v after the restart: %w", sku, ptWaitLimit, err)
		}
	}
}

// dbSize is etcd's database size and the part of it in use, in bytes.
func (c *ptCluster) dbSize(ctx context.Context) (size, inUse int64, err error) {
	st, err := c.cli.Status(ctx, c.etcdAddr)
	if err != nil {
		return 0, 0, err
	}
	return st.DbSize, st.DbSizeInUse, nil
}

// ptLine is one "leading" or "serving" line of a partition in a
// responder's text log.
type ptLine struct {
	at   time.Time
	skus int           // serving: SKUs read before serving (those with holds)
	load time.Duration // serving: the term's read of its holds and their SKUs
	rest time.Duration // serving: resuming holds and subscribing
}

// ptLogLines returns, for each partition, the first "leading" line at or
// after since and the first "serving" line after that, in the text log at
// path (zero when missing).
func ptLogLines(path string, since time.Time) (leading, serving []ptLine, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	return parsePTLog(f, since)
}

func parsePTLog(r io.Reader, since time.Time) (leading, serving []ptLine, err error) {
	leading, serving = make([]ptLine, ptPartitions), make([]ptLine, ptPartitions)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := ptLogFields(sc.Text())
		at, perr := time.Parse(time.RFC3339Nano, f["time"])
		p, aerr := strconv.Atoi(f["partition"])
		if perr != nil || aerr != nil || p < 0 || p >= ptPartitions || at.Before(since.Truncate(time.Millisecond)) {
			continue
		}
		switch {
		case f["msg"] == "leading" && serving[p].at.IsZero():
			leading[p].at = at // a term that is handed over before it serves is followed by another
		case f["msg"] == "serving" && !leading[p].at.IsZero() && serving[p].at.IsZero():
			l := ptLine{at: at}
			l.skus, _ = strconv.Atoi(f["held_skus"])
			l.load, _ = time.ParseDuration(f["load"])
			resume, _ := time.ParseDuration(f["resume"])
			sub, _ := time.ParseDuration(f["subscribe"])
			l.rest = resume + sub
			serving[p] = l
		}
	}
	return leading, serving, sc.Err()
}

// ptLogFields splits a slog text line into its key=value pairs (values
// without spaces, as those of the lines read here).
func ptLogFields(line string) map[string]string {
	f := map[string]string{}
	for tok := range strings.FieldsSeq(line) {
		if k, v, ok := strings.Cut(tok, "="); ok {
			f[k] = strings.Trim(v, `"`)
		}
	}
	return f
}

// ptOneResult is one run of the one-partition takeover.
type ptOneResult struct {
	skus        int           // SKUs the new leader of partition 0 read before serving
	winToServe  time.Duration // its "leading" to its "serving" line of partition 0
	load        time.Duration // its read of partition 0's holds
	winToGrant  time.Duration // "leading" to the first grant the bench got
	killToGrant time.Duration // kill -9 of the old leader to that grant
}

// oneRun starts two responders on c, waits until they lead eight
// partitions each and are past their warm-up, kills the leader of
// partition 0 with SIGKILL, and times the other from winning partition 0
// to the first grant of one of skus (polled from the kill on). Both are
// stopped before it returns.
func (c *ptCluster) oneRun(ctx context.Context, skus []string, i int) (res ptOneResult, err error) {
	defer func() {
		for r := range c.http {
			c.p.stop(r)
			delete(c.http, r)
		}
	}()
	for _, r := range []string{"partone-a", "partone-b"} {
		if err := c.startResponder(ctx, r); err != nil {
			return res, err
		}
	}
	started := time.Now()
	leader, err := c.waitSpread(ctx)
	if err != nil {
		return res, err
	}
	// A responder revokes a dead one's leases only after its warm-up (1 s
	// from its start): a kill before it would time the warm-up.
	time.Sleep(time.Until(started.Add(ptWarmup)))
	if _, err := c.grant(ctx, skus[0], fmt.Sprintf("before-%d", i), time.Now()); err != nil {
		return res, fmt.Errorf("before the kill: %w", err)
	}
	dead, heir := leader[0], "partone-a"
	if dead == heir {
		heir = "partone-b"
	}
	sku := skus[len(skus)-1-i]
	killed := time.Now()
	if err := c.kill(dead); err != nil {
		return res, err
	}
	granted, err := c.grant(ctx, sku, fmt.Sprintf("after-%d", i), killed)
	if err != nil {
		return res, err
	}
	leading, serving, err := ptLogLines(filepath.Join(c.p.dir, heir+".log"), killed)
	if err != nil {
		return res, err
	}
	won, served := leading[0], serving[0]
	if won.at.IsZero() || served.at.IsZero() {
		return res, fmt.Errorf("%s.log: no leading and serving lines of partition 0 after the kill", heir)
	}
	res = ptOneResult{skus: served.skus, winToServe: served.at.Sub(won.at), load: served.load,
		winToGrant: granted.Sub(won.at), killToGrant: granted.Sub(killed)}
	if res.skus != 0 {
		return res, fmt.Errorf("the new leader of partition 0 read %d SKUs before serving, want none: no SKU has holds", res.skus)
	}
	return res, nil
}

// ptAllResult is one run of the full restart.
type ptAllResult struct {
	granted     []time.Duration // last process started to each partition's first grant, fastest first
	allServing  time.Duration   // last process started to a grant on every partition
	median      time.Duration   // the same to the median partition's first grant
	lastLeading time.Duration   // last process started to the last partition's first "leading"
	slowLoad    time.Duration   // the slowest partition's read of its holds
	slowWin     time.Duration   // the longest "leading" to "serving" of a partition
	slowRest    time.Duration   // the longest resume and subscribe of a partition
	skus        int             // SKUs the first terms of every partition read before serving
}

// restartRun kills every running responder of c with SIGKILL (starting
// them first if none runs, and waiting until they serve every partition),
// starts ptResponders again at once, and times, from the last start,
// a grant on one SKU of every partition (by[p] the SKUs of partition p),
// polled concurrently. The responders keep running for the next run.
func (c *ptCluster) restartRun(ctx context.Context, by [][]string, i int) (res ptAllResult, err error) {
	names := make([]string, ptResponders)
	for k := range names {
		names[k] = "partall-" + string(rune('a'+k))
	}
	if len(c.http) == 0 {
		for _, r := range names {
			if err := c.startResponder(ctx, r); err != nil {
				return res, err
			}
		}
	}
	if _, err := c.waitSpread(ctx); err != nil {
		return res, fmt.Errorf("before the restart: %w", err)
	}
	for _, r := range names {
		if err := c.kill(r); err != nil {
			return res, err
		}
	}
	for _, r := range names {
		if err := c.startResponder(ctx, r); err != nil {
			return res, err
		}
	}
	started := time.Now()
	granted := make([]time.Time, ptPartitions)
	errs := make([]error, ptPartitions)
	var wg sync.WaitGroup
	for p := range ptPartitions {
		sku := by[p][i%len(by[p])]
		wg.Go(func() { granted[p], errs[p] = c.grant(ctx, sku, fmt.Sprintf("restart-%d", i), started) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return res, err
		}
	}
	var took []time.Duration
	for _, g := range granted {
		took = append(took, g.Sub(started))
	}
	slices.Sort(took)
	res.granted, res.allServing, res.median = took, took[len(took)-1], took[len(took)/2]

	leading, serving := make([]ptLine, ptPartitions), make([]ptLine, ptPartitions)
	for _, r := range names {
		l, s, err := ptLogLines(filepath.Join(c.p.dir, r+".log"), started.Add(-time.Second))
		if err != nil {
			return res, err
		}
		for p := range ptPartitions { // the term that served first
			if !s[p].at.IsZero() && (serving[p].at.IsZero() || s[p].at.Before(serving[p].at)) {
				leading[p], serving[p] = l[p], s[p]
			}
		}
	}
	for p := range ptPartitions {
		if serving[p].at.IsZero() {
			return res, fmt.Errorf("no leading and serving lines of partition %d after the restart", p)
		}
		res.lastLeading = max(res.lastLeading, leading[p].at.Sub(started))
		res.slowLoad = max(res.slowLoad, serving[p].load)
		res.slowWin = max(res.slowWin, serving[p].at.Sub(leading[p].at))
		res.slowRest = max(res.slowRest, serving[p].rest)
		res.skus += serving[p].skus
	}
	if res.skus != 0 {
		return res, fmt.Errorf("the first terms read %d SKUs before serving, want none: no SKU has holds", res.skus)
	}
	return res, nil
}

// partTakeoverRows runs the parttakeover scenario, if o.scenarios asks: the
// one-partition takeover and the full restart, o.runs times each, and
// prints their medians.
func (p *procs) partTakeoverRows(ctx context.Context, o options, bin func(string) string, w io.Writer) error {
	if !slices.Contains(strings.Split(o.scenarios, ","), "parttakeover") {
		return nil
	}
	ms := func(d time.Duration) float64 { return d.Seconds() * 1000 }
	mb := func(b int64) float64 { return float64(b) / (1 << 20) }
	spread := func(xs []float64) string {
		return fmt.Sprintf("%.0f–%.0f", slices.Min(xs), slices.Max(xs))
	}

	one, err := p.startPTCluster(ctx, bin, "partone")
	defer one.close()
	if err != nil {
		return fmt.Errorf("parttakeover: %w", err)
	}
	skus := ptSKUsOf("pone", 0, ptPartitions, ptOneSKUs)
	by := make([][]string, ptPartitions)
	by[0] = skus
	wrote, rate, err := ptWrite(ctx, one.cli, by)
	if err != nil {
		return fmt.Errorf("parttakeover: %w", err)
	}
	fmt.Fprintf(os.Stderr, "parttakeover: %d SKU records of partition 0 written at %.0f/s\n", wrote, rate)
	var serve, load, grant, kill []float64
	for i := range o.runs {
		r, err := one.oneRun(ctx, skus, i)
		if err != nil {
			return fmt.Errorf("parttakeover one-partition run %d: %w", i+1, err)
		}
		fmt.Fprintf(os.Stderr, "parttakeover one-partition run %d: %d SKUs read before serving; won→serving %v (load %v), won→first grant %v, kill→first grant %v\n",
			i+1, r.skus, r.winToServe, r.load, r.winToGrant, r.killToGrant)
		serve, load = append(serve, ms(r.winToServe)), append(load, ms(r.load))
		grant, kill = append(grant, ms(r.winToGrant)), append(kill, ms(r.killToGrant))
	}
	oneSize, _, err := one.dbSize(ctx)
	if err != nil {
		return err
	}
	one.close()
	fmt.Fprintf(w, "\nTakeover of a partition of %d SKUs (%d partitions, two responders, etcd apart, %.0f MB) after kill -9 of its leader: won→serving %.0f ms (read of holds %.0f ms), won→first grant %.0f ms (runs %s), kill→first grant %.0f ms (medians of %d).\n",
		ptOneSKUs, ptPartitions, mb(oneSize), median(serve), median(load), median(grant), spread(grant), median(kill), o.runs)

	all, err := p.startPTCluster(ctx, bin, "partall")
	defer all.close()
	if err != nil {
		return fmt.Errorf("parttakeover: %w", err)
	}
	by = ptSpread("pall", ptPartitions, ptAllSKUs)
	wrote, rate, err = ptWrite(ctx, all.cli, by)
	if err != nil {
		return fmt.Errorf("parttakeover: %w", err)
	}
	size, inUse, err := all.dbSize(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "parttakeover: %d SKU records over %d partitions written at %.0f/s; etcd db %.0f MB (%.0f MB in use)\n",
		wrote, ptPartitions, rate, mb(size), mb(inUse))
	var every, mid, lead, slow, win, rest []float64
	for i := range o.runs {
		r, err := all.restartRun(ctx, by, i)
		if err != nil {
			return fmt.Errorf("parttakeover restart run %d: %w", i+1, err)
		}
		fmt.Fprintf(os.Stderr, "parttakeover restart run %d: %d SKUs read before serving; every partition granting %v after the last start (median partition %v); last leading %v; slowest load %v, leading→serving %v, resume+subscribe %v; partitions granting at %v\n",
			i+1, r.skus, r.allServing, r.median, r.lastLeading, r.slowLoad, r.slowWin, r.slowRest, r.granted)
		every, mid, lead = append(every, ms(r.allServing)), append(mid, ms(r.median)), append(lead, ms(r.lastLeading))
		slow, win, rest = append(slow, ms(r.slowLoad)), append(win, ms(r.slowWin)), append(rest, ms(r.slowRest))
	}
	fmt.Fprintf(w, "\nFull restart of %d responders (kill -9 of all, then all started) over %d SKUs in %d partitions (etcd apart, db %.0f MB, %.0f MB in use): every partition granting %.0f ms after the last start (runs %s; median partition %.0f ms), the last partition won at %.0f ms, slowest read of holds %.0f ms, slowest leading→serving %.0f ms, slowest resume+subscribe %.0f ms (medians of %d).\n",
		ptResponders, ptAllSKUs, ptPartitions, mb(size), mb(inUse), median(every), spread(every), median(mid), median(lead), median(slow), median(win), median(rest), o.runs)
	return nil
}
