package loadgen

import (
	"strconv"

	"github.com/stockstate/stock/wire"
)

// What each request of a phase does (-op).
const (
	OpAcquire = wire.SubjectAcquire // take -n units for good
	OpHold    = wire.SubjectHold    // hold -n units under an id of the request's own, for -ttl
	OpConfirm = wire.SubjectConfirm // confirm the hold of the same key made by the hold phase
)

// subjectOf is the subject prefix of op's requests: <prefix>.<op>, followed
// by the SKU token (and, for acquire, the batch subject itself).
func subjectOf(prefix, op string) string { return prefix + "." + op }

// bodyOf is the body of request r. An acquire's body is the phase's one
// body, or with -buyers its own, naming the buyer of its key (buyer.go); a
// hold or confirm names the hold <idPrefix><key>, so a retry of the same
// request names the same hold (and buyer) and the responder answers it
// once.
func (p *phase) bodyOf(r request) []byte {
	switch p.op {
	case OpAcquire:
		buyer := p.buyerOf(r.key)
		if buyer == noBuyer {
			return p.body
		}
		b := make([]byte, 0, 48+len(p.buyerPrefix))
		b = strconv.AppendInt(append(b, `{"n":`...), p.n, 10)
		return append(p.appendBuyer(b, buyer), '}')
	case OpHold:
		b := make([]byte, 0, 80+len(p.idPrefix)+len(p.buyerPrefix))
		b = strconv.AppendInt(append(b, `{"n":`...), p.n, 10)
		b = strconv.AppendInt(append(append(b, `,"id":"`...), p.idPrefix...), r.key, 10)
		b = strconv.AppendInt(append(b, `","ttl_s":`...), p.ttlS, 10)
		return append(p.appendBuyer(b, p.buyerOf(r.key)), '}')
	case OpConfirm:
		b := make([]byte, 0, 16+len(p.idPrefix))
		b = strconv.AppendInt(append(append(b, `{"id":"`...), p.idPrefix...), r.key, 10)
		return append(b, `"}`...)
	}
	return p.body
}

// skuOfKey is the SKU the hold phase held request key on, for its confirm.
// keySKU is written while the hold phase runs and only read after it ends.
func (p *phase) skuOfKey(key int64) (int32, bool) {
	if key < 0 || key >= int64(len(p.keySKU)) {
		return 0, false
	}
	return p.keySKU[key], true
}
