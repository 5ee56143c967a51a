package main

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/responder"
)

// With -batch N each request is one message on the batch subject
// (<prefix>.acquire) carrying N acquires in the binary encoding of
// responder/batchwire.go, each of -n units of a SKU picked by -dist, without
// ids. The reply holds a result per item, in order; the SKU of each item is
// kept with the request, since the binary reply does not name it.
//
// Every item is counted as an acquire of its own: it ends in one Kind, its
// latency is its message's, recorded once per item (so percentiles are per
// acquire), and a granted item goes to the ledger like a single grant,
// naming the units [limit-remaining-n, limit-remaining). A reply that is not
// a batch reply (an error for the whole message, say unavailable) ends every
// item of the message in its Kind. "No responders", timeouts and send
// errors end every item of the message too.

// batchBuf is the encoding buffer of one publish.
type batchBuf struct {
	items []responder.BatchItem
	body  []byte
}

// batchBufs recycles encoding buffers; publishes run on several goroutines.
type batchBufs struct{ pool sync.Pool }

func (b *batchBufs) get() *batchBuf {
	if buf, ok := b.pool.Get().(*batchBuf); ok {
		return buf
	}
	return &batchBuf{}
}

func (b *batchBufs) put(buf *batchBuf) { b.pool.Put(buf) }

// publishBatch sends an attempt of the batch r with the given reply subject.
// It reads r.skus, which stay untouched while r is in flight.
func (w *worker) publishBatch(r request, reply string) error {
	buf := w.ph.bufs.get()
	defer w.ph.bufs.put(buf)
	buf.items = buf.items[:0]
	for _, k := range r.skus {
		buf.items = append(buf.items, responder.BatchItem{SKU: w.ph.names[k], N: w.ph.n})
	}
	buf.body = responder.AppendBatchRequest(buf.body[:0], buf.items)
	return w.nc.PublishRequest(w.ph.batchSub, reply, buf.body)
}

// onBatchReply is onReply for batches.
func (w *worker) onBatchReply(m *nats.Msg) {
	now := w.ph.since()
	noResp := isNoResponders(m)
	whole := Kind(-1) // the Kind of every item, when the reply is not a batch reply
	var results []responder.BatchResult
	if !noResp {
		var err error
		if results, err = responder.DecodeBatchReply(m.Data, w.results); err == nil {
			w.results = results
		} else {
			var v replyView
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
	} else {
		w.recordBatchLocked(r, results, whole, now)
		w.endLocked(r)
		if w.ph.closed {
			next, send = w.nextLocked(now)
		}
	}
	w.maybeDoneLocked()
	w.mu.Unlock()
	if send {
		w.publish(next)
	}
}

// recordBatchLocked counts the reply to batch r that came in time.
func (w *worker) recordBatchLocked(r request, results []responder.BatchResult, whole Kind, now time.Duration) {
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
		kind := KindGranted
		if res.Error != "" {
			kind = kindOfError(res.Error)
		}
		w.counts.Kinds[kind]++
		if kind != KindGranted {
			continue
		}
		w.counts.Units += res.Granted
		if res.Granted != w.ph.n {
			w.counts.Partial++
		}
		if w.ledger != nil {
			w.ledger.Grant(int(r.skus[i]), w.ph.n, res.Granted, res.Remaining)
		}
	}
}

// expireLocked keeps the SKUs of a batch that timed out, so that a late
// reply to it can still name its units.
func (w *worker) expireLocked(r request) {
	if r.skus != nil {
		w.expired[r.seq] = r.skus
	}
}

// lateBatchLocked counts a reply to a batch that has already timed out. Its
// grants go to the ledger when the batch's SKUs are known.
func (w *worker) lateBatchLocked(seq uint64, results []responder.BatchResult, whole Kind) {
	skus, known := w.expired[seq]
	delete(w.expired, seq)
	if whole >= 0 || (known && len(results) != len(skus)) {
		w.counts.Late += int64(max(len(skus), 1))
		return
	}
	w.counts.Late += int64(len(results))
	for i, res := range results {
		if res.Error != "" {
			continue
		}
		w.counts.LateUnits += res.Granted
		if known && w.ledger != nil {
			w.ledger.Grant(int(skus[i]), w.ph.n, res.Granted, res.Remaining)
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
