package wire

import (
	"encoding/json"
	"strconv"
)

// The hand-written encoders below write the same JSON that encoding/json
// writes for Reply, without its reflection and allocations. SKUs of success
// replies are validated tokens and need no escaping; AppendError escapes.

// AppendGrant appends the reply to a grant.
func AppendGrant(b []byte, sku string, granted, remaining int64) []byte {
	b = append(b, `{"sku":"`...)
	b = append(b, sku...)
	b = append(b, `","granted":`...)
	b = strconv.AppendInt(b, granted, 10)
	b = append(b, `,"remaining":`...)
	b = strconv.AppendInt(b, remaining, 10)
	return append(b, '}')
}

// AppendRelease appends the reply to a release.
func AppendRelease(b []byte, sku string, released, remaining int64) []byte {
	b = append(b, `{"sku":"`...)
	b = append(b, sku...)
	b = append(b, `","released":`...)
	b = strconv.AppendInt(b, released, 10)
	b = append(b, `,"remaining":`...)
	b = strconv.AppendInt(b, remaining, 10)
	return append(b, '}')
}

// AppendQuery appends the reply of query and admin.set; sold counts held
// units too. perBuyer, the SKU's per-buyer cap, is written only when set,
// so the replies of uncapped SKUs are unchanged. leader is already
// JSON-quoted (see Quote), as the responder quotes its id once.
func AppendQuery(b []byte, sku string, limit, sold, held, perBuyer int64, leader []byte) []byte {
	b = append(b, `{"sku":"`...)
	b = append(b, sku...)
	b = append(b, `","limit":`...)
	b = strconv.AppendInt(b, limit, 10)
	b = append(b, `,"sold":`...)
	b = strconv.AppendInt(b, sold, 10)
	b = append(b, `,"held":`...)
	b = strconv.AppendInt(b, held, 10)
	if perBuyer > 0 {
		b = append(b, `,"per_buyer":`...)
		b = strconv.AppendInt(b, perBuyer, 10)
	}
	b = append(b, `,"remaining":`...)
	b = strconv.AppendInt(b, limit-sold, 10)
	b = append(b, `,"leader":`...)
	b = append(b, leader...)
	return append(b, '}')
}

// AppendDeleted appends the reply of admin.delete.
func AppendDeleted(b []byte, sku string) []byte {
	b = append(b, `{"sku":"`...)
	b = append(b, sku...)
	return append(b, `","deleted":true}`...)
}

// AppendError appends an error reply of kind (one of Kinds). sku may be any
// string the client sent, so it is escaped.
func AppendError(b []byte, sku string, remaining int64, kind, message string) []byte {
	return appendError(b, sku, remaining, kind, message, false)
}

// appendError appends an error body, with the code of kind if withCode (as
// batch items carry it: they have no headers of their own).
func appendError(b []byte, sku string, remaining int64, kind, message string, withCode bool) []byte {
	return append(appendErrorFields(b, sku, remaining, kind, message, withCode), '}')
}

// appendErrorFields appends an error body without its closing brace, for
// kinds that carry more fields.
func appendErrorFields(b []byte, sku string, remaining int64, kind, message string, withCode bool) []byte {
	b = append(b, `{"sku":`...)
	b = append(b, Quote(sku)...)
	b = append(b, `,"granted":0,"remaining":`...)
	b = strconv.AppendInt(b, remaining, 10)
	b = append(b, `,"error":"`...)
	b = append(b, kind...)
	if withCode {
		b = append(b, `","code":`...)
		b = strconv.AppendInt(b, int64(Code(kind)), 10)
		b = append(b, `,"message":`...)
	} else {
		b = append(b, `","message":`...)
	}
	return append(b, Quote(message)...)
}

// Quote returns s as a JSON string.
func Quote(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}
