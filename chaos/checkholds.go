package chaos

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// HoldResult is the check of the hold SKU over the whole run.
type HoldResult struct {
	Holds, Held, Refused, Unknown int // asked for; answered held; sold_out or insufficient; no final answer
	// What became of the held ones, as their holders saw it.
	Confirmed, Cancelled, Expired, Abandoned, EndUnknown int
	// Units: confirmed by a reply; due back (cancelled, expired, abandoned,
	// or a cancel without a final answer, which is cancelled or expires);
	// either (a confirm without a final answer); of holds whose own outcome
	// is unknown (they exist or not; if they do, they expire).
	ConfirmedUnits, DueBack, Either, Maybe int64
	Returned                               int64         // units the responder gave back: the rise of the limit
	BackAfter                              time.Duration // from the end of the load until no unit was held
}

// checkHolds checks the holds of h: every answer to a repeat is the first
// answer; no hold is both confirmed and returned; every unit of a
// cancelled, expired or abandoned hold came back, once, within
// HoldsBackWithin of the end of the load; nothing is oversold.
func checkHolds(h *History) (res HoldResult, violations []string) {
	bad := func(format string, args ...any) { violations = append(violations, fmt.Sprintf(format, args...)) }
	for i := range h.Holds {
		l := &h.Holds[i]
		id := fmt.Sprintf("h%d-%d", l.Client, l.Seq)
		res.Holds++
		if len(l.Answers) == 0 {
			res.Unknown++
			res.Maybe += l.N
			continue
		}
		if differ(l.Answers) {
			bad("hold %s: a repeat got another answer: %q", id, l.Answers)
		}
		switch first := l.Answers[0]; {
		case l.Held():
			if !strings.HasPrefix(first, fmt.Sprintf("held %d ", l.N)) {
				bad("hold %s of %d units answered %q", id, l.N, first)
			}
		case first == errSoldOut || first == errInsufficient:
			res.Refused++
			continue
		default:
			bad("hold %s answered %q", id, first)
			continue
		}
		res.Held++
		if l.Action == Abandon {
			res.Abandoned++
			res.DueBack += l.N
			continue
		}
		if len(l.Ends) == 0 {
			res.EndUnknown++
			if l.Action == Confirm {
				res.Either += l.N
			} else {
				res.DueBack += l.N
			}
			continue
		}
		if differ(l.Ends) {
			bad("hold %s: a repeated %s got another answer: %q", id, l.Action, l.Ends)
		}
		switch end := l.Ends[0]; {
		case l.Action == Confirm && end == fmt.Sprintf("confirmed %d", l.N):
			res.Confirmed++
			res.ConfirmedUnits += l.N
		case l.Action == Cancel && end == fmt.Sprintf("cancelled %d", l.N):
			res.Cancelled++
			res.DueBack += l.N
		case end == errExpired:
			res.Expired++
			res.DueBack += l.N
		default:
			bad("hold %s, held: %s answered %q", id, l.Action, end)
		}
	}

	f := h.HoldFinal
	if !f.OK {
		bad("the hold SKU %s did not answer a query after the run", h.HoldSKU.Name)
		return res, violations
	}
	res.Returned, res.BackAfter = f.Limit-h.HoldSKU.Limit, f.After
	if f.Held != 0 {
		bad("%d units of %s still held %v after the load stopped (every hold ended or expired by %v)",
			f.Held, h.HoldSKU.Name, rd(f.After), HoldsBackWithin(h.LeaseTTL))
	}
	if f.Sold > f.Limit {
		bad("%s oversold: sold %d of a limit of %d", h.HoldSKU.Name, f.Sold, f.Limit)
	}
	if res.Returned < res.DueBack {
		bad("%s: %d units came back, but cancelled, expired and abandoned holds had %d", h.HoldSKU.Name, res.Returned, res.DueBack)
	}
	if most := res.DueBack + res.Either + res.Maybe; res.Returned > most {
		bad("%s: %d units came back, at most %d could (a unit returned twice, or a confirmed one returned)", h.HoldSKU.Name, res.Returned, most)
	}
	// sold counts every unit ever held, returned or not, and the unsold part
	// of windows a crash lost; so it bounds the confirmed units from above.
	if confirmed := f.Sold - f.Held - res.Returned; confirmed < res.ConfirmedUnits {
		bad("%s: %d units confirmed, but sold - held - returned is %d", h.HoldSKU.Name, res.ConfirmedUnits, confirmed)
	}
	return res, violations
}

// differ reports whether the answers are not all the same.
func differ(answers []string) bool {
	return slices.ContainsFunc(answers, func(a string) bool { return a != answers[0] })
}
