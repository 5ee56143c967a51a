package loadgen

import (
	"fmt"
	"math/bits"
	"strings"
)

// maxTrackedUnits bounds the SKUs whose units are tracked one by one: a SKU
// with more units available than this is only checked by its sums. The unit
// set is paged, so memory follows the units granted, not the limit.
const maxTrackedUnits = 100_000_000

// SKUState is a SKU's limit, sold count and per-buyer cap (0: none) as the
// responder reported them (a query or admin.set reply).
type SKUState struct {
	Name     string `json:"sku"`
	Limit    int64  `json:"limit"`
	Sold     int64  `json:"sold"`
	PerBuyer int64  `json:"per_buyer,omitempty"`
}

// Ledger records the grants a client saw during one phase, per SKU, and checks
// them against the responder's own counts afterwards.
//
// A grant of n units that leaves r remaining names the units
// [limit-r-n, limit-r); no two grants may name the same unit, and all must lie
// in [sold before the run, limit). That holds as long as the limit does not
// change during the run.
//
// A Ledger is not safe for concurrent use: each worker keeps its own and the
// phase merges them when the workers have stopped.
type Ledger struct {
	skus  []skuLedger
	index map[string]int // read-only, shared between the ledgers of a phase
}

type skuLedger struct {
	before     SKUState
	grants     int64 // grant replies seen
	units      int64 // units in them
	partial    int64 // grants of a different number of units than asked for
	outOfRange int64 // grants naming a unit outside [before.Sold, before.Limit)
	overlaps   int64 // units named by more than one grant
	set        *unitSet
	buyers     *buyerCounts // units per buyer, once a grant to a buyer was seen
}

// NewLedger returns an empty ledger for the SKUs in before, in that order;
// Grant takes indexes into before.
func NewLedger(before []SKUState) *Ledger {
	index := make(map[string]int, len(before))
	for i, s := range before {
		index[s.Name] = i
	}
	return newLedger(before, index)
}

func newLedger(before []SKUState, index map[string]int) *Ledger {
	l := &Ledger{skus: make([]skuLedger, len(before)), index: index}
	for i, s := range before {
		l.skus[i].before = s
		if s.Limit-s.Sold <= maxTrackedUnits {
			l.skus[i].set = newUnitSet()
		}
	}
	return l
}

// fork returns an empty ledger for the same SKUs, sharing the index.
func (l *Ledger) fork() *Ledger {
	before := make([]SKUState, len(l.skus))
	for i := range l.skus {
		before[i] = l.skus[i].before
	}
	return newLedger(before, l.index)
}

// Grant records a reply to SKU i that granted units and left remaining, for a
// request of requested units.
func (l *Ledger) Grant(i int, requested, granted, remaining int64) {
	s := &l.skus[i]
	s.grants++
	s.units += granted
	if granted != requested {
		s.partial++
	}
	end := s.before.Limit - remaining
	start := end - granted
	if granted <= 0 || remaining < 0 || start < s.before.Sold || end > s.before.Limit {
		s.outOfRange++
		return
	}
	if s.set != nil {
		s.overlaps += s.set.add(start, end)
	}
}

// GrantBuyer records that buyer (>= 0) was granted units of SKU i, in a
// reply also given to Grant.
func (l *Ledger) GrantBuyer(i int, buyer, units int64) {
	s := &l.skus[i]
	if s.buyers == nil {
		s.buyers = newBuyerCounts()
	}
	s.buyers.add(buyer, units)
}

// GrantBuyerByName is GrantBuyer for a SKU named in a reply body; it
// reports false for a SKU the ledger does not know.
func (l *Ledger) GrantBuyerByName(name []byte, buyer, units int64) bool {
	i, ok := l.index[string(name)]
	if ok {
		l.GrantBuyer(i, buyer, units)
	}
	return ok
}

// GrantByName is Grant for a SKU named in a reply body; it reports false for
// a SKU the ledger does not know.
func (l *Ledger) GrantByName(name []byte, requested, granted, remaining int64) bool {
	i, ok := l.index[string(name)]
	if ok {
		l.Grant(i, requested, granted, remaining)
	}
	return ok
}

// Merge adds o's grants to l. Units that both name count as overlaps.
func (l *Ledger) Merge(o *Ledger) {
	for i := range l.skus {
		a, b := &l.skus[i], &o.skus[i]
		a.grants += b.grants
		a.units += b.units
		a.partial += b.partial
		a.outOfRange += b.outOfRange
		a.overlaps += b.overlaps
		if a.set != nil && b.set != nil {
			a.overlaps += a.set.merge(b.set)
		}
		switch {
		case b.buyers == nil:
		case a.buyers == nil:
			a.buyers = b.buyers
		default:
			a.buyers.merge(b.buyers)
		}
	}
}

// Units is the number of units granted in all the grants seen.
func (l *Ledger) Units() int64 {
	var n int64
	for i := range l.skus {
		n += l.skus[i].units
	}
	return n
}

// SKUVerdict is the check of one SKU.
type SKUVerdict struct {
	SKU        string `json:"sku"`
	Limit      int64  `json:"limit"`
	SoldBefore int64  `json:"sold_before"`
	SoldAfter  int64  `json:"sold_after"`
	Grants     int64  `json:"grants"`
	Units      int64  `json:"units_seen"`
	// Lost is what the responder counts as sold but no client saw granted:
	// windows lost to crashes, and grants whose replies timed out.
	Lost         int64  `json:"lost_to_failovers"`
	Overlaps     int64  `json:"overlapping_units"`
	OutOfRange   int64  `json:"out_of_range_grants"`
	Partial      int64  `json:"partial_grants"`
	UnitsChecked bool   `json:"units_checked"`
	Note         string `json:"note,omitempty"`
	// With buyers: the SKU's cap (0: none), the buyers seen granted
	// anything, the most units one of them got, and how many got more than
	// the cap (a failure).
	PerBuyer      int64 `json:"per_buyer,omitempty"`
	Buyers        int64 `json:"buyers,omitempty"`
	MostPerBuyer  int64 `json:"most_per_buyer,omitempty"`
	BuyersOverCap int64 `json:"buyers_over_cap"`
}

// Verdict is the outcome of Verify.
type Verdict struct {
	OK       bool         `json:"ok"`
	Failures []string     `json:"failures,omitempty"`
	Lost     int64        `json:"lost_to_failovers"`
	SKUs     []SKUVerdict `json:"skus"`
	// BuyersOverCap sums the SKUs' buyers granted more than their cap.
	BuyersOverCap int64 `json:"buyers_over_cap"`
}

// Verify checks the grants seen against the SKUs' states after the run,
// given in the same order as to NewLedger. Per SKU, the units seen must fit in
// what remained before the run, the responder's sold count must have risen by
// at least the units seen, (when tracked) no unit may be named twice nor
// lie outside what remained, and no buyer may have been granted more than
// the SKU's per-buyer cap (the larger of before and after, if it changed).
// Units a buyer had before the run are not known: the cap is checked on
// what the run saw.
func (l *Ledger) Verify(after []SKUState) Verdict {
	v := Verdict{OK: true}
	fail := func(format string, args ...any) {
		v.OK = false
		v.Failures = append(v.Failures, fmt.Sprintf(format, args...))
	}
	if len(after) != len(l.skus) {
		fail("verify: %d SKUs queried after the run, %d before", len(after), len(l.skus))
		return v
	}
	for i := range l.skus {
		s := &l.skus[i]
		b, a := s.before, after[i]
		sv := SKUVerdict{
			SKU:          b.Name,
			Limit:        b.Limit,
			SoldBefore:   b.Sold,
			SoldAfter:    a.Sold,
			Grants:       s.grants,
			Units:        s.units,
			Lost:         a.Sold - b.Sold - s.units,
			Overlaps:     s.overlaps,
			OutOfRange:   s.outOfRange,
			Partial:      s.partial,
			UnitsChecked: s.set != nil,
		}
		if a.Name != b.Name {
			fail("%s: queried %q after the run", b.Name, a.Name)
		}
		limit := b.Limit
		limitChanged := a.Limit != b.Limit
		switch {
		case limitChanged:
			limit = max(a.Limit, b.Limit)
			sv.UnitsChecked = false
			sv.Note = fmt.Sprintf("limit changed from %d to %d during the run; units not checked", b.Limit, a.Limit)
		case s.set == nil:
			sv.Note = fmt.Sprintf("more than %d units available; units not checked", int64(maxTrackedUnits))
		}
		if avail := limit - b.Sold; s.units > avail {
			fail("%s: oversold: %d units granted, only %d were available (limit %d, sold before %d)",
				b.Name, s.units, avail, limit, b.Sold)
		}
		if a.Sold-b.Sold < s.units {
			fail("%s: responder's sold rose by %d (from %d to %d), less than the %d units clients were granted",
				b.Name, a.Sold-b.Sold, b.Sold, a.Sold, s.units)
		}
		if s.partial > 0 {
			fail("%s: %d grants of another number of units than requested (requests are all-or-nothing)", b.Name, s.partial)
		}
		if !limitChanged {
			if s.overlaps > 0 {
				fail("%s: %d units granted more than once", b.Name, s.overlaps)
			}
			if s.outOfRange > 0 {
				fail("%s: %d grants name units outside [%d, %d)", b.Name, s.outOfRange, b.Sold, b.Limit)
			}
		}
		if s.buyers != nil {
			sv.PerBuyer = max(b.PerBuyer, a.PerBuyer)
			bs := s.buyers.sums(sv.PerBuyer)
			sv.Buyers, sv.MostPerBuyer, sv.BuyersOverCap = bs.buyers, bs.most, bs.overCap
			if bs.overCap > 0 {
				fail("%s: %d buyers granted more than the per-buyer cap of %d units (buyer %d got %d)",
					b.Name, bs.overCap, sv.PerBuyer, bs.mostOf, bs.most)
			}
			if a.PerBuyer != b.PerBuyer {
				sv.Note = strings.TrimPrefix(sv.Note+fmt.Sprintf("; per_buyer changed from %d to %d during the run", b.PerBuyer, a.PerBuyer), "; ")
			}
			v.BuyersOverCap += bs.overCap
		}
		if sv.Lost > 0 {
			v.Lost += sv.Lost
		}
		v.SKUs = append(v.SKUs, sv)
	}
	return v
}

// unitSet is a set of unit numbers, as a bitmap allocated in pages of
// unitPageBits units where units were added.
type unitSet struct {
	pages    map[int64]*unitPage
	lastIdx  int64
	lastPage *unitPage
}

const unitPageBits = 1 << 16

type unitPage [unitPageBits / 64]uint64

func newUnitSet() *unitSet { return &unitSet{pages: make(map[int64]*unitPage), lastIdx: -1} }

func (s *unitSet) page(idx int64) *unitPage {
	if idx == s.lastIdx {
		return s.lastPage
	}
	p := s.pages[idx]
	if p == nil {
		p = new(unitPage)
		s.pages[idx] = p
	}
	s.lastIdx, s.lastPage = idx, p
	return p
}

// add inserts the units [a, b), 0 <= a <= b, and returns how many of them
// were already in the set.
func (s *unitSet) add(a, b int64) int64 {
	var dup int64
	for a < b {
		idx := a / unitPageBits
		p := s.page(idx)
		base := idx * unitPageBits
		off, end := a-base, min(b-base, unitPageBits)
		for off < end {
			w, bit := off/64, off%64
			nb := min(end-off, 64-bit)
			mask := ^uint64(0)
			if nb < 64 {
				mask = (uint64(1)<<nb - 1) << bit
			}
			dup += int64(bits.OnesCount64(p[w] & mask))
			p[w] |= mask
			off += nb
		}
		a = base + end
	}
	return dup
}

// merge adds o's units to s and returns how many were in both. o must not be
// used afterwards: its pages may now belong to s.
func (s *unitSet) merge(o *unitSet) int64 {
	var dup int64
	for idx, q := range o.pages {
		p, ok := s.pages[idx]
		if !ok {
			s.pages[idx] = q
			continue
		}
		for w := range p {
			dup += int64(bits.OnesCount64(p[w] & q[w]))
			p[w] |= q[w]
		}
	}
	s.lastIdx, s.lastPage = -1, nil
	return dup
}

// len returns the number of units in the set.
func (s *unitSet) len() int64 {
	var n int64
	for _, p := range s.pages {
		for _, w := range p {
			n += int64(bits.OnesCount64(w))
		}
	}
	return n
}
