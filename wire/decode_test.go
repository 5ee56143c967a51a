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
	buyer  string
	reject bool
	bad    error // the error of a rejected body, when it is a sentinel
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
	{name: "buyer", body: `{"n":2,"id":"r-1","buyer":"u-1"}`, n: 2, id: "r-1", buyer: "u-1"},
	{name: "buyer only means one", body: `{"buyer":"a.b@c:d_e-F9"}`, n: 1, buyer: "a.b@c:d_e-F9"},
	{name: "longest buyer", body: `{"buyer":"` + strings.Repeat("b", MaxBuyerLen) + `"}`, n: 1, buyer: strings.Repeat("b", MaxBuyerLen)},
	{name: "null buyer is none", body: `{"n":1,"buyer":null}`, n: 1},
	{name: "empty buyer", body: `{"n":1,"buyer":""}`, reject: true, bad: ErrBuyer},
	{name: "long buyer", body: `{"buyer":"` + strings.Repeat("b", MaxBuyerLen+1) + `"}`, reject: true, bad: ErrBuyer},
	{name: "buyer with space", body: `{"buyer":"u 1"}`, reject: true, bad: ErrBuyer},
	{name: "buyer with star", body: `{"buyer":"u*"}`, reject: true, bad: ErrBuyer},
	{name: "buyer non-ASCII", body: `{"buyer":"é"}`, reject: true, bad: ErrBuyer},
	{name: "buyer escaped", body: `{"buyer":"u\n"}`, reject: true, bad: ErrBuyer},
	{name: "buyer number", body: `{"buyer":1}`, reject: true},
	{name: "buyer object", body: `{"buyer":{}}`, reject: true},
	{name: "buyer bad with good n", body: `{"n":3,"buyer":"u/1"}`, reject: true, bad: ErrBuyer},
}

func TestDecodeUnits(t *testing.T) {
	for _, tc := range unitsCases {
		t.Run(tc.name, func(t *testing.T) {
			n, id, buyer, err := DecodeUnits([]byte(tc.body), 1024)
			if tc.reject {
				if err == nil {
					t.Fatalf("accepted n=%d id=%q buyer=%q", n, id, buyer)
				}
				if tc.bad != nil && err != tc.bad {
					t.Fatalf("error %v, want %v", err, tc.bad)
				}
				return
			}
			if err != nil || n != tc.n || id != tc.id || buyer != tc.buyer {
				t.Fatalf("got n=%d id=%q buyer=%q err=%v, want n=%d id=%q buyer=%q", n, id, buyer, err, tc.n, tc.id, tc.buyer)
			}
		})
	}
}

func TestDecodeOneDoesNotAllocate(t *testing.T) {
	body := []byte(`{"n":1}`)
	if a := testing.AllocsPerRun(100, func() { _, _, _, _ = DecodeUnits(body, 1024) }); a != 0 {
		t.Fatalf("decoding {\"n\":1} allocates %v times", a)
	}
}

// FuzzDecodeUnits checks that whatever DecodeUnits accepts is a request
// encoding/json reads the same way, with n in range, a bounded id and a
// valid buyer or none.
func FuzzDecodeUnits(f *testing.F) {
	for _, tc := range unitsCases {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, id, buyer, err := DecodeUnits(body, 1024)
		if err != nil {
			return
		}
		if n < 1 || n > stock.MaxUnits || len(id) > MaxIDLen || len(body) > 1024 || buyer != "" && !ValidBuyer(buyer) {
			t.Fatalf("accepted out of range: n=%d id=%q buyer=%q", n, id, buyer)
		}
		if len(bytes.TrimSpace(body)) == 0 {
			if n != 1 || id != "" || buyer != "" {
				t.Fatalf("empty body gave n=%d id=%q buyer=%q", n, id, buyer)
			}
			return
		}
		var ref struct {
			N     *float64 `json:"n"`
			ID    *string  `json:"id"`
			Buyer *string  `json:"buyer"`
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
		if ref.Buyer != nil && *ref.Buyer != buyer || ref.Buyer == nil && buyer != "" {
			t.Fatalf("%q: buyer=%q, encoding/json reads %v", body, buyer, ref.Buyer)
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
