package capstore

import (
	"encoding/json"
	"testing"

	"github.com/stockstate/stock/stock"
)

var decodeTests = []struct {
	name string
	in   string
	want stock.Record
	ok   bool
}{
	{"canonical", `{"limit":100,"cap":57}`, stock.Record{Limit: 100, Cap: 57}, true},
	{"fields swapped", `{"cap":57,"limit":100}`, stock.Record{Limit: 100, Cap: 57}, true},
	{"whitespace", " {\n \"limit\" : 100 ,\t\"cap\":0 } \n", stock.Record{Limit: 100}, true},
	{"zero", `{"limit":0,"cap":0}`, stock.Record{}, true},
	{"cap equals limit", `{"limit":5,"cap":5}`, stock.Record{Limit: 5, Cap: 5}, true},
	{"max limit", `{"limit":1000000000000000,"cap":1}`, stock.Record{Limit: stock.MaxLimit, Cap: 1}, true},
	{"negative zero", `{"limit":-0,"cap":0}`, stock.Record{}, true},
	{"expiry mark", `{"limit":5,"cap":1,"expired_ms":1800000000000}`, stock.Record{Limit: 5, Cap: 1, ExpiredMS: 1_800_000_000_000}, true},
	{"negative expiry mark", `{"limit":5,"cap":1,"expired_ms":-1}`, stock.Record{}, false},
	{"repeated expiry mark", `{"limit":5,"cap":1,"expired_ms":1,"expired_ms":2}`, stock.Record{}, false},
	{"per-buyer cap", `{"limit":5,"cap":1,"per_buyer":2}`, stock.Record{Limit: 5, Cap: 1, PerBuyer: 2}, true},
	{"per-buyer cap and expiry mark", `{"limit":5,"cap":1,"expired_ms":9,"per_buyer":2}`, stock.Record{Limit: 5, Cap: 1, ExpiredMS: 9, PerBuyer: 2}, true},
	{"per-buyer cap first", `{"per_buyer":2,"limit":5,"cap":1}`, stock.Record{Limit: 5, Cap: 1, PerBuyer: 2}, true},
	{"per-buyer cap zero", `{"limit":5,"cap":1,"per_buyer":0}`, stock.Record{Limit: 5, Cap: 1}, true},
	{"per-buyer cap above limit", `{"limit":5,"cap":1,"per_buyer":6}`, stock.Record{Limit: 5, Cap: 1, PerBuyer: 6}, true},
	{"per-buyer cap at max", `{"limit":5,"cap":1,"per_buyer":1000000000000000}`, stock.Record{Limit: 5, Cap: 1, PerBuyer: stock.MaxLimit}, true},
	{"per-buyer cap above max", `{"limit":5,"cap":1,"per_buyer":1000000000000001}`, stock.Record{}, false},
	{"negative per-buyer cap", `{"limit":5,"cap":1,"per_buyer":-1}`, stock.Record{}, false},
	{"repeated per-buyer cap", `{"limit":5,"cap":1,"per_buyer":1,"per_buyer":2}`, stock.Record{}, false},
	{"per-buyer cap not an integer", `{"limit":5,"cap":1,"per_buyer":"2"}`, stock.Record{}, false},

	{"empty", ``, stock.Record{}, false},
	{"not json", `abc`, stock.Record{}, false},
	{"null", `null`, stock.Record{}, false},
	{"array", `[100,57]`, stock.Record{}, false},
	{"empty object", `{}`, stock.Record{}, false},
	{"missing cap", `{"limit":1}`, stock.Record{}, false},
	{"missing limit", `{"cap":0}`, stock.Record{}, false},
	{"null field", `{"limit":1,"cap":null}`, stock.Record{}, false},
	{"unknown field", `{"limit":1,"cap":0,"sold":0}`, stock.Record{}, false},
	{"case variant", `{"Limit":1,"cap":0}`, stock.Record{}, false},
	{"repeated field", `{"limit":1,"cap":0,"limit":2}`, stock.Record{}, false},
	{"negative limit", `{"limit":-1,"cap":0}`, stock.Record{}, false},
	{"negative cap", `{"limit":1,"cap":-1}`, stock.Record{}, false},
	{"cap above limit", `{"limit":1,"cap":2}`, stock.Record{}, false},
	{"above max limit", `{"limit":1000000000000001,"cap":0}`, stock.Record{}, false},
	{"int64 overflow", `{"limit":9223372036854775808,"cap":0}`, stock.Record{}, false},
	{"fraction", `{"limit":1.5,"cap":0}`, stock.Record{}, false},
	{"integral float", `{"limit":1.0,"cap":0}`, stock.Record{}, false},
	{"exponent", `{"limit":1e2,"cap":0}`, stock.Record{}, false},
	{"string number", `{"limit":"1","cap":0}`, stock.Record{}, false},
	{"bool", `{"limit":true,"cap":0}`, stock.Record{}, false},
	{"nested", `{"limit":{},"cap":0}`, stock.Record{}, false},
	{"trailing object", `{"limit":1,"cap":0}{}`, stock.Record{}, false},
	{"trailing garbage", `{"limit":1,"cap":0}x`, stock.Record{}, false},
	{"trailing comma", `{"limit":1,"cap":0,}`, stock.Record{}, false},
	{"unterminated", `{"limit":1,"cap":0`, stock.Record{}, false},
	{"leading zero", `{"limit":01,"cap":0}`, stock.Record{}, false},
}

func TestDecodeRecord(t *testing.T) {
	for _, tt := range decodeTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeRecord([]byte(tt.in))
			if tt.ok != (err == nil) {
				t.Fatalf("decodeRecord(%q) = %+v, %v; want ok %v", tt.in, got, err, tt.ok)
			}
			if got != tt.want {
				t.Errorf("decodeRecord(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

// TestEncodeRecordWithoutPerBuyer: a record without a per-buyer cap is
// written as it was before there were any, and records written then read
// with no cap.
func TestEncodeRecordWithoutPerBuyer(t *testing.T) {
	if got := string(encodeRecord(stock.Record{Limit: 100, Cap: 57, ExpiredMS: 9})); got != `{"limit":100,"cap":57,"expired_ms":9}` {
		t.Errorf("encodeRecord = %s", got)
	}
	if got := string(encodeRecord(stock.Record{Limit: 100, Cap: 57, PerBuyer: 3})); got != `{"limit":100,"cap":57,"per_buyer":3}` {
		t.Errorf("encodeRecord = %s", got)
	}
	if r, err := decodeRecord([]byte(`{"limit":100,"cap":57}`)); err != nil || r.PerBuyer != 0 {
		t.Errorf("decodeRecord of an old record = %+v, %v", r, err)
	}
}

func TestEncodeRecord(t *testing.T) {
	for _, r := range []stock.Record{
		{}, {Limit: 100, Cap: 57}, {Limit: stock.MaxLimit, Cap: stock.MaxLimit}, {Limit: 1, ExpiredMS: 1_800_000_000_000},
		{Limit: 10, Cap: 3, PerBuyer: 2}, {Limit: 10, ExpiredMS: 5, PerBuyer: stock.MaxLimit},
	} {
		b := encodeRecord(r)
		std, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != string(std) {
			t.Errorf("encodeRecord(%+v) = %s, encoding/json gives %s", r, b, std)
		}
		if got, err := decodeRecord(b); err != nil || got != r {
			t.Errorf("decodeRecord(%s) = %+v, %v; want %+v", b, got, err, r)
		}
	}
}

// FuzzDecodeRecord checks that whatever decodeRecord accepts is Valid,
// agrees with encoding/json, and survives a round trip through encodeRecord.
func FuzzDecodeRecord(f *testing.F) {
	for _, tt := range decodeTests {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		if !r.Valid() {
			t.Fatalf("accepted %q as invalid %+v", b, r)
		}
		var std stock.Record
		if err := json.Unmarshal(b, &std); err != nil || std != r {
			t.Fatalf("accepted %q as %+v; encoding/json gives %+v, %v", b, r, std, err)
		}
		again, err := decodeRecord(encodeRecord(r))
		if err != nil || again != r {
			t.Fatalf("%+v encodes to %s, which decodes to %+v, %v", r, encodeRecord(r), again, err)
		}
	})
}
