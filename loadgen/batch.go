package loadgen

import (
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stockstate/stock/wire"
)

// With -batch N each request is one message on the batch subject
// (<prefix>.acquire) carrying N acquires in the binary encoding of
// wire/batch.go, each of -n units of a SKU picked by -dist, without
// ids; with partitions, one message per partition among the N, on its
// batch subject (partition.go). The reply holds a result per item, in order; the SKU of each item is
// kept with the request, since the binary reply does not name it.
//
// Every item is counted as an acquire of its own: it ends in one Kind, its
// latency is its message's, recorded once per item (so percentiles are per
// acquire), and a granted item goes to the ledger like a single grant,
// naming the units [limit-remaining-n, limit-remaining). A reply that is not
// a batch reply (an error for the whole message, say unavailable) ends every
// item of the message in its Kind. "No responders", timeouts and send
// errors end every item of the message too.

// batchItems returns, per SKU, the binary encoding of one item acquiring n
// units of it without an id, as wire.AppendBatchRequest writes it, so
// that encoding a batch is copying bytes.
func batchItems(names []string, n int64) [][]byte {
	enc := make([][]byte, len(names))
	for i, name := range names {
		enc[i] = wire.AppendBatchRequest(nil, []wire.BatchItem{{SKU: name, N: n}})[2:] // after 0x01 and the count 1
	}
	return enc
}

// batchBufs recycles encoding buffers; publishes run on several goroutines.
type batchBufs struct{ pool sync.Pool }

func (b *batchBufs) get() *[]byte {
	if buf, ok := b.pool.Get().(*[]byte); ok {
		return buf
	}
	return new([]byte)
}

func (b *batchBufs) put(buf *[]byte) { b.pool.Put(buf) }

// publishBatch sends an attempt of the batch r with the given reply subject.
// It reads r.skus, which stay untouched while r is in flight. NATS copies
// the body before PublishRequest returns.
func (w *worker) publishBatch(r request, reply string) error {
	buf := w.ph.bufs.get()
	defer w.ph.bufs.put(buf)
	body := append((*buf)[:0], 0x01)
	body = binary.AppendUvarint(body, uint64(len(r.skus)))
	for _, k := range r.skus {
		body = append(body, w.ph.items[k]...)
	}
	*buf = body
	return w.nc.PublishRequest(w.ph.batchSubs[r.part], reply, body)
}

// batchResult is one result of a binary batch reply.
type batchResult struct {
	kind               Kind
	granted, remaining int64
}

// statusKinds maps a binary reply's status byte to its Kind.
var statusKinds = func() (k [len(wire.BatchStatuses)]Kind) {
	for i, s := range wire.BatchStatuses {
		k[i] = KindGranted
		if s != "" {
			k[i] = kindOfError(s)
		}
	}
	return k
}()

// decodeBatchReply reads a binary batch reply, as wire.DecodeBatchReply
// does, into out (reusing its storage).
func decodeBatchReply(body []byte, out []batchResult) ([]batchResult, error) {
	if len(body) == 0 || body[0] != 0x01 {
		return nil, errNotBatchReply
	}
	body = body[1:]
	count, k := binary.Uvarint(body)
	if k <= 0 || count > wire.MaxBatchItems {
		return nil, errNotBatchReply
	}
	body = body[k:]
	out = out[:0]
	for range count {
		if len(body) < 1 || int(body[0]) >= len(statusKinds) {
			return nil, errNotBatchReply
		}
		r := batchResult{kind: statusKinds[body[0]]}
		g, k1 := binary.Uvarint(body[1:])
		if k1 <= 0 {
			return nil, errNotBatchReply
		}
		rem, k2 := binary.Uvarint(body[1+k1:])
		if k2 <= 0 {
			return nil, errNotBatchReply
		}
		body = body[1+k1+k2:]
		r.granted, r.remaining = int64(g), int64(rem)
		out = append(out, r)
	}
	return out, nil
}

var errNotBatchReply = errors.New("not a binary batch reply")

// onBatchReply is onReply for batches.
func (w *worker) onBatchReply(m *nats.Msg) {
	now := w.ph.since()
	noResp := isNoResponders(m)
	whole := Kind(-1) // the Kind of every item, when the reply is not a batch reply
	var results []batchResult
	if !noResp {
		var err error
		if results, err = decodeBatchReply(m.Data, w.results); err == nil {
			w.results = results
		} else {
			var v wire.ReplyView
			if whole = classify(m, &v); whole == KindGranted {
				whole = KindInvalid // a single grant is no answer to a batch
			}
		}
	}
	seq, seqOK := w.seqOf(m.Subject)

	w.mu.Lock()
	r, ok := w.inflight[seq]
	if !seqOK || !ok {
		if !noResp {
			w.lateBatchLocked(seq, results, whole)
		}
		w.mu.Unlock()
		return
	}
	delete(w.inflight, seq)
	var next request
	var send bool
	if noResp {
		w.counts.Kinds[KindNoResponders] += r.items()
		if w.ph.closed {
			next, send = w.retryLocked(r, now)
		}
		w.maybeDoneLocked()
		w.mu.Unlock()
		if send {
			w.publish(next)
		}
		return
	}
	// The slot's next batch goes out before this reply is counted, so that
	// the counting overlaps the next round trip; recording keeps the phase
	// from ending in between.
	if w.ph.closed {
		next, send = w.slotNextLocked(r, now)
	}
	w.recording++
	w.mu.Unlock()
	if send {
		w.publish(next)
	}
	w.mu.Lock()
	w.recording--
	w.recordBatchLocked(r, results, whole, now)
	w.endLocked(r)
	w.maybeDoneLocked()
	w.mu.Unlock()
}

// recordBatchLocked counts the reply to batch r that came in time.
func (w *worker) recordBatchLocked(r request, results []batchResult, whole Kind, now time.Duration) {
	items := r.items()
	w.counts.MessageReplies++
	w.lastReply = now
	recordLatency(w.hist, now-r.first, items)
	if whole < 0 && len(results) != len(r.skus) {
		whole = KindInvalid
	}
	if whole >= 0 {
		w.counts.Kinds[whole] += items
		return
	}
	for i, res := range results {
		w.counts.Kinds[res.kind]++
		if res.kind != KindGranted {
			continue
		}
		w.counts.Units += res.granted
		if res.granted != w.ph.n {
			w.counts.Partial++
		}
		if w.ledger != nil {
			w.ledger.Grant(int(r.skus[i]), w.ph.n, res.granted, res.remaining)
		}
	}
}

// expireLocked keeps the SKUs of a batch that timed out, so that a late
// reply to it can still name its units, and the key of a single request
// with a buyer, so that a late grant still counts for its buyer.
func (w *worker) expireLocked(r request) {
	switch {
	case r.skus != nil:
		w.expired[r.seq] = r.skus
	case w.ph.buyerOf(r.key) != noBuyer:
		w.lateKeys[r.seq] = r.key
	}
}

// lateBatchLocked counts a reply to a batch that has already timed out. Its
// grants go to the ledger when the batch's SKUs are known.
func (w *worker) lateBatchLocked(seq uint64, results []batchResult, whole Kind) {
	skus, known := w.expired[seq]
	delete(w.expired, seq)
	if whole >= 0 || (known && len(results) != len(skus)) {
		w.counts.Late += int64(max(len(skus), 1))
		return
	}
	w.counts.Late += int64(len(results))
	for i, res := range results {
		if res.kind != KindGranted {
			continue
		}
		w.counts.LateUnits += res.granted
		if known && w.ledger != nil {
			w.ledger.Grant(int(skus[i]), w.ph.n, res.granted, res.remaining)
		}
	}
}

// nullBatchReply is the null responder's answer to every batch: items
// granted items of n units, each with 1 remaining, in the binary encoding.
func nullBatchReply(items int, n int64) []byte {
	b := binary.AppendUvarint([]byte{0x01}, uint64(items))
	for range items {
		b = append(b, 0) // granted
		b = binary.AppendUvarint(b, uint64(n))
		b = binary.AppendUvarint(b, 1)
	}
	return b
}
