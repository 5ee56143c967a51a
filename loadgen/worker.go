package loadgen

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/nats-io/nats.go"
	"github.com/stockstate/stock/wire"
)

// phase is what the workers of one measurement phase share. All fields but
// the atomics and the halt channel are read-only once the workers start.
type phase struct {
	name     string
	closed   bool      // closed loop (slots) or open loop (schedule)
	names    []string  // SKU names
	subjects []string  // request subject per SKU
	body     []byte    // request body, the same for every request
	n        int64     // units per request (per item of a batch)
	batch    int       // items per batch message; 0 sends single requests
	items    [][]byte  // per SKU, its item of a batch (batchItems)
	bufs     batchBufs // encoding buffers of batches
	timeout  time.Duration
	backoff  time.Duration
	dur      time.Duration // 0: no time bound
	budget   int64         // 0: no bound on requests
	rate     float64       // open loop, requests per second over all workers
	maxOut   int           // open loop, most requests in flight over all workers
	c        int           // closed loop, requests in flight over all workers
	ledger   *Ledger       // template of the workers' ledgers; nil: grants are not recorded
	dist     string
	zipfS    float64
	seed     uint64
	op       string  // OpAcquire, OpHold or OpConfirm
	idPrefix string  // of hold ids (hold.go)
	ttlS     int64   // ttl_s of holds
	keySKU   []int32 // hold phase: the SKU of each request key, filled as sent; confirm phase: read

	batchSubs []string // the batch subject per partition
	skuPart   []int32  // the partition of each SKU; nil: batches are not split (partition.go)

	buyers      int64  // -buyers: pool size; 0: requests carry no buyer (buyer.go)
	buyerPrefix string // -buyer-prefix
	buyerBase   int64  // buyer of key 1: the keys taken by the phases before, in the same measurement

	start    time.Time
	issued   atomic.Int64 // requests started (retries excluded), against budget
	halted   atomic.Bool
	haltc    chan struct{}
	haltOnce sync.Once
}

// since is the time since the phase started; all times of a phase are kept
// this way, on the monotonic clock.
func (p *phase) since() time.Duration { return time.Since(p.start) }

// halt stops the issuing of requests; requests in flight still end normally.
func (p *phase) halt() {
	p.haltOnce.Do(func() {
		p.halted.Store(true)
		close(p.haltc)
	})
}

// over reports whether no new request may start at now.
func (p *phase) over(now time.Duration) bool {
	return p.halted.Load() || (p.dur > 0 && now >= p.dur)
}

// takeBudget reserves one new request against -requests and returns its
// key: 1, 2, ... in the order requests start.
func (p *phase) takeBudget() (int64, bool) {
	key := p.issued.Add(1)
	return key, p.budget <= 0 || key <= p.budget
}

// request is one logical request in flight (or waiting to be retried): a
// single acquire of sku, or a batch of acquires of skus (with partitions,
// the part of a batch of one partition: partition.go).
type request struct {
	seq   uint64
	key   int64 // the phase's number of the request, from 1 (takeBudget)
	sku   int32
	skus  []int32       // the SKU of each item of a batch; nil for a single request
	part  int32         // a batch's partition, the index of its subject in batchSubs
	group *batchGroup   // the parts of the same batch; nil when it was not split
	more  []request     // the other parts to send with this one; only from newLocked to publish
	first time.Duration // latency is measured from here: the scheduled time (open loop) or the first attempt (closed loop)
	sent  time.Duration // this attempt
	due   time.Duration // retry time, while in the retry queue
}

// items is the number of acquires r carries: every count of a phase is of
// acquires, so that batches and single requests add up alike.
func (r *request) items() int64 {
	if r.skus != nil {
		return int64(len(r.skus))
	}
	return 1
}

type sentRef struct {
	seq  uint64
	sent time.Duration
}

// worker pipelines requests over one connection. It subscribes once to a
// wildcard inbox, "<inbox>.*", and sends each attempt with its own reply
// subject "<inbox>.<seq>"; a reply's last token finds its entry in the
// in-flight table. Attempts are also queued in send order, so the sweeper
// finds timed-out ones at the front without scanning the table.
//
// onReply runs on the subscription's goroutine, the sweeper and (open loop)
// the scheduler on their own; all state below mu is shared by them. Publishes
// happen outside mu.
type worker struct {
	ph     *phase
	nc     *nats.Conn
	sub    *nats.Subscription
	inbox  string // reply subject prefix, with the trailing dot
	maxOut int    // open loop: most requests in flight on this worker
	done   chan struct{}

	mu         sync.Mutex
	seq        uint64
	inflight   map[uint64]request
	order      []sentRef // attempts in send order; front entries may have ended already
	head       int       // order[:head] is consumed
	retryq     []request // closed loop: requests waiting to be re-sent
	stopping   bool      // no new requests; done closes when nothing is in flight
	doneClosed bool
	counts     Counts
	hist       *hdr.Histogram
	ledger     *Ledger
	lastReply  time.Duration
	sendErr    error // first publish error
	rng        *rand.Rand
	zipf       *rand.Zipf

	// Batches only.
	recording int                // replies being counted after their slot's next batch was sent
	free      [][]int32          // SKU lists of ended batches, for reuse
	expired   map[uint64][]int32 // SKU lists of timed-out batches, by seq, for their late replies
	lateKeys  map[uint64]int64   // with buyers: keys of timed-out single requests, by seq, for their late replies
	results   []batchResult      // decoded reply; used by onReply only
	byPart    [][]int32          // with partitions: splitLocked's lists by partition, nil between batches
	touched   []int32            // splitLocked's partitions, in order
}

func newWorker(ph *phase, nc *nats.Conn, idx, nworkers int) (*worker, error) {
	w := &worker{
		ph:       ph,
		nc:       nc,
		inbox:    nc.NewInbox() + ".",
		maxOut:   (ph.maxOut + nworkers - 1) / nworkers,
		done:     make(chan struct{}),
		inflight: make(map[uint64]request),
		hist:     newHist(),
		rng:      rand.New(rand.NewPCG(ph.seed, uint64(idx))),
		expired:  make(map[uint64][]int32),
		lateKeys: make(map[uint64]int64),
	}
	if ph.ledger != nil {
		w.ledger = ph.ledger.fork()
	}
	if ph.skuPart != nil {
		w.byPart = make([][]int32, len(ph.batchSubs))
	}
	if ph.dist == "zipf" && len(ph.names) > 1 {
		w.zipf = rand.NewZipf(w.rng, ph.zipfS, 1, uint64(len(ph.names)-1))
	}
	sub, err := nc.Subscribe(w.inbox+"*", w.onReply)
	if err != nil {
		return nil, err
	}
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	w.sub = sub
	return w, nil
}

// pickLocked chooses the SKU of a new request.
func (w *worker) pickLocked() int32 {
	switch {
	case len(w.ph.names) == 1:
		return 0
	case w.zipf != nil:
		return int32(w.zipf.Uint64())
	}
	return int32(w.rng.IntN(len(w.ph.names)))
}

// startLocked registers an attempt of r sent at now, and of each part in
// r.more, and returns them, to be published once mu is released.
func (w *worker) startLocked(r request, now time.Duration) request {
	more := r.more
	r.more = nil // the copies in flight hold none
	r = w.registerLocked(r, now)
	for i := range more {
		more[i] = w.registerLocked(more[i], now)
	}
	r.more = more
	return r
}

// registerLocked puts one attempt in flight.
func (w *worker) registerLocked(r request, now time.Duration) request {
	w.seq++
	r.seq, r.sent = w.seq, now
	w.inflight[r.seq] = r
	w.order = append(w.order, sentRef{r.seq, now})
	w.counts.Sent += r.items()
	w.counts.Messages++
	return r
}

// newLocked is request key, scheduled or first sent at first: a single
// acquire or a batch, of SKUs picked by the distribution; a hold, whose SKU
// is kept for its confirm; or a confirm, of the SKU of its hold.
func (w *worker) newLocked(first time.Duration, key int64) request {
	if w.ph.batch == 0 {
		r := request{key: key, sku: w.pickLocked(), first: first}
		switch w.ph.op {
		case OpHold:
			if key < int64(len(w.ph.keySKU)) {
				w.ph.keySKU[key] = r.sku // each key is written by one worker, read after the phase
			}
		case OpConfirm:
			if sku, ok := w.ph.skuOfKey(key); ok {
				r.sku = sku
			}
		}
		return r
	}
	var skus []int32
	if n := len(w.free); n > 0 {
		skus, w.free = w.free[n-1][:0], w.free[:n-1]
	} else {
		skus = make([]int32, 0, w.ph.batch)
	}
	for range w.ph.batch {
		skus = append(skus, w.pickLocked())
	}
	if w.ph.skuPart != nil {
		return w.splitLocked(request{key: key, skus: skus, first: first})
	}
	return request{skus: skus, first: first}
}

// endLocked recycles what an ended request held.
func (w *worker) endLocked(r request) {
	if r.skus != nil {
		w.free = append(w.free, r.skus)
	}
}

// nextLocked starts a new closed-loop request, unless the phase is over.
func (w *worker) nextLocked(now time.Duration) (request, bool) {
	if w.stopping {
		return request{}, false
	}
	if w.ph.over(now) {
		w.stopping = true
		return request{}, false
	}
	key, ok := w.ph.takeBudget()
	if !ok {
		w.stopping = true
		return request{}, false
	}
	return w.startLocked(w.newLocked(now, key), now), true
}

// publish sends an attempt started by startLocked, and the parts in r.more.
func (w *worker) publish(r request) {
	w.publishOne(r)
	for _, m := range r.more {
		w.publishOne(m)
	}
}

func (w *worker) publishOne(r request) {
	reply := w.inbox + strconv.FormatUint(r.seq, 10)
	var err error
	if r.skus != nil {
		err = w.publishBatch(r, reply)
	} else {
		err = w.nc.PublishRequest(w.ph.subjects[r.sku], reply, w.ph.bodyOf(r))
	}
	if err != nil {
		w.sendFailed(r.seq, err)
	}
}

func (w *worker) sendFailed(seq uint64, err error) {
	w.mu.Lock()
	if w.sendErr == nil {
		w.sendErr = err
	}
	r, ok := w.inflight[seq]
	if !ok {
		w.mu.Unlock()
		return
	}
	delete(w.inflight, seq)
	w.counts.Kinds[KindSendError] += r.items()
	var next request
	var send bool
	if w.ph.closed {
		next, send = w.retryLocked(r, w.ph.since())
	}
	w.maybeDoneLocked()
	w.mu.Unlock()
	if send {
		w.publish(next)
	}
}

// retryLocked handles a closed-loop request that reached no responder: it is
// queued to be sent again after the backoff (with jitter, so that retries
// after a failover do not arrive in lockstep), unless that would take it past
// -timeout since its first attempt; then it is abandoned and the slot starts
// its next request, which is returned to be published. When the phase is
// over, nothing is retried.
func (w *worker) retryLocked(r request, now time.Duration) (request, bool) {
	if w.ph.over(now) {
		w.stopping = true
		return request{}, false
	}
	b := w.ph.backoff
	if b > 0 {
		b = b/2 + time.Duration(w.rng.Int64N(int64(b)))
	}
	if now+b-r.first >= w.ph.timeout {
		w.counts.Abandoned += r.items()
		w.endLocked(r)
		return w.slotNextLocked(r, now)
	}
	r.due = now + b
	w.retryq = append(w.retryq, r)
	return request{}, false
}

// seqOf is the sequence number of the attempt a reply subject answers.
func (w *worker) seqOf(subject string) (uint64, bool) {
	if len(subject) <= len(w.inbox) {
		return 0, false
	}
	seq, err := strconv.ParseUint(subject[len(w.inbox):], 10, 64)
	return seq, err == nil
}

// onReply handles a message on the inbox: a reply, or a no-responders status.
func (w *worker) onReply(m *nats.Msg) {
	if w.ph.batch > 0 {
		w.onBatchReply(m)
		return
	}
	now := w.ph.since()
	var v wire.ReplyView
	kind := classify(m, &v)
	seq, seqOK := w.seqOf(m.Subject)

	w.mu.Lock()
	r, ok := w.inflight[seq]
	if !seqOK || !ok {
		w.lateLocked(seq, seqOK, kind, &v)
		w.mu.Unlock()
		return
	}
	delete(w.inflight, seq)
	var next request
	var send bool
	if kind == KindNoResponders {
		w.counts.Kinds[kind]++
		if w.ph.closed {
			next, send = w.retryLocked(r, now)
		}
	} else {
		w.recordLocked(kind, r, &v, now)
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

// recordLocked counts a reply that came in time.
func (w *worker) recordLocked(kind Kind, r request, v *wire.ReplyView, now time.Duration) {
	name := w.ph.names[r.sku]
	if (kind == KindGranted || len(v.SKU) > 0) && string(v.SKU) != name {
		kind = KindInvalid // a reply about another SKU
	}
	w.counts.Kinds[kind]++
	w.counts.MessageReplies++
	w.lastReply = now
	recordLatency(w.hist, now-r.first, 1)
	if kind != KindGranted {
		return
	}
	units := v.Granted + v.Held + v.Confirmed // one of them, by the op
	w.counts.Units += units
	if units != w.ph.n {
		w.counts.Partial++
	}
	if w.ledger != nil && w.ph.op != OpConfirm { // a confirm takes no new units
		w.ledger.Grant(int(r.sku), w.ph.n, units, v.Remaining)
		if buyer := w.ph.buyerOf(r.key); buyer != noBuyer {
			w.ledger.GrantBuyer(int(r.sku), buyer, units)
		}
	}
}

// lateLocked counts a reply whose attempt (seq, if seqOK) has already
// timed out. A grant still names units, so it goes to the ledger, and to
// its buyer's count when the attempt's key was kept (expireLocked).
func (w *worker) lateLocked(seq uint64, seqOK bool, kind Kind, v *wire.ReplyView) {
	if kind == KindNoResponders {
		return
	}
	key, keyOK := w.lateKeys[seq]
	keyOK = keyOK && seqOK
	if keyOK {
		delete(w.lateKeys, seq)
	}
	w.counts.Late++
	if kind == KindGranted {
		units := v.Granted + v.Held + v.Confirmed
		w.counts.LateUnits += units
		if w.ledger != nil && w.ph.op != OpConfirm {
			w.ledger.GrantByName(v.SKU, w.ph.n, units, v.Remaining)
			if keyOK {
				w.ledger.GrantBuyerByName(v.SKU, w.ph.buyerOf(key), units)
			}
		}
	}
}

func (w *worker) maybeDoneLocked() {
	if w.stopping && !w.doneClosed && len(w.inflight) == 0 && len(w.retryq) == 0 && w.recording == 0 {
		w.doneClosed = true
		close(w.done)
	}
}

// sweepInterval is how often the sweeper looks for timeouts and due retries.
func (p *phase) sweepInterval() time.Duration {
	t := p.timeout / 20
	if p.closed && p.backoff > 0 {
		t = min(t, p.backoff/2)
	}
	return min(max(t, time.Millisecond), 100*time.Millisecond)
}

// sweepLoop expires attempts that got no reply within the timeout, re-sends
// due retries, and notices the end of the phase, until quit closes.
func (w *worker) sweepLoop(quit <-chan struct{}) {
	t := time.NewTicker(w.ph.sweepInterval())
	defer t.Stop()
	var batch []request
	for {
		select {
		case <-quit:
			return
		case <-t.C:
		}
		batch = w.sweep(w.ph.since(), batch[:0])
		for _, r := range batch {
			w.publish(r)
		}
	}
}

// sweep does one round of sweepLoop at now and returns the attempts to send.
func (w *worker) sweep(now time.Duration, batch []request) []request {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ph.closed && w.ph.over(now) {
		w.stopping = true
		w.retryq = w.retryq[:0] // the phase is over: no more retries
	}
	for w.head < len(w.order) {
		ref := w.order[w.head]
		if r, ok := w.inflight[ref.seq]; ok {
			if now-ref.sent < w.ph.timeout {
				break
			}
			delete(w.inflight, r.seq)
			w.counts.Kinds[KindTimeout] += r.items()
			w.expireLocked(r)
			if w.ph.closed {
				if next, ok := w.slotNextLocked(r, now); ok {
					batch = append(batch, next)
				}
			}
		}
		w.head++
	}
	if w.head > 1024 && w.head*2 > len(w.order) {
		n := copy(w.order, w.order[w.head:])
		w.order = w.order[:n]
		w.head = 0
	}
	kept := w.retryq[:0]
	for _, r := range w.retryq {
		if r.due > now {
			kept = append(kept, r)
			continue
		}
		w.counts.Retries += r.items()
		batch = append(batch, w.startLocked(r, now))
	}
	w.retryq = kept
	w.maybeDoneLocked()
	return batch
}

// expireAll ends every attempt in flight as a timeout and stops the worker;
// it is the last resort when the phase does not drain in time.
func (w *worker) expireAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for seq, r := range w.inflight {
		delete(w.inflight, seq)
		w.counts.Kinds[KindTimeout] += r.items()
		w.expireLocked(r)
	}
	w.retryq = w.retryq[:0]
	w.stopping = true
	w.maybeDoneLocked()
}

// snapshot adds the worker's counts to c and its latencies to h.
func (w *worker) snapshot(c *Counts, h *hdr.Histogram) {
	w.mu.Lock()
	defer w.mu.Unlock()
	c.add(&w.counts)
	if h != nil {
		h.Merge(w.hist)
	}
}
