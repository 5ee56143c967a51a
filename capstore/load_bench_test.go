package capstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/stock"
)

// BenchmarkLoadHolds reads 100,000 live holds of one SKU, as a new leader
// does before it serves.
func BenchmarkLoadHolds(b *testing.B) {
	const holds = 100_000
	cli, s := setup(b, "")
	rev, _ := lead(b, cli, "/stock/leader/n1")
	w := capstore.Writes{Puts: map[string]stock.Record{"a": {Limit: 10 * holds, Cap: holds}}}
	for i := range holds {
		w.Holds = append(w.Holds, capstore.HoldWrite{SKU: "a", ID: fmt.Sprint("cart-", i), Rec: capstore.HoldRecord{
			Hold:  stock.Hold{N: 1, Expires: time.Now().Add(time.Hour), State: stock.HoldLive},
			Reply: fmt.Appendf(nil, `{"sku":"a","held":1,"remaining":%d,"id":"cart-%d","expires_at":"2026-12-06T14:00:00Z"}`, holds-i, i),
		}})
	}
	if ok, err := s.CommitWrites(ctx(b), "/stock/leader/n1", rev, w); err != nil || !ok {
		b.Fatal(ok, err)
	}
	for _, page := range []int64{1000, 10_000, 100_000} {
		b.Run(fmt.Sprint("page=", page), func(b *testing.B) {
			s.PageSize = page
			for b.Loop() {
				got, bad, err := s.LoadHolds(ctx(b))
				if err != nil || len(bad) != 0 || len(got["a"]) != holds {
					b.Fatal(len(got["a"]), bad, err)
				}
			}
		})
	}
}
