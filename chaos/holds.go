package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// HoldTTL is the ttl_s of every hold of the run: short, so that abandoned
// holds expire while faults still come.
const HoldTTL = 2 * time.Second

// Action is what a holder does with a hold it got.
type Action string

const (
	Confirm Action = "confirm"
	Cancel  Action = "cancel"
	Abandon Action = "abandon" // nothing: the hold must expire
)

// HoldLife is one hold a holder asked for and what became of it, as the
// holder saw it. Its id is h<Client>-<Seq>.
type HoldLife struct {
	Client, Seq int32
	N           int64
	Sent        time.Duration // first send of the hold
	// Answers are the final answers to the hold, one per attempt that got
	// one ("held <n> <expires_at>", "sold_out", ...), including one
	// deliberate repeat; "" entries are never recorded. Empty: unknown.
	Answers []string
	Action  Action // what the holder did once held
	// Ends are the final answers to the confirm or cancel ("confirmed <n>",
	// "cancelled <n>", "expired", "unknown_hold", ...), and to a repeat of it.
	// Empty after a confirm or cancel: its outcome is unknown.
	Ends []string
}

// Held reports whether the hold was answered held.
func (h *HoldLife) Held() bool { return len(h.Answers) > 0 && strings.HasPrefix(h.Answers[0], "held ") }

// holder makes holds of 1..MaxN units of the hold SKU, one at a time, each
// under its own id, and confirms, cancels or abandons each after a pause of
// up to most of its TTL, so that some confirms race the expiry. A request
// without a final answer is retried with the same body, as the Go client
// does; half of the finished requests are repeated once, to check that a
// repeat gets the first answer.
func (r *recorder) holder(i int, nc *nats.Conn) {
	rng := rand.New(rand.NewPCG(r.cfg.seed, 1<<32+uint64(i)))
	var out []HoldLife
	defer func() { r.holdLives[i] = out }()
	sku := r.cfg.holdSKU.Name
	for seq := int32(0); seq < maxRequestsPerClient && !r.stopped(); seq++ {
		h := HoldLife{Client: int32(i), Seq: seq, N: int64(1 + rng.IntN(MaxN)), Sent: r.now()}
		id := fmt.Sprintf("h%d-%d", i, seq)
		body := fmt.Appendf(nil, `{"n":%d,"id":"%s","ttl_s":%d}`, h.N, id, int(HoldTTL/time.Second))
		h.Answers = r.untilFinal(rng, nc, subjHold+sku, body, describeHold)
		if !h.Held() {
			out = append(out, h)
			r.sleep(r.cfg.think)
			continue
		}
		h.Action = [...]Action{Confirm, Cancel, Abandon}[rng.IntN(3)]
		if !r.sleep(frac(HoldTTL*3/4, rng.Float64())) {
			h.Action = Abandon
		}
		if h.Action != Abandon {
			subj := subjConfirm + sku
			if h.Action == Cancel {
				subj = subjCancel + sku
			}
			h.Ends = r.untilFinal(rng, nc, subj, fmt.Appendf(nil, `{"id":"%s"}`, id), describeEnd)
		}
		out = append(out, h)
	}
}

// untilFinal sends body until an answer is final (or the attempts run out,
// or the load stops), then maybe once more; it returns the final answers.
func (r *recorder) untilFinal(rng *rand.Rand, nc *nats.Conn, subj string, body []byte, describe func(reply) string) []string {
	var finals []string
	for attempt := 1; attempt <= r.cfg.maxAttempts; attempt++ {
		msg, err := r.request(nc, subj, body, r.cfg.timeout)
		if d, final := finalAnswer(msg, err, describe); final {
			finals = append(finals, d)
			if len(finals) == 2 || rng.IntN(2) == 0 {
				return finals
			}
			continue // the deliberate repeat
		}
		if len(finals) > 0 || !r.sleep(backoff(rng, attempt)) {
			return finals
		}
	}
	return finals
}

// finalAnswer describes a reply that ends a request; final is false for
// what a client retries: no reply, no responders, unavailable.
func finalAnswer(msg *nats.Msg, err error, describe func(reply) string) (d string, final bool) {
	if err != nil {
		return "", false
	}
	var rep reply
	if err := json.Unmarshal(msg.Data, &rep); err != nil {
		return "malformed " + string(msg.Data), true
	}
	switch rep.Error {
	case errUnavailable:
		return "", false
	case "":
		return describe(rep), true
	case errBuyerLimit:
		return describeBuyerLimit(rep), true
	default:
		return rep.Error, true
	}
}

func describeHold(rep reply) string { return fmt.Sprintf("held %d %s", rep.Held, rep.ExpiresAt) }

func describeEnd(rep reply) string {
	switch {
	case rep.Confirmed > 0:
		return fmt.Sprintf("confirmed %d", rep.Confirmed)
	case rep.Cancelled > 0:
		return fmt.Sprintf("cancelled %d", rep.Cancelled)
	}
	return "success without units"
}

// HoldFinal is the hold SKU after the run, once no unit was held any more
// (or the wait for that ran out).
type HoldFinal struct {
	Limit, Sold, Held int64
	OK                bool
	After             time.Duration // from the end of the load to this answer
}

// waitHoldsBack queries the hold SKU until it holds no unit, until d after
// the load stopped at end: every abandoned hold must have expired by then.
func (r *run) waitHoldsBack(ctx context.Context, end, d time.Duration) HoldFinal {
	var f HoldFinal
	_ = poll(ctx, max(d-(r.now()-end), time.Second), 50*time.Millisecond, func() error {
		rep, err := r.c.query(r.holdSKU.Name, time.Second)
		if err != nil {
			return err
		}
		f = HoldFinal{Limit: rep.Limit, Sold: rep.Sold, Held: rep.Held, OK: true, After: r.now() - end}
		if rep.Held != 0 {
			return errors.New("units still held")
		}
		return nil
	})
	return f
}

// HoldsBackWithin is how long after the load stops every abandoned hold
// must have expired: its TTL, a second for expires_at's rounding up, the
// second the responder is allowed, and one failover (a lease, and as long
// again for the new leader to take over).
func HoldsBackWithin(leaseTTL time.Duration) time.Duration {
	return HoldTTL + 2*time.Second + 2*leaseTTL
}
