package responder

import (
	"hash/maphash"

	"github.com/stockstate/stock/wire"
)

// skuIndex finds entries by SKU bytes. It is an open-addressing hash table
// built once per read map of the catalog and never changed, so any number
// of goroutines look up at once without a lock. It holds only valid SKUs
// (wire.ValidSKU), so what it finds needs no validation. Its slots and a copy of the
// SKUs sit in two dense arrays, so that a lookup touches no entry; it does
// not allocate.
type skuIndex struct {
	seed  maphash.Seed
	mask  uint64
	slots []skuSlot // at most half full, so probe runs stay short
	keys  []byte    // the SKUs back to back
}

type skuSlot struct {
	hash     uint64
	off, len uint32 // the SKU is keys[off:off+len]
	e        *entry // nil: empty
}

func newSKUIndex(m map[string]*entry) *skuIndex {
	size, n := 8, 0
	for size < 2*len(m) {
		size *= 2
	}
	for sku := range m {
		n += len(sku)
	}
	x := &skuIndex{seed: maphash.MakeSeed(), mask: uint64(size - 1), slots: make([]skuSlot, size), keys: make([]byte, 0, n)}
	for sku, e := range m {
		if !wire.ValidSKU(sku) {
			continue
		}
		h := maphash.String(x.seed, sku)
		i := h & x.mask
		for x.slots[i].e != nil {
			i = (i + 1) & x.mask
		}
		x.slots[i] = skuSlot{hash: h, off: uint32(len(x.keys)), len: uint32(len(sku)), e: e}
		x.keys = append(x.keys, sku...)
	}
	return x
}

// get returns the entry of sku, or nil.
func (x *skuIndex) get(sku []byte) *entry {
	h := maphash.Bytes(x.seed, sku)
	for i := h & x.mask; ; i = (i + 1) & x.mask {
		s := &x.slots[i]
		if s.e == nil {
			return nil
		}
		if s.hash == h && string(x.keys[s.off:s.off+s.len]) == string(sku) {
			return s.e
		}
	}
}
