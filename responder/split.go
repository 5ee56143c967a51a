package responder

import (
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/wire"
)

// With P > 1 partitions, a batch sent to <prefix>.acquire or <prefix>.hold
// may name SKUs of every partition, while each partition's leader serves
// only its own. Every process then takes such batches in one queue group
// shared by all of them (so one process handles each message), and splits
// each: it reads the batch as the leaders' batch handlers do, answers the
// items that cannot be read bad_request itself, sends the rest of each
// partition as one sub-batch in the request's encoding to that partition's
// batch subject, all partitions at once, and puts the sub-replies' items back
// at their positions. A partition without a leader is asked again until
// the timeout (see request). One that does not answer in time or answers
// an error gives unavailable to each of its items, which the client may
// retry; the other items keep their answers.

// answerSplits subscribes to the unpartitioned batch subjects and splits each batch by partition.
//
// queue is the queue group of every process's splitter and must not be
// empty. A batch takes what a leader's batch handler takes: up to
// wire.MaxBatchBody bytes and wire.MaxBatchItems items, so that a batch is
// refused here exactly when a leader would refuse it. Each sub-batch waits at most
// timeout for its partition. The handlers decode on the subscriptions'
// goroutines and wait for partitions on one goroutine per partition a
// batch names, so batches are split concurrently; whichever sub-reply comes
// last sends the reply. After Unsubscribe no batch is taken, and those in
// flight are still answered, within timeout.
func answerSplits(nc *nats.Conn, prefix, queue string, partitions int, timeout time.Duration, log *slog.Logger) ([]*nats.Subscription, error) {
	switch {
	case nc == nil:
		return nil, errors.New("responder: split: nil connection")
	case !wire.ValidPrefix(prefix):
		return nil, fmt.Errorf("responder: split: prefix %q is not a NATS subject prefix", prefix)
	case queue == "":
		return nil, errors.New("responder: split: empty queue group: every process would answer every batch")
	case partitions < 2 || partitions > wire.MaxPartitions:
		return nil, fmt.Errorf("responder: split: %d partitions: splitting needs 2 to %d", partitions, wire.MaxPartitions)
	case timeout <= 0:
		return nil, errors.New("responder: split: timeout must be positive")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &splitter{nc: nc, partitions: partitions, timeout: timeout, log: log}
	for p := range partitions {
		s.acquire = append(s.acquire, wire.PartitionBatchSubject(prefix, wire.SubjectAcquire, p))
		s.hold = append(s.hold, wire.PartitionBatchSubject(prefix, wire.SubjectHold, p))
	}
	var subs []*nats.Subscription
	for _, h := range []struct {
		verb string
		cb   nats.MsgHandler
	}{{wire.SubjectAcquire, s.onAcquire}, {wire.SubjectHold, s.onHold}} {
		sub, err := nc.QueueSubscribe(prefix+"."+h.verb, queue, h.cb)
		if err != nil {
			for _, o := range subs {
				_ = o.Unsubscribe()
			}
			return nil, fmt.Errorf("responder: split: subscribe to %s.%s: %w", prefix, h.verb, err)
		}
		subs = append(subs, sub)
	}
	return subs, nil
}

// splitter holds what every split needs: the connection, and per
// partition its batch subjects.
type splitter struct {
	nc         *nats.Conn
	partitions int
	timeout    time.Duration
	log        *slog.Logger
	acquire    []string // per partition, its acquire batch subject
	hold       []string // per partition, its hold batch subject
}

// onAcquire splits an acquire batch, binary or JSON. Items that do not read
// well, or that the leaders' ItemError refuses, are answered bad_request
// here with the message a leader gives.
func (s *splitter) onAcquire(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	body := m.Data
	binary := len(body) > 0 && body[0] == wire.BatchBinary
	var items []wire.ItemSpan
	var data []byte
	var msgs []string
	var err error
	switch {
	case len(body) > wire.MaxBatchBody:
		err = wire.ErrBodyTooLarge(len(body), wire.MaxBatchBody)
	case binary:
		data = body
		items, err = wire.DecodeBinaryBatch(body, nil)
	default:
		items, data, msgs, err = wire.DecodeJSONBatch(body, nil, nil, nil)
	}
	if err != nil {
		s.refuse(m.Reply, err)
		return
	}
	b := newSplitBatch(s, m.Reply, len(items), binary)
	part := make([]int, len(items))
	for i := range items {
		it := &items[i]
		msg := ""
		if !binary {
			b.skus[i], msg = string(it.SKU(data)), msgs[i]
		}
		if msg == "" {
			msg = wire.ItemError(data, it)
		}
		if msg != "" {
			b.fail(i, wire.ErrBadRequest, msg)
			part[i] = -1
			continue
		}
		part[i] = wire.Partition(it.SKU(data), s.partitions)
	}
	b.forward(part, s.acquire, func(idx []int) []byte {
		if binary {
			return wire.AppendBinaryItems(nil, data, items, idx)
		}
		return wire.AppendJSONItems(nil, data, items, idx)
	})
}

// onHold splits a hold batch (JSON only). Items that do not read well are
// answered bad_request here with the message a leader gives.
func (s *splitter) onHold(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	var specs []wire.HoldSpec
	var msgs []string
	var err error
	if len(m.Data) > wire.MaxBatchBody {
		err = wire.ErrBodyTooLarge(len(m.Data), wire.MaxBatchBody)
	} else {
		specs, msgs, err = wire.DecodeHoldBatch(m.Data)
	}
	if err != nil {
		s.refuse(m.Reply, err)
		return
	}
	b := newSplitBatch(s, m.Reply, len(specs), false)
	part := make([]int, len(specs))
	for i := range specs {
		b.skus[i] = specs[i].SKU
		if msgs[i] != "" {
			b.fail(i, wire.ErrBadRequest, msgs[i])
			part[i] = -1
			continue
		}
		part[i] = wire.Partition(specs[i].SKU, s.partitions)
	}
	b.forward(part, s.hold, func(idx []int) []byte { return wire.AppendHoldItems(nil, specs, idx) })
}

// refuse answers a message that is not a batch with one bad_request error,
// with the micro error headers, as the leaders do.
func (s *splitter) refuse(reply string, err error) {
	a := errorAnswer("", 0, wire.ErrBadRequest, err.Error())
	if err := s.nc.PublishMsg(a.msg(reply)); err != nil {
		s.log.Warn("split: reply not sent", "err", err)
	}
}

// splitBatch is one batch being split. Each sub-batch's goroutine writes
// only the positions of its own items; the one that ends last (pending
// reaching zero orders every write before it) sends the reply.
type splitBatch struct {
	s       *splitter
	reply   string
	binary  bool
	skus    []string          // JSON: per item, its SKU as sent
	results []wire.ItemResult // binary: per item, its result
	items   [][]byte          // JSON: per item, its element of the reply
	pending atomic.Int32      // sub-batches not yet answered
}

func newSplitBatch(s *splitter, reply string, n int, binary bool) *splitBatch {
	b := &splitBatch{s: s, reply: reply, binary: binary}
	if binary {
		b.results = make([]wire.ItemResult, n)
	} else {
		b.skus, b.items = make([]string, n), make([][]byte, n)
	}
	return b
}

// fail answers item i with an error of kind, as a leader's batch answers an
// item: no units, remaining 0.
func (b *splitBatch) fail(i int, kind, msg string) {
	if b.binary {
		b.results[i] = wire.ItemResult{Status: wire.StatusOf(kind)}
		return
	}
	b.items[i] = wire.AppendItemError(nil, b.skus[i], 0, kind, msg)
}

// forward groups the items by part (-1: answered already), sends each
// group, encoded by encode, to its partition's subject of subjects, and
// replies once every group is answered (at once if there is none).
func (b *splitBatch) forward(part []int, subjects []string, encode func(idx []int) []byte) {
	group := make(map[int][]int)
	var order []int // partitions in order of their first item, for a stable send order
	for i, p := range part {
		if p < 0 {
			continue
		}
		if _, ok := group[p]; !ok {
			order = append(order, p)
		}
		group[p] = append(group[p], i)
	}
	if len(order) == 0 {
		b.send()
		return
	}
	b.pending.Store(int32(len(order)))
	for _, p := range order {
		idx := group[p]
		req := &nats.Msg{Subject: subjects[p], Data: encode(idx)}
		go b.ask(p, req, idx)
	}
}

// ask sends one sub-batch and records its items' answers; the last
// sub-batch to end sends the reply.
func (b *splitBatch) ask(p int, req *nats.Msg, idx []int) {
	m, err := b.request(req)
	switch {
	case err != nil:
		b.s.log.Debug("split: partition did not answer", "partition", p, "subject", req.Subject, "err", err)
		b.failAll(idx, wire.ErrUnavailable, fmt.Sprintf("partition %d did not answer (%v); retry", p, err))
	case m.Header.Get(wire.HeaderErrorCode) != "":
		b.failAll(idx, wire.ErrUnavailable, fmt.Sprintf("partition %d answered %s %s; retry", p, m.Header.Get(wire.HeaderErrorCode), m.Header.Get(wire.HeaderError)))
	default:
		if err := b.record(idx, m.Data); err != nil {
			b.s.log.Warn("split: partition's reply is not a batch reply", "partition", p, "subject", req.Subject, "err", err)
			b.failAll(idx, wire.ErrInternal, fmt.Sprintf("partition %d answered a reply that cannot be read: %v", p, err))
		}
	}
	if b.pending.Add(-1) == 0 {
		b.send()
	}
}

// request sends req and waits for its reply, within the splitter's
// timeout. No responders means that no process took the message: its
// partition is between two leaders, as in a handoff. It is then sent
// again after a pause that grows from 5 to 50 ms, which is safe because
// nothing was served.
func (b *splitBatch) request(req *nats.Msg) (*nats.Msg, error) {
	deadline := time.Now().Add(b.s.timeout)
	pause := 5 * time.Millisecond
	for {
		m, err := b.s.nc.RequestMsg(req, time.Until(deadline))
		if !errors.Is(err, nats.ErrNoResponders) || time.Until(deadline) <= pause {
			return m, err
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// record puts the items of a sub-batch's reply at the positions idx.
func (b *splitBatch) record(idx []int, body []byte) error {
	if b.binary {
		rs, err := wire.DecodeBinaryResults(body, nil)
		if err != nil {
			return err
		}
		if len(rs) != len(idx) {
			return fmt.Errorf("%d results for %d items", len(rs), len(idx))
		}
		for k, i := range idx {
			b.results[i] = rs[k]
		}
		return nil
	}
	raw, err := wire.JSONReplyItems(body)
	if err != nil {
		return err
	}
	if len(raw) != len(idx) {
		return fmt.Errorf("%d results for %d items", len(raw), len(idx))
	}
	for k, i := range idx {
		b.items[i] = raw[k]
	}
	return nil
}

func (b *splitBatch) failAll(idx []int, kind, msg string) {
	for _, i := range idx {
		b.fail(i, kind, msg)
	}
}

// send publishes the reply: every item's answer, in order, in the
// request's encoding.
func (b *splitBatch) send() {
	var body []byte
	if b.binary {
		body = wire.AppendBinaryReply(nil, b.results)
	} else {
		n := 2
		for _, it := range b.items {
			n += len(it) + 1
		}
		body = make([]byte, 0, n)
		body = append(body, '[')
		for i, it := range b.items {
			if i > 0 {
				body = append(body, ',')
			}
			body = append(body, it...)
		}
		body = append(body, ']')
	}
	if err := b.s.nc.Publish(b.reply, body); err != nil {
		b.s.log.Warn("split: reply not sent", "err", err)
	}
}
