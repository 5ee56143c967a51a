package wire

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stockstate/stock/stock"
)

func TestDecodeHoldBatch(t *testing.T) {
	body := `[{"sku":"a","n":2,"id":"c-1","ttl_s":60},{"sku":"b","id":"c-2"},{"sku":"a*","id":"x"},{"sku":"a"},{"sku":"a","id":"y","ttl_s":0},{"sku":"a","id":"z","extra":1},3,` +
		`{"sku":"a","id":"w","buyer":""},{"sku":"a","id":"v","buyer":"u 1"},{"sku":"a","id":"v","buyer":"` + strings.Repeat("b", MaxBuyerLen+1) + `"},` +
		`{"sku":"c","id":"c-3","buyer":"u-1"}]`
	specs, msgs, err := DecodeHoldBatch([]byte(body))
	if err != nil || len(specs) != 11 || len(msgs) != 11 {
		t.Fatalf("%d specs, %d msgs, %v", len(specs), len(msgs), err)
	}
	if want := (HoldSpec{SKU: "a", N: 2, ID: "c-1", TTL: time.Minute}); specs[0] != want || msgs[0] != "" {
		t.Errorf("item 0: %+v %q, want %+v", specs[0], msgs[0], want)
	}
	if want := (HoldSpec{SKU: "b", N: 1, ID: "c-2", TTL: stock.DefaultHoldTTL}); specs[1] != want || msgs[1] != "" {
		t.Errorf("item 1 (defaults): %+v %q, want %+v", specs[1], msgs[1], want)
	}
	for i := 2; i < 10; i++ {
		if msgs[i] == "" {
			t.Errorf("item %d is bad but has no message: %+v", i, specs[i])
		}
	}
	for i := 7; i < 10; i++ {
		if msgs[i] != ErrBuyer.Error() {
			t.Errorf("item %d: %q, want %q", i, msgs[i], ErrBuyer)
		}
	}
	if want := (HoldSpec{SKU: "c", N: 1, ID: "c-3", TTL: stock.DefaultHoldTTL, Buyer: "u-1"}); specs[10] != want || msgs[10] != "" {
		t.Errorf("item 10 (buyer): %+v %q, want %+v", specs[10], msgs[10], want)
	}
	for _, bad := range []string{"", "{}", "[", `{"sku":"a","id":"x"}`, "[" + strings.Repeat(`{},`, MaxBatchItems) + "{}]"} {
		if _, _, err := DecodeHoldBatch([]byte(bad)); err == nil {
			t.Errorf("%.40q decoded as a batch", bad)
		}
	}
}

func FuzzDecodeHoldBatch(f *testing.F) {
	f.Add([]byte(`[{"sku":"a","n":2,"id":"c-1","ttl_s":60},{"sku":"b","id":"c-2"}]`))
	f.Add([]byte(`[{"sku":"a","n":-1,"id":""},{"id":"x"},1,null]`))
	f.Add([]byte(`[{"sku":"a","id":"c","buyer":"u","BUYER":null}]`))
	f.Add([]byte(`[{"sku":"a","id":"c-1","buyer":"u-1"},{"sku":"a","id":"c-2","buyer":""},{"sku":"a","id":"c-3","buyer":"u\u0041"}]`))
	for _, tc := range holdCases {
		f.Add([]byte("[" + tc.body + "]"))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		specs, msgs, err := DecodeHoldBatch(body)
		if err != nil {
			return
		}
		var raw []json.RawMessage
		if json.Unmarshal(body, &raw) != nil || len(raw) != len(specs) || len(msgs) != len(specs) {
			t.Fatalf("%q: %d specs and %d msgs for %d items", body, len(specs), len(msgs), len(raw))
		}
		for i, s := range specs {
			if msgs[i] != "" {
				continue
			}
			if !ValidSKU(s.SKU) || s.N < 1 || s.N > stock.MaxUnits || s.ID == "" || len(s.ID) > MaxIDLen ||
				s.TTL < time.Second || s.TTL > stock.MaxHoldTTL || s.TTL%time.Second != 0 || s.Buyer != "" && !ValidBuyer(s.Buyer) {
				t.Fatalf("%q: item %d accepted as %+v", body, i, s)
			}
			var ref struct{ Buyer *string } // a pointer, as a later null unsets an earlier value
			if err := json.Unmarshal(raw[i], &ref); err != nil || ref.Buyer != nil && *ref.Buyer != s.Buyer || ref.Buyer == nil && s.Buyer != "" {
				t.Fatalf("%q: item %d has buyer %q, encoding/json reads %v (%v)", body, i, s.Buyer, ref.Buyer, err)
			}
		}
	})
}
