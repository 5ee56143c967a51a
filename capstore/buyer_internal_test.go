package capstore

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

var buyerRecords = []BuyerRecord{
	{},
	{Bought: 3},
	{Bought: 1_000_000_000_000_000, IDs: []BuyerID{{ID: "r-1", AtMS: 1_765_000_000_000, Reply: []byte(`{"sku":"a","granted":1,"remaining":9}`)}}},
	{Bought: 2, IDs: []BuyerID{
		{ID: "r-1", AtMS: 1, Reply: []byte(`{"sku":"a","granted":1,"remaining":9}`)},
		{ID: `quote " backslash \ tab 	 nl
 ctl ` + "\x00\x1f\x7f é 😀 \u2028 <&>", AtMS: -5, Reply: []byte(`{"id":"}\"{","x":[{"y":{}}]}`)},
		{ID: "bytes \xff\xfe not UTF-8", AtMS: 2, Reply: []byte(`{}`)},
		{ID: "\x80", AtMS: 3, Reply: []byte(`{ "spaced" : 1 }`)},
	}},
}

// TestEncodeBuyer: the hand-written encoding is compact JSON, what
// encoding/json writes for UTF-8 ids (HTML escaping aside), and decodes
// back to the record.
func TestEncodeBuyer(t *testing.T) {
	for _, r := range buyerRecords {
		b, err := encodeBuyer(r)
		if err != nil {
			t.Fatalf("encodeBuyer(%+v): %v", r, err)
		}
		if !json.Valid(b) {
			t.Fatalf("encodeBuyer(%+v) = %s, not JSON", r, b)
		}
		back, err := decodeBuyer(b)
		if err != nil || !reflect.DeepEqual(back, r) {
			t.Errorf("decodeBuyer(%s) = %+v, %v; want %+v", b, back, err, r)
		}
		slow, err := decodeBuyerJSON(b)
		if err != nil || !reflect.DeepEqual(slow, r) {
			t.Errorf("decodeBuyerJSON(%s) = %+v, %v; want %+v", b, slow, err, r)
		}
		plain := true
		for _, id := range r.IDs {
			plain = plain && plainString([]byte(id.ID))
		}
		if _, ok := decodeBuyerWritten(b); ok != (plain && len(r.IDs) > 0 || len(r.IDs) == 0) {
			t.Errorf("decodeBuyerWritten(%s): ok %v", b, ok)
		}
	}
	got, _ := encodeBuyer(buyerRecords[2])
	if want := `{"bought":1000000000000000,"ids":[{"id":"r-1","at":1765000000000,"reply":{"sku":"a","granted":1,"remaining":9}}]}`; string(got) != want {
		t.Errorf("encodeBuyer = %s, want %s", got, want)
	}
	got, _ = encodeBuyer(BuyerRecord{Bought: 3})
	if string(got) != `{"bought":3}` {
		t.Errorf("encodeBuyer without ids = %s", got)
	}
	// Every id of one byte, or one rune, as encoding/json writes it.
	for c := range 0x80 {
		id := string(rune(c))
		r := BuyerRecord{Bought: 1, IDs: []BuyerID{{ID: id, Reply: []byte(`{}`)}}}
		got, _ := encodeBuyer(r)
		var std bytes.Buffer
		enc := json.NewEncoder(&std)
		enc.SetEscapeHTML(false)
		s := id
		if err := enc.Encode(buyerJSON{Bought: &r.Bought, IDs: []buyerIDJSON{{ID: &s, Reply: []byte(`{}`)}}}); err != nil {
			t.Fatal(err)
		}
		if want := strings.TrimSuffix(std.String(), "\n"); string(got) != want && c != '\b' && c != '\f' {
			t.Errorf("id %q: encodeBuyer = %s, encoding/json %s", id, got, want)
		}
		if back, err := decodeBuyer(got); err != nil || back.IDs[0].ID != id {
			t.Errorf("id %q: %s decodes to %+v, %v", id, got, back, err)
		}
	}
}

func TestEncodeBuyerInvalid(t *testing.T) {
	for name, r := range map[string]BuyerRecord{
		"negative":       {Bought: -1},
		"above max":      {Bought: 1_000_000_000_000_001},
		"empty id":       {IDs: []BuyerID{{Reply: []byte(`{}`)}}},
		"no reply":       {IDs: []BuyerID{{ID: "r"}}},
		"reply not JSON": {IDs: []BuyerID{{ID: "r", Reply: []byte(`{`)}}},
		"reply an array": {IDs: []BuyerID{{ID: "r", Reply: []byte(`[]`)}}},
		"reply and more": {IDs: []BuyerID{{ID: "r", Reply: []byte(`{}{}`)}}},
		"reply a string": {IDs: []BuyerID{{ID: "r", Reply: []byte(`"x"`)}}},
	} {
		if b, err := encodeBuyer(r); err == nil {
			t.Errorf("%s: encoded as %s", name, b)
		}
	}
}

var decodeBuyerTests = []struct {
	in string
	ok bool
}{
	{`{"bought":3}`, true},
	{`{"bought":0,"ids":[]}`, true},
	{`{"bought":0,"ids":null}`, true},
	{` {"bought" : 3 , "ids" : [ {"at":1,"id":"r","reply":{ }} ] } `, true},
	{`{"bought":3,"ids":[{"id":"r-1","at":1765000000000,"reply":{"sku":"a","granted":1,"remaining":9}}]}`, true},
	{`{"bought":3,"ids":[{"id_b64":"/w==","at":1,"reply":{}}]}`, true},
	{`{"bought":3,"ids":[{"id":"\ud83d\ude00","at":1,"reply":{}}]}`, true},

	{``, false},
	{`null`, false},
	{`[]`, false},
	{`{}`, false},
	{`{"bought":null}`, false},
	{`{"bought":-1}`, false},
	{`{"bought":1000000000000001}`, false},
	{`{"bought":1.5}`, false},
	{`{"bought":"1"}`, false},
	{`{"bought":1,"extra":1}`, false},
	{`{"bought":1}{}`, false},
	{`{"bought":1} x`, false},
	{`{"bought":1,"ids":{}}`, false},
	{`{"bought":1,"ids":[{"at":1,"reply":{}}]}`, false},
	{`{"bought":1,"ids":[{"id":"","at":1,"reply":{}}]}`, false},
	{`{"bought":1,"ids":[{"id":"r","id_b64":"cg==","at":1,"reply":{}}]}`, false},
	{`{"bought":1,"ids":[{"id_b64":"not base64!","at":1,"reply":{}}]}`, false},
	{`{"bought":1,"ids":[{"id":"r","at":1}]}`, false},
	{`{"bought":1,"ids":[{"id":"r","at":1,"reply":null}]}`, false},
	{`{"bought":1,"ids":[{"id":"r","at":1,"reply":[]}]}`, false},
	{`{"bought":1,"ids":[{"id":"r","at":1,"reply":1}]}`, false},
	{`{"bought":1,"ids":[{"id":"r","at":1.5,"reply":{}}]}`, false},
	{`{"bought":1,"ids":[{"id":"r","at":1,"reply":{},"x":0}]}`, false},
	{`{"bought":1,"ids":[{"id":1,"at":1,"reply":{}}]}`, false},
	{`{"bought":1,"ids":[{"id":"r","at":1,"reply":{}},]}`, false},
	{`{"bought":1,"ids":[{"id":"r","at":1,"reply":{}}`, false},
	{`{"bought":1,"ids":[{"id":"r","at":1,"reply":{"a":}}]}`, false},
	{`{"bought":01}`, false},
	{`{"bought":1,"ids":[{"id":"r","at":1,"reply":{}}]}}`, false},
	{`{"bought":1,"ids":[{"id":"a\u0000b","at":1,"reply":{}}]}`, true},
	{"{\"bought\":1,\"ids\":[{\"id\":\"a\x01b\",\"at\":1,\"reply\":{}}]}", false},
	{"{\"bought\":1,\"ids\":[{\"id\":\"a\xffb\",\"at\":1,\"reply\":{}}]}", true}, // encoding/json reads U+FFFD
}

func TestDecodeBuyer(t *testing.T) {
	for _, tt := range decodeBuyerTests {
		r, err := decodeBuyer([]byte(tt.in))
		if tt.ok != (err == nil) {
			t.Errorf("decodeBuyer(%s) = %+v, %v; want ok %v", tt.in, r, err, tt.ok)
		}
	}
	r, err := decodeBuyer([]byte(`{"bought":3,"ids":[{"id_b64":"/w==","at":1,"reply":{}}]}`))
	if err != nil || r.IDs[0].ID != "\xff" {
		t.Errorf("id_b64 decodes to %+v, %v", r, err)
	}
}

// FuzzDecodeBuyer: decodeBuyer never panics; what it accepts encodes, and
// that encoding decodes to the same record and encodes to the same bytes.
// The fast reader of written records accepts nothing that encoding/json
// rejects and reads what it accepts the same.
func FuzzDecodeBuyer(f *testing.F) {
	for _, tt := range decodeBuyerTests {
		f.Add([]byte(tt.in))
	}
	for _, r := range buyerRecords {
		b, _ := encodeBuyer(r)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if fast, ok := decodeBuyerWritten(b); ok {
			slow, err := decodeBuyerJSON(b)
			if err != nil || !reflect.DeepEqual(fast, slow) {
				t.Fatalf("%s: decodeBuyerWritten = %+v, encoding/json %+v, %v", b, fast, slow, err)
			}
		}
		r, err := decodeBuyer(b)
		if err != nil {
			return
		}
		enc, err := encodeBuyer(r)
		if err != nil {
			t.Fatalf("%s decodes to %+v, which does not encode: %v", b, r, err)
		}
		again, err := decodeBuyer(enc)
		if err != nil || !reflect.DeepEqual(again, r) {
			t.Fatalf("%s decodes to %+v, encodes to %s, which decodes to %+v, %v", b, r, enc, again, err)
		}
		if enc2, _ := encodeBuyer(again); !bytes.Equal(enc2, enc) {
			t.Fatalf("%+v encodes to %s, then %s", r, enc, enc2)
		}
	})
}

func TestBuyerKey(t *testing.T) {
	s := New(nil, "/shop/")
	if got := s.buyerKey("sku-1", "u-1@x.y"); got != "/shop/buyer/sku-1/u-1@x.y" {
		t.Errorf("buyerKey = %q", got)
	}
	if got := s.buyerSKUPrefix("a"); got != "/shop/buyer/a/" {
		t.Errorf("buyerSKUPrefix = %q", got)
	}
	for _, k := range []BuyerKey{{"", "u"}, {"a", ""}, {"a/b", "u"}, {"a", "u/v"}} {
		if err := checkBuyerKey(k.SKU, k.Buyer); err == nil {
			t.Errorf("checkBuyerKey(%q, %q) accepted", k.SKU, k.Buyer)
		}
	}
}

// BenchmarkEncodeBuyer encodes a buyer with a few recent ids, as every
// write of a capped SKU's buyer does.
func BenchmarkEncodeBuyer(b *testing.B) {
	r := BuyerRecord{Bought: 3}
	for i := range 3 {
		r.IDs = append(r.IDs, BuyerID{ID: "req-12345678-" + string(rune('a'+i)), AtMS: 1_765_000_000_000, Reply: []byte(`{"sku":"sku-123","granted":1,"remaining":9876}`)})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeBuyer(r); err != nil {
			b.Fatal(err)
		}
	}
}
