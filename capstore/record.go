package capstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/stockstate/stock/stock"
)

// encodeRecord returns r as {"limit":L,"cap":C}, with "expired_ms" and
// "per_buyer" after them when not 0. The caller checks r.Valid.
func encodeRecord(r stock.Record) []byte {
	b := make([]byte, 0, 48)
	b = append(b, `{"limit":`...)
	b = strconv.AppendInt(b, r.Limit, 10)
	b = append(b, `,"cap":`...)
	b = strconv.AppendInt(b, r.Cap, 10)
	if r.ExpiredMS != 0 {
		b = append(b, `,"expired_ms":`...)
		b = strconv.AppendInt(b, r.ExpiredMS, 10)
	}
	if r.PerBuyer != 0 {
		b = append(b, `,"per_buyer":`...)
		b = strconv.AppendInt(b, r.PerBuyer, 10)
	}
	return append(b, '}')
}

// decodeRecord parses a stored record strictly: one JSON object with exactly
// the fields "limit" and "cap" and maybe "expired_ms" and "per_buyer"
// (spelled so, each once; absent means 0), all integers, and nothing after
// it; the result must be Valid. Whitespace between tokens is allowed.
func decodeRecord(b []byte) (stock.Record, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := expectDelim(dec, '{'); err != nil {
		return stock.Record{}, err
	}
	var r stock.Record
	var haveLimit, haveCap, haveExpired, havePerBuyer bool
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return stock.Record{}, err
		}
		name, _ := t.(string) // dec.More inside an object guarantees a key
		v, err := dec.Token()
		if err != nil {
			return stock.Record{}, err
		}
		num, ok := v.(json.Number)
		if !ok {
			return stock.Record{}, fmt.Errorf("field %q: not an integer: %v", name, v)
		}
		n, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil {
			return stock.Record{}, fmt.Errorf("field %q: not an int64: %s", name, num)
		}
		switch {
		case name == "limit" && !haveLimit:
			r.Limit, haveLimit = n, true
		case name == "cap" && !haveCap:
			r.Cap, haveCap = n, true
		case name == "expired_ms" && !haveExpired:
			r.ExpiredMS, haveExpired = n, true
		case name == "per_buyer" && !havePerBuyer:
			r.PerBuyer, havePerBuyer = n, true
		case name == "limit" || name == "cap" || name == "expired_ms" || name == "per_buyer":
			return stock.Record{}, fmt.Errorf("field %q: repeated", name)
		default:
			return stock.Record{}, fmt.Errorf("unknown field %q", name)
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return stock.Record{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return stock.Record{}, errors.New("data after the object")
	}
	switch {
	case !haveLimit:
		return stock.Record{}, errors.New(`missing field "limit"`)
	case !haveCap:
		return stock.Record{}, errors.New(`missing field "cap"`)
	case !r.Valid():
		return stock.Record{}, fmt.Errorf("not 0 <= cap <= limit <= %d, expired_ms >= 0 and 0 <= per_buyer <= %[1]d", int64(stock.MaxLimit))
	}
	return r, nil
}

// expectDelim reads one token and fails unless it is d.
func expectDelim(dec *json.Decoder, d json.Delim) error {
	t, err := dec.Token()
	if err == io.EOF {
		return fmt.Errorf("want %q, got end of input", d)
	}
	if err != nil {
		return err
	}
	if t != d {
		return fmt.Errorf("want %q, got %v", d, t)
	}
	return nil
}
