package responder

// storeKey names one store key a round writes: a SKU's record, a hold, or
// a buyer's record.
type storeKey struct {
	kind    keyKind
	sku, id string // id: the hold's id or the buyer's name
}

type keyKind uint8

const (
	keySKU keyKind = iota
	keyHold
	keyBuyer
)

// inflight is the keys that rounds being written write. The writer writes
// several rounds at once (writer.Config.Depth), which etcd may apply in any
// order, so a round plans nothing of a key in flight: such work waits for
// the next round. Since a round changes memory only for the keys it writes
// (a SKU's limit and cap with its record, a hold with its key, a buyer's
// count with its record), a round planned beside another also reads no
// memory that the other will change. Writer goroutine only.
type inflight map[storeKey]bool

func (f inflight) sku(sku string) bool         { return f[storeKey{keySKU, sku, ""}] }
func (f inflight) hold(sku, id string) bool    { return f[storeKey{keyHold, sku, id}] }
func (f inflight) buyer(sku, name string) bool { return f[storeKey{keyBuyer, sku, name}] }

// anyOf reports whether a key of sku is in flight: a delete of the SKU
// also deletes its buyers' records.
func (f inflight) anyOf(sku string) bool {
	for k := range f {
		if k.sku == sku {
			return true
		}
	}
	return false
}

// blocks reports whether o would write a key in flight. A confirm of a
// buyer's hold also writes the buyer's record, which planHold checks.
func (f inflight) blocks(o *op) bool {
	switch o.kind {
	case opSet:
		return f.sku(o.sku)
	case opRelease:
		return f.sku(o.sku) || o.buyer != "" && f.buyer(o.sku, o.buyer)
	case opDelete:
		return f.anyOf(o.sku)
	case opBuy:
		return f.buyer(o.sku, o.buyer)
	case opCancel:
		return f.hold(o.sku, o.id) || f.sku(o.sku)
	case opExpire:
		return f.sku(o.sku)
	}
	return f.hold(o.sku, o.id) // hold, confirm, extend
}

// keys lists the keys r writes.
func (r *round) keys() []storeKey {
	w := r.Records()
	ks := make([]storeKey, 0, w.Len())
	for sku := range w.Puts {
		ks = append(ks, storeKey{keySKU, sku, ""})
	}
	for _, sku := range w.Deletes {
		ks = append(ks, storeKey{keySKU, sku, ""})
	}
	for _, h := range w.Holds {
		ks = append(ks, storeKey{keyHold, h.SKU, h.ID})
	}
	for _, b := range w.Buyers {
		ks = append(ks, storeKey{keyBuyer, b.SKU, b.Buyer})
	}
	return ks
}

func (f inflight) add(ks []storeKey) {
	for _, k := range ks {
		f[k] = true
	}
}

func (f inflight) remove(ks []storeKey) {
	for _, k := range ks {
		delete(f, k)
	}
}
