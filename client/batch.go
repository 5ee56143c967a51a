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

// batcher coalesces acquires into batch requests on one subject. Callers
// queue attempts; MaxInFlight sender goroutines each take what is queued
// (up to MaxBatch items), send it as one request, wait for the reply and
// hand each item its result, then take again. A sender wakes as soon as
// something is queued, so an idle client adds no delay; while every sender
// waits for a reply, what arrives queues up and forms the next batch.
//
// The senders retry nothing: a failed batch fails each of its attempts,
// and each caller decides, with its own context and backoff, whether to
// queue the same item (and so the same id) again.
type batcher struct {
	t        transport
	subject  string
	timeout  time.Duration // of one batch request
	maxBatch int

	wake   chan struct{} // a token: something may be queued
	pool   sync.Pool     // of *pending
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	queue  []*pending // in arrival order
	closed bool
}

func newBatcher(t transport, subject string, cfg Config) *batcher {
	ctx, cancel := context.WithCancel(context.Background())
	b := &batcher{
		t:        t,
		subject:  subject,
		timeout:  cfg.Timeout,
		maxBatch: cfg.MaxBatch,
		wake:     make(chan struct{}, 1),
		ctx:      ctx,
		cancel:   cancel,
	}
	for range cfg.MaxInFlight {
		b.wg.Go(b.run)
	}
	return b
}

// enqueue queues p for the next batch; it fails only once the batcher is
// closed.
func (b *batcher) enqueue(p *pending) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.queue = append(b.queue, p)
	b.mu.Unlock()
	b.signal()
	return nil
}

func (b *batcher) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// close fails what is queued with ErrClosed, ends the batches in flight
// (their attempts get ErrClosed too) and waits for the senders to return.
func (b *batcher) close() {
	b.mu.Lock()
	b.closed = true
	queued := b.queue
	b.queue = nil
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

// run is one sender: at most one batch of it is in flight.
func (b *batcher) run() {
	var s sendBuffers
	for {
		select {
		case <-b.wake:
		case <-b.ctx.Done():
			return
		}
		for {
			s.pend = b.take(s.pend[:0])
			if len(s.pend) == 0 {
				break
			}
			b.send(&s)
			clear(s.pend) // let finished attempts go
		}
	}
}

// take moves up to maxBatch queued attempts, in arrival order, into out,
// skipping abandoned ones, and keeps the encoded batch within
// wire.MaxBatchBody. If attempts remain queued it wakes another sender.
func (b *batcher) take(out []*pending) []*pending {
	b.mu.Lock()
	defer b.mu.Unlock()
	size := 1 + 4 // version byte and item count
	i := 0
	for ; i < len(b.queue) && len(out) < b.maxBatch; i++ {
		p := b.queue[i]
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
	rest := copy(b.queue, b.queue[i:])
	clear(b.queue[rest:])
	b.queue = b.queue[:rest]
	if rest > 0 {
		b.signal()
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

// send makes one request of the attempts in s.pend and hands each its
// outcome.
func (b *batcher) send(s *sendBuffers) {
	s.items = s.items[:0]
	for _, p := range s.pend {
		s.items = append(s.items, p.item)
	}
	s.body = wire.AppendBatchRequest(s.body[:0], s.items)
	ctx, cancel := context.WithTimeout(b.ctx, b.timeout)
	m, err := b.t.request(ctx, b.subject, s.body)
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
