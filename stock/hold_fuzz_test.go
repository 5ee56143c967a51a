package stock_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stockstate/stock/stock"
)

// FuzzHolds drives one SKU's holds through holds, confirms, cancels,
// extensions, expiries and refills decoded from the input, and checks after
// every step that
//
//   - 0 <= Held <= Sold <= Cap <= Limit, and Held is the sum of live holds;
//   - the limit rose by exactly the units of the holds that came back, so no
//     unit came back twice;
//   - a hold ends once: an ended hold never changes again, and nothing but
//     expiry ends a hold past its expiry;
//   - the expiry mark only rises, and every hold due by it has ended;
//   - no return drops the per-buyer cap.
func FuzzHolds(f *testing.F) {
	f.Add([]byte{0, 3, 0, 5, 1, 0, 2, 1, 4, 9, 3, 0})
	f.Add([]byte{5, 200, 0, 10, 0, 20, 4, 255, 1, 0, 2, 1, 3, 1})
	f.Add([]byte{0, 1, 0, 1, 0, 1, 4, 2, 1, 0, 1, 0, 2, 2, 3, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit0 = 1000
		const perBuyer = 7
		it := stock.Item{Limit: limit0, Sold: 0, Cap: 100, PerBuyer: perBuyer}
		now := time.Unix(1_000_000, 0)
		var holds []*stock.Hold
		var returned int64
		byte_ := func(i *int) int64 {
			if *i >= len(data) {
				return 0
			}
			b := data[*i]
			*i++
			return int64(b)
		}
		for i := 0; i < len(data); {
			op, arg := byte_(&i)%6, byte_(&i)
			pick := func() *stock.Hold {
				if len(holds) == 0 {
					return nil
				}
				return holds[int(arg)%len(holds)]
			}
			switch op {
			case 0: // hold
				n := arg%20 + 1
				if _, o := it.Acquire(n); o == stock.Granted {
					it.AddHeld(n)
					holds = append(holds, &stock.Hold{N: n, Expires: now.Add(time.Duration(arg%7+1) * time.Second)})
				}
			case 1: // confirm
				if h := pick(); h != nil {
					before, wasLive := *h, h.State == stock.HoldLive && now.Before(h.Expires)
					expired := before.State == stock.HoldExpired || before.State == stock.HoldLive && !wasLive
					err := h.Confirm(now)
					switch {
					case wasLive && err != nil:
						t.Fatalf("confirm of a live hold %+v at %v: %v", before, now, err)
					case !wasLive && err == nil:
						t.Fatalf("confirm of hold %+v at %v succeeded", before, now)
					case expired && !errors.Is(err, stock.ErrHoldExpired):
						t.Fatalf("confirm of expired hold %+v: %v, want ErrHoldExpired", before, err)
					case err == nil:
						it.ConfirmHeld(h.N)
					}
				}
			case 2: // cancel
				if h := pick(); h != nil && h.Cancel(now) == nil {
					returnUnits(t, &it, h.N, 0)
					returned += h.N
				}
			case 3: // extend
				if h := pick(); h != nil {
					before := *h
					if err := h.Extend(now, time.Duration(arg%5+1)*time.Second); err == nil && (before.State != stock.HoldLive || !now.Before(before.Expires)) {
						t.Fatalf("extended hold %+v at %v", before, now)
					}
				}
			case 4: // time passes; the leader expires what is due, in one round
				now = now.Add(time.Duration(arg%4) * time.Second)
				var n, through int64
				for _, h := range holds {
					if h.Expire(now) {
						n += h.N
						through = max(through, h.Expires.UnixMilli())
					}
				}
				if n > 0 {
					mark := it.ExpiredMS
					returnUnits(t, &it, n, through)
					returned += n
					if it.ExpiredMS < mark || it.ExpiredMS != max(mark, through) {
						t.Fatalf("expiry mark %d after %d, through %d", it.ExpiredMS, mark, through)
					}
				}
			case 5: // refill
				target := min(it.Limit, it.Cap+arg)
				it.Raise(target)
			}
			var live int64
			for _, h := range holds {
				if h.State == stock.HoldLive {
					live += h.N
				}
			}
			switch {
			case !(0 <= it.Held && it.Held <= it.Sold && it.Sold <= it.Cap && it.Cap <= it.Limit):
				t.Fatalf("invariant broken: %+v", it)
			case it.Held != live:
				t.Fatalf("held %d, live holds %d", it.Held, live)
			case it.Limit != limit0+returned:
				t.Fatalf("limit %d, want %d + %d returned", it.Limit, limit0, returned)
			case it.Record().ExpiredMS != it.ExpiredMS:
				t.Fatalf("record %+v loses the expiry mark %d", it.Record(), it.ExpiredMS)
			case it.PerBuyer != perBuyer || it.Record().PerBuyer != perBuyer:
				t.Fatalf("item %+v, record %+v: per-buyer cap %d lost", it, it.Record(), perBuyer)
			}
			for _, h := range holds {
				if h.State == stock.HoldLive && h.Expires.UnixMilli() <= it.ExpiredMS {
					t.Fatalf("hold %+v is live but due by the expiry mark %d", h, it.ExpiredMS)
				}
			}
		}
	})
}

func returnUnits(t *testing.T, it *stock.Item, n, expiredMS int64) {
	t.Helper()
	r, err := it.PlanReturn(n, expiredMS)
	if err != nil {
		t.Fatalf("return of %d held units: %v (%+v)", n, err, it)
	}
	if r.PerBuyer != it.PerBuyer {
		t.Fatalf("PlanReturn(%d, %d) = %+v drops the per-buyer cap %d", n, expiredMS, r, it.PerBuyer)
	}
	it.ApplyReturn(r, n)
}
