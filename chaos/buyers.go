package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// The buyer workload: SKUs of its own, each capped at PerBuyer units per
// buyer, bought by buyer clients for BuyersPerSKU buyers of each SKU at a
// time, so that the caps are hit often. Every buyerGeneration requests of
// all buyer clients together the buyers are new ones (their ids name the
// generation), so that the buyers who reached their cap give way and the
// SKUs go on selling.
const (
	PerBuyer        = 3
	BuyersPerSKU    = 20
	buyerGeneration = 200
)

// BuyerOp is one acquire or hold a buyer client made for a buyer, and what
// became of it, as the client saw it. Its id is ba<Client>-<Seq> (an
// acquire) or bh<Client>-<Seq> (a hold).
type BuyerOp struct {
	Client, Seq int32
	SKU         int32 // index into History.BuyerSKUs
	Buyer       string
	Hold        bool
	N           int64
	Sent        time.Duration // first send
	// Answers are the final answers, one per attempt that got one, with
	// one deliberate repeat at times: "granted <n>", "held <n> <expires_at>",
	// "buyer_limit <bought> <held> <per_buyer>", "sold_out", ... Empty: the
	// outcome is unknown.
	Answers []string
	Action  Action   // a hold's, once held
	Ends    []string // the confirm's or cancel's final answers, as HoldLife.Ends
}

// ID is the op's request id (and for a hold, the hold's id).
func (o *BuyerOp) ID() string {
	if o.Hold {
		return fmt.Sprintf("bh%d-%d", o.Client, o.Seq)
	}
	return fmt.Sprintf("ba%d-%d", o.Client, o.Seq)
}

// Got reports whether an answer granted or held the units, and returns the
// first such answer. A repeat of an id answered with an error may be
// served afresh, so a grant may follow a refusal.
func (o *BuyerOp) Got() (string, bool) {
	for _, a := range o.Answers {
		if strings.HasPrefix(a, "granted ") || strings.HasPrefix(a, "held ") {
			return a, true
		}
	}
	return "", false
}

// buyerSKUsFor returns the capped SKUs of a run expected to last about d:
// one that never sells out and one that does, about a third of the way
// through, so that sold_out and buyer_limit meet.
func buyerSKUsFor(d time.Duration, partitions int) []SKU {
	return []SKU{
		{Name: "capped-a", Limit: 1_000_000_000_000, Partition: partitionOf("capped-a", partitions)},
		{Name: "capped-b", Limit: max(int64(d.Seconds()*3), 150), Partition: partitionOf("capped-b", partitions)},
	}
}

// buyerClient makes acquires (two in three) and holds (with ttl HoldTTL)
// of 1 or 2 units of a capped SKU for a buyer drawn from the SKU's current
// generation, each under an id of its own, sent again with the same body
// until an answer is final (as untilFinal does); it confirms, cancels or
// abandons each hold it got after a pause, mostly short, of up to most of
// the TTL.
func (r *recorder) buyerClient(i int, nc *nats.Conn) {
	rng := rand.New(rand.NewPCG(r.cfg.seed, 2<<32+uint64(i)))
	var out []BuyerOp
	defer func() { r.buyerOps[i] = out }()
	skus := r.cfg.buyerSKUs
	for seq := int32(0); seq < maxRequestsPerClient && !r.stopped(); seq++ {
		gen := (r.buyerRequests.Add(1) - 1) / buyerGeneration
		o := BuyerOp{Client: int32(i), Seq: seq, SKU: int32(rng.IntN(len(skus))), N: int64(1 + rng.IntN(2)), Hold: rng.IntN(3) == 0, Sent: r.now()}
		o.Buyer = fmt.Sprintf("u%d-g%d", rng.IntN(BuyersPerSKU), gen)
		sku := skus[o.SKU].Name
		if !o.Hold {
			body := fmt.Appendf(nil, `{"n":%d,"id":"%s","buyer":"%s"}`, o.N, o.ID(), o.Buyer)
			o.Answers = r.untilFinal(rng, nc, subjAcquire+sku, body, describeBuyerGrant)
			out = append(out, o)
			r.sleep(r.cfg.think)
			continue
		}
		body := fmt.Appendf(nil, `{"n":%d,"id":"%s","ttl_s":%d,"buyer":"%s"}`, o.N, o.ID(), int(HoldTTL/time.Second), o.Buyer)
		o.Answers = r.untilFinal(rng, nc, subjHold+sku, body, describeHold)
		first, ok := o.Got()
		if !ok {
			out = append(out, o) // refused, or unknown
			r.sleep(r.cfg.think)
			continue
		}
		o.Action = [...]Action{Confirm, Cancel, Abandon}[rng.IntN(3)]
		if first != o.Answers[0] {
			o.Action = Abandon // held only by a repeat of a refused hold: left to expire
		}
		if o.Action != Abandon {
			u := rng.Float64()
			if !r.sleep(frac(HoldTTL*3/4, u*u)) {
				o.Action = Abandon
			}
		}
		if o.Action != Abandon {
			subj := subjConfirm + sku
			if o.Action == Cancel {
				subj = subjCancel + sku
			}
			o.Ends = r.untilFinal(rng, nc, subj, fmt.Appendf(nil, `{"id":"%s"}`, o.ID()), describeEnd)
		}
		out = append(out, o)
		r.sleep(r.cfg.think)
	}
}

func describeBuyerGrant(rep reply) string { return fmt.Sprintf("granted %d", rep.Granted) }

// describeBuyerLimit is the answer a buyer_limit error is recorded as.
func describeBuyerLimit(rep reply) string {
	return fmt.Sprintf("%s %d %d %d", errBuyerLimit, rep.Bought, rep.Held, rep.PerBuyer)
}

// BuyerSKUFinal is a capped SKU after the run, once no unit was held any
// more (or the wait for that ran out).
type BuyerSKUFinal struct {
	Limit, Sold, Held, PerBuyer int64
	OK                          bool
}

// BuyerFinal is what a query with the buyer answered after the run.
type BuyerFinal struct {
	SKU                    int32
	Buyer                  string
	Bought, Held, PerBuyer int64
	OK                     bool
}

// waitBuyerSKUsBack queries the capped SKUs until none holds a unit, until
// d after the load stopped at end, and returns their last answers.
func (r *run) waitBuyerSKUsBack(ctx context.Context, end, d time.Duration) []BuyerSKUFinal {
	out := make([]BuyerSKUFinal, len(r.buyerSKUs))
	_ = poll(ctx, max(d-(r.now()-end), time.Second), 50*time.Millisecond, func() error {
		held := false
		for i, s := range r.buyerSKUs {
			rep, err := r.c.query(s.Name, time.Second)
			if err != nil {
				return err
			}
			out[i] = BuyerSKUFinal{Limit: rep.Limit, Sold: rep.Sold, Held: rep.Held, PerBuyer: rep.PerBuyer, OK: true}
			held = held || rep.Held != 0
		}
		if held {
			return fmt.Errorf("units still held")
		}
		return nil
	})
	return out
}

// queryBuyers asks, for every buyer of every capped SKU the ops name, what
// it has, a few queries at a time, each retried for up to a failover.
func (r *run) queryBuyers(ctx context.Context, ops []BuyerOp) []BuyerFinal {
	type key struct {
		sku   int32
		buyer string
	}
	seen := map[key]bool{}
	var out []BuyerFinal
	for _, o := range ops {
		if k := (key{o.SKU, o.Buyer}); !seen[k] {
			seen[k] = true
			out = append(out, BuyerFinal{SKU: o.SKU, Buyer: o.Buyer})
		}
	}
	slices.SortFunc(out, func(a, b BuyerFinal) int {
		if a.SKU != b.SKU {
			return int(a.SKU - b.SKU)
		}
		return strings.Compare(a.Buyer, b.Buyer)
	})
	const parallel = 8
	var wg sync.WaitGroup
	for w := range parallel {
		wg.Go(func() {
			for i := w; i < len(out); i += parallel {
				f := &out[i]
				_ = poll(ctx, 3*r.cfg.LeaseTTL+10*time.Second, 50*time.Millisecond, func() error {
					rep, err := r.c.queryBuyer(r.buyerSKUs[f.SKU].Name, f.Buyer, time.Second)
					if err != nil {
						return err
					}
					f.Bought, f.Held, f.PerBuyer, f.OK = rep.Bought, rep.Held, rep.PerBuyer, rep.Buyer == f.Buyer
					if !f.OK {
						return fmt.Errorf("query for buyer %s answered for %q", f.Buyer, rep.Buyer)
					}
					return nil
				})
			}
		})
	}
	wg.Wait()
	return out
}
