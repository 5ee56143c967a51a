package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/stockstate/stock/stock"
)

// The batch subject <prefix>.acquire (no SKU token) carries many acquires in
// one message and is answered by one reply holding a result per item, in
// order. Each item is all or nothing on its own; a bad item gets its own
// error and never fails the others.
//
// Two encodings, told apart by the first byte; the reply uses the request's:
//
// Binary (first byte 0x01), for speed. uvarint is encoding/binary's:
//
//	request = 0x01 count:uvarint { sku_len:uvarint sku n:uvarint id_len:uvarint id }*count
//	reply   = 0x01 count:uvarint { status:byte granted:uvarint remaining:uvarint }*count
//
// status is the index of the item's outcome in BatchStatuses: 0 granted,
// 1 bad_request, 2 unknown_sku, 3 sold_out, 4 insufficient, 5 unavailable,
// 6 internal, 7 unknown_hold, 8 expired, 9 buyer_limit (each kind's index in
// Kinds plus one; an acquire batch gives neither 7 nor 8). An empty id
// means none. Binary items carry no buyer, so items of a SKU with a
// per-buyer cap must use the JSON form or the single subject.
//
// JSON (first byte '['), for people and debugging:
//
//	request = [{"sku":"sku1","n":2,"id":"req-1","buyer":"u-1"}, ...]
//	reply   = [{"sku":"sku1","granted":2,"remaining":41}, {"sku":"sku2","granted":0,"remaining":0,"error":"sold_out","code":409,"message":"sold out"}, ...]
//
// buyer is optional; a buyer_limit result also carries "bought", "held" and
// "per_buyer", as the single subject's error does.
//
// A message that cannot be read as a batch at all (truncated, not JSON, more
// than MaxBatchItems items) is answered with one bad_request error, as on
// the other subjects.

// Limits of one batch.
const (
	MaxBatchItems = 8192
	MaxBatchBody  = 1 << 20
	BatchBinary   = 0x01
)

// BatchStatuses are the outcomes of batch items, by binary status byte: ""
// (granted), then Kinds in order, so that BatchStatuses[StatusOf(k)] == k.
var BatchStatuses = [...]string{"", ErrBadRequest, ErrUnknownSKU, ErrSoldOut, ErrInsufficient, ErrUnavailable, ErrInternal, ErrUnknownHold, ErrExpired, ErrBuyerLimit}

// BatchItem is one acquire of a batch. AppendBatchRequest does not encode
// Buyer (binary items carry none); a batch with buyers goes as JSON.
type BatchItem struct {
	SKU   string `json:"sku"`
	N     int64  `json:"n"`
	ID    string `json:"id,omitempty"`
	Buyer string `json:"buyer,omitempty"`
}

// BatchResult is the outcome of one item. Error is "" when granted; Bought,
// Held and PerBuyer are set only for buyer_limit. The binary encoding
// carries no SKU, no message and none of the buyer's figures.
type BatchResult struct {
	SKU       string `json:"sku,omitempty"`
	Granted   int64  `json:"granted"`
	Remaining int64  `json:"remaining"`
	Error     string `json:"error,omitempty"`
	Code      int    `json:"code,omitempty"`
	Message   string `json:"message,omitempty"`
	Bought    int64  `json:"bought,omitempty"`
	Held      int64  `json:"held,omitempty"`
	PerBuyer  int64  `json:"per_buyer,omitempty"`
}

var (
	errBatchTruncated = errors.New("batch: truncated")
	errNotBatch       = errors.New(`batch must be binary (first byte 0x01) or a JSON array of {"sku","n","id"}`)
)

// ErrBodyTooLarge is the error of a body of n bytes over limit.
func ErrBodyTooLarge(n, limit int) error {
	return fmt.Errorf("body of %d bytes is over the %d byte limit", n, limit)
}

func errTooManyItems(n int) error {
	return fmt.Errorf("batch of %d items is over the limit of %d", n, MaxBatchItems)
}

// AppendBatchRequest appends the binary encoding of items to b.
func AppendBatchRequest(b []byte, items []BatchItem) []byte {
	b = append(b, BatchBinary)
	b = binary.AppendUvarint(b, uint64(len(items)))
	for _, it := range items {
		b = binary.AppendUvarint(b, uint64(len(it.SKU)))
		b = append(b, it.SKU...)
		b = binary.AppendUvarint(b, uint64(max(it.N, 0)))
		b = binary.AppendUvarint(b, uint64(len(it.ID)))
		b = append(b, it.ID...)
	}
	return b
}

// DecodeBatchReply decodes a binary batch reply into out (reusing its
// storage) and returns it.
func DecodeBatchReply(body []byte, out []BatchResult) ([]BatchResult, error) {
	if len(body) == 0 || body[0] != BatchBinary {
		return nil, errors.New("batch: not a binary reply")
	}
	body = body[1:]
	count, k := binary.Uvarint(body)
	if k <= 0 || count > MaxBatchItems {
		return nil, errBatchTruncated
	}
	body = body[k:]
	out = out[:0]
	for range count {
		if len(body) < 1 || int(body[0]) >= len(BatchStatuses) {
			return nil, errBatchTruncated
		}
		r := BatchResult{Error: BatchStatuses[body[0]]}
		body = body[1:]
		g, k1 := binary.Uvarint(body)
		if k1 <= 0 {
			return nil, errBatchTruncated
		}
		rem, k2 := binary.Uvarint(body[k1:])
		if k2 <= 0 {
			return nil, errBatchTruncated
		}
		body = body[k1+k2:]
		r.Granted, r.Remaining = int64(g), int64(rem)
		if r.Error != "" {
			r.Code = Code(r.Error)
		}
		out = append(out, r)
	}
	return out, nil
}

// ItemSpan is one item of a batch request as the responder holds it: its
// SKU, id and buyer are spans of the bytes it was decoded from, so that
// decoding allocates nothing. An empty id or buyer means none.
type ItemSpan struct {
	skuOff, skuLen, idOff, idLen uint32
	buyerOff, buyerLen           uint32
	N                            int64
}

// SKU is the item's SKU, a span of data.
func (it *ItemSpan) SKU(data []byte) []byte { return data[it.skuOff : it.skuOff+it.skuLen] }

// ID is the item's id, a span of data; empty if it has none.
func (it *ItemSpan) ID(data []byte) []byte { return data[it.idOff : it.idOff+it.idLen] }

// HasID reports whether the item carries an id.
func (it *ItemSpan) HasID() bool { return it.idLen > 0 }

// Buyer is the item's buyer, a span of data; empty if it has none (binary
// items never have one).
func (it *ItemSpan) Buyer(data []byte) []byte { return data[it.buyerOff : it.buyerOff+it.buyerLen] }

// HasBuyer reports whether the item carries a buyer.
func (it *ItemSpan) HasBuyer() bool { return it.buyerLen > 0 }

// ItemResult is the outcome of one item as the responder holds it; it holds
// no pointers, so the results of a batch cost the garbage collector nothing
// to scan. Bought, Held and PerBuyer are set only for buyer_limit.
type ItemResult struct {
	Status                 byte // index in BatchStatuses
	Granted, Remaining     int64
	Bought, Held, PerBuyer int64
}

// StatusOf is the status byte of an error kind; an unknown kind is internal.
func StatusOf(kind string) byte { return byte(KindIndex(kind) + 1) }

// DecodeBinaryBatch reads a binary batch request, appending its items to
// items; their spans point into body. Items are not validated here; a
// structural error fails the whole batch.
func DecodeBinaryBatch(body []byte, items []ItemSpan) ([]ItemSpan, error) {
	if len(body) > MaxBatchBody {
		return nil, ErrBodyTooLarge(len(body), MaxBatchBody)
	}
	count, p := uvarintAt(body, 1)
	if p < 0 {
		return nil, errBatchTruncated
	}
	if count > MaxBatchItems {
		return nil, errTooManyItems(int(count))
	}
	items = slices.Grow(items, int(min(count, uint64(len(body)/3)))) // an item takes 3 bytes at least
	var l, n uint64
	for range count {
		var it ItemSpan
		if l, p = uvarintAt(body, p); p < 0 || l > uint64(len(body)-p) {
			return nil, errBatchTruncated
		}
		it.skuOff, it.skuLen = uint32(p), uint32(l) // body is at most MaxBatchBody long
		p += int(l)
		if n, p = uvarintAt(body, p); p < 0 {
			return nil, errBatchTruncated
		}
		it.N = int64(min(n, 1<<62))
		if l, p = uvarintAt(body, p); p < 0 || l > uint64(len(body)-p) {
			return nil, errBatchTruncated
		}
		it.idOff, it.idLen = uint32(p), uint32(l)
		p += int(l)
		items = append(items, it)
	}
	if p != len(body) {
		return nil, errors.New("batch: data after the last item")
	}
	return items, nil
}

// uvarintAt reads a uvarint at body[p:] and returns it and the position
// after it, or -1 if there is none.
func uvarintAt(body []byte, p int) (uint64, int) {
	if p < len(body) && body[p] < 0x80 {
		return uint64(body[p]), p + 1
	}
	return uvarintSlow(body, p)
}

func uvarintSlow(body []byte, p int) (uint64, int) {
	v, k := binary.Uvarint(body[p:])
	if k <= 0 {
		return 0, -1
	}
	return v, p + k
}

// ItemError returns why an item cannot be served, or "".
func ItemError(data []byte, it *ItemSpan) string {
	switch {
	case !ValidSKU(it.SKU(data)):
		return ErrSKU.Error()
	case it.N < 1 || it.N > stock.MaxUnits:
		return errUnits.Error()
	case it.idLen > MaxIDLen:
		return fmt.Sprintf("id must be at most %d bytes", MaxIDLen)
	case it.buyerLen > 0 && !ValidBuyer(it.Buyer(data)):
		return ErrBuyer.Error()
	}
	return ""
}

// AppendBinaryReply appends the binary reply of results to b, growing b
// once for the longest encoding.
func AppendBinaryReply(b []byte, results []ItemResult) []byte {
	n := len(b)
	b = slices.Grow(b, 1+binary.MaxVarintLen64+len(results)*(1+2*binary.MaxVarintLen64))
	buf := b[:cap(b)]
	buf[n] = BatchBinary
	n++
	n += binary.PutUvarint(buf[n:], uint64(len(results)))
	for _, r := range results {
		buf[n] = r.Status
		n++
		n += binary.PutUvarint(buf[n:], uint64(r.Granted))
		n += binary.PutUvarint(buf[n:], uint64(r.Remaining))
	}
	return buf[:n]
}

// statusBuyerLimit is the status byte of buyer_limit.
const statusBuyerLimit = buyerLimitIndex + 1

// AppendJSONResult appends one result of a JSON reply.
func AppendJSONResult(b []byte, sku string, r ItemResult, message string) []byte {
	switch r.Status {
	case 0:
	case statusBuyerLimit:
		return AppendBuyerLimit(b, sku, r.Remaining, r.Bought, r.Held, r.PerBuyer, message, true)
	default:
		return AppendItemError(b, sku, r.Remaining, BatchStatuses[r.Status], message)
	}
	b = append(b, `{"sku":`...)
	b = append(b, Quote(sku)...)
	b = append(b, `,"granted":`...)
	b = strconv.AppendInt(b, r.Granted, 10)
	b = append(b, `,"remaining":`...)
	b = strconv.AppendInt(b, r.Remaining, 10)
	return append(b, '}')
}
