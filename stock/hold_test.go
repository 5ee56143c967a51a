package stock_test

import (
	"testing"

	"github.com/stockstate/stock/stock"
)

// TestRecordsKeepTheExpiryMark: every record an Item plans carries its
// expiry mark, so no write of a limit, release, trim or refill lowers it.
func TestRecordsKeepTheExpiryMark(t *testing.T) {
	const mark = 1_800_000_000_000
	it := stock.Resume(stock.Record{Limit: 100, Cap: 50, ExpiredMS: mark})
	it.AddHeld(5)
	release, _ := it.PlanRelease(1)
	back, _ := it.PlanReturn(5, mark-1) // an earlier due time does not lower it
	for name, r := range map[string]stock.Record{
		"record": it.Record(), "limit": it.PlanLimit(80), "release": release, "return": back, "trim": it.Trim(),
	} {
		if r.ExpiredMS != mark {
			t.Errorf("%s record %+v, want expiry mark %d", name, r, int64(mark))
		}
	}
}
