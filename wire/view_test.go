package wire

import (
	"encoding/json"
	"testing"
)

var replySeeds = []string{
	`{"sku":"sku1","granted":2,"remaining":41}`,
	`{"sku":"sku1","granted":0,"remaining":3,"error":"insufficient","message":"only 3 left"}`,
	` { "sku" : "a" , "remaining" : 0 , "error" : "sold_out" } `,
	`{"sku":"sku1","limit":100,"sold":57,"remaining":43,"leader":"node-a"}`,
	`{"sku":"sku1","deleted":true,"remaining":0}`,
	`{"sku":"x","granted":1,"remaining":1,"extra":[1,2]}`,
	`{"sku":"x","granted":1,"remaining":1,"extra":{"a":1}}`,
	`{"sku":"x","granted":1,"remaining":1,"extra":-1.5e+3,"more":null,"flag":false}`,
	`{"SKU":"x","Granted":1}`,
	`{"sku":"x\u0041","granted":1}`,
	`{"sku":"x","granted":1.0}`,
	`{"sku":"x","granted":1e2}`,
	`{"sku":"x","granted":"1"}`,
	`{"sku":1}`,
	`{"sku":null,"granted":null}`,
	`{"sku":"a","sku":"b"}`,
	`{"granted":9223372036854775807}`,
	`{"granted":9223372036854775808}`,
	`{"granted":-9223372036854775808}`,
	`{"granted":01}`,
	`{"granted":-0}`,
	`{"deleted":"yes"}`,
	`{"sku":"x",}`,
	`{"sku":"x"} x`,
	`{}`,
	`null`,
	``,
	`[]`,
	`{"sku":"é","granted":1}`,
	`{"sku":"sku1","held":2,"remaining":41,"id":"cart-42","expires_at":"2026-12-05T14:15:00Z"}`,
	`{"sku":"sku1","confirmed":2}`,
	`{"sku":"sku1","granted":0,"remaining":41,"error":"buyer_limit","message":"m","bought":1,"held":1,"per_buyer":2}`,
	`{"sku":"sku1","buyer":"u-1","per_buyer":2,"held":1,"bought":1,"remaining":41}`,
	`{"sku":"sku1","buyer":7}`,
}

func TestDecodeReplyView(t *testing.T) {
	tests := []struct {
		body      string
		ok        bool
		sku, err  string
		granted   int64
		remaining int64
	}{
		{`{"sku":"sku1","granted":2,"remaining":41}`, true, "sku1", "", 2, 41},
		{`{"sku":"s","granted":0,"remaining":3,"error":"insufficient","message":"m"}`, true, "s", "insufficient", 0, 3},
		{`{"SKU":"x","Granted":1}`, true, "x", "", 1, 0},
		{`{"sku":"x\u0041","granted":1}`, true, "xA", "", 1, 0},
		{`{"sku":"x","granted":1.5}`, false, "", "", 0, 0},
		{`{"sku":"x","granted":"1"}`, false, "", "", 0, 0},
		{`not json`, false, "", "", 0, 0},
		{``, false, "", "", 0, 0},
	}
	for _, tt := range tests {
		var v ReplyView
		ok := DecodeReplyView([]byte(tt.body), &v)
		if ok != tt.ok || string(v.SKU) != tt.sku || string(v.Error) != tt.err || v.Granted != tt.granted || v.Remaining != tt.remaining {
			t.Errorf("DecodeReplyView(%s) = %v %q %q %d %d, want %v %q %q %d %d", tt.body,
				ok, v.SKU, v.Error, v.Granted, v.Remaining, tt.ok, tt.sku, tt.err, tt.granted, tt.remaining)
		}
	}
}

// TestReplyFields pins the field types scanReply relies on to the wire type.
func TestReplyFields(t *testing.T) {
	want := map[string]fieldType{"sku": fieldString, "error": fieldString, "granted": fieldInt, "remaining": fieldInt}
	for name, ft := range want {
		if got, ok := replyFields[name]; !ok || got != ft {
			t.Errorf("Reply field %q: type %v (present %v), want %v", name, got, ok, ft)
		}
	}
}

// TestScanReplyAllocs keeps the hot path free of allocations.
func TestScanReplyAllocs(t *testing.T) {
	body := []byte(`{"sku":"sku1","granted":2,"remaining":41}`)
	var v ReplyView
	if n := testing.AllocsPerRun(100, func() { DecodeReplyView(body, &v) }); n != 0 {
		t.Fatalf("DecodeReplyView allocates %v times", n)
	}
}

// FuzzScanReply checks that the hand-written scanner never accepts what
// encoding/json rejects, and agrees with it on what it accepts.
func FuzzScanReply(f *testing.F) {
	for _, s := range replySeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v ReplyView
		if !scanReply(data, &v) {
			return
		}
		var r Reply
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatalf("scanner accepted %q, encoding/json: %v", data, err)
		}
		type counts struct{ granted, held, confirmed, remaining int64 }
		got := counts{v.Granted, v.Held, v.Confirmed, v.Remaining}
		want := counts{r.Granted, r.Held, r.Confirmed, r.Remaining}
		if string(v.SKU) != r.SKU || string(v.Error) != r.Error || got != want {
			t.Fatalf("%q: scanner %q %q %+v, encoding/json %q %q %+v", data, v.SKU, v.Error, got, r.SKU, r.Error, want)
		}
	})
}
