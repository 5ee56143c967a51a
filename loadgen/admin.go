package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stockstate/stock/wire"
)

// adminPatience bounds how long loadgen waits for the responder to answer a
// set or query while it fails over (no responders, unavailable).
const adminPatience = 15 * time.Second

// errReply is an error reply from the responder.
type errReply struct {
	Subject string
	Reply   wire.Reply
}

func (e *errReply) Error() string {
	msg := e.Reply.Error
	if e.Reply.Message != "" {
		msg += ": " + e.Reply.Message
	}
	return fmt.Sprintf("loadgen: %s: %s", e.Subject, msg)
}

// adminRequest sends body to subject and decodes the reply, retrying while
// nobody answers or the responder is unavailable (a failover), for up to
// adminPatience.
func adminRequest(ctx context.Context, nc *nats.Conn, subject string, body []byte, timeout time.Duration) (wire.Reply, error) {
	var r wire.Reply
	err := patiently(ctx, func(ctx context.Context) (err error) {
		r, err = adminRequestOnce(ctx, nc, subject, body, timeout)
		return err
	})
	return r, err
}

// patiently calls once until it returns an error other than no
// responders, a timeout or an unavailable reply, waiting 100ms between
// calls, for up to adminPatience.
func patiently(ctx context.Context, once func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, adminPatience)
	defer cancel()
	for {
		err := once(ctx)
		var er *errReply
		retry := errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) ||
			(errors.As(err, &er) && er.Reply.Error == wire.ErrUnavailable)
		if !retry {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (gave up after %v)", err, adminPatience)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func adminRequestOnce(ctx context.Context, nc *nats.Conn, subject string, body []byte, timeout time.Duration) (wire.Reply, error) {
	var r wire.Reply
	m, err := requestOnce(ctx, nc, subject, body, timeout)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(m.Data, &r); err != nil {
		return r, fmt.Errorf("loadgen: %s: reply %q: %w", subject, m.Data, err)
	}
	if r.Error != "" || (m.Header != nil && m.Header.Get(wire.HeaderErrorCode) != "") {
		if r.Error == "" {
			r.Error = m.Header.Get(wire.HeaderErrorCode) + " " + m.Header.Get(wire.HeaderError)
		}
		return r, &errReply{Subject: subject, Reply: r}
	}
	return r, nil
}

// requestOnce sends one request and waits up to timeout for its reply.
func requestOnce(ctx context.Context, nc *nats.Conn, subject string, body []byte, timeout time.Duration) (*nats.Msg, error) {
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m, err := nc.RequestWithContext(rctx, subject, body)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		err = nats.ErrTimeout
	}
	if err != nil {
		return nil, fmt.Errorf("loadgen: %s: %w", subject, err)
	}
	return m, nil
}

// setupSKUs creates the SKUs with the given limit and per-buyer cap (0:
// none) (admin.set), or, with existing, reads them (query), and returns
// their states; requests go to the SKUs' partitions among parts. Up to setupInFlight requests are in flight at once, so
// that the responder can batch the writes of many SKUs. A set whose reply
// does not show the cap asked for is an error: the run would not test it.
func setupSKUs(ctx context.Context, nc *nats.Conn, prefix string, parts int, names []string, limit, perBuyer int64, existing bool, timeout time.Duration) ([]SKUState, error) {
	const setupInFlight = 64
	body, err := json.Marshal(wire.SetRequest{Limit: limit, PerBuyer: perBuyer})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx) // the first error stops the rest
	defer cancel()
	states := make([]SKUState, len(names))
	errs := make([]error, len(names))
	sem := make(chan struct{}, setupInFlight)
	var wg sync.WaitGroup
	for i, name := range names {
		sem <- struct{}{}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			var r wire.Reply
			var err error
			if existing {
				r, err = adminRequest(ctx, nc, wire.SKUSubject(prefix, wire.SubjectQuery, name, parts), nil, timeout)
			} else {
				r, err = adminRequest(ctx, nc, wire.SKUSubject(prefix, wire.SubjectSet, name, parts), body, timeout)
			}
			if err == nil {
				err = checkState(name, r)
			}
			if err == nil && !existing && r.PerBuyer != perBuyer {
				err = fmt.Errorf("loadgen: SKU %s set with per_buyer %d, the reply says %d", name, perBuyer, r.PerBuyer)
			}
			if err != nil {
				cancel()
			}
			errs[i] = err
			states[i] = stateOf(name, r)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return states, nil
}

// queryStates reads the SKUs' states (after a run) from their partitions
// among parts.
func queryStates(ctx context.Context, nc *nats.Conn, prefix string, parts int, names []string, timeout time.Duration) ([]SKUState, error) {
	states := make([]SKUState, len(names))
	for i, name := range names {
		r, err := adminRequest(ctx, nc, wire.SKUSubject(prefix, wire.SubjectQuery, name, parts), nil, timeout)
		if err != nil {
			return nil, err
		}
		if err := checkState(name, r); err != nil {
			return nil, err
		}
		states[i] = stateOf(name, r)
	}
	return states, nil
}

func stateOf(name string, r wire.Reply) SKUState {
	return SKUState{Name: name, Limit: r.Limit, Sold: r.Sold, PerBuyer: r.PerBuyer}
}

func checkState(name string, r wire.Reply) error {
	if r.SKU != name {
		return fmt.Errorf("loadgen: asked about SKU %q, reply is about %q", name, r.SKU)
	}
	if r.Sold < 0 || r.Limit < 0 {
		return fmt.Errorf("loadgen: SKU %s: reply with limit %d, sold %d", name, r.Limit, r.Sold)
	}
	return nil
}
