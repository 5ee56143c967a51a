package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stockstate/stock/wire"
)

// ErrClosed is returned by every call of a Client after Close, and by a
// batched Acquire that Close ended. An Acquire whose batch was in flight
// when Close ended it has an unknown outcome, as after a timeout.
var ErrClosed = errors.New("client: closed")

// binaryBatch is the first byte of a binary batch request and reply.
const binaryBatch = 0x01

// pending is one attempt of a batched Acquire, from the call that queues it
// to the outcome a sender hands back.
type pending struct {
	item  wire.BatchItem
	state atomic.Int32 // pendQueued, pendSent or pendAbandoned
	out   chan outcome // buffered: a sender never waits for the caller
}

// States of a pending attempt. Only queued moves: to sent when a sender
// takes it, to abandoned when its caller gives up first, so an attempt
// abandoned in the queue is never sent.
const (
	pendQueued int32 = iota
	pendSent
	pendAbandoned
)

// outcome is a sender's answer to one attempt: the item's result, or why
// the whole batch failed (err, with res unset).
type outcome struct {
	res wire.BatchResult
	err error
}

// batcher coalesces acquires into batch requests, one lane per partition:
// each lane has its queue and its batch subject. Callers queue attempts in
// their SKU's lane; MaxInFlight sender goroutines per lane each take what
// is queued (up to MaxBatch items), send it as one request, wait for the
// reply and hand each item its result, then take again. A sender wakes as
// soon as something is queued, so an idle client adds no delay; while every
// sender of a lane waits for a reply, what arrives queues up and forms the
// next batch. Lanes are independent, as their partitions' leaders are: a
// lane whose partition is slow or failing over holds up only its own
// items. A lane is made, and its senders started, with its first item.
//
// The senders retry nothing: a failed batch fails each of its attempts,
// and each caller decides, with its own context and backoff, whether to
// queue the same item (and so the same id) again.
type batcher struct {
	t        transport
	timeout  time.Duration // of one batch request
	maxBatch int
	senders  int // per lane

	pool   sync.Pool // of *pending
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex // guards lanes, their queues and closed
	lanes  []*lane    // by partition; nil until the first item, a lane nil until its first
	closed bool
}

// lane is the queue of one partition's batch subject.
type lane struct {
	subject string
	wake    chan struct{} // a token: something may be queued
	queue   []*pending    // in arrival order; under batcher.mu
}

func newBatcher(t transport, cfg Config) *batcher {
	ctx, cancel := context.WithCancel(context.Background())
	return &batcher{
		t:        t,
		timeout:  cfg.Timeout,
		maxBatch: cfg.MaxBatch,
		senders:  cfg.MaxInFlight,
		ctx:      ctx,
		cancel:   cancel,
	}
}

// enqueue queues p for the next batch of partition part of r; it fails
// only once the batcher is closed.
func (b *batcher) enqueue(p *pending, r *routes, part int) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	if b.lanes == nil {
		b.lanes = make([]*lane, r.n)
	}
	l := b.lanes[part]
	if l == nil {
		l = &lane{subject: r.batch[part], wake: make(chan struct{}, 1)}
		b.lanes[part] = l
		for range b.senders {
			b.wg.Go(func() { b.run(l) })
		}
	}
	l.queue = append(l.queue, p)
	b.mu.Unlock()
	l.signal()
	return nil
}

func (l *lane) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// close fails what is queued with ErrClosed, ends the batches in flight
// (their attempts get ErrClosed too) and waits for the senders to return.
func (b *batcher) close() {
	b.mu.Lock()
	b.closed = true
	var queued []*pending
	for _, l := range b.lanes {
		if l != nil {
			queued = append(queued, l.queue...)
			l.queue = nil
		}
	}
	b.mu.Unlock()
	for _, p := range queued {
		if p.state.CompareAndSwap(pendQueued, pendSent) {
			p.out <- outcome{err: ErrClosed}
		}
	}
	b.cancel()
	b.wg.Wait()
}

// get returns a pending for it, recycled if one is free.
func (b *batcher) get(it wire.BatchItem) *pending {
	p, _ := b.pool.Get().(*pending)
	if p == nil {
		p = &pending{out: make(chan outcome, 1)}
	}
	p.item = it
	return p
}

// put recycles p. Only for a p whose last attempt's outcome its caller has
// received, so that no sender holds it any more; one whose caller gave up
// may still get an outcome, and is left to the garbage collector.
func (b *batcher) put(p *pending) {
	p.item = wire.BatchItem{}
	b.pool.Put(p)
}

// run is one sender of lane l: at most one batch of it is in flight.
func (b *batcher) run(l *lane) {
	var s sendBuffers
	for {
		select {
		case <-l.wake:
		case <-b.ctx.Done():
			return
		}
		for {
			s.pend = b.take(l, s.pend[:0])
			if len(s.pend) == 0 {
				break
			}
			b.send(l.subject, &s)
			clear(s.pend) // let finished attempts go
		}
	}
}

// take moves up to maxBatch attempts queued in l, in arrival order, into
// out, skipping abandoned ones, and keeps the encoded batch within
// wire.MaxBatchBody. If attempts remain queued it wakes another sender.
func (b *batcher) take(l *lane, out []*pending) []*pending {
	b.mu.Lock()
	defer b.mu.Unlock()
	size := 1 + 4 // version byte and item count
	i := 0
	for ; i < len(l.queue) && len(out) < b.maxBatch; i++ {
		p := l.queue[i]
		n := itemSize(p.item)
		if len(out) > 0 && size+n > wire.MaxBatchBody {
			break // p goes first in the next batch
		}
		if !p.state.CompareAndSwap(pendQueued, pendSent) {
			continue // its caller gave up
		}
		size += n
		out = append(out, p)
	}
	rest := copy(l.queue, l.queue[i:])
	clear(l.queue[rest:])
	l.queue = l.queue[:rest]
	if rest > 0 {
		l.signal()
	}
	return out
}

// itemSize bounds the encoded size of it in a binary batch.
func itemSize(it wire.BatchItem) int {
	return 3*10 + len(it.SKU) + len(it.ID)
}

// sendBuffers are a sender's buffers, reused from batch to batch.
type sendBuffers struct {
	pend    []*pending
	items   []wire.BatchItem
	body    []byte
	results []wire.BatchResult
}

// send makes one request of the attempts in s.pend on subject and hands
// each its outcome.
func (b *batcher) send(subject string, s *sendBuffers) {
	s.items = s.items[:0]
	for _, p := range s.pend {
		s.items = append(s.items, p.item)
	}
	s.body = wire.AppendBatchRequest(s.body[:0], s.items)
	ctx, cancel := context.WithTimeout(b.ctx, b.timeout)
	m, err := b.t.request(ctx, subject, s.body)
	cancel()
	if err != nil {
		b.failAll(s.pend, b.attemptError(err))
		return
	}
	if len(m.Data) == 0 || m.Data[0] != binaryBatch {
		// Not a batch reply: one error for the whole batch, as a
		// responder that is stepping down sends, or a reply that makes
		// no sense.
		var e *Error
		if _, err := decodeReply(m, ""); !errors.As(err, &e) {
			b.failAll(s.pend, fmt.Errorf("reply %.64q is neither a batch reply nor an error reply", m.Data))
			return
		}
		b.failAll(s.pend, e)
		return
	}
	s.results, err = wire.DecodeBatchReply(m.Data, s.results)
	if err == nil && len(s.results) != len(s.pend) {
		err = fmt.Errorf("%d results for %d items", len(s.results), len(s.pend))
	}
	if err != nil {
		b.failAll(s.pend, fmt.Errorf("batch reply %.64q: %w", m.Data, err))
		return
	}
	for i, p := range s.pend {
		p.out <- outcome{res: s.results[i]}
	}
}

// attemptError names why a batch request got no reply.
func (b *batcher) attemptError(err error) error {
	switch {
	case b.ctx.Err() != nil:
		return ErrClosed
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
		return fmt.Errorf("%w: no reply within %v", nats.ErrTimeout, b.timeout)
	}
	return err
}

// failAll hands err to every attempt of a batch; an *Error goes to each as
// its own copy, naming its SKU.
func (b *batcher) failAll(pend []*pending, err error) {
	var e *Error
	isReply := errors.As(err, &e)
	for _, p := range pend {
		if isReply {
			c := *e
			c.SKU = p.item.SKU
			p.out <- outcome{err: &c}
			continue
		}
		p.out <- outcome{err: err}
	}
}
