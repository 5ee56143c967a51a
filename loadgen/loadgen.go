package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stockstate/stock/wire"
)

// Main is the program, as a value that tests drive: ParseFlags, then Run.
type Main struct {
	Config Config
	Stdout io.Writer           // the report
	Stderr io.Writer           // progress lines and usage
	Getenv func(string) string // defaults of -nats and -prefix

	// Summary is the report of the last Run, also when Run returns an error
	// after measuring.
	Summary *Summary
}

// NewMain returns a Main on the process's stdout, stderr and environment.
func NewMain() *Main {
	return &Main{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

// Run connects, sets up the SKUs, runs the phases, verifies and writes the
// report. It returns an error wrapping errVerify when verification fails, and
// stops early (still reporting) when ctx is cancelled.
func (m *Main) Run(ctx context.Context) error {
	c := &m.Config
	stdout, stderr := m.Stdout, m.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}

	if c.CPUProfile != "" {
		f, err := os.Create(c.CPUProfile)
		if err != nil {
			return fmt.Errorf("loadgen: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("loadgen: %w", err)
		}
		defer pprof.StopCPUProfile()
	}

	conns, err := connect(c, stderr)
	if err != nil {
		return err
	}
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()

	names := make([]string, c.SKUs)
	for i := range names {
		names[i] = c.SKUPrefix + strconv.Itoa(i)
	}
	var before []SKUState
	parts := c.Partitions
	if !c.OnlyNull {
		if parts == 0 {
			if parts, err = askPartitions(ctx, conns[0], c.Prefix, c.Timeout); err != nil {
				return err
			}
		}
		if before, err = setupSKUs(ctx, conns[0], c.Prefix, parts, names, c.Stock, c.PerBuyer, c.Existing, c.Timeout); err != nil {
			return err
		}
		for _, s := range before {
			if !c.Existing && s.Sold > 0 {
				fmt.Fprintf(stderr, "note: SKU %s had %d units sold already; use another -sku-prefix for a fresh start\n", s.Name, s.Sold)
			}
		}
	}

	s := &Summary{
		Mode: "closed", Op: c.Op, C: c.C, Conns: c.Conns, N: c.N, Batch: c.Batch, SKUs: c.SKUs, Dist: c.Dist,
		TimeoutMS: c.Timeout.Milliseconds(), PerBuyer: c.PerBuyer, Buyers: c.Buyers,
	}
	if !c.closedLoop() {
		s.Mode, s.C, s.Rate = "open", 0, c.Rate
	}
	if parts > 1 {
		s.Partitions = parts
	}
	m.Summary = s
	body, err := json.Marshal(wire.Request{N: c.N})
	if err != nil {
		return err
	}
	seed := c.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	var items [][]byte
	if c.Batch > 0 {
		items = batchItems(names, c.N)
	}
	newPhase := func(name string, rt routes, op string, ledger *Ledger) *phase {
		return &phase{
			name: name, closed: c.closedLoop(), names: names, subjects: rt.subjects, body: body, n: c.N,
			batch: c.Batch, batchSubs: rt.batchSubs, skuPart: rt.skuPart, items: items,
			timeout: c.Timeout, backoff: c.Backoff, dur: c.Duration, budget: c.Requests,
			rate: c.Rate, maxOut: c.MaxOutstanding, c: c.C, ledger: ledger,
			dist: c.Dist, zipfS: c.ZipfS, seed: seed,
			op: op, idPrefix: "lg-" + strconv.FormatUint(rand.Uint64(), 36) + "-", ttlS: int64((c.TTL + time.Second - 1) / time.Second),
			buyers: c.Buyers, buyerPrefix: c.BuyerPrefix,
		}
	}
	var progress io.Writer
	if c.Progress > 0 {
		progress = stderr
	}

	// measure runs the warm-up, if any, then the measured phase, with the
	// routes of each op. Grants are recorded when before is given; the
	// warm-up's are merged into the measured phase's ledger.
	measure := func(name string, route func(op string) routes, before []SKUState) (warm, res *PhaseResult, err error) {
		ledger := func() *Ledger {
			if before == nil {
				return nil // grants are not recorded
			}
			return NewLedger(before)
		}
		var ph *phase
		switch {
		case c.Op == OpConfirm: // the holds to confirm are the warm-up
			hold := newPhase("hold", route(OpHold), OpHold, ledger())
			hold.keySKU = make([]int32, c.Requests+1)
			if warm, err = runPhase(ctx, hold, conns, progress, c.Progress); err != nil {
				return warm, nil, err
			}
			ph = newPhase(name, route(OpConfirm), OpConfirm, ledger())
			ph.idPrefix, ph.keySKU = hold.idPrefix, hold.keySKU
		case c.Warmup > 0:
			wp := newPhase("warm", route(c.Op), c.Op, ledger())
			wp.dur, wp.budget = c.Warmup, 0
			if warm, err = runPhase(ctx, wp, conns, progress, c.Progress); err != nil {
				return warm, nil, err
			}
			ph = newPhase(name, route(c.Op), c.Op, ledger())
			ph.buyerBase = wp.issued.Load() // the warm-up's buyers are not met again
		default:
			ph = newPhase(name, route(c.Op), c.Op, ledger())
		}
		res, err = runPhase(ctx, ph, conns, progress, c.Progress)
		if res != nil && res.Ledger != nil && warm != nil && warm.Ledger != nil {
			res.Ledger.Merge(warm.Ledger)
		}
		return warm, res, err
	}

	var runErr error
	if c.Null || c.OnlyNull {
		nr, err := StartNull(c.URL, c.nullSubject(), names, c.N, c.Batch, c.NullSubs)
		if err != nil {
			return err
		}
		_, res, err := measure("null", func(string) routes { return nullRoutes(c.nullSubject(), names) }, nil)
		nr.Close()
		if res != nil {
			s.Null = summarizePhase(res, c.Batch)
		}
		runErr = err
	}
	if !c.OnlyNull && runErr == nil {
		warm, res, err := measure("real", func(op string) routes { return realRoutes(c.Prefix, op, names, parts) }, before)
		var seen *Ledger // every grant of the run, warm-up included
		if warm != nil {
			s.Warmup = summarizePhase(warm, c.Batch)
			seen = warm.Ledger
		}
		if res != nil {
			s.Real = summarizePhase(res, c.Batch)
			s.Ratio = ratioOf(s.Real, s.Null)
			seen = res.Ledger
		}
		if seen != nil {
			// Verify also after an interruption: what was seen must still add up.
			after, qerr := queryStates(context.WithoutCancel(ctx), conns[0], c.Prefix, parts, names, c.Timeout)
			if qerr != nil {
				s.VerifyNote = "could not query the SKUs after the run: " + qerr.Error()
				err = errors.Join(err, qerr)
			} else {
				v := seen.Verify(after)
				s.Verify = &v
				if c.Existing {
					s.VerifyNote = "with -existing, units other clients bought during the run count as lost to failovers"
				}
			}
		}
		runErr = err
	}
	if c.OnlyNull {
		s.VerifyNote = "skipped: -only-null touches no SKU"
	}
	s.Interrupted = ctx.Err() != nil

	var werr error
	if c.JSON {
		werr = s.WriteJSON(stdout)
		if s.Verify != nil { // stdout is JSON only; the verdict line goes to stderr too
			fmt.Fprintln(stderr, s.Verify.line())
		}
	} else {
		werr = s.WriteText(stdout)
	}
	errs := []error{runErr, werr}
	if s.Verify != nil && !s.Verify.OK {
		errs = append(errs, fmt.Errorf("%w: %d failures", errVerify, len(s.Verify.Failures)))
	}
	return errors.Join(errs...)
}

// errVerify is wrapped by Run's error when the grants seen do not add up.
var errVerify = errors.New("loadgen: verification failed")

// connect opens the load connections.
// Asynchronous errors (a slow consumer, a lost connection) go to stderr.
func connect(c *Config, stderr io.Writer) ([]*nats.Conn, error) {
	var mu sync.Mutex
	onErr := func(nc *nats.Conn, sub *nats.Subscription, err error) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(stderr, "loadgen: %s: %v\n", nc.Opts.Name, err)
	}
	conns := make([]*nats.Conn, 0, c.Conns)
	for i := range c.Conns {
		nc, err := nats.Connect(c.URL,
			nats.Name("loadgen-"+strconv.Itoa(i)),
			nats.MaxReconnects(-1),
			nats.ErrorHandler(onErr),
		)
		if err != nil {
			for _, nc := range conns {
				nc.Close()
			}
			return nil, fmt.Errorf("loadgen: connect to %s: %w", c.URL, err)
		}
		conns = append(conns, nc)
	}
	return conns, nil
}
