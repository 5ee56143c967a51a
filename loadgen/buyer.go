package loadgen

import "strconv"

// With -buyers N every acquire or hold carries a buyer: request key k of a
// phase (1, 2, ... in the order requests start, over all workers) is buyer
// (base+k-1) mod N, where base is the number of keys the phases before it
// in the same measurement took (the warm-up's), so the measured phase goes
// on where its warm-up stopped. Keys are taken one by one from the phase's
// counter, so each worker gets a slice of buyers no other worker has
// until the pool wraps: with N at least the requests of a run, every buyer
// is distinct. A retry has its request's key, and so its buyer.

// noBuyer is the buyer of a request that carries none.
const noBuyer = -1

// buyerOf is the buyer of request key, or noBuyer when the phase's
// requests carry none (no -buyers, or a confirm, which names its hold only).
func (p *phase) buyerOf(key int64) int64 {
	if p.buyers <= 0 || p.op == OpConfirm || key < 1 {
		return noBuyer
	}
	return (p.buyerBase + key - 1) % p.buyers
}

// appendBuyer appends `,"buyer":"<prefix><i>"` for buyer i; nothing for
// noBuyer. Buyer ids are validated tokens (-buyer-prefix) that JSON takes
// as they are.
func (p *phase) appendBuyer(b []byte, buyer int64) []byte {
	if buyer < 0 {
		return b
	}
	b = append(append(b, `,"buyer":"`...), p.buyerPrefix...)
	b = strconv.AppendInt(b, buyer, 10)
	return append(b, '"')
}

// buyerCounts are the units granted per buyer of one SKU, as counters in
// pages of buyerPageSize buyers allocated where buyers got units: buyers
// are numbered densely, so memory follows the buyers served. Not safe for
// concurrent use, like the Ledger that holds it.
type buyerCounts struct {
	pages map[int64]*buyerPage
}

const buyerPageSize = 1 << 12

type buyerPage [buyerPageSize]int64

func newBuyerCounts() *buyerCounts { return &buyerCounts{pages: make(map[int64]*buyerPage)} }

// add counts units granted to buyer (>= 0).
func (c *buyerCounts) add(buyer, units int64) {
	idx := buyer / buyerPageSize
	p := c.pages[idx]
	if p == nil {
		p = new(buyerPage)
		c.pages[idx] = p
	}
	p[buyer%buyerPageSize] += units
}

// merge adds o's counts to c. o must not be used afterwards: its pages may
// now belong to c.
func (c *buyerCounts) merge(o *buyerCounts) {
	for idx, q := range o.pages {
		p, ok := c.pages[idx]
		if !ok {
			c.pages[idx] = q
			continue
		}
		for i := range p {
			p[i] += q[i]
		}
	}
}

// buyerSums sums buyerCounts up for the verdict.
type buyerSums struct {
	buyers  int64 // buyers granted anything
	most    int64 // the most units one buyer got
	mostOf  int64 // that buyer (the lowest, on a tie)
	overCap int64 // buyers granted more than the cap
}

// sums adds the counts up against perBuyer; perBuyer 0 means no cap.
func (c *buyerCounts) sums(perBuyer int64) buyerSums {
	s := buyerSums{mostOf: noBuyer}
	for idx, p := range c.pages {
		for i, u := range p {
			if u == 0 {
				continue
			}
			b := idx*buyerPageSize + int64(i)
			s.buyers++
			if u > s.most || (u == s.most && b < s.mostOf) {
				s.most, s.mostOf = u, b
			}
			if perBuyer > 0 && u > perBuyer {
				s.overCap++
			}
		}
	}
	return s
}
