package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stockstate/stock/wire"
)

// transport sends one attempt of a request and waits for its reply, or for
// ctx to end. The retry loop (do) sits above it, and so does the batcher,
// whose senders send each batch through it; the batched Acquire's retry
// loop sits above the batcher.
type transport interface {
	request(ctx context.Context, subject string, body []byte) (*nats.Msg, error)
}

// natsTransport is a plain NATS request.
type natsTransport struct{ nc *nats.Conn }

func (t natsTransport) request(ctx context.Context, subject string, body []byte) (*nats.Msg, error) {
	return t.nc.RequestWithContext(ctx, subject, body)
}

// call is one request of the protocol: every attempt sends the same body,
// and so the same id.
type call struct {
	op      string // "acquire", for error messages
	sku     string
	id      string // request id, "" if the subject takes none
	base    string // a SKU subject without its SKU (subjects); "" when subject is given
	subject string // the subject, or with base set by retry from the routes
	body    []byte
}

func (k call) String() string {
	if k.id == "" {
		return k.op + " " + k.sku
	}
	return k.op + " " + k.sku + " (id " + k.id + ")"
}

// do makes attempts of k until one gets a final reply (success or an error
// other than unavailable), an attempt fails in a way a retry cannot mend,
// or ctx (bounded by CallTimeout) ends. In the last case the error wraps
// both ctx's error and the last attempt's.
func (c *Client) do(ctx context.Context, k call) (wire.Reply, error) {
	var r wire.Reply
	err := c.retry(ctx, &k, func(m *nats.Msg) (again, err error) {
		r, err = decodeReply(m, k.sku)
		if e := (*Error)(nil); errors.As(err, &e) && e.retryable() {
			return err, nil
		}
		return nil, err
	})
	return r, err
}

// retry sends k until reply, given each reply message, returns no again
// error; again says why the attempt is retried, err ends the call. Timeouts
// of an attempt and no responders are retried too; retries back off, and
// stop when ctx (bounded by CallTimeout) ends, with an error that wraps
// both ctx's error and the last attempt's. reply may change k's body for
// the next attempt. A call with a base goes to its SKU's partition, which
// a Client that asks the cluster learns first, within the same bounds.
func (c *Client) retry(ctx context.Context, k *call, reply func(m *nats.Msg) (again, err error)) error {
	if c.closed.Load() {
		return fmt.Errorf("client: %v: %w", k, ErrClosed)
	}
	if c.cfg.CallTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.cfg.CallTimeout)
		defer cancel()
	}
	if k.base != "" {
		r, err := c.routesFor(ctx)
		if err != nil {
			return err
		}
		k.subject = r.skuSubject(k.base, k.sku)
	}
	var last error // why the previous attempt is being retried
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		m, err := c.t.request(actx, k.subject, k.body)
		cancel()
		switch {
		case err == nil:
			again, err := reply(m)
			if again == nil {
				return err
			}
			last = again
		case ctx.Err() != nil:
			return gaveUp(*k, attempt, ctx.Err(), last)
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
			// This attempt's deadline, not the caller's.
			last = fmt.Errorf("%w: no reply within %v", nats.ErrTimeout, c.cfg.Timeout)
		case errors.Is(err, nats.ErrNoResponders):
			last = err
		default:
			return fmt.Errorf("client: %v: %w", k, err)
		}
		if err := sleep(ctx, c.backoff(attempt)); err != nil {
			return gaveUp(*k, attempt, err, last)
		}
	}
}

// gaveUp is the error of a call whose context ended: it wraps the context's
// error and, if an attempt failed before, that failure.
func gaveUp(k call, attempts int, ctxErr, last error) error {
	if last == nil {
		return fmt.Errorf("client: %v: %w", k, ctxErr)
	}
	return fmt.Errorf("client: %v: gave up after %d attempts: %w; last attempt: %w", k, attempts, ctxErr, last)
}

// backoff is the wait before retry n (from 1): uniform in [0, ceiling),
// where the ceiling doubles from BackoffMin up to BackoffMax.
func (c *Client) backoff(n int) time.Duration {
	ceiling := c.cfg.BackoffMin
	for i := 1; i < n && ceiling < c.cfg.BackoffMax; i++ {
		if ceiling > c.cfg.BackoffMax/2 {
			ceiling = c.cfg.BackoffMax
			break
		}
		ceiling *= 2
	}
	ceiling = min(ceiling, c.cfg.BackoffMax)
	return rand.N(ceiling)
}

// sleep waits d, or until ctx ends and returns its error.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
