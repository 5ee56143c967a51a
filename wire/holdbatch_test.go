package wire

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stockstate/stock/stock"
)

func TestDecodeHoldBatch(t *testing.T) {
	body := `[{"sku":"a","n":2,"id":"c-1","ttl_s":60},{"sku":"b","id":"c-2"},{"sku":"a*","id":"x"},{"sku":"a"},{"sku":"a","id":"y","ttl_s":0},{"sku":"a","id":"z","extra":1},3]`
	specs, msgs, err := DecodeHoldBatch([]byte(body))
	if err != nil || len(specs) != 7 || len(msgs) != 7 {
		t.Fatalf("%d specs, %d msgs, %v", len(specs), len(msgs), err)
	}
	if want := (HoldSpec{SKU: "a", N: 2, ID: "c-1", TTL: time.Minute}); specs[0] != want || msgs[0] != "" {
		t.Errorf("item 0: %+v %q, want %+v", specs[0], msgs[0], want)
	}
	if want := (HoldSpec{SKU: "b", N: 1, ID: "c-2", TTL: stock.DefaultHoldTTL}); specs[1] != want || msgs[1] != "" {
		t.Errorf("item 1 (defaults): %+v %q, want %+v", specs[1], msgs[1], want)
	}
	for i := 2; i < 7; i++ {
		if msgs[i] == "" {
			t.Errorf("item %d is bad but has no message: %+v", i, specs[i])
		}
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
				s.TTL < time.Second || s.TTL > stock.MaxHoldTTL || s.TTL%time.Second != 0 {
				t.Fatalf("%q: item %d accepted as %+v", body, i, s)
			}
		}
	})
}
