package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/client"
)

// The hold measurements that are not throughput: 100,000 holds expiring in
// the same second, and a new leader taking over 100,000 live holds. Each
// run starts its own processes and ends them.

const (
	manyHolds    = 100_000
	holdInFlight = 256
)

// expiryResult is one run of the expiry measurement.
type expiryResult struct {
	seconds    int           // distinct expires_at seconds of the holds
	back       time.Duration // from the latest expires_at until query shows every unit back
	writes     float64       // store writes while they came back
	records    float64       // records (SKU records and holds) those writes carried
	createRate float64       // holds/s while making them
}

// takeoverResult is one run of the takeover measurement.
type takeoverResult struct {
	winToServe  time.Duration // the new leader's "leading" to its "serving" log line
	winToGrant  time.Duration // "leading" to the first grant a client got
	killToServe time.Duration // kill -9 of the old leader to the first grant
	holds       int64         // held units the new leader reports
}

// holdMany makes count holds of one unit of sku over holdInFlight
// goroutines, each with the TTL ttl returns at the time of its call, and
// returns the expires_at of each.
func holdMany(ctx context.Context, cl *client.Client, sku, run string, count int, ttl func() time.Duration) ([]time.Time, float64, error) {
	expires := make([]time.Time, count)
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	start := time.Now()
	for range holdInFlight {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= count || ctx.Err() != nil {
					return
				}
				h, err := cl.Hold(ctx, sku, run+"-"+strconv.Itoa(i), 1, ttl())
				if err != nil {
					once.Do(func() { first = err })
					return
				}
				expires[i] = h.ExpiresAt
			}
		})
	}
	wg.Wait()
	return expires, float64(count) / time.Since(start).Seconds(), first
}

// expiryRun makes manyHolds holds all due at one second, about 20 s ahead,
// then polls the SKU until every unit is back.
func (p *procs) expiryRun(ctx context.Context, bin func(string) string, natsURL string, i int) (expiryResult, error) {
	var res expiryResult
	httpAddr := freeAddr()
	if err := p.start(ctx, "responder", bin("responder"), "-nats", natsURL,
		"-data-dir", filepath.Join(p.dir, fmt.Sprintf("data-expiry-%d", i)), "-etcd-listen", freeAddr(), "-etcd-peer-listen", freeAddr(),
		"-http", httpAddr, "-id", "bench", "-log-level", "warn"); err != nil {
		return res, err
	}
	defer p.stop("responder")
	cl, closeClient, err := benchClient(natsURL)
	if err != nil {
		return res, err
	}
	defer closeClient()
	const sku = "bexpiry"
	if _, err := cl.SetLimit(ctx, sku, 10*manyHolds); err != nil {
		return res, err
	}
	due := time.Now().Add(20 * time.Second).Truncate(time.Second)
	expires, rate, err := holdMany(ctx, cl, sku, "expiry", manyHolds, func() time.Duration { return time.Until(due) })
	if err != nil {
		return res, fmt.Errorf("holds: %w", err)
	}
	res.createRate = rate
	if s, err := cl.Query(ctx, sku); err != nil || s.Held != manyHolds {
		return res, fmt.Errorf("after the holds: %+v, %v; want %d held", s, err, manyHolds)
	}
	seconds := map[int64]bool{}
	latest := expires[0]
	for _, e := range expires {
		seconds[e.Unix()] = true
		if e.After(latest) {
			latest = e
		}
	}
	res.seconds = len(seconds)
	if time.Until(latest) < time.Second {
		return res, fmt.Errorf("making the holds took until %v before they expire: too slow to measure", time.Until(latest))
	}
	w0, r0, err := storeWrites(httpAddr)
	if err != nil {
		return res, err
	}
	for {
		s, err := cl.Query(ctx, sku)
		if err != nil {
			return res, err
		}
		if s.Held == 0 {
			res.back = time.Since(latest)
			break
		}
		if time.Since(latest) > 30*time.Second {
			return res, fmt.Errorf("30 s after the holds expired %d units are still held", s.Held)
		}
		time.Sleep(10 * time.Millisecond)
	}
	w1, r1, err := storeWrites(httpAddr)
	if err != nil {
		return res, err
	}
	res.writes, res.records = w1-w0, r1-r0
	s, err := cl.Query(ctx, sku)
	if err != nil || s.Remaining != 10*manyHolds || s.Held != 0 {
		return res, fmt.Errorf("after expiry: %+v, %v; want every unit back once", s, err)
	}
	return res, nil
}

// startPair starts an etcd, with its data under <name>-etcd-<i>, and on it
// responder-a, leading once startPair returns, and responder-b, its
// standby, both with a lease of 2 s. stop stops whatever was started, also
// after an error.
func (p *procs) startPair(ctx context.Context, bin func(string) string, natsURL, name string, i int) (etcdAddr string, stop func(), err error) {
	var started []string
	stop = func() {
		for _, s := range slices.Backward(started) {
			p.stop(s)
		}
	}
	etcdAddr = freeAddr()
	if err := p.start(ctx, "etcd", bin("etcd"), "--data-dir", filepath.Join(p.dir, fmt.Sprintf("%s-etcd-%d", name, i)),
		"--listen-client-urls", "http://"+etcdAddr, "--advertise-client-urls", "http://"+etcdAddr,
		"--listen-peer-urls", "http://"+freeAddr(), "--log-level", "error", "--quota-backend-bytes", "8589934592"); err != nil {
		return "", stop, err
	}
	started = append(started, "etcd")
	if err := waitTCP(etcdAddr, 20*time.Second); err != nil {
		return "", stop, err
	}
	common := []string{"-nats", natsURL, "-etcd", etcdAddr, "-log-level", "info", "-lease-ttl", "2s"}
	aHTTP, bHTTP := freeAddr(), freeAddr()
	if err := p.start(ctx, "responder-a", bin("responder"), append(common, "-id", "a", "-http", aHTTP)...); err != nil {
		return "", stop, err
	}
	started = append(started, "responder-a")
	if err := p.waitReady(ctx, []string{"-http", aHTTP}); err != nil {
		return "", stop, err
	}
	if err := p.start(ctx, "responder-b", bin("responder"), append(common, "-id", "b", "-http", bHTTP)...); err != nil {
		return "", stop, err
	}
	started = append(started, "responder-b")
	return etcdAddr, stop, nil
}

// takeoverRun starts an etcd and two responders, makes manyHolds live holds
// through the leader, kills it with SIGKILL and times the standby from
// winning to its first grant.
func (p *procs) takeoverRun(ctx context.Context, bin func(string) string, natsURL string, i int) (takeoverResult, error) {
	var res takeoverResult
	_, stop, err := p.startPair(ctx, bin, natsURL, "takeover", i)
	defer stop()
	if err != nil {
		return res, err
	}

	cl, closeClient, err := benchClient(natsURL)
	if err != nil {
		return res, err
	}
	defer closeClient()
	const sku = "btakeover"
	if _, err := cl.SetLimit(ctx, sku, 10*manyHolds); err != nil {
		return res, err
	}
	if _, _, err := holdMany(ctx, cl, sku, "takeover", manyHolds, func() time.Duration { return time.Hour }); err != nil {
		return res, fmt.Errorf("holds: %w", err)
	}

	killed := time.Now()
	if err := syscall.Kill(-p.cmds["responder-a"].Process.Pid, syscall.SIGKILL); err != nil {
		return res, err
	}
	for {
		actx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, err := cl.Acquire(actx, sku, 1)
		cancel()
		if err == nil {
			break
		}
		if time.Since(killed) > 30*time.Second {
			return res, fmt.Errorf("no grant 30 s after the leader was killed: %w", err)
		}
	}
	granted := time.Now()
	res.killToServe = granted.Sub(killed)
	won, serving, err := logTimes(filepath.Join(p.dir, "responder-b.log"), killed)
	if err != nil {
		return res, err
	}
	res.winToServe, res.winToGrant = serving.Sub(won), granted.Sub(won)
	s, err := cl.Query(ctx, sku)
	if err != nil || s.Leader != "b" {
		return res, fmt.Errorf("after the takeover: %+v, %v; want leader b", s, err)
	}
	res.holds = s.Held
	if s.Held != manyHolds {
		return res, fmt.Errorf("the new leader holds %d units, want %d", s.Held, manyHolds)
	}
	return res, nil
}

// logTimes finds, in a responder's text log, the first "leading" and the
// following "serving" line after since.
func logTimes(path string, since time.Time) (won, serving time.Time, err error) {
	f, err := os.Open(path)
	if err != nil {
		return won, serving, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		ts, ok := strings.CutPrefix(line, "time=")
		if !ok {
			continue
		}
		ts, _, _ = strings.Cut(ts, " ")
		at, perr := time.Parse(time.RFC3339Nano, ts)
		if perr != nil || at.Before(since.Truncate(time.Millisecond)) {
			continue
		}
		switch {
		case won.IsZero() && strings.Contains(line, " msg=leading "):
			won = at
		case !won.IsZero() && strings.Contains(line, " msg=serving "):
			return won, at, nil
		}
	}
	return won, serving, fmt.Errorf("%s: no leading and serving lines after the kill", path)
}

// storeWrites scrapes a responder's count of committed store writes and
// the records they carried.
func storeWrites(httpAddr string) (writes, records float64, err error) {
	resp, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.Lines(string(b)) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		v, _ := strconv.ParseFloat(value, 64)
		switch name {
		case `stock_store_write_duration_seconds_count{outcome="committed"}`:
			writes = v
		case "stock_store_write_records_sum":
			records = v
		}
	}
	return writes, records, nil
}

// benchClient is a client whose retries through a failover are quick.
func benchClient(natsURL string) (*client.Client, func(), error) {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return nil, nil, err
	}
	cfg := client.DefaultConfig()
	cfg.BackoffMin, cfg.BackoffMax = time.Millisecond, 5*time.Millisecond
	cl, err := client.New(nc, cfg)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return cl, func() { cl.Close(); nc.Close() }, nil
}

// holdRows runs the expiry and takeover measurements o.runs times each, as
// o.scenarios asks, and prints their medians.
func (p *procs) holdRows(ctx context.Context, o options, bin func(string) string, natsURL string, w io.Writer) error {
	want := strings.Split(o.scenarios, ",")
	if slices.Contains(want, "expiry") {
		var back, seconds, writes, records, rate []float64
		for i := range o.runs {
			r, err := p.expiryRun(ctx, bin, natsURL, i)
			if err != nil {
				return fmt.Errorf("expiry run %d: %w", i+1, err)
			}
			fmt.Fprintf(os.Stderr, "expiry run %d: %d holds over %d second(s) back %v after the last expiry, %.0f writes of %.0f records; made at %.0f holds/s\n",
				i+1, manyHolds, r.seconds, r.back, r.writes, r.records, r.createRate)
			back = append(back, r.back.Seconds())
			seconds = append(seconds, float64(r.seconds))
			writes = append(writes, r.writes)
			records = append(records, r.records)
			rate = append(rate, r.createRate)
		}
		fmt.Fprintf(w, "\n%d holds of one unit due in the same second (expires_at over %.0f distinct second(s)), made at %.0f holds/s with %d in flight: every unit back %.2f s after the last expires_at, in %.0f store writes carrying %.0f records (medians of %d).\n",
			manyHolds, median(seconds), median(rate), holdInFlight, median(back), median(writes), median(records), o.runs)
	}
	if slices.Contains(want, "takeover") {
		var serve, grant, kill []float64
		for i := range o.runs {
			r, err := p.takeoverRun(ctx, bin, natsURL, i)
			if err != nil {
				return fmt.Errorf("takeover run %d: %w", i+1, err)
			}
			fmt.Fprintf(os.Stderr, "takeover run %d: %d held; won→serving %v, won→first grant %v, kill→first grant %v\n",
				i+1, r.holds, r.winToServe, r.winToGrant, r.killToServe)
			serve = append(serve, r.winToServe.Seconds()*1000)
			grant = append(grant, r.winToGrant.Seconds()*1000)
			kill = append(kill, r.killToServe.Seconds()*1000)
		}
		fmt.Fprintf(w, "\nTakeover of %d live holds after kill -9 of the leader (etcd apart, two responders): won→serving %.0f ms, won→first grant %.0f ms, kill→first grant %.0f ms (medians of %d).\n",
			manyHolds, median(serve), median(grant), median(kill), o.runs)
	}
	return nil
}
