package capstore

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"unicode/utf8"
)

// Holds and buyers are written on every request and read in bulk by a new
// leader, so their JSON is written by hand, and read by hand in exactly
// the layout written; anything else is left to encoding/json.

// fastJSON reads JSON of a layout known in advance from b. ok is false
// once a read did not find what it was asked for; field may fail and be
// tried again, the others end the read.
type fastJSON struct {
	b  []byte
	ok bool
}

// field consumes the literal name if b starts with it.
func (d *fastJSON) field(name string) bool {
	d.b, d.ok = bytes.CutPrefix(d.b, []byte(name))
	return d.ok
}

// integer consumes a JSON integer that fits an int64.
func (d *fastJSON) integer() int64 {
	b, i := d.b, 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i == len(b) || b[i] < '0' || b[i] > '9' || b[i] == '0' && i+1 < len(b) && b[i+1] >= '0' && b[i+1] <= '9' {
		d.ok = false
		return 0
	}
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	n, err := strconv.ParseInt(string(b[:i]), 10, 64)
	d.ok, d.b = err == nil, b[i:]
	return n
}

// object consumes a valid JSON object and returns it, aliasing b.
func (d *fastJSON) object() []byte {
	end := objectEnd(d.b)
	if end < 0 || !json.Valid(d.b[:end]) {
		d.ok = false
		return nil
	}
	v := d.b[:end:end]
	d.b = d.b[end:]
	return v
}

// plainString reports whether b is a non-empty JSON string's contents
// that needs no unescaping: UTF-8 without '\\' or control characters.
func plainString(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == '\\' {
			return false
		}
	}
	return len(b) > 0 && utf8.Valid(b)
}

// objectEnd is the length of the JSON object b starts with, found by its
// brackets and strings alone, or -1 if b does not start with one.
func objectEnd(b []byte) int {
	if len(b) == 0 || b[0] != '{' {
		return -1
	}
	depth, inString, escaped := 0, false, false
	for i, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString:
			escaped, inString = c == '\\', c != '"'
		case c == '"':
			inString = true
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			if depth--; depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}

// isObject reports whether b is one JSON object and nothing else (one
// valid JSON value that starts with '{').
func isObject(b []byte) bool {
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}

// appendString appends s, valid UTF-8, as a JSON string: '"', '\\' and
// control characters escaped, everything else as it is.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// decodeObject decodes b, one JSON object with v's fields and no others and
// nothing after it, into v by encoding/json: the slow path of the hold and
// buyer decoders.
func decodeObject(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the object")
	}
	return nil
}
