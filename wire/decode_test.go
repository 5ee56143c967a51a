package wire

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stockstate/stock/stock"
)

var unitsCases = []struct {
	name   string
	body   string
	n      int64
	id     string
	reject bool
}{
	{name: "empty means one", body: "", n: 1},
	{name: "one", body: `{"n":1}`, n: 1},
	{name: "many with id", body: `{"n":2,"id":"req-123"}`, n: 2, id: "req-123"},
	{name: "id only means one", body: `{"id":"x"}`, n: 1, id: "x"},
	{name: "spaces", body: ` { "n" : 7 } `, n: 7},
	{name: "max", body: `{"n":1000000}`, n: stock.MaxUnits},
	{name: "over max", body: `{"n":1000001}`, reject: true},
	{name: "zero", body: `{"n":0}`, reject: true},
	{name: "negative", body: `{"n":-1}`, reject: true},
	{name: "fraction", body: `{"n":1.5}`, reject: true},
	{name: "exponent", body: `{"n":1e3}`, reject: true},
	{name: "string", body: `{"n":"1"}`, reject: true},
	{name: "null", body: `{"n":null}`, reject: true},
	{name: "bool", body: `{"n":true}`, reject: true},
	{name: "huge", body: `{"n":1000000000000000000000}`, reject: true},
	{name: "unknown field", body: `{"n":1,"m":1}`, reject: true},
	{name: "not json", body: `n=1`, reject: true},
	{name: "array", body: `[1]`, reject: true},
	{name: "trailing", body: `{"n":1}x`, reject: true},
	{name: "empty id", body: `{"n":1,"id":""}`, reject: true},
	{name: "long id", body: `{"id":"` + strings.Repeat("a", MaxIDLen+1) + `"}`, reject: true},
	{name: "leading zero", body: `{"n":01}`, reject: true},
	{name: "oversized", body: `{"n":1,"id":"` + strings.Repeat("a", 2000) + `"}`, reject: true},
}

func TestDecodeUnits(t *testing.T) {
	for _, tc := range unitsCases {
		t.Run(tc.name, func(t *testing.T) {
			n, id, err := DecodeUnits([]byte(tc.body), 1024)
			if tc.reject {
				if err == nil {
					t.Fatalf("accepted n=%d id=%q", n, id)
				}
				return
			}
			if err != nil || n != tc.n || id != tc.id {
				t.Fatalf("got n=%d id=%q err=%v, want n=%d id=%q", n, id, err, tc.n, tc.id)
			}
		})
	}
}

func TestDecodeOneDoesNotAllocate(t *testing.T) {
	body := []byte(`{"n":1}`)
	if a := testing.AllocsPerRun(100, func() { _, _, _ = DecodeUnits(body, 1024) }); a != 0 {
		t.Fatalf("decoding {\"n\":1} allocates %v times", a)
	}
}

// FuzzDecodeUnits checks that whatever DecodeUnits accepts is a request
// encoding/json reads the same way, with n in range and a bounded id.
func FuzzDecodeUnits(f *testing.F) {
	for _, tc := range unitsCases {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, id, err := DecodeUnits(body, 1024)
		if err != nil {
			return
		}
		if n < 1 || n > stock.MaxUnits || len(id) > MaxIDLen || len(body) > 1024 {
			t.Fatalf("accepted out of range: n=%d id=%q", n, id)
		}
		if len(bytes.TrimSpace(body)) == 0 {
			if n != 1 || id != "" {
				t.Fatalf("empty body gave n=%d id=%q", n, id)
			}
			return
		}
		var ref struct {
			N  *float64 `json:"n"`
			ID *string  `json:"id"`
		}
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ref); err != nil {
			t.Fatalf("accepted %q, which encoding/json rejects: %v", body, err)
		}
		if ref.N != nil && int64(*ref.N) != n || ref.N == nil && n != 1 {
			t.Fatalf("%q: n=%d, encoding/json reads %v", body, n, ref.N)
		}
		if ref.ID != nil && *ref.ID != id {
			t.Fatalf("%q: id=%q, encoding/json reads %q", body, id, *ref.ID)
		}
	})
}

func TestValidSKU(t *testing.T) {
	for _, s := range []string{"sku1", "A-b_c:9", strings.Repeat("x", MaxSKULen)} {
		if !ValidSKU(s) {
			t.Errorf("%q rejected", s)
		}
	}
	for _, s := range []string{"", "a.b", "a*", ">", "a b", "é", strings.Repeat("x", MaxSKULen+1), "a/b"} {
		if ValidSKU(s) {
			t.Errorf("%q accepted", s)
		}
	}
}
