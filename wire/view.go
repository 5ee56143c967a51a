package wire

import (
	"encoding/json"
	"reflect"
	"strings"
)

// ReplyView is the part of a reply body that a load generator needs. Its
// byte slices alias the decoded data and must not outlive it.
type ReplyView struct {
	SKU       []byte
	Error     []byte
	Granted   int64
	Held      int64
	Confirmed int64
	Remaining int64
}

// DecodeReplyView decodes a reply body (a Reply in JSON) into v. The
// common flat shapes are scanned by hand without allocating; anything else
// (escapes, non-ASCII, nesting, case-folded keys) goes through encoding/json,
// so both paths accept the same documents and yield the same values.
func DecodeReplyView(data []byte, v *ReplyView) bool {
	*v = ReplyView{}
	if scanReply(data, v) {
		return true
	}
	*v = ReplyView{}
	var r Reply
	if err := json.Unmarshal(data, &r); err != nil {
		return false
	}
	if r.SKU != "" {
		v.SKU = []byte(r.SKU)
	}
	if r.Error != "" {
		v.Error = []byte(r.Error)
	}
	v.Granted, v.Held, v.Confirmed, v.Remaining = r.Granted, r.Held, r.Confirmed, r.Remaining
	return true
}

type fieldType int

const (
	fieldOther fieldType = iota
	fieldString
	fieldInt
	fieldBool
)

// replyFields maps the JSON names of Reply to their types, so that
// the scanner rejects what encoding/json would reject (a string where an
// integer belongs) and stays right when the wire type grows.
var replyFields = replyFieldTable()

func replyFieldTable() map[string]fieldType {
	m := make(map[string]fieldType)
	t := reflect.TypeFor[Reply]()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		ft := fieldOther
		switch f.Type.Kind() {
		case reflect.String:
			ft = fieldString
		case reflect.Int64:
			ft = fieldInt
		case reflect.Bool:
			ft = fieldBool
		}
		m[name] = ft
	}
	return m
}

// foldsToField reports whether key matches a field name only case-insensitively,
// which encoding/json accepts; the scanner leaves those to it.
func foldsToField(key []byte) bool {
	for name := range replyFields {
		if strings.EqualFold(name, string(key)) {
			return true
		}
	}
	return false
}

// scanReply is the allocation-free path of decodeReply. It returns false for
// any document it does not handle; it never accepts one encoding/json rejects.
func scanReply(d []byte, v *ReplyView) bool {
	i := skipWS(d, 0)
	if i >= len(d) || d[i] != '{' {
		return false
	}
	i = skipWS(d, i+1)
	if i < len(d) && d[i] == '}' {
		return skipWS(d, i+1) == len(d)
	}
	for {
		key, j, ok := scanString(d, i)
		if !ok {
			return false
		}
		i = skipWS(d, j)
		if i >= len(d) || d[i] != ':' {
			return false
		}
		i = skipWS(d, i+1)
		var ft fieldType
		var known bool
		switch string(key) { // the hot keys first, without hashing
		case "sku", "error":
			ft, known = fieldString, true
		case "granted", "remaining":
			ft, known = fieldInt, true
		default:
			ft, known = replyFields[string(key)]
		}
		if !known && foldsToField(key) {
			return false
		}
		if isNull(d, i) {
			j = i + 4 // null leaves a field as it was, as in encoding/json
		} else if !known {
			if j, ok = skipScalar(d, i); !ok {
				return false
			}
		} else {
			switch ft {
			case fieldString:
				var s []byte
				if s, j, ok = scanString(d, i); !ok {
					return false
				}
				switch string(key) {
				case "sku":
					v.SKU = s
				case "error":
					v.Error = s
				}
			case fieldInt:
				var n int64
				if n, j, ok = scanInt(d, i); !ok {
					return false
				}
				switch string(key) {
				case "granted":
					v.Granted = n
				case "held":
					v.Held = n
				case "confirmed":
					v.Confirmed = n
				case "remaining":
					v.Remaining = n
				}
			case fieldBool:
				if j, ok = scanBool(d, i); !ok {
					return false
				}
			default:
				return false
			}
		}
		i = skipWS(d, j)
		if i >= len(d) {
			return false
		}
		switch d[i] {
		case ',':
			i = skipWS(d, i+1)
		case '}':
			return skipWS(d, i+1) == len(d)
		default:
			return false
		}
	}
}

func skipWS(d []byte, i int) int {
	for i < len(d) && (d[i] == ' ' || d[i] == '\t' || d[i] == '\n' || d[i] == '\r') {
		i++
	}
	return i
}

func isNull(d []byte, i int) bool { return hasLiteral(d, i, "null") }

func hasLiteral(d []byte, i int, lit string) bool {
	return len(d)-i >= len(lit) && string(d[i:i+len(lit)]) == lit
}

// scanString scans a string without escapes, control or non-ASCII bytes
// starting at d[i] == '"', and returns its contents and the index after it.
func scanString(d []byte, i int) ([]byte, int, bool) {
	if i >= len(d) || d[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(d); j++ {
		c := d[j]
		switch {
		case c == '"':
			return d[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, i, false
		}
	}
	return nil, i, false
}

// scanInt scans a JSON integer that fits in an int64. Fractions and exponents
// are refused, as encoding/json refuses them for an int64 field.
func scanInt(d []byte, i int) (int64, int, bool) {
	j := i
	neg := j < len(d) && d[j] == '-'
	if neg {
		j++
	}
	if j >= len(d) || d[j] < '0' || d[j] > '9' {
		return 0, i, false
	}
	if d[j] == '0' {
		j++
		if j < len(d) && d[j] >= '0' && d[j] <= '9' {
			return 0, i, false
		}
		return 0, j, !(j < len(d) && (d[j] == '.' || d[j] == 'e' || d[j] == 'E'))
	}
	var u uint64
	for ; j < len(d) && d[j] >= '0' && d[j] <= '9'; j++ {
		if u > (1<<63)/10 {
			return 0, i, false
		}
		u = u*10 + uint64(d[j]-'0')
		if u > 1<<63 {
			return 0, i, false
		}
	}
	if j < len(d) && (d[j] == '.' || d[j] == 'e' || d[j] == 'E') {
		return 0, i, false
	}
	if neg {
		return -int64(u), j, true // -(1<<63) wraps to itself, which is right
	}
	if u > 1<<63-1 {
		return 0, i, false
	}
	return int64(u), j, true
}

func scanBool(d []byte, i int) (int, bool) {
	switch {
	case hasLiteral(d, i, "true"):
		return i + 4, true
	case hasLiteral(d, i, "false"):
		return i + 5, true
	}
	return i, false
}

// skipScalar skips a string, number, true, false or null; objects and arrays
// are refused.
func skipScalar(d []byte, i int) (int, bool) {
	if i >= len(d) {
		return i, false
	}
	switch c := d[i]; {
	case c == '"':
		_, j, ok := scanString(d, i)
		return j, ok
	case c == '-' || (c >= '0' && c <= '9'):
		return skipNumber(d, i)
	case c == 'n':
		return i + 4, isNull(d, i)
	}
	return scanBool(d, i)
}

// skipNumber skips -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func skipNumber(d []byte, i int) (int, bool) {
	digits := func(j int) int {
		for j < len(d) && d[j] >= '0' && d[j] <= '9' {
			j++
		}
		return j
	}
	j := i
	if j < len(d) && d[j] == '-' {
		j++
	}
	switch {
	case j < len(d) && d[j] == '0':
		j++
	case j < len(d) && d[j] >= '1' && d[j] <= '9':
		j = digits(j)
	default:
		return i, false
	}
	if j < len(d) && d[j] == '.' {
		k := digits(j + 1)
		if k == j+1 {
			return i, false
		}
		j = k
	}
	if j < len(d) && (d[j] == 'e' || d[j] == 'E') {
		j++
		if j < len(d) && (d[j] == '+' || d[j] == '-') {
			j++
		}
		k := digits(j)
		if k == j {
			return i, false
		}
		j = k
	}
	return j, true
}
