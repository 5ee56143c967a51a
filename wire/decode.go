package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/stockstate/stock/stock"
)

// errUnits is the reason given for an n out of range.
var errUnits = fmt.Errorf("n must be an integer from 1 to %d", stock.MaxUnits)

// DecodeUnits decodes an acquire or release body: {"n":2,"id":"req-1"},
// with an optional "buyer". An empty body, or one without "n", means n 1.
// The common bodies are recognised without allocating.
func DecodeUnits(body []byte, maxBody int) (n int64, id, buyer string, err error) {
	switch {
	case len(body) == 0:
		return 1, "", "", nil
	case len(body) > maxBody:
		return 0, "", "", ErrBodyTooLarge(len(body), maxBody)
	}
	if n, ok := fastUnits(body); ok {
		return n, "", "", nil
	}
	var req struct {
		N     json.RawMessage `json:"n"`
		ID    *string         `json:"id"`
		Buyer *string         `json:"buyer"`
	}
	if err := strictUnmarshal(body, &req); err != nil {
		return 0, "", "", err
	}
	n = 1
	if req.N != nil {
		if n, err = parseCount(req.N, stock.MaxUnits); err != nil || n < 1 {
			return 0, "", "", errUnits
		}
	}
	if req.ID != nil {
		id = *req.ID
		if id == "" || len(id) > MaxIDLen {
			return 0, "", "", fmt.Errorf("id must be 1 to %d bytes", MaxIDLen)
		}
	}
	if buyer, err = buyerField(req.Buyer); err != nil {
		return 0, "", "", err
	}
	return n, id, buyer, nil
}

// fastUnits recognises exactly {"n":D} for one to seven digits D.
func fastUnits(b []byte) (int64, bool) {
	const head = `{"n":`
	if len(b) < len(head)+2 || len(b) > len(head)+8 || string(b[:len(head)]) != head || b[len(b)-1] != '}' {
		return 0, false
	}
	digits := b[len(head) : len(b)-1]
	if digits[0] == '0' {
		return 0, false
	}
	var n int64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, n <= stock.MaxUnits
}

// DecodeSet decodes an admin.set body: {"limit":100}, or with a per-buyer
// cap {"limit":100,"per_buyer":2}; perBuyer 0 means no cap.
func DecodeSet(body []byte, maxBody int) (limit, perBuyer int64, err error) {
	if len(body) > maxBody {
		return 0, 0, ErrBodyTooLarge(len(body), maxBody)
	}
	var req struct {
		Limit    json.RawMessage `json:"limit"`
		PerBuyer json.RawMessage `json:"per_buyer"`
	}
	if err := strictUnmarshal(body, &req); err != nil {
		return 0, 0, err
	}
	if req.Limit == nil {
		return 0, 0, errors.New(`body must be {"limit":N} or {"limit":N,"per_buyer":K}`)
	}
	if limit, err = parseCount(req.Limit, stock.MaxLimit); err != nil {
		return 0, 0, fmt.Errorf("limit must be an integer from 0 to %d", int64(stock.MaxLimit))
	}
	if req.PerBuyer != nil {
		if perBuyer, err = parseCount(req.PerBuyer, stock.MaxLimit); err != nil {
			return 0, 0, fmt.Errorf("per_buyer must be an integer from 0 to %d", int64(stock.MaxLimit))
		}
	}
	return limit, perBuyer, nil
}

// DecodeQuery decodes a query body: nothing or {} for the SKU, or
// {"buyer":"u-1"} for one buyer of it.
func DecodeQuery(body []byte, maxBody int) (buyer string, err error) {
	switch t := bytes.TrimSpace(body); {
	case len(body) > maxBody:
		return "", ErrBodyTooLarge(len(body), maxBody)
	case len(t) == 0 || string(t) == "{}":
		return "", nil
	}
	var req struct {
		Buyer *string `json:"buyer"`
	}
	if err := strictUnmarshal(body, &req); err != nil {
		return "", err
	}
	return buyerField(req.Buyer)
}

// DecodeEmpty accepts the bodies of query and admin.delete: nothing, or {}.
func DecodeEmpty(body []byte) error {
	if t := bytes.TrimSpace(body); len(t) == 0 || string(t) == "{}" {
		return nil
	}
	return errors.New("this subject takes an empty body")
}

// strictUnmarshal decodes one JSON object into v, refusing unknown fields
// and anything after the object.
func strictUnmarshal(body []byte, v any) error {
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
		return errors.New("body must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("body is not valid: %s", jsonReason(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("body has data after the JSON object")
	}
	return nil
}

// parseCount parses a JSON integer literal in 0..max: no sign, fraction,
// exponent or quotes.
func parseCount(raw json.RawMessage, max int64) (int64, error) {
	s := string(bytes.TrimSpace(raw))
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, errors.New("not a non-negative integer")
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v > max {
		return 0, errors.New("not an integer in range")
	}
	return v, nil
}

// jsonReason turns a decoding error into a short reason for the client.
func jsonReason(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return "not JSON: " + syn.Error()
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q has the wrong type", typ.Field)
	case err == io.ErrUnexpectedEOF || err == io.EOF:
		return "not JSON: unexpected end"
	}
	return err.Error() // e.g. `json: unknown field "x"`
}
