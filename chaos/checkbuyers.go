package chaos

import (
	"fmt"
	"strings"
)

// BuyerResult is the check of the capped SKUs over the whole run.
type BuyerResult struct {
	Buyers                      int // (SKU, buyer) pairs that asked for anything
	Acquires, Holds             int // ops
	Granted, Held               int // ops answered granted or held
	CapsHit                     int // ops whose first answer was buyer_limit
	Refused                     int // ops answered sold_out or insufficient
	Unknown                     int // ops without a final answer
	Confirmed, Cancelled        int // held ops, as their clients saw them end
	Expired, Abandoned          int
	EndUnknown                  int
	OverCap                     int   // buyers whose units seen pass PerBuyer: a violation
	MostSeen                    int64 // the most units one buyer was seen to get
	Checked                     int   // buyers whose count after the run was read
	Oversold                    int64 // units seen for good beyond a SKU's limit
	UnitsSeen, UnitsBought      int64 // units seen for good (acquired, confirmed); the buyers' counts after the run, summed
	Returned, DueBack, MostBack int64 // units the capped SKUs gave back; due back; at most back
}

// buyerTally is one (SKU, buyer) pair's ops summed up.
type buyerTally struct {
	acquired, confirmed int64 // units seen for good
	maybe               int64 // units that may be bought without a client seeing it
}

// checkBuyers checks the buyer ops of h:
//
//   - per (SKU, buyer): the units of acquires granted plus those of holds
//     confirmed, as clients saw them (an id counted once), are at most
//     PerBuyer; after the run the buyer's count has bought at least those
//     and at most those plus what may have been granted unseen, bought +
//     held is at most PerBuyer, and nothing is still held;
//   - per op: a repeat of a grant or hold gets the same answer, a grant is
//     of the units asked for, a buyer_limit reply names the cap and a
//     bought + held + n over it, a hold ends as asked or expired;
//   - per capped SKU, as checkHolds does for the hold SKU: the units sold
//     for good that clients saw fit the first limit and what the SKU
//     counts as sold for good, which also covers the buyers' counts; every
//     unit of a cancelled, expired or abandoned hold came back, and no
//     more than could.
func checkBuyers(h *History) (res BuyerResult, violations []string) {
	bad := func(format string, args ...any) { violations = append(violations, fmt.Sprintf(format, args...)) }
	type key struct {
		sku   int32
		buyer string
	}
	nsku := len(h.BuyerSKUs)
	tallies := map[key]*buyerTally{}
	seen := make([]int64, nsku) // per SKU, units seen for good
	due, either, maybe := make([]int64, nsku), make([]int64, nsku), make([]int64, nsku)
	for i := range h.BuyerOps {
		o := &h.BuyerOps[i]
		if int(o.SKU) >= nsku || o.SKU < 0 {
			bad("buyer op %s names SKU %d of %d", o.ID(), o.SKU, nsku)
			continue
		}
		sku := h.BuyerSKUs[o.SKU].Name
		k := key{o.SKU, o.Buyer}
		t := tallies[k]
		if t == nil {
			t = &buyerTally{}
			tallies[k] = t
		}
		if o.Hold {
			res.Holds++
		} else {
			res.Acquires++
		}
		if len(o.Answers) == 0 {
			res.Unknown++
			if !o.Hold {
				t.maybe += o.N
			} else {
				maybe[o.SKU] += o.N // if it was made, it expires
			}
			continue
		}
		for _, a := range o.Answers {
			checkBuyerAnswer(o, sku, a, bad)
		}
		got, ok := o.Got()
		if !ok {
			switch first := o.Answers[0]; {
			case strings.HasPrefix(first, errBuyerLimit+" "):
				res.CapsHit++
			case first == errSoldOut || first == errInsufficient:
				res.Refused++
			}
			continue
		}
		if i := firstIndex(o.Answers, got); differ(o.Answers[i:]) {
			bad("%s of %s for %s: a repeat got another answer: %q", o.ID(), sku, o.Buyer, o.Answers)
		}
		if !o.Hold {
			res.Granted++
			t.acquired += o.N
			seen[o.SKU] += o.N
			continue
		}
		res.Held++
		if o.Action == Abandon {
			res.Abandoned++
			due[o.SKU] += o.N
			continue
		}
		if len(o.Ends) == 0 {
			res.EndUnknown++
			if o.Action == Confirm {
				either[o.SKU] += o.N
				t.maybe += o.N
			} else {
				due[o.SKU] += o.N
			}
			continue
		}
		if differ(o.Ends) {
			bad("%s of %s for %s: a repeated %s got another answer: %q", o.ID(), sku, o.Buyer, o.Action, o.Ends)
		}
		switch end := o.Ends[0]; {
		case o.Action == Confirm && end == fmt.Sprintf("confirmed %d", o.N):
			res.Confirmed++
			t.confirmed += o.N
			seen[o.SKU] += o.N
		case o.Action == Cancel && end == fmt.Sprintf("cancelled %d", o.N):
			res.Cancelled++
			due[o.SKU] += o.N
		case end == errExpired:
			res.Expired++
			due[o.SKU] += o.N
		default:
			bad("%s of %s for %s, held: %s answered %q", o.ID(), sku, o.Buyer, o.Action, end)
		}
	}
	res.Buyers = len(tallies)
	for k, t := range tallies {
		if units := t.acquired + t.confirmed; units > PerBuyer {
			res.OverCap++
			bad("buyer %s of %s: clients saw %d units (%d acquired, %d confirmed), over the cap of %d",
				k.buyer, h.BuyerSKUs[k.sku].Name, units, t.acquired, t.confirmed, PerBuyer)
		}
		res.MostSeen = max(res.MostSeen, t.acquired+t.confirmed)
	}

	// Each buyer's count after the run.
	bought := make([]int64, nsku)
	for _, f := range h.BuyerFinals {
		if int(f.SKU) >= nsku || f.SKU < 0 {
			continue
		}
		sku := h.BuyerSKUs[f.SKU].Name
		t := tallies[key{f.SKU, f.Buyer}]
		switch {
		case t == nil:
			continue
		case !f.OK:
			bad("buyer %s of %s did not answer a query after the run", f.Buyer, sku)
			continue
		}
		res.Checked++
		bought[f.SKU] += f.Bought
		res.UnitsBought += f.Bought
		units := t.acquired + t.confirmed
		if f.Bought < units {
			bad("buyer %s of %s: bought %d after the run, but clients saw %d units granted (%d acquired, %d confirmed)",
				f.Buyer, sku, f.Bought, units, t.acquired, t.confirmed)
		}
		if f.Bought > units+t.maybe {
			bad("buyer %s of %s: bought %d after the run, at most %d could be (%d seen, %d of unknown outcome)",
				f.Buyer, sku, f.Bought, units+t.maybe, units, t.maybe)
		}
		if f.PerBuyer != PerBuyer || f.Bought+f.Held > f.PerBuyer {
			bad("buyer %s of %s after the run: bought %d + held %d, per_buyer %d; want at most %d", f.Buyer, sku, f.Bought, f.Held, f.PerBuyer, PerBuyer)
		}
		if f.Held != 0 {
			bad("buyer %s of %s still holds %d units %v after the load stopped (every hold ended or expired by then)",
				f.Buyer, sku, f.Held, HoldsBackWithin(h.LeaseTTL))
		}
	}
	if res.Checked != res.Buyers {
		bad("%d buyers asked for units, %d answered a query after the run", res.Buyers, res.Checked)
	}

	// Each capped SKU, as checkHolds checks the hold SKU.
	for si, s := range h.BuyerSKUs {
		res.UnitsSeen += seen[si]
		res.DueBack += due[si]
		res.MostBack += due[si] + either[si] + maybe[si]
		if seen[si] > s.Limit {
			res.Oversold += seen[si] - s.Limit
			bad("%s oversold: clients saw %d units sold for good, the limit is %d", s.Name, seen[si], s.Limit)
		}
		if si >= len(h.BuyerSKUFinal) || !h.BuyerSKUFinal[si].OK {
			bad("the capped SKU %s did not answer a query after the run", s.Name)
			continue
		}
		f := h.BuyerSKUFinal[si]
		returned := f.Limit - s.Limit
		res.Returned += returned
		if f.PerBuyer != PerBuyer {
			bad("%s: per_buyer %d after the run, want %d", s.Name, f.PerBuyer, PerBuyer)
		}
		if f.Held != 0 {
			bad("%d units of %s still held after the load stopped", f.Held, s.Name)
		}
		if f.Sold > f.Limit {
			bad("%s oversold: sold %d of a limit of %d", s.Name, f.Sold, f.Limit)
		}
		if returned < due[si] {
			bad("%s: %d units came back, but cancelled, expired and abandoned holds had %d", s.Name, returned, due[si])
		}
		if most := due[si] + either[si] + maybe[si]; returned > most {
			bad("%s: %d units came back, at most %d could (a unit returned twice, or a confirmed one returned)", s.Name, returned, most)
		}
		// Sold counts every unit ever granted or held, and the unsold part
		// of windows a crash lost; less what is held and what came back, it
		// bounds the units sold for good from above.
		forGood := f.Sold - f.Held - returned
		if forGood < seen[si] {
			bad("%s: clients saw %d units sold for good, but sold - held - returned is %d", s.Name, seen[si], forGood)
		}
		if forGood < bought[si] {
			bad("%s: its buyers have bought %d units, but sold - held - returned is %d", s.Name, bought[si], forGood)
		}
	}
	return res, violations
}

// checkBuyerAnswer checks one final answer to o.
func checkBuyerAnswer(o *BuyerOp, sku, a string, bad func(string, ...any)) {
	var bought, held, per int64
	switch {
	case !o.Hold && strings.HasPrefix(a, "granted "):
		if a != fmt.Sprintf("granted %d", o.N) {
			bad("%s of %s for %s: %d units asked, answered %q", o.ID(), sku, o.Buyer, o.N, a)
		}
	case o.Hold && strings.HasPrefix(a, "held "):
		if !strings.HasPrefix(a, fmt.Sprintf("held %d ", o.N)) {
			bad("%s of %s for %s: %d units asked, answered %q", o.ID(), sku, o.Buyer, o.N, a)
		}
	case strings.HasPrefix(a, errBuyerLimit+" "):
		if _, err := fmt.Sscanf(a, errBuyerLimit+" %d %d %d", &bought, &held, &per); err != nil {
			bad("%s of %s for %s: answered %q", o.ID(), sku, o.Buyer, a)
		} else if per != PerBuyer {
			bad("%s of %s for %s: buyer_limit names per_buyer %d, the cap is %d", o.ID(), sku, o.Buyer, per, PerBuyer)
		} else if bought+held+o.N <= per {
			bad("%s of %s for %s: %d units refused with bought %d, held %d: they fit the cap of %d",
				o.ID(), sku, o.Buyer, o.N, bought, held, per)
		}
	case a == errSoldOut || a == errInsufficient:
	default:
		bad("%s of %s for %s answered %q", o.ID(), sku, o.Buyer, a)
	}
}

// firstIndex is the index of the first answer equal to a.
func firstIndex(answers []string, a string) int {
	for i, x := range answers {
		if x == a {
			return i
		}
	}
	return 0
}
