package chaos

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"time"
)

// Outcome is how one request attempt ended, as its client saw it.
type Outcome uint8

const (
	Granted      Outcome = iota // a grant reply
	SoldOut                     // error sold_out
	Insufficient                // error insufficient
	Unavailable                 // error unavailable: this node did not serve
	NoResponders                // NATS "no responders": nobody subscribed
	Timeout                     // no reply in time: the outcome is unknown
	Failed                      // a client-side error after sending: the outcome is unknown
	Rejected                    // any other error reply (bad_request, unknown_sku, internal)
)

var outcomeNames = [...]string{"granted", "sold_out", "insufficient", "unavailable", "no_responders", "timeout", "failed", "rejected"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "outcome?"
}

// Unknown reports whether the request may or may not have been served.
func (o Outcome) Unknown() bool { return o == Timeout || o == Failed }

// Final reports whether the client stops retrying the request's id.
func (o Outcome) Final() bool {
	return o == Granted || o == SoldOut || o == Insufficient || o == Rejected
}

// Acquire is one attempt of an acquire request. Times are since the run
// started, on the monotonic clock of the process that recorded them.
type Acquire struct {
	Client    int32
	SKU       int32         // index into History.SKUs
	Attempt   int32         // 1 for the first attempt of a request id; retries keep the id
	N         int64         // units asked for
	Granted   int64         // units granted, from a grant reply
	FirstSend time.Duration // send time of the id's first attempt
	Send      time.Duration
	Reply     time.Duration // when the reply (or the error) arrived
	Outcome   Outcome
	Remaining int64 // from a grant or insufficient reply
}

// Units are the units a grant names: [limit-remaining-granted, limit-remaining).
func (a *Acquire) Units(limit int64) (start, end int64) {
	end = limit - a.Remaining
	return end - a.Granted, end
}

// Query is one attempt of a query request.
type Query struct {
	Client  int32
	SKU     int32
	Send    time.Duration
	Reply   time.Duration
	Outcome Outcome // Granted stands for a successful answer
	Limit   int64
	Sold    int64
	Leader  string
}

// SKU is a SKU of the run, created by the run with Limit and nothing sold.
type SKU struct {
	Name      string
	Limit     int64
	Partition int // fnv1a32(Name) mod History.Partitions
}

// Kind is a kind of fault.
type Kind string

// Fault is one injected fault.
type Fault struct {
	Kind   Kind
	Target string // the responder id, etcd member or NATS node hit
	// Leader is the responder that led the most partitions when the fault
	// was injected (with one partition, the leader).
	Leader string
	// Leaders are, per partition, the responder serving it when the fault
	// was injected, as their GET /debug/stats said.
	Leaders []string
	// Partitions are those whose leader the fault hit: the target's (a
	// responder fault), those of the responder on the NATS node killed, or
	// all of them (an etcd member killed). Empty: it hit no leader.
	Partitions []int
	At         time.Duration // injected
	Healed     time.Duration // undone: restarted, continued, reconnected
	Detail     string
}

// LeaderChange is a change of the key at the head of a partition's
// election queue in etcd: from then on Node leads the partition, until the
// partition's next change. etcd committed it after Lo and before Hi, on the
// run's clock (trace.go brackets it with linearizable reads).
type LeaderChange struct {
	Partition int
	Node      string // the new head's node id; "" when the queue became empty
	Instance  string // the new head's process
	Rev       int64  // the etcd revision of the change, at most
	Lo, Hi    time.Duration
}

// WindowSample is a leader's windows as its GET /debug/stats reported them:
// the units it may hand out from memory, summed over the SKUs of every
// partition it leads. A crash of that leader costs at most its windows.
type WindowSample struct {
	At     time.Duration
	Node   string
	Window int64
}

// Final is a SKU's state after the run, as the leader answered a query.
type Final struct {
	Limit, Sold int64
	Leader      string
	OK          bool
}

// History is everything a run recorded.
type History struct {
	Seed     uint64
	LeaseTTL time.Duration
	// Partitions is the number of partitions of the SKUs (0 or 1: none).
	Partitions int
	Clients    int // acquire clients
	// Timeout is how long the acquire clients but the patient ones wait
	// for each attempt's reply (0: client.DefaultConfig's).
	Timeout  time.Duration
	Patient  int // clients 0..Patient-1 wait longer than a lease for each reply, to catch late ones, and send to every partition
	SKUs     []SKU
	Acquires []Acquire
	Queries  []Query
	Faults   []Fault
	Windows  []WindowSample // the leaders', every 100ms
	// Leaders are the changes of every partition's leader in etcd, in the
	// order of their revisions per partition; none if the run did not
	// watch them.
	Leaders []LeaderChange
	Final   []Final // per SKU, after the load stopped
	// HoldSKU is held, confirmed and cancelled by the holders alone, in
	// Holds; HoldFinal is its state once every abandoned hold expired.
	HoldSKU   SKU
	Holds     []HoldLife
	HoldFinal HoldFinal
	// BuyerSKUs are capped at PerBuyer units per buyer and bought by the
	// buyer clients alone, in BuyerOps (buyers.go); BuyerSKUFinal is their
	// state once no unit was held, BuyerFinals every buyer's after that.
	BuyerSKUs     []SKU
	BuyerOps      []BuyerOp
	BuyerSKUFinal []BuyerSKUFinal
	BuyerFinals   []BuyerFinal
	End           time.Duration // the load stopped
	Events        []string      // what else happened: unexpected exits, restarts that failed
	Notes         []string      // the responders' counters at the end, and the like
}

// WriteHistory writes h as gzipped JSON, for a later look or a later
// checker (ReadHistory).
func WriteHistory(w io.Writer, h *History) error {
	zw := gzip.NewWriter(w)
	if err := json.NewEncoder(zw).Encode(h); err != nil {
		return err
	}
	return zw.Close()
}

// ReadHistory reads what WriteHistory wrote.
func ReadHistory(r io.Reader) (*History, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	var h History
	if err := json.NewDecoder(zr).Decode(&h); err != nil {
		return nil, err
	}
	return &h, nil
}
