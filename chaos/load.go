package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// loadConfig shapes the recorded load.
type loadConfig struct {
	clients        int           // acquire clients, each its own connection, closed loop
	patient        int           // of them, how many wait patientTimeout instead of timeout
	think          time.Duration // pause after each request id is done
	timeout        time.Duration // per attempt
	patientTimeout time.Duration
	maxAttempts    int           // attempts of one id before giving up on it
	queryEvery     time.Duration // per querier; one fast and one patient querier per NATS node
	queryTimeout   time.Duration
	skus           []SKU
	weights        []float64 // chance of each SKU being picked within its partition, summing to 1 per partition
	partitions     int
	holders        int // hold clients (holds.go), each its own connection
	holdSKU        SKU
	buyers         int   // buyer clients (buyers.go), each its own connection
	buyerSKUs      []SKU // capped at PerBuyer units per buyer
	urls           [Size]string
	seed           uint64
	start          time.Time
}

// Bounds on every loop of the load, besides its stop signal.
const (
	maxRequestsPerClient = 10_000_000
	maxQueriesPerQuerier = 1_000_000
)

// recorder runs the load and keeps what every attempt saw.
type recorder struct {
	cfg   loadConfig
	stopc chan struct{}
	// hard ends the requests still in flight stopGrace after stop: their
	// outcome is then unknown.
	hard       context.Context
	cancelHard context.CancelFunc
	once       sync.Once
	wg         sync.WaitGroup
	conns      []*nats.Conn

	// lastGrantSent is, per partition, the latest send time (ns since
	// start) of an attempt that was granted: the partition serves again
	// once it passes a fault.
	lastGrantSent []atomic.Int64
	// skusOf are, per partition, the indices of its SKUs in cfg.skus.
	skusOf [][]int

	acq       [][]Acquire  // per client, each written only by its goroutine until wg is done
	qry       [][]Query    // per querier
	holdLives [][]HoldLife // per holder
	buyerOps  [][]BuyerOp  // per buyer client

	// buyerRequests counts the requests the buyer clients started: their
	// buyers' generation.
	buyerRequests atomic.Int64
}

func (r *recorder) now() time.Duration { return time.Since(r.cfg.start) }

func (r *recorder) stopped() bool {
	select {
	case <-r.stopc:
		return true
	default:
		return false
	}
}

// sleep sleeps d or until the load stops; it reports whether it slept all of d.
func (r *recorder) sleep(d time.Duration) bool {
	if d <= 0 {
		return !r.stopped()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.stopc:
		return false
	case <-t.C:
		return true
	}
}

// connect connects to node first, then the others: requests of this
// connection enter the cluster through that node while it runs.
func (r *recorder) connect(name string, first int) (*nats.Conn, error) {
	urls := []string{r.cfg.urls[first]}
	for i, u := range r.cfg.urls {
		if i != first {
			urls = append(urls, u)
		}
	}
	return nats.Connect(strings.Join(urls, ","),
		nats.Name(name),
		nats.DontRandomize(),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond),
		nats.Timeout(2*time.Second),
	)
}

// startLoad connects the clients and queriers and starts them.
func startLoad(cfg loadConfig) (*recorder, error) {
	r := &recorder{cfg: cfg, stopc: make(chan struct{})}
	r.hard, r.cancelHard = context.WithCancel(context.Background())
	r.lastGrantSent = make([]atomic.Int64, max(cfg.partitions, 1))
	for p := range r.lastGrantSent {
		r.lastGrantSent[p].Store(-1)
	}
	r.skusOf = make([][]int, len(r.lastGrantSent))
	for i, s := range cfg.skus {
		r.skusOf[s.Partition] = append(r.skusOf[s.Partition], i)
	}
	r.acq = make([][]Acquire, cfg.clients)
	r.qry = make([][]Query, 2*Size)
	r.holdLives = make([][]HoldLife, cfg.holders)
	r.buyerOps = make([][]BuyerOp, cfg.buyers)
	type starter struct {
		name string
		node int
		run  func(nc *nats.Conn)
	}
	var ss []starter
	for i := range cfg.clients {
		timeout := cfg.timeout
		if i < cfg.patient {
			timeout = cfg.patientTimeout
		}
		ss = append(ss, starter{fmt.Sprintf("chaos client %d", i), i % Size, func(nc *nats.Conn) { r.client(i, nc, timeout) }})
	}
	for i := range cfg.holders {
		ss = append(ss, starter{fmt.Sprintf("chaos holder %d", i), i % Size, func(nc *nats.Conn) { r.holder(i, nc) }})
	}
	for i := range cfg.buyers {
		ss = append(ss, starter{fmt.Sprintf("chaos buyer %d", i), i % Size, func(nc *nats.Conn) { r.buyerClient(i, nc) }})
	}
	for i := range 2 * Size {
		timeout := cfg.queryTimeout
		if i >= Size {
			timeout = cfg.patientTimeout
		}
		ss = append(ss, starter{fmt.Sprintf("chaos querier %d", i), i % Size, func(nc *nats.Conn) { r.querier(i, nc, timeout) }})
	}
	for _, s := range ss {
		nc, err := r.connect(s.name, s.node)
		if err != nil {
			r.stop()
			return nil, fmt.Errorf("chaos: connect %s: %w", s.name, err)
		}
		r.conns = append(r.conns, nc)
	}
	for i, s := range ss {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			s.run(r.conns[i])
		}()
	}
	return r, nil
}

// stopGrace is how long stop lets requests in flight finish.
const stopGrace = 3 * time.Second

// stop stops starting requests, waits for those in flight (up to
// stopGrace) and closes the connections. Safe to call twice.
func (r *recorder) stop() {
	r.once.Do(func() {
		close(r.stopc)
		t := time.AfterFunc(stopGrace, r.cancelHard)
		r.wg.Wait()
		t.Stop()
		r.cancelHard()
		for _, nc := range r.conns {
			nc.Close()
		}
	})
}

// pick draws a SKU of partition p (of any partition if p < 0) by the
// weights.
func (r *recorder) pick(rng *rand.Rand, p int) int {
	if p < 0 {
		p = rng.IntN(len(r.skusOf))
	}
	ss := r.skusOf[p]
	u := rng.Float64()
	for _, i := range ss {
		if w := r.cfg.weights[i]; u < w {
			return i
		}
		u -= r.cfg.weights[i]
	}
	return ss[len(ss)-1]
}

// client sends acquires of 1..MaxN units with ids, one at a time, to the
// SKUs of its partition (a patient client, i < patient, to those of every
// partition); an attempt that is not final (unavailable, no responders,
// timeout) is retried with the same id after a jittered backoff.
func (r *recorder) client(i int, nc *nats.Conn, timeout time.Duration) {
	rng := rand.New(rand.NewPCG(r.cfg.seed, uint64(i)+1))
	var out []Acquire
	defer func() { r.acq[i] = out }()
	part := -1
	if i >= r.cfg.patient {
		part = (i - r.cfg.patient) % len(r.skusOf)
	}
	for seq := 0; seq < maxRequestsPerClient && !r.stopped(); seq++ {
		si := r.pick(rng, part)
		n := int64(1 + rng.IntN(MaxN))
		subj := subjAcquire + r.cfg.skus[si].Name
		body := fmt.Appendf(nil, `{"n":%d,"id":"c%d-%d"}`, n, i, seq)
		first := r.now()
		for attempt := 1; attempt <= r.cfg.maxAttempts; attempt++ {
			a := Acquire{Client: int32(i), SKU: int32(si), Attempt: int32(attempt), N: n, FirstSend: first, Send: r.now()}
			msg, err := r.request(nc, subj, body, timeout)
			a.Reply = r.now()
			classifyAcquire(&a, msg, err)
			out = append(out, a)
			if a.Outcome == Granted {
				last := &r.lastGrantSent[r.cfg.skus[si].Partition]
				for {
					v := last.Load()
					if int64(a.Send) <= v || last.CompareAndSwap(v, int64(a.Send)) {
						break
					}
				}
			}
			if a.Outcome.Final() {
				break
			}
			if !r.sleep(backoff(rng, attempt)) {
				break
			}
		}
		r.sleep(jitter(rng, r.cfg.think))
	}
}

// jitter is d times a random factor in [0.5, 1.5), so that clients
// answered together do not go on in step.
func jitter(rng *rand.Rand, d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.5 + rng.Float64()))
}

// request sends one request and waits up to timeout for the reply, or
// until the hard stop.
func (r *recorder) request(nc *nats.Conn, subj string, body []byte, timeout time.Duration) (*nats.Msg, error) {
	ctx, cancel := context.WithTimeout(r.hard, timeout)
	defer cancel()
	return nc.RequestWithContext(ctx, subj, body)
}

// Retry pacing, as the Go client of this module does by default: retry n
// (from 1) waits a random time in [0, min(backoffMax, backoffMin*2^(n-1)))
// ("full jitter"), so clients that failed together do not retry together.
const (
	backoffMin = 5 * time.Millisecond
	backoffMax = 500 * time.Millisecond
)

func backoff(rng *rand.Rand, attempt int) time.Duration {
	d := backoffMax
	if attempt < 8 {
		d = min(backoffMax, backoffMin<<(attempt-1))
	}
	return time.Duration(rng.Int64N(int64(d)))
}

func classifyAcquire(a *Acquire, msg *nats.Msg, err error) {
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		a.Outcome = NoResponders
		return
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		a.Outcome = Timeout
		return
	case err != nil:
		a.Outcome = Failed
		return
	}
	var rep reply
	if json.Unmarshal(msg.Data, &rep) != nil {
		a.Outcome = Rejected
		return
	}
	a.Remaining = rep.Remaining
	switch rep.Error {
	case "":
		if rep.Granted > 0 {
			a.Outcome, a.Granted = Granted, rep.Granted
		} else {
			a.Outcome = Rejected
		}
	case errSoldOut:
		a.Outcome = SoldOut
	case errInsufficient:
		a.Outcome = Insufficient
	case errUnavailable:
		a.Outcome = Unavailable
	default:
		a.Outcome = Rejected
	}
}

// querier queries the SKUs in turn and records who answered.
func (r *recorder) querier(i int, nc *nats.Conn, timeout time.Duration) {
	var out []Query
	defer func() { r.qry[i] = out }()
	for k := 0; k < maxQueriesPerQuerier && !r.stopped(); k++ {
		si := k % len(r.cfg.skus)
		q := Query{Client: int32(i), SKU: int32(si), Send: r.now()}
		msg, err := r.request(nc, subjQuery+r.cfg.skus[si].Name, nil, timeout)
		q.Reply = r.now()
		var a Acquire
		classifyAcquire(&a, msg, err)
		q.Outcome = a.Outcome
		if err == nil {
			var rep reply
			if json.Unmarshal(msg.Data, &rep) == nil && rep.Error == "" && rep.Leader != "" {
				q.Outcome, q.Limit, q.Sold, q.Leader = Granted, rep.Limit, rep.Sold, rep.Leader
			}
		}
		out = append(out, q)
		r.sleep(r.cfg.queryEvery)
	}
}

// history returns every attempt recorded, and every hold; call after stop.
func (r *recorder) history() ([]Acquire, []Query, []HoldLife) {
	var as []Acquire
	for _, a := range r.acq {
		as = append(as, a...)
	}
	var qs []Query
	for _, q := range r.qry {
		qs = append(qs, q...)
	}
	var hs []HoldLife
	for _, h := range r.holdLives {
		hs = append(hs, h...)
	}
	return as, qs, hs
}

// buyerHistory returns every op of the buyer clients; call after stop.
func (r *recorder) buyerHistory() []BuyerOp {
	var out []BuyerOp
	for _, o := range r.buyerOps {
		out = append(out, o...)
	}
	return out
}
