package stock_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stockstate/stock/stock"
)

func TestPlanLimitApply(t *testing.T) {
	for _, tc := range []struct {
		name      string
		item      stock.Item
		limit     int64
		want      stock.Record // the record to persist
		wantApply lsc          // the item after Apply
	}{
		{name: "raise keeps cap", item: stock.Item{Limit: 100, Sold: 10, Cap: 20}, limit: 200,
			want: stock.Record{Limit: 200, Cap: 20}, wantApply: lsc{200, 10, 20}},
		{name: "raise from zero", item: stock.Item{}, limit: 50,
			want: stock.Record{Limit: 50}, wantApply: lsc{50, 0, 0}},
		{name: "raise to max", item: stock.Item{Limit: 100, Sold: 10, Cap: 20}, limit: stock.MaxLimit,
			want: stock.Record{Limit: stock.MaxLimit, Cap: 20}, wantApply: lsc{stock.MaxLimit, 10, 20}},
		{name: "same limit", item: stock.Item{Limit: 100, Sold: 10, Cap: 20}, limit: 100,
			want: stock.Record{Limit: 100, Cap: 20}, wantApply: lsc{100, 10, 20}},
		{name: "lower above cap", item: stock.Item{Limit: 100, Sold: 10, Cap: 20}, limit: 50,
			want: stock.Record{Limit: 50, Cap: 20}, wantApply: lsc{50, 10, 20}},
		{name: "lower to cap", item: stock.Item{Limit: 100, Sold: 10, Cap: 20}, limit: 20,
			want: stock.Record{Limit: 20, Cap: 20}, wantApply: lsc{20, 10, 20}},
		{name: "lower into window", item: stock.Item{Limit: 100, Sold: 10, Cap: 20}, limit: 15,
			want: stock.Record{Limit: 15, Cap: 15}, wantApply: lsc{15, 10, 15}},
		{name: "lower to sold", item: stock.Item{Limit: 100, Sold: 10, Cap: 20}, limit: 10,
			want: stock.Record{Limit: 10, Cap: 10}, wantApply: lsc{10, 10, 10}},
		{name: "below sold becomes sold", item: stock.Item{Limit: 100, Sold: 10, Cap: 20}, limit: 5,
			want: stock.Record{Limit: 10, Cap: 10}, wantApply: lsc{10, 10, 10}},
		{name: "zero with nothing sold", item: stock.Item{Limit: 100, Cap: 20}, limit: 0,
			want: stock.Record{}, wantApply: lsc{0, 0, 0}},
		{name: "zero after resume", item: stock.Resume(stock.Record{Limit: 100, Cap: 30}), limit: 0,
			want: stock.Record{Limit: 30, Cap: 30}, wantApply: lsc{30, 30, 30}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := tc.item
			rec := it.PlanLimit(tc.limit)
			if rec != tc.want {
				t.Fatalf("PlanLimit(%d) on %+v = %+v, want %+v", tc.limit, stateOf(&tc.item), rec, tc.want)
			}
			if !rec.Valid() {
				t.Fatalf("PlanLimit returned an invalid record %+v", rec)
			}
			// Until Apply the limit is the old one, but a falling limit
			// lowers the cap in memory at once.
			if want := (lsc{tc.item.Limit, tc.item.Sold, rec.Cap}); stateOf(&it) != want {
				t.Fatalf("after PlanLimit: %+v, want %+v", stateOf(&it), want)
			}
			checkItem(t, &it)
			it.Apply(rec)
			checkItem(t, &it)
			if stateOf(&it) != tc.wantApply {
				t.Fatalf("after Apply: %+v, want %+v", stateOf(&it), tc.wantApply)
			}
			if it.Record() != rec {
				t.Fatalf("Record() after Apply = %+v, want the persisted %+v", it.Record(), rec)
			}
		})
	}
}

func TestPlanLimitGrantsDuringWrite(t *testing.T) {
	it := stock.Item{Limit: 100, Sold: 10, Cap: 20}
	rec := it.PlanLimit(15)
	// While the write is in flight, grants stay below the new limit.
	if _, o := it.Acquire(6); o != stock.Wait {
		t.Fatalf("Acquire(6) during the write = %v, want wait", o)
	}
	if rem, o := it.Acquire(5); o != stock.Granted || rem != 85 {
		t.Fatalf("Acquire(5) during the write = %d, %v; want 85, granted", rem, o)
	}
	if it.Sold > rec.Limit {
		t.Fatalf("sold %d past the new limit %d", it.Sold, rec.Limit)
	}
	it.Apply(rec)
	checkItem(t, &it)
	if rem, o := it.Acquire(1); o != stock.SoldOut || rem != 0 {
		t.Fatalf("Acquire(1) after Apply = %d, %v; want 0, sold_out", rem, o)
	}
}

func TestPlanLimitWriteFailed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int64
		want  lsc
	}{
		{name: "raise", limit: 200, want: lsc{100, 10, 20}},
		{name: "lower above cap", limit: 50, want: lsc{100, 10, 20}},
		{name: "lower into window", limit: 15, want: lsc{100, 10, 15}},
		{name: "lower below sold", limit: 5, want: lsc{100, 10, 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := stock.Item{Limit: 100, Sold: 10, Cap: 20}
			durable := it.Record()
			it.PlanLimit(tc.limit) // the write fails: no Apply
			checkItem(t, &it)
			if stateOf(&it) != tc.want {
				t.Fatalf("after a failed write: %+v, want %+v", stateOf(&it), tc.want)
			}
			// A smaller window in memory than in the store is always safe.
			if it.Cap > durable.Cap || it.Limit != durable.Limit {
				t.Fatalf("memory %+v is past the store %+v", stateOf(&it), durable)
			}
			// The old limit still serves once a refill raises the cap again.
			target, ok := plan(t, &it, t0, stock.DefaultPolicy(), 20)
			if !ok {
				t.Fatal("PlanRefill after a failed limit write = false")
			}
			it.Raise(target)
			if rem, o := it.Acquire(20); o != stock.Granted || rem != 70 {
				t.Fatalf("Acquire(20) = %d, %v; want 70, granted", rem, o)
			}
		})
	}
}

func TestPlanRelease(t *testing.T) {
	for _, tc := range []struct {
		name       string
		item       stock.Item
		n          int64
		want       stock.Record
		wantSold   bool // error wraps ErrReleaseExceedsSold
		wantErr    bool
		wantRemain int64 // Remaining after Apply
	}{
		{name: "some", item: stock.Item{Limit: 100, Sold: 10, Cap: 20}, n: 5,
			want: stock.Record{Limit: 105, Cap: 20}, wantRemain: 95},
		{name: "all sold", item: stock.Item{Limit: 100, Sold: 10, Cap: 20}, n: 10,
			want: stock.Record{Limit: 110, Cap: 20}, wantRemain: 100},
		{name: "after sold out", item: stock.Item{Limit: 100, Sold: 100, Cap: 100}, n: 3,
			want: stock.Record{Limit: 103, Cap: 100}, wantRemain: 3},
		{name: "max units", item: stock.Item{Limit: stock.MaxLimit - stock.MaxUnits, Sold: stock.MaxUnits, Cap: stock.MaxUnits}, n: stock.MaxUnits,
			want: stock.Record{Limit: stock.MaxLimit, Cap: stock.MaxUnits}, wantRemain: stock.MaxLimit - stock.MaxUnits},
		{name: "one more than sold", item: stock.Item{Limit: 100, Sold: 10, Cap: 20}, n: 11, wantErr: true, wantSold: true},
		{name: "nothing sold", item: stock.Item{Limit: 100, Cap: 20}, n: 1, wantErr: true, wantSold: true},
		{name: "zero value", item: stock.Item{}, n: 1, wantErr: true, wantSold: true},
		{name: "past max limit", item: stock.Item{Limit: stock.MaxLimit, Sold: stock.MaxLimit, Cap: stock.MaxLimit}, n: 1, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := tc.item
			rec, err := it.PlanRelease(tc.n)
			if it != tc.item {
				t.Fatalf("PlanRelease changed the item: %+v to %+v", tc.item, it)
			}
			if tc.wantErr {
				if err == nil {
					t.Fatalf("PlanRelease(%d) on %+v = %+v, want an error", tc.n, stateOf(&tc.item), rec)
				}
				if got := errors.Is(err, stock.ErrReleaseExceedsSold); got != tc.wantSold {
					t.Fatalf("errors.Is(%v, ErrReleaseExceedsSold) = %v, want %v", err, got, tc.wantSold)
				}
				if !strings.HasPrefix(err.Error(), "stock: ") {
					t.Fatalf("error %q lacks the package prefix", err)
				}
				return
			}
			if err != nil || rec != tc.want {
				t.Fatalf("PlanRelease(%d) = %+v, %v; want %+v", tc.n, rec, err, tc.want)
			}
			it.Apply(rec)
			checkItem(t, &it)
			if want := (lsc{tc.item.Limit + tc.n, tc.item.Sold, tc.item.Cap}); stateOf(&it) != want {
				t.Fatalf("after Apply: %+v, want %+v", stateOf(&it), want)
			}
			if it.Remaining() != tc.wantRemain {
				t.Fatalf("Remaining() = %d, want %d", it.Remaining(), tc.wantRemain)
			}
		})
	}
}

func TestPlanReleaseGrantsDuringWrite(t *testing.T) {
	it := stock.Item{Limit: 100, Sold: 95, Cap: 100}
	rec, err := it.PlanRelease(10)
	if err != nil {
		t.Fatal(err)
	}
	// Grants go on from the window while the write is in flight; the
	// released units are not in it yet.
	if rem, o := it.Acquire(5); o != stock.Granted || rem != 0 {
		t.Fatalf("Acquire(5) = %d, %v; want 0, granted", rem, o)
	}
	if _, o := it.Acquire(1); o != stock.SoldOut {
		t.Fatalf("Acquire(1) before Apply = %v, want sold_out", o)
	}
	it.Apply(rec)
	checkItem(t, &it)
	if want := (lsc{110, 100, 100}); stateOf(&it) != want {
		t.Fatalf("after Apply: %+v, want %+v", stateOf(&it), want)
	}
	// The released units come back through a raised cap.
	if rem, o := it.Acquire(10); o != stock.Wait || rem != 10 {
		t.Fatalf("Acquire(10) = %d, %v; want 10, wait", rem, o)
	}
	target, ok := plan(t, &it, t0, stock.DefaultPolicy(), 10)
	if !ok || target != 110 {
		t.Fatalf("PlanRefill = %d, %v; want 110, true", target, ok)
	}
	it.Raise(target)
	if rem, o := it.Acquire(10); o != stock.Granted || rem != 0 {
		t.Fatalf("Acquire(10) = %d, %v; want 0, granted", rem, o)
	}
}

func TestPlanReleaseWriteFailed(t *testing.T) {
	it := stock.Item{Limit: 100, Sold: 100, Cap: 100}
	if _, err := it.PlanRelease(3); err != nil {
		t.Fatal(err)
	}
	// No Apply: nothing came back.
	if rem, o := it.Acquire(1); o != stock.SoldOut || rem != 0 {
		t.Fatalf("Acquire(1) = %d, %v; want 0, sold_out", rem, o)
	}
}

func TestTrim(t *testing.T) {
	for _, tc := range []struct {
		name string
		item stock.Item
		want stock.Record
	}{
		{name: "window left", item: stock.Item{Limit: 100, Sold: 37, Cap: 60}, want: stock.Record{Limit: 100, Cap: 37}},
		{name: "window empty", item: stock.Item{Limit: 100, Sold: 60, Cap: 60}, want: stock.Record{Limit: 100, Cap: 60}},
		{name: "nothing sold", item: stock.Item{Limit: 100, Cap: 60}, want: stock.Record{Limit: 100}},
		{name: "sold out", item: stock.Item{Limit: 100, Sold: 100, Cap: 100}, want: stock.Record{Limit: 100, Cap: 100}},
		{name: "zero value", item: stock.Item{}, want: stock.Record{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := tc.item
			rec := it.Trim()
			if rec != tc.want || !rec.Valid() {
				t.Fatalf("Trim() on %+v = %+v, want %+v", stateOf(&tc.item), rec, tc.want)
			}
			if it != tc.item {
				t.Fatalf("Trim changed the item: %+v to %+v", tc.item, it)
			}
			// Written: the next leader loses nothing.
			next := stock.Resume(rec)
			if next.Sold != it.Sold || next.Remaining() != it.Remaining() {
				t.Fatalf("resumed from the trim: %+v, want sold %d", stateOf(&next), it.Sold)
			}
			// Not written: the next leader loses the unsold window, never
			// grants below the old cap.
			next = stock.Resume(it.Record())
			if next.Sold != it.Cap {
				t.Fatalf("resumed from the old cap: %+v, want sold %d", stateOf(&next), it.Cap)
			}
		})
	}
}

// TestApplyNeverRaisesCap: a record planned earlier carries the cap of its
// plan; applying it must not undo a lower cap planned since, as when two
// limit writes are in flight one after the other.
func TestApplyNeverRaisesCap(t *testing.T) {
	for _, tc := range []struct {
		name  string
		plans func(it *stock.Item) (first, second stock.Record)
		mid   lsc // after applying first
		end   lsc // after applying second
	}{
		{name: "two lowerings", plans: func(it *stock.Item) (stock.Record, stock.Record) {
			return it.PlanLimit(15), it.PlanLimit(12)
		}, mid: lsc{15, 10, 12}, end: lsc{12, 10, 12}},
		{name: "release then lowering", plans: func(it *stock.Item) (stock.Record, stock.Record) {
			r, err := it.PlanRelease(5)
			if err != nil {
				t.Fatal(err)
			}
			return r, it.PlanLimit(15)
		}, mid: lsc{105, 10, 15}, end: lsc{15, 10, 15}},
		{name: "lowering then raise", plans: func(it *stock.Item) (stock.Record, stock.Record) {
			return it.PlanLimit(12), it.PlanLimit(200)
		}, mid: lsc{12, 10, 12}, end: lsc{200, 10, 12}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := stock.Item{Limit: 100, Sold: 10, Cap: 20}
			first, second := tc.plans(&it)
			it.Apply(first)
			checkItem(t, &it)
			if stateOf(&it) != tc.mid {
				t.Fatalf("after Apply(%+v): %+v, want %+v", first, stateOf(&it), tc.mid)
			}
			it.Apply(second)
			checkItem(t, &it)
			if stateOf(&it) != tc.end {
				t.Fatalf("after Apply(%+v): %+v, want %+v", second, stateOf(&it), tc.end)
			}
		})
	}
}

// TestClose: a closed window grants nothing more; what was sold and the
// limit stay, and a trim taken before closing still matches the item.
func TestClose(t *testing.T) {
	it := stock.Item{Limit: 100, Sold: 37, Cap: 60}
	rec := it.Trim()
	it.Close()
	if it.Sold != 37 || it.Cap != 37 || it.Limit != 100 {
		t.Fatalf("closed item %+v, want sold 37, cap 37, limit 100", stateOf(&it))
	}
	if _, o := it.Acquire(1); o != stock.Wait {
		t.Fatalf("Acquire on a closed window: %v, want Wait", o)
	}
	if it.Record() != rec {
		t.Fatalf("closed item's record %+v, want the trim %+v", it.Record(), rec)
	}
}

// TestRecordsKeepThePerBuyerCap: every record an Item plans carries its
// per-buyer cap, so no write of a limit, release, return, trim or plain
// record drops it; only PlanSet changes it.
func TestRecordsKeepThePerBuyerCap(t *testing.T) {
	const per = 3
	it := stock.Resume(stock.Record{Limit: 100, Cap: 50, PerBuyer: per})
	if it.PerBuyer != per {
		t.Fatalf("Resume: PerBuyer %d, want %d", it.PerBuyer, per)
	}
	it.AddHeld(5)
	release, err := it.PlanRelease(1)
	if err != nil {
		t.Fatal(err)
	}
	back, err := it.PlanReturn(5, 0)
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]stock.Record{
		"record": it.Record(), "limit": it.PlanLimit(80), "release": release, "return": back, "trim": it.Trim(),
	} {
		if r.PerBuyer != per {
			t.Errorf("%s record %+v, want per-buyer cap %d", name, r, per)
		}
	}
}

func TestPlanSet(t *testing.T) {
	for _, tc := range []struct {
		name     string
		item     stock.Item
		limit    int64
		perBuyer int64
		want     stock.Record
	}{
		{name: "set a cap", item: stock.Item{Limit: 100, Sold: 10, Cap: 20}, limit: 200, perBuyer: 2,
			want: stock.Record{Limit: 200, Cap: 20, PerBuyer: 2}},
		{name: "change the cap", item: stock.Item{Limit: 100, Sold: 10, Cap: 20, PerBuyer: 5}, limit: 100, perBuyer: 1,
			want: stock.Record{Limit: 100, Cap: 20, PerBuyer: 1}},
		{name: "drop the cap", item: stock.Item{Limit: 100, Sold: 10, Cap: 20, PerBuyer: 5}, limit: 100, perBuyer: 0,
			want: stock.Record{Limit: 100, Cap: 20}},
		{name: "lower into window", item: stock.Item{Limit: 100, Sold: 10, Cap: 20, ExpiredMS: 7}, limit: 15, perBuyer: 4,
			want: stock.Record{Limit: 15, Cap: 15, ExpiredMS: 7, PerBuyer: 4}},
		{name: "below sold becomes sold", item: stock.Item{Limit: 100, Sold: 10, Cap: 20}, limit: 5, perBuyer: stock.MaxLimit,
			want: stock.Record{Limit: 10, Cap: 10, PerBuyer: stock.MaxLimit}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it, viaLimit := tc.item, tc.item
			rec := it.PlanSet(tc.limit, tc.perBuyer)
			if rec != tc.want || !rec.Valid() {
				t.Fatalf("PlanSet(%d, %d) on %+v = %+v, want %+v", tc.limit, tc.perBuyer, tc.item, rec, tc.want)
			}
			// What PlanLimit plans, and does in memory, but the per-buyer cap.
			lim := viaLimit.PlanLimit(tc.limit)
			if lim.PerBuyer != tc.item.PerBuyer {
				t.Fatalf("PlanLimit(%d) on %+v = %+v: per-buyer cap changed", tc.limit, tc.item, lim)
			}
			if lim.PerBuyer = tc.perBuyer; lim != rec || it != viaLimit {
				t.Fatalf("PlanSet planned %+v leaving %+v; PlanLimit %+v leaving %+v", rec, it, lim, viaLimit)
			}
			if it.PerBuyer != tc.item.PerBuyer {
				t.Fatalf("PlanSet changed the per-buyer cap in memory to %d before Apply", it.PerBuyer)
			}
			it.Apply(rec)
			checkItem(t, &it)
			if it.PerBuyer != tc.perBuyer || it.Limit != rec.Limit {
				t.Fatalf("after Apply(%+v): %+v", rec, it)
			}
			if got := it.Record(); got.PerBuyer != tc.perBuyer {
				t.Fatalf("Record() after Apply = %+v, want per-buyer cap %d", got, tc.perBuyer)
			}
		})
	}
}

// TestApplyTakesThePerBuyerCap: Apply and ApplyReturn take the per-buyer
// cap from the record they apply.
func TestApplyTakesThePerBuyerCap(t *testing.T) {
	it := stock.Resume(stock.Record{Limit: 100, Cap: 50, PerBuyer: 3})
	it.Apply(stock.Record{Limit: 100, Cap: 50, PerBuyer: 9})
	if it.PerBuyer != 9 {
		t.Fatalf("Apply: PerBuyer %d, want 9", it.PerBuyer)
	}
	it.Raise(60)
	it.Acquire(10)
	it.AddHeld(4)
	rec, err := it.PlanReturn(4, 0)
	if err != nil {
		t.Fatal(err)
	}
	rec.PerBuyer = 2 // as if another record were applied
	it.ApplyReturn(rec, 4)
	if it.PerBuyer != 2 || it.Held != 0 || it.Limit != 104 {
		t.Fatalf("ApplyReturn(%+v, 4): %+v", rec, it)
	}
}
