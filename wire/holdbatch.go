package wire

import "time"

// The batch hold subject <prefix>.hold (no SKU token) carries many holds in
// one message and is answered by one reply holding, in order, each item's
// answer: the body the single hold subject would give, or for an error the
// item error of an acquire batch (with "code"). Each item is a hold on its
// own: deduplicated by its id, durable before the reply, and a bad item gets
// its own error and never fails the others. JSON only: holds are bounded by
// their durable writes, not by decoding.
//
//	request = [{"sku":"sku1","n":2,"id":"cart-42","ttl_s":900,"buyer":"u-1"}, ...]
//	reply   = [{"sku":"sku1","held":2,"remaining":41,"id":"cart-42","expires_at":"2026-12-05T14:15:00Z"},
//	           {"sku":"sku2","granted":0,"remaining":0,"error":"sold_out","code":409,"message":"sold out"}, ...]
//
// A message that is not a JSON array of at most MaxBatchItems items, or is
// over MaxBatchBody, is answered with one bad_request error.

// HoldItem is one hold of a batch, as HoldRequest with its SKU.
type HoldItem struct {
	SKU   string `json:"sku"`
	N     int64  `json:"n,omitempty"`
	ID    string `json:"id"`
	TTLs  int64  `json:"ttl_s,omitempty"`
	Buyer string `json:"buyer,omitempty"`
}

// HoldSpec is a decoded hold of a batch: its SKU, units, id, TTL and buyer
// ("" for none).
type HoldSpec struct {
	SKU   string
	N     int64
	ID    string
	TTL   time.Duration
	Buyer string
}

// DecodeHoldBatch reads a batch hold body into one spec per item; msgs holds,
// per item, why it is bad ("" if it is not). A body that is not a batch
// fails whole.
func DecodeHoldBatch(body []byte) (specs []HoldSpec, msgs []string, err error) {
	if len(body) > MaxBatchBody {
		return nil, nil, ErrBodyTooLarge(len(body), MaxBatchBody)
	}
	raw, err := jsonItems(body)
	if err != nil {
		return nil, nil, err
	}
	specs, msgs = make([]HoldSpec, len(raw)), make([]string, len(raw))
	for i, r := range raw {
		var f struct {
			SKU *string `json:"sku"`
			holdFields
		}
		err := strictUnmarshal(r, &f)
		if err == nil && f.SKU != nil {
			specs[i].SKU = *f.SKU
		}
		if err == nil && !ValidSKU(specs[i].SKU) {
			err = ErrSKU
		}
		if err == nil {
			specs[i].N, specs[i].ID, specs[i].Buyer, specs[i].TTL, err = f.parse()
		}
		if err != nil {
			msgs[i] = err.Error()
		}
	}
	return specs, msgs, nil
}

// AppendItemError appends the error of a batch item: the error body of its
// subject, with its code.
func AppendItemError(b []byte, sku string, remaining int64, kind, message string) []byte {
	return appendError(b, sku, remaining, kind, message, true)
}

// HoldResult is one item of a batch hold reply: the hold's reply, or an
// error with its code.
type HoldResult struct {
	Reply
	Code int `json:"code,omitempty"`
}
