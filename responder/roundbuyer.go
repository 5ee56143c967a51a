package responder

import (
	"fmt"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/wire"
)

// maxConfirmsPerBuyer bounds the holds of one buyer that one round
// confirms: they share a transaction with the buyer's record, which must
// fit capstore.DefaultMaxTxnOps. The rest wait for the next round.
const maxConfirmsPerBuyer = 100

// buyerPlan is what one round writes of one buyer: one record that every
// grant, confirm and release of the buyer in the round changes.
type buyerPlan struct {
	e          *entry
	b          *buyer
	bought     int64              // the record's count
	granted    int64              // units of grants (pending until durable)
	confirmed  int64              // units of confirmed holds (held until durable)
	confirms   int                // confirmed holds, whose keys go with the record
	newIDs     []capstore.BuyerID // ids of the round's requests
	withRecord bool               // a release: the record goes with the SKU's
	grants     []buyerGrant       // answered once durable
	rec        capstore.BuyerRecord
}

// buyerGrant is a grant to a buyer waiting for the round.
type buyerGrant struct {
	op  *op
	ans answer
}

// buyerPlanOfLocked is the round's plan of b, a buyer of e, new if it has none.
// Lock e.mu on entry.
func (r *round) buyerPlanOfLocked(e *entry, b *buyer) *buyerPlan {
	bp := r.buyers[b]
	if bp == nil {
		bp = &buyerPlan{e: e, b: b, bought: b.bought}
		r.buyers[b] = bp
	}
	return bp
}

// writesBuyersOf reports whether the round writes a buyer record of sku.
func (r *round) writesBuyersOf(sku string) bool {
	for _, bp := range r.buyers {
		if bp.e.sku == sku {
			return true
		}
	}
	return false
}

// planBuy plans the write of a grant to a buyer: the buyer's record counts
// its units and keeps its id. It returns false if the SKU's limit changes
// in this round (its grant waits for the next).
func (r *round) planBuy(o *op) bool {
	if r.touched[o.sku] {
		return false
	}
	e, broken := r.t.cat.get(o.sku)
	if e == nil {
		r.answer(o, missing(o.sku, broken)) // deleted since: its units went with it
		return true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.buyers[o.buyer]
	if b == nil { // the SKU was deleted and set again since: its units went with it
		r.answer(o, unavailable(o.sku))
		return true
	}
	bp := r.buyerPlanOfLocked(e, b)
	ans := grantAnswer(o.sku, o.n, o.rem)
	bp.bought += o.n
	bp.granted += o.n
	if o.id != "" {
		bp.newIDs = append(bp.newIDs, capstore.BuyerID{ID: buyerIDKey(opBuy, o.id), AtMS: r.now.UnixMilli(), Reply: ans.body})
	}
	bp.grants = append(bp.grants, buyerGrant{op: o, ans: ans})
	return true
}

// planBuyerRelease plans a release of o.n units by a buyer of e, a SKU
// with a cap: the limit rises and the buyer's count falls in one
// transaction, which also keeps the release's id in the buyer's record. A
// buyer whose record is not loaded yet waits for it, and o is planned
// again after.
func (r *round) planBuyerRelease(o *op, e *entry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	b := e.buyerLocked(o.buyer)
	if !b.loaded {
		r.t.waitBuyerLocked(e, b, buyerWait{rq: o.req, redo: func() { r.t.q.submit(o) }})
		return
	}
	if o.id != "" {
		if ans, ok := b.repeatLocked(o.sku, buyerIDKey(opRelease, o.id)); ok {
			r.answer(o, ans)
			return
		}
	}
	bp := r.buyerPlanOfLocked(e, b)
	if o.n > bp.bought {
		r.answer(o, errorAnswer(o.sku, 0, wire.ErrBadRequest, fmt.Sprintf("buyer %s has %d units bought: %d cannot come back", b.name, bp.bought, o.n)))
		return
	}
	rec, err := e.item.PlanRelease(o.n)
	if err != nil {
		r.answer(o, errorAnswer(o.sku, 0, wire.ErrBadRequest, err.Error()))
		return
	}
	c := change{op: o, e: e, rec: rec, ans: releaseAnswer(o.sku, o.n, rec.Limit-e.item.Sold)}
	bp.bought -= o.n
	bp.withRecord = true
	if o.id != "" {
		bp.newIDs = append(bp.newIDs, capstore.BuyerID{ID: buyerIDKey(opRelease, o.id), AtMS: r.now.UnixMilli(), Reply: c.ans.body})
	}
	r.puts[o.sku] = rec
	r.changes = append(r.changes, c)
}

// mayConfirmLocked reports whether the round may confirm a hold of b: not
// if b's record is not loaded (the caller parks the op on it) or b
// confirms maxConfirmsPerBuyer holds in this round already (the op waits
// for the next). Lock b's entry's mu on entry.
func (r *round) mayConfirmLocked(b *buyer) bool {
	bp := r.buyers[b]
	return b.loaded && (bp == nil || bp.confirms < maxConfirmsPerBuyer)
}

// confirmedLocked adds the confirm of h, a hold of e with a buyer, to its
// buyer's plan: its units move from held to bought, in the transaction of
// the buyer's record. Lock e.mu on entry.
func (r *round) confirmedLocked(e *entry, h *hold) {
	bp := r.buyerPlanOfLocked(e, h.buyer)
	bp.bought += h.N
	bp.confirmed += h.N
	bp.confirms++
}

// planBuyerRecords computes each planned buyer's record: its count, and
// its ids of the last horizon with the round's new ones.
func (r *round) planBuyerRecords() {
	horizon := r.t.s.cfg.DedupeHorizon
	for _, bp := range r.buyers {
		bp.e.mu.Lock()
		ids := recentIDs(bp.b.ids, r.now, horizon, len(bp.newIDs))
		bp.rec = capstore.BuyerRecord{Bought: bp.bought, IDs: append(ids[:len(ids):len(ids)], bp.newIDs...)}
		bp.e.mu.Unlock()
	}
}

// buyerRecords lists the round's buyer writes.
func (r *round) buyerRecords() []capstore.BuyerWrite {
	if len(r.buyers) == 0 {
		return nil
	}
	ws := make([]capstore.BuyerWrite, 0, len(r.buyers))
	for _, bp := range r.buyers {
		ws = append(ws, capstore.BuyerWrite{SKU: bp.e.sku, Buyer: bp.b.name, Rec: bp.rec, WithRecord: bp.withRecord})
	}
	return ws
}

// applyBuyers makes the durable buyer records visible and answers the
// round's grants to buyers.
func (r *round) applyBuyers() {
	c := &r.t.s.counters
	for _, bp := range r.buyers {
		b := bp.b
		bp.e.mu.Lock()
		b.bought = bp.rec.Bought
		b.ids = bp.rec.IDs
		b.pending -= bp.granted
		b.held -= bp.confirmed
		bp.e.mu.Unlock()
		for _, g := range bp.grants {
			c.units.Add(uint64(g.op.n))
			r.answer(g.op, g.ans)
		}
	}
}

// abandonBuyers answers the round's grants to buyers unavailable.
func (r *round) abandonBuyers() {
	for _, bp := range r.buyers {
		for _, g := range bp.grants {
			r.answer(g.op, unavailable(g.op.sku))
		}
	}
}
