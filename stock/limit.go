package stock

import "fmt"

// PlanLimit prepares a change of the limit to l (0..MaxLimit) and returns the
// record to persist, with the per-buyer cap as it is. A limit below what is already sold stops the sale: the
// limit becomes Sold. If the limit falls, the cap in memory falls with it at
// once (the smaller window is always safe), so no grant made while the write
// is in flight can exceed the new limit. The limit itself changes only when
// the caller applies the record with Apply after the write is durable.
func (it *Item) PlanLimit(l int64) Record {
	l = max(l, it.Sold)
	it.Cap = min(it.Cap, l)
	return it.record(l, it.Cap)
}

// PlanSet is PlanLimit(l) with the per-buyer cap set to perBuyer
// (0..MaxLimit; 0: no cap), for an admin set that names both. The cap per
// buyer in memory changes only when the caller applies the record with
// Apply after the write is durable; until then grants are checked against
// the old one.
func (it *Item) PlanSet(l, perBuyer int64) Record {
	r := it.PlanLimit(l)
	r.PerBuyer = perBuyer
	return r
}

// PlanRelease prepares the return of n units (1..MaxUnits) and returns the
// record to persist: the limit rises by n. More units than were ever sold
// cannot come back.
func (it *Item) PlanRelease(n int64) (Record, error) {
	if n > it.Sold {
		return Record{}, fmt.Errorf("%w: %d released, %d sold", ErrReleaseExceedsSold, n, it.Sold)
	}
	if it.Limit+n > MaxLimit {
		return Record{}, fmt.Errorf("stock: limit would exceed %d", int64(MaxLimit))
	}
	return it.record(it.Limit+n, it.Cap), nil
}

// Apply records that r, planned by PlanLimit, PlanSet or PlanRelease, is
// durable: the limit and the per-buyer cap become r's. Grants made since
// the plan stay below r.Cap, so Sold <= Cap <= Limit holds. The caller
// must not raise the cap between the plan and Apply.
func (it *Item) Apply(r Record) {
	it.Limit = r.Limit
	it.Cap = min(it.Cap, r.Cap)
	it.PerBuyer = r.PerBuyer
}

// Trim returns the record that makes the cap exact, for a graceful stop
// after the last grant: the next leader resumes with nothing lost. Either
// outcome of its write is safe, so it changes nothing in memory.
func (it *Item) Trim() Record {
	return it.record(it.Limit, it.Sold)
}

// Close empties the window: the cap in memory drops to what was sold, so
// every later Acquire waits. A graceful stop closes each window before it
// writes Trim's record, so that a grant racing the stop cannot sell a unit
// that the next leader, resuming from the trimmed cap, sells again.
func (it *Item) Close() { it.Cap = it.Sold }
