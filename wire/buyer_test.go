package wire

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stockstate/stock/stock"
)

func TestValidBuyer(t *testing.T) {
	for _, s := range []string{"u", "u-1", "A_b:c.d@e-9", strings.Repeat("x", MaxBuyerLen)} {
		if !ValidBuyer(s) || !ValidBuyer([]byte(s)) {
			t.Errorf("%q rejected", s)
		}
	}
	for _, s := range []string{"", "a b", "a*", ">", "a/b", "é", "a\"", "a\\", "a\x00", "a,b", "a+b", strings.Repeat("x", MaxBuyerLen+1)} {
		if ValidBuyer(s) || ValidBuyer([]byte(s)) {
			t.Errorf("%q accepted", s)
		}
	}
}

var setCases = []struct {
	name            string
	body            string
	limit, perBuyer int64
	reject          bool
}{
	{name: "limit", body: `{"limit":100}`, limit: 100},
	{name: "zero limit", body: `{"limit":0}`},
	{name: "max limit", body: `{"limit":1000000000000000}`, limit: stock.MaxLimit},
	{name: "per buyer", body: `{"limit":100,"per_buyer":2}`, limit: 100, perBuyer: 2},
	{name: "per buyer first", body: ` {"per_buyer":2, "limit":100} `, limit: 100, perBuyer: 2},
	{name: "per buyer zero is no cap", body: `{"limit":100,"per_buyer":0}`, limit: 100},
	{name: "per buyer null", body: `{"limit":100,"per_buyer":null}`, reject: true},
	{name: "per buyer max", body: `{"limit":1,"per_buyer":1000000000000000}`, limit: 1, perBuyer: stock.MaxLimit},
	{name: "per buyer over max", body: `{"limit":1,"per_buyer":1000000000000001}`, reject: true},
	{name: "per buyer huge", body: `{"limit":1,"per_buyer":100000000000000000000}`, reject: true},
	{name: "per buyer negative", body: `{"limit":1,"per_buyer":-1}`, reject: true},
	{name: "per buyer fraction", body: `{"limit":1,"per_buyer":1.5}`, reject: true},
	{name: "per buyer exponent", body: `{"limit":1,"per_buyer":1e2}`, reject: true},
	{name: "per buyer string", body: `{"limit":1,"per_buyer":"2"}`, reject: true},
	{name: "per buyer bool", body: `{"limit":1,"per_buyer":true}`, reject: true},
	{name: "per buyer only", body: `{"per_buyer":2}`, reject: true},
	{name: "no limit", body: `{}`, reject: true},
	{name: "empty", body: ``, reject: true},
	{name: "limit negative", body: `{"limit":-1}`, reject: true},
	{name: "limit over max", body: `{"limit":1000000000000001}`, reject: true},
	{name: "limit string", body: `{"limit":"1"}`, reject: true},
	{name: "unknown field", body: `{"limit":1,"perBuyer":2,"x":1}`, reject: true},
	{name: "buyer field", body: `{"limit":1,"buyer":"u-1"}`, reject: true},
	{name: "trailing", body: `{"limit":1} {}`, reject: true},
	{name: "array", body: `[{"limit":1}]`, reject: true},
	{name: "oversized", body: `{"limit":1,"per_buyer":` + strings.Repeat("0", 2000) + `1}`, reject: true},
}

func TestDecodeSet(t *testing.T) {
	for _, tc := range setCases {
		t.Run(tc.name, func(t *testing.T) {
			l, k, err := DecodeSet([]byte(tc.body), 1024)
			switch {
			case tc.reject && err == nil:
				t.Fatalf("accepted limit=%d per_buyer=%d", l, k)
			case !tc.reject && err != nil:
				t.Fatal(err)
			case !tc.reject && (l != tc.limit || k != tc.perBuyer):
				t.Fatalf("got limit=%d per_buyer=%d, want %d %d", l, k, tc.limit, tc.perBuyer)
			}
		})
	}
}

// FuzzDecodeSet: an accepted admin.set body is what encoding/json reads,
// with both figures in 0..MaxLimit.
func FuzzDecodeSet(f *testing.F) {
	for _, tc := range setCases {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		l, k, err := DecodeSet(body, 1024)
		if err != nil {
			return
		}
		if l < 0 || l > stock.MaxLimit || k < 0 || k > stock.MaxLimit {
			t.Fatalf("%q accepted as limit=%d per_buyer=%d", body, l, k)
		}
		var ref SetRequest
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ref); err != nil || ref.Limit != l || ref.PerBuyer != k {
			t.Fatalf("%q: limit=%d per_buyer=%d, encoding/json reads %+v (%v)", body, l, k, ref, err)
		}
	})
}

var queryCases = []struct {
	name   string
	body   string
	buyer  string
	reject bool
}{
	{name: "empty", body: ``},
	{name: "spaces", body: " \n"},
	{name: "empty object", body: `{}`},
	{name: "empty object spaced", body: ` { } `},
	{name: "buyer", body: `{"buyer":"u-1"}`, buyer: "u-1"},
	{name: "buyer spaced", body: ` { "buyer" : "a@b.c" } `, buyer: "a@b.c"},
	{name: "longest buyer", body: `{"buyer":"` + strings.Repeat("b", MaxBuyerLen) + `"}`, buyer: strings.Repeat("b", MaxBuyerLen)},
	{name: "null buyer", body: `{"buyer":null}`},
	{name: "empty buyer", body: `{"buyer":""}`, reject: true},
	{name: "long buyer", body: `{"buyer":"` + strings.Repeat("b", MaxBuyerLen+1) + `"}`, reject: true},
	{name: "bad char", body: `{"buyer":"u 1"}`, reject: true},
	{name: "escaped bad char", body: `{"buyer":"u\u0020"}`, reject: true},
	{name: "number", body: `{"buyer":1}`, reject: true},
	{name: "array", body: `{"buyer":["u"]}`, reject: true},
	{name: "unknown field", body: `{"buyer":"u","n":1}`, reject: true},
	{name: "only unknown", body: `{"sku":"a"}`, reject: true},
	{name: "not json", body: `u-1`, reject: true},
	{name: "string", body: `"u-1"`, reject: true},
	{name: "trailing", body: `{"buyer":"u"}x`, reject: true},
	{name: "oversized", body: `{"buyer":"` + strings.Repeat("b", 2000) + `"}`, reject: true},
}

func TestDecodeQuery(t *testing.T) {
	for _, tc := range queryCases {
		t.Run(tc.name, func(t *testing.T) {
			buyer, err := DecodeQuery([]byte(tc.body), 1024)
			switch {
			case tc.reject && err == nil:
				t.Fatalf("accepted buyer=%q", buyer)
			case !tc.reject && err != nil:
				t.Fatal(err)
			case buyer != tc.buyer:
				t.Fatalf("buyer=%q, want %q", buyer, tc.buyer)
			}
		})
	}
	if _, err := DecodeQuery([]byte(`{"buyer":"u 1"}`), 1024); err != ErrBuyer {
		t.Fatalf("bad buyer: %v, want %v", err, ErrBuyer)
	}
}

// FuzzDecodeQuery: an accepted query body names no buyer or a valid one,
// as encoding/json reads it.
func FuzzDecodeQuery(f *testing.F) {
	for _, tc := range queryCases {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		buyer, err := DecodeQuery(body, 1024)
		if err != nil {
			return
		}
		if buyer != "" && !ValidBuyer(buyer) {
			t.Fatalf("%q accepted as buyer %q", body, buyer)
		}
		if len(bytes.TrimSpace(body)) == 0 {
			return
		}
		var ref QueryRequest
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ref); err != nil || ref.Buyer != buyer {
			t.Fatalf("%q: buyer=%q, encoding/json reads %+v (%v)", body, buyer, ref, err)
		}
	})
}

func TestDecodeJSONBatchBuyers(t *testing.T) {
	body := `[{"sku":"a","n":2,"id":"x","buyer":"u-1"},{"sku":"b"},{"sku":"c","buyer":""},{"sku":"d","buyer":"u 1"},` +
		`{"sku":"e","buyer":"` + strings.Repeat("b", MaxBuyerLen+1) + `"},{"sku":"f","buyer":7},{"sku":"g","buyer":null}]`
	items, data, msgs, err := DecodeJSONBatch([]byte(body), nil, nil, nil)
	if err != nil || len(items) != 7 || len(msgs) != 7 {
		t.Fatalf("%d items, %d msgs, %v", len(items), len(msgs), err)
	}
	if it := &items[0]; msgs[0] != "" || !it.HasBuyer() || string(it.Buyer(data)) != "u-1" || string(it.SKU(data)) != "a" || string(it.ID(data)) != "x" || it.N != 2 {
		t.Errorf("item 0: %q, buyer %q %v", msgs[0], it.Buyer(data), it.HasBuyer())
	}
	for _, i := range []int{1, 6} {
		if it := &items[i]; msgs[i] != "" || it.HasBuyer() || len(it.Buyer(data)) != 0 || ItemError(data, it) != "" {
			t.Errorf("item %d: %q, buyer %q", i, msgs[i], it.Buyer(data))
		}
	}
	for i := 2; i < 5; i++ {
		if msgs[i] != ErrBuyer.Error() {
			t.Errorf("item %d: %q, want %q", i, msgs[i], ErrBuyer)
		}
	}
	if msgs[5] == "" {
		t.Error("item 5: a number as buyer read well")
	}
	if ItemError(data, &items[3]) != ErrBuyer.Error() || ItemError(data, &items[0]) != "" {
		t.Errorf("ItemError: %q, %q", ItemError(data, &items[3]), ItemError(data, &items[0]))
	}
}

// TestBinaryItemsHaveNoBuyer: the binary form carries no buyer.
func TestBinaryItemsHaveNoBuyer(t *testing.T) {
	body := AppendBatchRequest(nil, []BatchItem{{SKU: "a", N: 1, Buyer: "u-1"}})
	if bytes.Contains(body, []byte("u-1")) {
		t.Fatalf("buyer encoded: %x", body)
	}
	items, err := DecodeBinaryBatch(body, nil)
	if err != nil || len(items) != 1 || items[0].HasBuyer() || len(items[0].Buyer(body)) != 0 {
		t.Fatalf("%+v, %v", items, err)
	}
}

func TestBatchStatusesFollowKinds(t *testing.T) {
	if len(BatchStatuses) != NumKinds+1 || BatchStatuses[0] != "" {
		t.Fatalf("BatchStatuses = %q", BatchStatuses)
	}
	for _, k := range Kinds {
		if got := BatchStatuses[StatusOf(k)]; got != k {
			t.Errorf("BatchStatuses[StatusOf(%q)] = %q", k, got)
		}
	}
	if Kinds[internalIndex] != ErrInternal || Kinds[buyerLimitIndex] != ErrBuyerLimit || StatusOf(ErrBuyerLimit) != statusBuyerLimit {
		t.Fatal("kind indexes moved")
	}
	if Code(ErrBuyerLimit) != 409 || KindOfCode(409) != "" {
		t.Fatalf("Code(buyer_limit) = %d, KindOfCode(409) = %q", Code(ErrBuyerLimit), KindOfCode(409))
	}
}

// TestJSONResults: each JSON batch result decodes to the BatchResult meant.
func TestJSONResults(t *testing.T) {
	cases := []struct {
		name string
		r    ItemResult
		msg  string
		want BatchResult
	}{
		{"granted", ItemResult{Granted: 2, Remaining: 41}, "", BatchResult{SKU: "s\"", Granted: 2, Remaining: 41}},
		{"sold out", ItemResult{Status: StatusOf(ErrSoldOut)}, "sold out", BatchResult{SKU: "s\"", Error: ErrSoldOut, Code: 409, Message: "sold out"}},
		{"expired", ItemResult{Status: StatusOf(ErrExpired), Remaining: 3}, "m", BatchResult{SKU: "s\"", Remaining: 3, Error: ErrExpired, Code: 409, Message: "m"}},
		{"buyer limit", ItemResult{Status: StatusOf(ErrBuyerLimit), Remaining: 40, Bought: 3, Held: 1, PerBuyer: 5}, "2 requested",
			BatchResult{SKU: "s\"", Remaining: 40, Error: ErrBuyerLimit, Code: 409, Message: "2 requested", Bought: 3, Held: 1, PerBuyer: 5}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := AppendJSONResult(nil, "s\"", tc.r, tc.msg)
			var got BatchResult
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil || got != tc.want {
				t.Fatalf("%s decodes to %+v (%v), want %+v", body, got, err, tc.want)
			}
		})
	}
	// The buyer's figures live only in JSON: the binary reply keeps the status.
	results := []ItemResult{{Status: StatusOf(ErrBuyerLimit), Remaining: 7, Bought: 1, Held: 2, PerBuyer: 3}}
	got, err := DecodeBatchReply(AppendBinaryReply(nil, results), nil)
	if want := (BatchResult{Error: ErrBuyerLimit, Code: 409, Remaining: 7}); err != nil || len(got) != 1 || got[0] != want {
		t.Fatalf("binary: %+v, %v; want %+v", got, err, want)
	}
}

func TestBuyerEncoders(t *testing.T) {
	if got, want := string(AppendBuyer(nil, "sku1", "u-1", 2, 1, 1, 41)), `{"sku":"sku1","buyer":"u-1","per_buyer":2,"held":1,"bought":1,"remaining":41}`; got != want {
		t.Errorf("AppendBuyer = %s, want %s", got, want)
	}
	if got, want := string(AppendBuyerLimit(nil, "sku1", 41, 1, 1, 2, "m", false)),
		`{"sku":"sku1","granted":0,"remaining":41,"error":"buyer_limit","message":"m","bought":1,"held":1,"per_buyer":2}`; got != want {
		t.Errorf("AppendBuyerLimit = %s, want %s", got, want)
	}
	if got, want := string(AppendBuyerLimit(nil, "sku1", 41, 1, 1, 2, "m", true)),
		`{"sku":"sku1","granted":0,"remaining":41,"error":"buyer_limit","code":409,"message":"m","bought":1,"held":1,"per_buyer":2}`; got != want {
		t.Errorf("AppendBuyerLimit with code = %s, want %s", got, want)
	}
	// An uncapped SKU's query reply is as it was before per-buyer caps.
	if got, want := string(AppendQuery(nil, "sku1", 100, 57, 2, 0, []byte(`"node-a"`))),
		`{"sku":"sku1","limit":100,"sold":57,"held":2,"remaining":43,"leader":"node-a"}`; got != want {
		t.Errorf("AppendQuery = %s, want %s", got, want)
	}
	if got, want := string(AppendQuery(nil, "sku1", 100, 57, 2, 3, []byte(`"node-a"`))),
		`{"sku":"sku1","limit":100,"sold":57,"held":2,"per_buyer":3,"remaining":43,"leader":"node-a"}`; got != want {
		t.Errorf("AppendQuery capped = %s, want %s", got, want)
	}
	buf := make([]byte, 0, 256)
	if a := testing.AllocsPerRun(100, func() { _ = AppendBuyer(buf[:0], "sku1", "u-1", 2, 1, 1, 41) }); a != 0 {
		t.Errorf("AppendBuyer allocates %v times", a)
	}
	if a := testing.AllocsPerRun(100, func() { _ = AppendQuery(buf[:0], "sku1", 100, 57, 2, 3, []byte(`"n"`)) }); a != 0 {
		t.Errorf("AppendQuery allocates %v times", a)
	}
}

// FuzzAppendBuyerLimit: whatever SKU and message, the buyer_limit error is
// one JSON object that decodes to them and the buyer's figures exactly.
func FuzzAppendBuyerLimit(f *testing.F) {
	f.Add("sku1", "2 requested, 1 left for u-1", int64(3), int64(1), int64(1), int64(2), false)
	f.Add("s\x00\"\\", "\u2028 <\xff>", int64(0), int64(5), int64(0), int64(5), true)
	f.Fuzz(func(t *testing.T, sku, message string, remaining, bought, held, perBuyer int64, withCode bool) {
		if !utf8.ValidString(sku) || !utf8.ValidString(message) {
			return // encoding/json replaces invalid UTF-8; the reply then differs by design
		}
		body := AppendBuyerLimit(nil, sku, remaining, bought, held, perBuyer, message, withCode)
		var got HoldResult
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		want := HoldResult{Reply: Reply{SKU: sku, Remaining: remaining, Error: ErrBuyerLimit, Message: message, Bought: bought, Held: held, PerBuyer: perBuyer}}
		if withCode {
			want.Code = 409
		}
		if got != want || dec.More() {
			t.Fatalf("%q decodes to %+v, want %+v", body, got, want)
		}
	})
}
