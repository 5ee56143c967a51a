package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stockstate/stock/client"
)

// The takeover of a SKU with many buyers: manyBuyers buyer records written
// straight into etcd, then a new leader's first grants to a buyer it has
// to read and to one it has never seen. A buyer's record is read on its
// first request in a term, so the takeover itself should not grow with the
// buyers. Each run starts its own processes and ends them.

const (
	manyBuyers      = 1_000_000
	buyerTxnPuts    = 128 // etcd's default --max-txn-ops
	buyerWriters    = 8   // transactions in flight while writing
	buyerWriteLimit = 5 * time.Minute
	takeoverSKU     = "bbuyerstakeover"
	takeoverCap     = 2
)

// buyerRecord is a buyer's value as capstore writes it (capstore/buyer.go,
// encodeBuyer, unexported): units bought, no request ids.
func buyerRecord(bought int64) string { return `{"bought":` + strconv.FormatInt(bought, 10) + `}` }

// buyerKey is the key of buyer of sku under the responder's default
// -etcd-prefix.
func buyerKey(sku, buyer string) string { return "/stock/buyer/" + sku + "/" + buyer }

// existingBuyer is the i-th buyer writeBuyers wrote.
func existingBuyer(i int) string { return "e-" + strconv.Itoa(i) }

// writeBuyers puts count buyer records of sku, each with one unit bought,
// in transactions of buyerTxnPuts puts, buyerWriters at once. The first
// error stops the rest; the whole is bounded by buyerWriteLimit.
func writeBuyers(ctx context.Context, etcdAddr, sku string, count int) (rate float64, err error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdAddr}, DialTimeout: 5 * time.Second})
	if err != nil {
		return 0, err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, buyerWriteLimit)
	defer cancel()
	value := buyerRecord(1)
	start := time.Now()
	if err := putAll(ctx, cli, count, buyerTxnPuts, buyerWriters, func(i int) clientv3.Op {
		return clientv3.OpPut(buyerKey(sku, existingBuyer(i)), value)
	}); err != nil {
		return 0, fmt.Errorf("writing %d buyers: %w", count, err)
	}
	return float64(count) / time.Since(start).Seconds(), nil
}

// buyersTakeoverResult is one run of the buyers' takeover.
type buyersTakeoverResult struct {
	writeRate   float64       // buyer records written per second
	winToServe  time.Duration // the new leader's "leading" to its "serving" log line
	winExisting time.Duration // "leading" to the first grant to a buyer with a record
	winNew      time.Duration // "leading" to the first grant to a buyer without one
	killToGrant time.Duration // kill -9 of the old leader to the first of those grants
}

// buyersTakeoverRun starts an etcd and two responders, caps a SKU at
// takeoverCap units per buyer, writes manyBuyers records of one unit
// bought straight into etcd, checks through the leader that they read as
// such, kills it with SIGKILL and times the standby from winning to its
// first grant to an existing buyer and to a new one, asked at once.
func (p *procs) buyersTakeoverRun(ctx context.Context, bin func(string) string, natsURL string, i int) (buyersTakeoverResult, error) {
	var res buyersTakeoverResult
	etcdAddr, stop, err := p.startPair(ctx, bin, natsURL, "buyers", i)
	defer stop()
	if err != nil {
		return res, err
	}

	cl, closeClient, err := benchClient(natsURL)
	if err != nil {
		return res, err
	}
	defer closeClient()
	if _, err := cl.SetLimitPerBuyer(ctx, takeoverSKU, 1_000_000_000, takeoverCap); err != nil {
		return res, err
	}
	if res.writeRate, err = writeBuyers(ctx, etcdAddr, takeoverSKU, manyBuyers); err != nil {
		return res, err
	}
	// The leader reads a written record as one unit bought: one more fits
	// the cap, a second does not.
	probe := existingBuyer(manyBuyers - 1)
	if b, err := cl.QueryBuyer(ctx, takeoverSKU, probe); err != nil || b.Bought != 1 {
		return res, fmt.Errorf("buyer %s as written: %+v, %v; want 1 bought", probe, b, err)
	}
	if _, err := cl.Acquire(ctx, takeoverSKU, 1, client.WithBuyer(probe)); err != nil {
		return res, fmt.Errorf("buyer %s, one unit below its cap: %w", probe, err)
	}
	if _, err := cl.Acquire(ctx, takeoverSKU, 1, client.WithBuyer(probe)); !errors.Is(err, client.ErrBuyerLimit) {
		return res, fmt.Errorf("buyer %s, at its cap: %v, want buyer_limit", probe, err)
	}

	killed := time.Now()
	if err := syscall.Kill(-p.cmds["responder-a"].Process.Pid, syscall.SIGKILL); err != nil {
		return res, err
	}
	existing, fresh := existingBuyer(0), fmt.Sprintf("n-%d", i)
	var grantedAt [2]time.Time
	var errs [2]error
	var wg sync.WaitGroup
	for k, buyer := range []string{existing, fresh} {
		wg.Go(func() { grantedAt[k], errs[k] = grantUntil(ctx, cl, takeoverSKU, buyer, killed) })
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return res, err
	}
	won, serving, err := logTimes(filepath.Join(p.dir, "responder-b.log"), killed)
	if err != nil {
		return res, err
	}
	res.winToServe = serving.Sub(won)
	res.winExisting, res.winNew = grantedAt[0].Sub(won), grantedAt[1].Sub(won)
	res.killToGrant = min(grantedAt[0].Sub(killed), grantedAt[1].Sub(killed))
	for _, c := range []struct {
		buyer  string
		bought int64
	}{{existing, 2}, {fresh, 1}, {probe, 2}} {
		b, err := cl.QueryBuyer(ctx, takeoverSKU, c.buyer)
		if err != nil || b.Bought != c.bought || b.Held != 0 {
			return res, fmt.Errorf("after the takeover, buyer %s: %+v, %v; want %d bought", c.buyer, b, err, c.bought)
		}
	}
	if s, err := cl.Query(ctx, takeoverSKU); err != nil || s.Leader != "b" {
		return res, fmt.Errorf("after the takeover: %+v, %v; want leader b", s, err)
	}
	return res, nil
}

// grantUntil acquires one unit of sku for buyer, under one id so that a
// retry after an attempt of unknown outcome cannot take a second unit,
// until it is granted (30 s after since at most), and returns when.
func grantUntil(ctx context.Context, cl *client.Client, sku, buyer string, since time.Time) (time.Time, error) {
	id := "takeover-" + buyer
	for {
		actx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		_, err := cl.Acquire(actx, sku, 1, client.WithBuyer(buyer), client.WithID(id))
		cancel()
		switch {
		case err == nil:
			return time.Now(), nil
		case errors.Is(err, client.ErrBuyerLimit), errors.Is(err, client.ErrBadRequest):
			return time.Time{}, fmt.Errorf("buyer %s after the kill: %w", buyer, err)
		case ctx.Err() != nil:
			return time.Time{}, ctx.Err()
		case time.Since(since) > 30*time.Second:
			return time.Time{}, fmt.Errorf("no grant to buyer %s 30 s after the leader was killed: %w", buyer, err)
		}
	}
}

// buyerRows runs the buyers' takeover o.runs times, if o.scenarios asks,
// and prints its medians.
func (p *procs) buyerRows(ctx context.Context, o options, bin func(string) string, natsURL string, w io.Writer) error {
	if !slices.Contains(strings.Split(o.scenarios, ","), "buyerstakeover") {
		return nil
	}
	var serve, existing, fresh, kill, rate []float64
	for i := range o.runs {
		r, err := p.buyersTakeoverRun(ctx, bin, natsURL, i)
		if err != nil {
			return fmt.Errorf("buyerstakeover run %d: %w", i+1, err)
		}
		fmt.Fprintf(os.Stderr, "buyerstakeover run %d: %d buyers written at %.0f/s; won→serving %v, won→first grant to an existing buyer %v, to a new one %v, kill→first grant %v\n",
			i+1, manyBuyers, r.writeRate, r.winToServe, r.winExisting, r.winNew, r.killToGrant)
		ms := func(d time.Duration) float64 { return d.Seconds() * 1000 }
		serve, existing, fresh = append(serve, ms(r.winToServe)), append(existing, ms(r.winExisting)), append(fresh, ms(r.winNew))
		kill, rate = append(kill, ms(r.killToGrant)), append(rate, r.writeRate)
	}
	fmt.Fprintf(w, "\nTakeover of a SKU with %d buyer records (per_buyer %d, written straight into etcd at %.0f/s) after kill -9 of the leader (etcd apart, two responders): won→serving %.0f ms, won→first grant to an existing buyer %.0f ms, to a new buyer %.0f ms, kill→first grant %.0f ms (medians of %d).\n",
		manyBuyers, takeoverCap, median(rate), median(serve), median(existing), median(fresh), median(kill), o.runs)
	return nil
}
