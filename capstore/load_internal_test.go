package capstore

import (
	"testing"

	"github.com/stockstate/stock/stock"
)

// FuzzDecodeLoaded: the fast decoder of loaded records agrees with the
// strict one on every input: the same record, or an error from both.
func FuzzDecodeLoaded(f *testing.F) {
	for _, r := range []stock.Record{{Limit: 100, Cap: 57}, {Limit: 5, Cap: 5, ExpiredMS: 1700000000000, PerBuyer: 2}, {}} {
		f.Add(encodeRecord(r))
	}
	for _, s := range []string{`{"limit":1,"cap":2}`, `{"cap":1,"limit":2}`, `{"limit":-1,"cap":0}`, `{"limit":01,"cap":0}`, `{"limit":1,"cap":0} `, `{}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ferr := decodeLoaded(b)
		strict, serr := decodeRecord(b)
		if (ferr == nil) != (serr == nil) || fast != strict {
			t.Fatalf("%q: fast %+v %v, strict %+v %v", b, fast, ferr, strict, serr)
		}
	})
}
