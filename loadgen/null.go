package loadgen

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// NullResponder is the baseline throughput is quoted against: a plain NATS
// queue subscriber on <subject>.<sku> that answers every request with fixed
// bytes shaped like a grant, {"sku":"load0","granted":1,"remaining":1}, or,
// for batches, on <subject> itself with a fixed binary batch reply of as
// many granted items as loadgen puts in a batch. It
// has its own connection (so it does not share the load connections' socket
// and locks) and several subscriptions in one queue group, each delivering on
// its own goroutine, so that it is not the bottleneck on a multi-core box.
//
// It does no bookkeeping: the grants it sends all name the same unit, so
// null phases are never verified.
type NullResponder struct {
	nc     *nats.Conn
	closed chan struct{}
}

// nullQueue is the queue group of the null responders, so that several
// loadgens measuring at once share them rather than each answering all.
const nullQueue = "loadgen-null"

// StartNull connects to url and answers on subject.<sku> with the SKU names
// given, granting n units per reply, over subs subscriptions. With batch > 0
// it answers on subject instead, granting batch items of n units each.
func StartNull(url, subject string, names []string, n int64, batch, subs int, opts ...nats.Option) (*NullResponder, error) {
	r := &NullResponder{closed: make(chan struct{})}
	opts = append([]nats.Option{
		nats.Name("loadgen-null"),
		nats.ClosedHandler(func(*nats.Conn) { close(r.closed) }),
	}, opts...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("loadgen: null responder: connect: %w", err)
	}
	r.nc = nc
	replies := make(map[string][]byte, len(names))
	for _, name := range names {
		replies[name] = nullReply(name, n)
	}
	unknown := nullReply("", n)
	handle := func(m *nats.Msg) {
		body, ok := replies[m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]]
		if !ok {
			body = unknown
		}
		if m.Reply != "" {
			_ = nc.Publish(m.Reply, body)
		}
	}
	pattern := subject + ".*"
	if batch > 0 {
		body := nullBatchReply(batch, n)
		handle = func(m *nats.Msg) {
			if m.Reply != "" {
				_ = nc.Publish(m.Reply, body)
			}
		}
		pattern = subject
	}
	for range subs {
		sub, err := nc.QueueSubscribe(pattern, nullQueue, handle)
		if err == nil {
			err = sub.SetPendingLimits(-1, -1)
		}
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("loadgen: null responder: subscribe: %w", err)
		}
	}
	if err := nc.Flush(); err != nil {
		r.Close()
		return nil, fmt.Errorf("loadgen: null responder: flush: %w", err)
	}
	return r, nil
}

func nullReply(sku string, n int64) []byte {
	return []byte(`{"sku":"` + sku + `","granted":` + strconv.FormatInt(n, 10) + `,"remaining":1}`)
}

// Close drains the subscriptions (requests already received are answered)
// and closes the connection, waiting up to a few seconds for that. It is
// safe to call more than once.
func (r *NullResponder) Close() {
	if err := r.nc.Drain(); err != nil {
		r.nc.Close()
	}
	select {
	case <-r.closed:
	case <-time.After(5 * time.Second):
		r.nc.Close()
	}
}
