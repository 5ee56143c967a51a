package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stockstate/stock/wire"
)

// acquireBatched is Acquire through the batcher, in the lane of its SKU's
// partition. Each attempt queues the same item, and so the same id; an
// attempt whose item was answered unavailable, or whose batch met no
// responders or no reply in time, is queued again after a backoff until
// ctx ends or CallTimeout passes. Every other outcome is final. A call that
// gives up while its item waits in the queue takes it out: that attempt is
// never sent.
//
// CallTimeout is a timer of the call's own rather than a context derived
// from ctx: thousands of calls sharing one parent context would otherwise
// all register with it, under its lock. Only a call that must first learn
// the partitions derives one, for that question.
func (c *Client) acquireBatched(ctx context.Context, k call, n int64) (Grant, error) {
	w := waiter{ctx: ctx}
	if d := c.cfg.CallTimeout; d > 0 {
		if end, ok := ctx.Deadline(); !ok || time.Until(end) > d {
			t := time.NewTimer(d)
			defer t.Stop()
			w.expire = t.C
		}
	}
	r := c.routes.Load()
	if r == nil {
		dctx, cancel := ctx, context.CancelFunc(func() {})
		if d := c.cfg.CallTimeout; d > 0 {
			dctx, cancel = context.WithTimeout(ctx, d)
		}
		var err error
		r, err = c.discover(dctx)
		cancel()
		if err != nil {
			return Grant{}, err
		}
	}
	part := r.part(k.sku)
	p := c.batch.get(wire.BatchItem{SKU: k.sku, N: n, ID: k.id})
	var last error // why the previous attempt is being retried
	for attempt := 1; ; attempt++ {
		if err := w.err(); err != nil {
			return Grant{}, gaveUp(k, attempt-1, err, last)
		}
		p.state.Store(pendQueued)
		if err := c.batch.enqueue(p, r, part); err != nil {
			return Grant{}, fmt.Errorf("client: %v: %w", k, err)
		}
		out, err := w.await(p)
		if err != nil {
			return Grant{}, gaveUp(k, attempt, err, last)
		}
		g, retry, err := itemOutcome(k, n, out)
		if !retry {
			c.batch.put(p)
			return g, err
		}
		last = err
		if err := w.sleep(c.backoff(attempt)); err != nil {
			return Grant{}, gaveUp(k, attempt, err, last)
		}
	}
}

// waiter is what ends a batched call: its context, or its CallTimeout.
type waiter struct {
	ctx     context.Context
	expire  <-chan time.Time // nil when ctx ends first anyway
	expired bool
}

// err is why the call must end now, or nil.
func (w *waiter) err() error {
	if w.expired {
		return context.DeadlineExceeded
	}
	if err := w.ctx.Err(); err != nil {
		return err
	}
	select {
	case <-w.expire:
		w.expired = true
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// await waits for the outcome of p's attempt, or for the call to end; then
// it takes p out of the queue if it is still there, and returns why the
// call ended unless the outcome had already arrived.
func (w *waiter) await(p *pending) (outcome, error) {
	var err error
	select {
	case out := <-p.out:
		return out, nil
	case <-w.ctx.Done():
		err = w.ctx.Err()
	case <-w.expire:
		w.expired = true
		err = context.DeadlineExceeded
	}
	if p.state.CompareAndSwap(pendQueued, pendAbandoned) {
		return outcome{}, err
	}
	select {
	case out := <-p.out: // it came as the call ended: a grant is not thrown away
		return out, nil
	default:
		return outcome{}, err
	}
}

// sleep waits d, or until the call ends and returns why.
func (w *waiter) sleep(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-w.ctx.Done():
		return w.ctx.Err()
	case <-w.expire:
		w.expired = true
		return context.DeadlineExceeded
	}
}

// itemOutcome turns an attempt's outcome into Acquire's result, and says
// whether the attempt is to be retried.
func itemOutcome(k call, n int64, out outcome) (g Grant, retry bool, err error) {
	if out.err != nil {
		var e *Error
		switch {
		case errors.Is(out.err, nats.ErrNoResponders) || errors.Is(out.err, nats.ErrTimeout):
			return Grant{}, true, out.err
		case errors.As(out.err, &e):
			return Grant{}, e.retryable(), out.err
		}
		return Grant{}, false, fmt.Errorf("client: %v: %w", k, out.err)
	}
	r := out.res
	if r.Error == "" {
		return Grant{SKU: k.sku, Granted: r.Granted, Remaining: r.Remaining}, false, nil
	}
	e := &Error{Code: r.Code, Kind: r.Error, Message: itemMessage(r.Error, n, r.Remaining), SKU: k.sku, Remaining: r.Remaining}
	if e.Code == 0 {
		e.Code = wire.Code(e.Kind)
	}
	return Grant{}, e.retryable(), e
}

// itemMessage stands in for the message a batch reply does not carry: the
// single subjects' message where the result alone gives it, else a
// generic one.
func itemMessage(kind string, n, remaining int64) string {
	switch kind {
	case wire.ErrSoldOut:
		return "sold out"
	case wire.ErrInsufficient:
		return fmt.Sprintf("%d requested, %d remaining", n, remaining)
	case wire.ErrUnknownSKU:
		return "no such sku"
	case wire.ErrUnavailable:
		return "this node is not serving; retry"
	case wire.ErrBuyerLimit:
		return "over the per-buyer cap"
	}
	return kind + " (a batch reply carries no reason; the same request on the single subject gets one)"
}
