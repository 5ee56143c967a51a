package client

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

// HoldItem is one hold of Holds: n units of SKU under ID for TTL (0: the
// responder's default of 15 minutes), for Buyer ("" for none; see
// WithBuyer), as Hold takes them.
type HoldItem struct {
	SKU   string
	ID    string
	N     int64
	TTL   time.Duration
	Buyer string
}

// HoldResult is the outcome of one item of Holds: its Hold, or an error as
// Hold would return it (an *Error for a refusal, such as ErrSoldOut).
type HoldResult struct {
	Hold Hold
	Err  error
}

// Holds makes many holds in one message on the batch hold subject, each as
// Hold would: all or none of its units, under its id, durable before the
// reply. Items answered unavailable are sent again, with their ids, until
// they get a final answer; a repeat of a hold that was made returns its
// first answer, so nothing is held twice. Items that fail the checks Hold
// makes before sending are not sent. If the call ends before every item is
// answered (ctx ended, the whole message was refused, the client closed),
// the items left get the call's error, which Holds returns too.
//
// With partitions the items of each partition go in a message of their own
// to its batch hold subject, all sent at once, and each message is retried
// on its own: a partition that fails gives its error to its own items
// only, and Holds returns that error (several are joined). Results are in
// the order of items whatever the partitions.
func (c *Client) Holds(ctx context.Context, items []HoldItem) ([]HoldResult, error) {
	if len(items) > wire.MaxBatchItems {
		return nil, &Error{Code: 400, Kind: wire.ErrBadRequest, Message: fmt.Sprintf("%d holds in one batch, over the limit of %d (checked before sending)", len(items), wire.MaxBatchItems)}
	}
	out := make([]HoldResult, len(items))
	send := make([]int, 0, len(items)) // the items still to answer
	reqs := make([]wire.HoldItem, len(items))
	for i, it := range items {
		secs, err := checkHold(it.SKU, it.ID, it.TTL)
		if err == nil && it.N < 1 {
			err = &Error{Code: 400, Kind: wire.ErrBadRequest, SKU: it.SKU, Message: "n must be at least 1 (checked before sending)"}
		}
		if err == nil && it.Buyer != "" {
			err = checkBuyer(it.SKU, &callOptions{buyer: it.Buyer, buyerSet: true})
		}
		if err != nil {
			out[i].Err = err
			continue
		}
		reqs[i] = wire.HoldItem{SKU: it.SKU, N: it.N, ID: it.ID, TTLs: secs, Buyer: it.Buyer}
		send = append(send, i)
	}
	if len(send) == 0 {
		return out, nil
	}
	r, err := c.routesFor(ctx)
	if err != nil {
		for _, i := range send {
			out[i].Err = err
		}
		return out, err
	}
	if r.n == 1 {
		k := call{op: "hold batch", sku: fmt.Sprintf("%d items", len(send)), subject: r.holdBatch[0]}
		return out, c.holdBatch(ctx, k, items, reqs, send, out)
	}
	parts := splitByPartition(r, items, send)
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for j, g := range parts {
		k := call{op: "hold batch", sku: fmt.Sprintf("%d items of partition %d", len(g.items), g.part), subject: r.holdBatch[g.part]}
		wg.Go(func() { errs[j] = c.holdBatch(ctx, k, items, reqs, g.items, out) })
	}
	wg.Wait()
	return out, joinErrors(errs)
}

// partGroup is the indexes of the items of one partition, in their order.
type partGroup struct {
	part  int
	items []int
}

// splitByPartition groups the items at indexes send by partition, the
// groups in the order of their first item.
func splitByPartition(r *routes, items []HoldItem, send []int) []partGroup {
	var groups []partGroup
	at := make(map[int]int) // partition -> its group
	for _, i := range send {
		p := r.part(items[i].SKU)
		g, ok := at[p]
		if !ok {
			g = len(groups)
			at[p] = g
			groups = append(groups, partGroup{part: p})
		}
		groups[g].items = append(groups[g].items, i)
	}
	return groups
}

// joinErrors is nil, the one error of errs, or all of them joined.
func joinErrors(errs []error) error {
	var failed []error
	for _, err := range errs {
		if err != nil {
			failed = append(failed, err)
		}
	}
	if len(failed) == 1 {
		return failed[0]
	}
	return errors.Join(failed...)
}

// holdBatch sends the items of items at indexes send on k's subject until
// each has a final answer, writing their results to out (only at those
// indexes, so that messages of several partitions may run at once). If the
// call ends first, the items left get its error, which holdBatch returns.
func (c *Client) holdBatch(ctx context.Context, k call, items []HoldItem, reqs []wire.HoldItem, send []int, out []HoldResult) error {
	k.body = holdBatchBody(reqs, send)
	err := c.retry(ctx, &k, func(m *nats.Msg) (again, err error) {
		if m.Header.Get(wire.HeaderErrorCode) != "" { // the whole message was refused
			_, err := decodeReply(m, "")
			if e := (*Error)(nil); errors.As(err, &e) && e.retryable() {
				return err, nil
			}
			return nil, err
		}
		var rs []wire.HoldResult
		if err := json.Unmarshal(m.Data, &rs); err != nil || len(rs) != len(send) {
			return nil, fmt.Errorf("client: %v: reply %.64q is not a reply to %d holds (%v)", k, m.Data, len(send), err)
		}
		left := send[:0]
		for j, r := range rs {
			i := send[j]
			if r.Error == "" {
				out[i].Hold, out[i].Err = holdOf(r.Reply)
				continue
			}
			e := &Error{Code: r.Code, Kind: r.Error, Message: r.Message, SKU: items[i].SKU, Remaining: r.Remaining,
				Bought: r.Bought, Held: r.Held, PerBuyer: r.PerBuyer}
			if out[i].Err = e; e.retryable() {
				left, again = append(left, i), e
			}
		}
		send = left
		k.body = holdBatchBody(reqs, send)
		return again, nil
	})
	if err != nil {
		for _, i := range send {
			out[i].Err = err
		}
	}
	return err
}

// holdBatchBody is the request body of the items of reqs at indexes send.
func holdBatchBody(reqs []wire.HoldItem, send []int) []byte {
	b := make([]wire.HoldItem, len(send))
	for j, i := range send {
		b[j] = reqs[i]
	}
	body, _ := json.Marshal(b) // ints and strings cannot fail
	return body
}
