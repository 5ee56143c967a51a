package capstore

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stockstate/stock/stock"
)

// TestEncodeHoldIsMarshal: the hand-written encoding is what json.Marshal
// writes for the same record, and decodes back to it.
func TestEncodeHoldIsMarshal(t *testing.T) {
	for _, r := range []HoldRecord{
		{Hold: stock.Hold{N: 2, Expires: time.UnixMilli(1_800_000_000_123), State: stock.HoldLive}, Reply: []byte(`{"sku":"a","held":2}`)},
		{Hold: stock.Hold{N: 1, Expires: time.UnixMilli(-5), State: stock.HoldConfirmed}, Reply: []byte(`{}`), End: []byte(`{"sku":"a","confirmed":1}`), EndedMS: 1_800_000_000_999},
		{Hold: stock.Hold{N: stock.MaxUnits, State: stock.HoldExpired}, Reply: []byte(`{"s":"\u00e9"}`)},
		{Hold: stock.Hold{N: 3, Expires: time.UnixMilli(7), State: stock.HoldLive}, Reply: []byte(`{}`), Buyer: "u-1@shop.example:A_z"},
		{Hold: stock.Hold{N: 3, State: stock.HoldConfirmed}, Reply: []byte(`{}`), End: []byte(`{"x":1}`), EndedMS: 9, Buyer: "b"},
	} {
		got, err := encodeHold(r)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(holdJSON{N: r.Hold.N, ExpiresMS: r.Hold.Expires.UnixMilli(), State: r.Hold.State.String(), EndedMS: r.EndedMS, Buyer: r.Buyer, Reply: r.Reply, End: r.End})
		if !bytes.Equal(got, want) {
			t.Errorf("encodeHold = %s, json.Marshal %s", got, want)
		}
		if _, ok := decodeWritten(got); !ok {
			t.Errorf("decodeWritten rejects encodeHold's %s", got)
		}
		back, err := decodeHold(got)
		if err != nil || back.Hold.N != r.Hold.N || back.Hold.State != r.Hold.State || !back.Hold.Expires.Equal(r.Hold.Expires) ||
			!bytes.Equal(back.Reply, r.Reply) || !bytes.Equal(back.End, r.End) || back.EndedMS != r.EndedMS || back.Buyer != r.Buyer {
			t.Errorf("decodeHold(%s) = %+v, %v; want %+v", got, back, err, r)
		}
	}
	if _, err := encodeHold(HoldRecord{Reply: []byte(`{`)}); err == nil {
		t.Error("a reply that is not JSON was encoded")
	}
	if _, err := encodeHold(HoldRecord{Hold: stock.Hold{N: 1}, Reply: []byte(`{}`), Buyer: "\xff"}); err == nil {
		t.Error("a buyer that is not UTF-8 was encoded")
	}
}

// TestDecodeHoldBuyer: a hold written before holds had buyers reads with
// none; one with a buyer reads it by either decoder.
func TestDecodeHoldBuyer(t *testing.T) {
	for in, want := range map[string]string{
		`{"n":1,"expires_ms":5,"state":"live","reply":{}}`:                                          "",
		`{"n":1,"expires_ms":5,"state":"live","buyer":"u-1","reply":{}}`:                            "u-1",
		`{"n":1,"expires_ms":5,"state":"confirmed","ended_ms":6,"buyer":"u-1","reply":{},"end":{}}`: "u-1",
		`{"n":1,"expires_ms":5,"buyer":"u-1","state":"live","reply":{}}`:                            "u-1", // encoding/json's
		`{"n":1,"expires_ms":5,"state":"live","buyer":"u\u002d1","reply":{}}`:                       "u-1", // encoding/json's
		`{"n":1,"expires_ms":5,"state":"live","buyer":"","reply":{}}`:                               "",
	} {
		r, err := decodeHold([]byte(in))
		if err != nil || r.Buyer != want {
			t.Errorf("decodeHold(%s) = buyer %q, %v; want %q", in, r.Buyer, err, want)
		}
	}
}

// FuzzDecodeWritten: the fast reader of written holds accepts nothing that
// encoding/json rejects and reads what it accepts the same; what
// encodeHold writes, it accepts.
func FuzzDecodeWritten(f *testing.F) {
	for _, s := range []string{
		`{"n":2,"expires_ms":1800000000123,"state":"live","reply":{"sku":"a","held":2,"id":"c\"},{1"}}`,
		`{"n":1,"expires_ms":-5,"state":"confirmed","reply":{},"end":{"sku":"a","confirmed":1,"x":[{"y":"}"}]}}`,
		`{"n":1,"expires_ms":5,"state":"cancelled","ended_ms":1800000000999,"reply":{},"end":{"sku":"a","cancelled":1}}`,
		`{"n":1,"expires_ms":5,"state":"cancelled","ended_ms":0,"reply":{}}`,
		`{"n":01,"expires_ms":1,"state":"live","reply":{}}`,
		`{"n":1,"expires_ms":1,"state":"live","reply":{"a":}}`,
		`{"n":1,"expires_ms":1,"state":"live","reply":{}} `,
		`{"n":1,"expires_ms":1.5,"state":"live","reply":{}}`,
		`{"n":1,"expires_ms":1,"state":"lost","reply":{}}`,
		`{"n":1,"expires_ms":1,"state":"live","buyer":"u-1","reply":{}}`,
		`{"n":1,"expires_ms":1,"state":"confirmed","ended_ms":2,"buyer":"u.1@x","reply":{},"end":{}}`,
		`{"n":1,"expires_ms":1,"state":"live","buyer":"","reply":{}}`,
		`{"n":1,"expires_ms":1,"state":"live","buyer":"a\"b","reply":{}}`,
		`{"n":1,"expires_ms":1,"state":"live","buyer":"a` + "\x01" + `","reply":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := decodeWritten(b)
		if !ok {
			return
		}
		slow, err := decodeHoldJSON(b)
		if err != nil {
			t.Fatalf("decodeWritten accepted %s, which encoding/json rejects: %v", b, err)
		}
		if fast.Hold != slow.Hold || !bytes.Equal(fast.Reply, slow.Reply) || !bytes.Equal(fast.End, slow.End) || fast.EndedMS != slow.EndedMS || fast.Buyer != slow.Buyer {
			t.Fatalf("%s: decodeWritten = %+v, encoding/json %+v", b, fast, slow)
		}
		again, err := encodeHold(fast)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := decodeWritten(again); !ok {
			t.Fatalf("decodeWritten rejects encodeHold's %s", again)
		}
	})
}
