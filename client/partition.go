package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/wire"
)

// routes are the subjects of a cluster of n partitions, computed once so
// that a call only hashes its SKU and joins strings it already has. They
// never change: a cluster's number of partitions is fixed.
type routes struct {
	n         int
	suffix    []string // per partition, ".<p>" ending a SKU subject; nil when n is 1
	batch     []string // per partition, the acquire batch subject
	holdBatch []string // per partition, the hold batch subject
}

// newRoutes returns the routes of n partitions under prefix. With n 1 the
// batch subjects are <prefix>.acquire and <prefix>.hold and SKU subjects
// end in the SKU: the protocol without partitions.
func newRoutes(prefix string, n int) *routes {
	r := &routes{n: n, batch: make([]string, n), holdBatch: make([]string, n)}
	if n == 1 {
		r.batch[0] = prefix + "." + wire.SubjectAcquire
		r.holdBatch[0] = prefix + "." + wire.SubjectHold
		return r
	}
	r.suffix = make([]string, n)
	for p := range n {
		r.suffix[p] = "." + strconv.Itoa(p)
		r.batch[p] = wire.PartitionBatchSubject(prefix, wire.SubjectAcquire, p)
		r.holdBatch[p] = wire.PartitionBatchSubject(prefix, wire.SubjectHold, p)
	}
	return r
}

// part is the partition of sku.
func (r *routes) part(sku string) int { return wire.Partition(sku, r.n) }

// skuSubject is the subject of sku under base (a verb's subject ending in
// "."): wire.SKUSubject, from the strings computed once.
func (r *routes) skuSubject(base, sku string) string {
	if r.n < 2 {
		return base + sku
	}
	return base + sku + r.suffix[r.part(sku)]
}

// discovery is the one question about the cluster's partitions in
// progress, if any: concurrent calls of a Client that does not know them
// yet wait for it rather than each asking.
type discovery struct {
	mu      sync.Mutex
	running chan struct{} // closed when the question in progress ends; nil when none is
}

// Partitions returns the number of partitions the Client routes by:
// Config.Partitions, or when that is 0 the cluster's answer on
// <prefix>.partitions, asked once, on the first call that needs it. Asking
// is retried as a call is (no responders, timeouts, unavailable) until ctx
// ends or CallTimeout passes; an answer that is not {"partitions":P} fails
// it. A failed question is asked again by the next call.
func (c *Client) Partitions(ctx context.Context) (int, error) {
	r, err := c.routesFor(ctx)
	if err != nil {
		return 0, err
	}
	return r.n, nil
}

// routesFor returns the Client's routes, asking the cluster first if it
// does not know its partitions yet.
func (c *Client) routesFor(ctx context.Context) (*routes, error) {
	if r := c.routes.Load(); r != nil {
		return r, nil
	}
	return c.discover(ctx)
}

// discover asks the cluster for its partitions, or waits for the question
// another call is asking; when that one fails, this call asks itself, so
// each call ends by its own context.
func (c *Client) discover(ctx context.Context) (*routes, error) {
	d := &c.disc
	for {
		d.mu.Lock()
		if r := c.routes.Load(); r != nil {
			d.mu.Unlock()
			return r, nil
		}
		wait := d.running
		if wait == nil {
			done := make(chan struct{})
			d.running = done
			d.mu.Unlock()
			n, err := c.askPartitions(ctx)
			d.mu.Lock()
			var r *routes
			if err == nil {
				r = newRoutes(c.cfg.Prefix, n)
				c.routes.Store(r)
			}
			d.running = nil
			close(done)
			d.mu.Unlock()
			return r, err
		}
		d.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, fmt.Errorf("client: waiting for the partitions of %s: %w", c.cfg.Prefix, ctx.Err())
		}
	}
}

// askPartitions requests <prefix>.partitions until a reply is final.
func (c *Client) askPartitions(ctx context.Context) (int, error) {
	subject := c.cfg.Prefix + "." + wire.SubjectPartitions
	k := call{op: "ask", sku: subject, subject: subject}
	var n int
	err := c.retry(ctx, &k, func(m *nats.Msg) (again, err error) {
		if m.Header.Get(wire.HeaderErrorCode) != "" {
			_, err := decodeReply(m, subject)
			if e := (*Error)(nil); errors.As(err, &e) && e.retryable() {
				return err, nil
			}
			return nil, err
		}
		if n, err = wire.DecodePartitions(m.Data); err != nil {
			return nil, fmt.Errorf("client: %v: reply %.64q: %w", k, m.Data, err)
		}
		return nil, nil
	})
	return n, err
}
