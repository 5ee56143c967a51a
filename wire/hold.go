package wire

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/stockstate/stock/stock"
)

// Hold subjects, each followed by the SKU token.
const (
	SubjectHold    = "hold"
	SubjectConfirm = "confirm"
	SubjectCancel  = "cancel"
	SubjectExtend  = "extend"
)

// HoldRequest is the body of hold: {"n":2,"id":"cart-42","ttl_s":900}. id
// is required; n defaults to 1 and ttl_s to 900, in 1..86400; buyer is
// optional, for a SKU with a per-buyer cap.
type HoldRequest struct {
	N     int64  `json:"n,omitempty"`
	ID    string `json:"id"`
	TTLs  int64  `json:"ttl_s,omitempty"`
	Buyer string `json:"buyer,omitempty"`
}

// HoldIDRequest is the body of confirm and cancel: {"id":"cart-42"}; and,
// with TTLs, of extend: {"id":"cart-42","ttl_s":300}.
type HoldIDRequest struct {
	ID   string `json:"id"`
	TTLs int64  `json:"ttl_s,omitempty"`
}

// HoldTimeFormat is how expires_at is written: RFC 3339 in UTC, to the
// second (a hold's TTL is whole seconds).
const HoldTimeFormat = time.RFC3339

var errTTL = fmt.Errorf("ttl_s must be an integer from 1 to %d", int64(stock.MaxHoldTTL/time.Second))

// DecodeHold decodes a hold body.
func DecodeHold(body []byte, maxBody int) (n int64, id, buyer string, ttl time.Duration, err error) {
	var f holdFields
	if err := decodeHoldBody(body, maxBody, &f); err != nil {
		return 0, "", "", 0, err
	}
	return f.parse()
}

// holdFields are the fields of a hold, as sent.
type holdFields struct {
	N     json.RawMessage `json:"n"`
	ID    *string         `json:"id"`
	TTL   json.RawMessage `json:"ttl_s"`
	Buyer *string         `json:"buyer"`
}

// parse checks the fields and applies their defaults.
func (f *holdFields) parse() (n int64, id, buyer string, ttl time.Duration, err error) {
	n = 1
	if f.N != nil {
		if n, err = parseCount(f.N, stock.MaxUnits); err != nil || n < 1 {
			return 0, "", "", 0, errUnits
		}
	}
	if id, err = holdID(f.ID); err != nil {
		return 0, "", "", 0, err
	}
	if ttl, err = holdTTL(f.TTL); err != nil {
		return 0, "", "", 0, err
	}
	if buyer, err = buyerField(f.Buyer); err != nil {
		return 0, "", "", 0, err
	}
	return n, id, buyer, ttl, nil
}

// DecodeHoldID decodes a confirm or cancel body.
func DecodeHoldID(body []byte, maxBody int) (id string, err error) {
	var req struct {
		ID *string `json:"id"`
	}
	if err := decodeHoldBody(body, maxBody, &req); err != nil {
		return "", err
	}
	return holdID(req.ID)
}

// DecodeExtend decodes an extend body; ttl_s defaults to 900.
func DecodeExtend(body []byte, maxBody int) (id string, ttl time.Duration, err error) {
	var req struct {
		ID  *string         `json:"id"`
		TTL json.RawMessage `json:"ttl_s"`
	}
	if err := decodeHoldBody(body, maxBody, &req); err != nil {
		return "", 0, err
	}
	if id, err = holdID(req.ID); err != nil {
		return "", 0, err
	}
	if ttl, err = holdTTL(req.TTL); err != nil {
		return "", 0, err
	}
	return id, ttl, nil
}

func decodeHoldBody(body []byte, maxBody int, v any) error {
	if len(body) > maxBody {
		return ErrBodyTooLarge(len(body), maxBody)
	}
	return strictUnmarshal(body, v)
}

func holdID(id *string) (string, error) {
	switch {
	case id == nil:
		return "", errors.New("id is required: it names the hold")
	case *id == "" || len(*id) > MaxIDLen:
		return "", fmt.Errorf("id must be 1 to %d bytes", MaxIDLen)
	}
	return *id, nil
}

func holdTTL(raw json.RawMessage) (time.Duration, error) {
	if raw == nil {
		return stock.DefaultHoldTTL, nil
	}
	s, err := parseCount(raw, int64(stock.MaxHoldTTL/time.Second))
	if err != nil || s < 1 {
		return 0, errTTL
	}
	return time.Duration(s) * time.Second, nil
}

// AppendHold appends the reply of hold and extend. id may be any string the
// client sent, so it is escaped.
func AppendHold(b []byte, sku string, held, remaining int64, id string, expires time.Time) []byte {
	b = append(b, `{"sku":"`...)
	b = append(b, sku...)
	b = append(b, `","held":`...)
	b = strconv.AppendInt(b, held, 10)
	b = append(b, `,"remaining":`...)
	b = strconv.AppendInt(b, remaining, 10)
	b = append(b, `,"id":`...)
	b = append(b, Quote(id)...)
	b = append(b, `,"expires_at":"`...)
	b = expires.UTC().AppendFormat(b, HoldTimeFormat)
	return append(b, `"}`...)
}

// AppendConfirmed appends the reply of confirm.
func AppendConfirmed(b []byte, sku string, confirmed int64) []byte {
	b = append(b, `{"sku":"`...)
	b = append(b, sku...)
	b = append(b, `","confirmed":`...)
	b = strconv.AppendInt(b, confirmed, 10)
	return append(b, '}')
}

// AppendCancelled appends the reply of cancel.
func AppendCancelled(b []byte, sku string, cancelled, remaining int64) []byte {
	b = append(b, `{"sku":"`...)
	b = append(b, sku...)
	b = append(b, `","cancelled":`...)
	b = strconv.AppendInt(b, cancelled, 10)
	b = append(b, `,"remaining":`...)
	b = strconv.AppendInt(b, remaining, 10)
	return append(b, '}')
}
