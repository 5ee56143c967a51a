package wire

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stockstate/stock/stock"
)

var holdCases = []struct {
	name   string
	body   string
	n      int64
	id     string
	buyer  string
	ttl    time.Duration
	reject bool
}{
	{name: "full", body: `{"n":2,"id":"cart-42","ttl_s":900}`, n: 2, id: "cart-42", ttl: 900 * time.Second},
	{name: "defaults", body: `{"id":"c"}`, n: 1, id: "c", ttl: stock.DefaultHoldTTL},
	{name: "one second", body: `{"id":"c","ttl_s":1}`, n: 1, id: "c", ttl: time.Second},
	{name: "a day", body: `{"id":"c","ttl_s":86400}`, n: 1, id: "c", ttl: 24 * time.Hour},
	{name: "no id", body: `{"n":1}`, reject: true},
	{name: "empty body", body: ``, reject: true},
	{name: "empty id", body: `{"id":""}`, reject: true},
	{name: "long id", body: `{"id":"` + strings.Repeat("a", MaxIDLen+1) + `"}`, reject: true},
	{name: "id not a string", body: `{"id":42}`, reject: true},
	{name: "ttl zero", body: `{"id":"c","ttl_s":0}`, reject: true},
	{name: "ttl over a day", body: `{"id":"c","ttl_s":86401}`, reject: true},
	{name: "ttl negative", body: `{"id":"c","ttl_s":-5}`, reject: true},
	{name: "ttl fraction", body: `{"id":"c","ttl_s":1.5}`, reject: true},
	{name: "ttl string", body: `{"id":"c","ttl_s":"900"}`, reject: true},
	{name: "n zero", body: `{"n":0,"id":"c"}`, reject: true},
	{name: "n over max", body: `{"n":1000001,"id":"c"}`, reject: true},
	{name: "unknown field", body: `{"id":"c","ttl":900}`, reject: true},
	{name: "trailing", body: `{"id":"c"} x`, reject: true},
	{name: "oversized", body: `{"id":"` + strings.Repeat("a", 2000) + `"}`, reject: true},
	{name: "buyer", body: `{"n":2,"id":"c","buyer":"u-1@shop.example"}`, n: 2, id: "c", buyer: "u-1@shop.example", ttl: stock.DefaultHoldTTL},
	{name: "longest buyer", body: `{"id":"c","buyer":"` + strings.Repeat("b", MaxBuyerLen) + `"}`, n: 1, id: "c", buyer: strings.Repeat("b", MaxBuyerLen), ttl: stock.DefaultHoldTTL},
	{name: "empty buyer", body: `{"id":"c","buyer":""}`, reject: true},
	{name: "long buyer", body: `{"id":"c","buyer":"` + strings.Repeat("b", MaxBuyerLen+1) + `"}`, reject: true},
	{name: "buyer bad char", body: `{"id":"c","buyer":"u#1"}`, reject: true},
	{name: "buyer not a string", body: `{"id":"c","buyer":7}`, reject: true},
}

func TestDecodeHold(t *testing.T) {
	for _, tc := range holdCases {
		t.Run(tc.name, func(t *testing.T) {
			n, id, buyer, ttl, err := DecodeHold([]byte(tc.body), 1024)
			switch {
			case tc.reject && err == nil:
				t.Fatalf("accepted n=%d id=%q buyer=%q ttl=%v", n, id, buyer, ttl)
			case !tc.reject && err != nil:
				t.Fatal(err)
			case !tc.reject && (n != tc.n || id != tc.id || buyer != tc.buyer || ttl != tc.ttl):
				t.Fatalf("got n=%d id=%q buyer=%q ttl=%v, want %d %q %q %v", n, id, buyer, ttl, tc.n, tc.id, tc.buyer, tc.ttl)
			}
		})
	}
}

func TestDecodeHoldIDAndExtend(t *testing.T) {
	cases := []struct {
		name      string
		body      string
		id        string
		ttl       time.Duration
		rejectID  bool // by confirm and cancel
		rejectExt bool // by extend
	}{
		{name: "id", body: `{"id":"cart-42"}`, id: "cart-42", ttl: stock.DefaultHoldTTL},
		{name: "id and ttl", body: `{"id":"cart-42","ttl_s":300}`, id: "cart-42", ttl: 300 * time.Second, rejectID: true},
		{name: "no id", body: `{}`, rejectID: true, rejectExt: true},
		{name: "n", body: `{"id":"c","n":1}`, rejectID: true, rejectExt: true},
		{name: "ttl zero", body: `{"id":"c","ttl_s":0}`, rejectID: true, rejectExt: true},
		{name: "not json", body: `cart-42`, rejectID: true, rejectExt: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := DecodeHoldID([]byte(tc.body), 1024)
			if (err != nil) != tc.rejectID || err == nil && id != tc.id {
				t.Fatalf("DecodeHoldID = %q, %v; want %q, reject %v", id, err, tc.id, tc.rejectID)
			}
			id, ttl, err := DecodeExtend([]byte(tc.body), 1024)
			if (err != nil) != tc.rejectExt || err == nil && (id != tc.id || ttl != tc.ttl) {
				t.Fatalf("DecodeExtend = %q, %v, %v; want %q, %v, reject %v", id, ttl, err, tc.id, tc.ttl, tc.rejectExt)
			}
		})
	}
}

// FuzzDecodeHold: whatever the body, an accepted hold has an id of 1..128
// bytes, n in 1..MaxUnits, a TTL of whole seconds in 1 s..24 h and a valid
// buyer or none.
func FuzzDecodeHold(f *testing.F) {
	for _, tc := range holdCases {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		n, id, buyer, ttl, err := DecodeHold(body, 1024)
		if err != nil {
			return
		}
		if n < 1 || n > stock.MaxUnits || id == "" || len(id) > MaxIDLen ||
			ttl < time.Second || ttl > stock.MaxHoldTTL || ttl%time.Second != 0 || buyer != "" && !ValidBuyer(buyer) {
			t.Fatalf("%q accepted as n=%d id=%q buyer=%q ttl=%v", body, n, id, buyer, ttl)
		}
		var ref struct {
			Buyer *string `json:"buyer"`
		}
		if json.Unmarshal(body, &ref) != nil || ref.Buyer != nil && *ref.Buyer != buyer || ref.Buyer == nil && buyer != "" {
			t.Fatalf("%q: buyer=%q, encoding/json reads %v", body, buyer, ref.Buyer)
		}
	})
}
