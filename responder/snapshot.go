package responder

import (
	"cmp"
	"slices"
)

// SKUState is one SKU as the leader holds it.
type SKUState struct {
	SKU       string `json:"sku"`
	Limit     int64  `json:"limit"`
	Sold      int64  `json:"sold"`
	Held      int64  `json:"held"`
	Remaining int64  `json:"remaining"`
}

// Snapshot returns up to n SKUs of the terms served now (those they have
// read or created: a term reads a SKU on its first request), those sold
// most first (then by name), and how many they have; none while standing
// by.
// Each SKU is read under its own lock, so the figures of different SKUs
// may be of slightly different moments.
func (s *Server) Snapshot(n int) (skus []SKUState, total int) {
	var es []*entry
	for _, t := range s.serving() {
		es = append(es, t.cat.all()...)
	}
	if len(es) == 0 {
		return nil, 0
	}
	skus = make([]SKUState, 0, len(es))
	for _, e := range es {
		e.mu.Lock()
		if !e.gone {
			skus = append(skus, SKUState{SKU: e.sku, Limit: e.item.Limit, Sold: e.item.Sold, Held: e.item.Held, Remaining: e.item.Remaining()})
		}
		e.mu.Unlock()
	}
	slices.SortFunc(skus, func(a, b SKUState) int {
		return cmp.Or(cmp.Compare(b.Sold, a.Sold), cmp.Compare(a.SKU, b.SKU))
	})
	return skus[:min(n, len(skus))], len(skus)
}
