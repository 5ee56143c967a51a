package stock_test

import (
	"testing"

	"github.com/stockstate/stock/stock"
)

var acquireCases = []struct {
	name    string
	item    stock.Item
	n       int64
	wantRem int64
	want    stock.Outcome
}{
	{name: "granted inside window", item: stock.Item{Limit: 100, Sold: 10, Cap: 20}, n: 5, wantRem: 85, want: stock.Granted},
	{name: "granted whole window", item: stock.Item{Limit: 100, Sold: 10, Cap: 20}, n: 10, wantRem: 80, want: stock.Granted},
	{name: "granted last units", item: stock.Item{Limit: 100, Sold: 97, Cap: 100}, n: 3, wantRem: 0, want: stock.Granted},
	{name: "granted max units", item: stock.Item{Limit: stock.MaxLimit, Cap: stock.MaxLimit}, n: stock.MaxUnits, wantRem: stock.MaxLimit - stock.MaxUnits, want: stock.Granted},
	{name: "wait one past window", item: stock.Item{Limit: 100, Sold: 10, Cap: 20}, n: 11, wantRem: 90, want: stock.Wait},
	{name: "wait empty window", item: stock.Item{Limit: 100, Sold: 20, Cap: 20}, n: 1, wantRem: 80, want: stock.Wait},
	{name: "wait for last units", item: stock.Item{Limit: 100, Sold: 97, Cap: 98}, n: 3, wantRem: 3, want: stock.Wait},
	{name: "wait after resume", item: stock.Resume(stock.Record{Limit: 100, Cap: 40}), n: 1, wantRem: 60, want: stock.Wait},
	{name: "insufficient", item: stock.Item{Limit: 100, Sold: 97, Cap: 100}, n: 4, wantRem: 3, want: stock.Insufficient},
	{name: "insufficient never waits", item: stock.Item{Limit: 100, Sold: 97, Cap: 97}, n: 4, wantRem: 3, want: stock.Insufficient},
	{name: "insufficient max units", item: stock.Item{Limit: stock.MaxUnits, Cap: 1}, n: stock.MaxUnits + 1, wantRem: stock.MaxUnits, want: stock.Insufficient},
	{name: "sold out", item: stock.Item{Limit: 100, Sold: 100, Cap: 100}, n: 1, wantRem: 0, want: stock.SoldOut},
	{name: "sold out beats insufficient", item: stock.Item{Limit: 5, Sold: 5, Cap: 5}, n: stock.MaxUnits, wantRem: 0, want: stock.SoldOut},
	{name: "zero value is sold out", item: stock.Item{}, n: 1, wantRem: 0, want: stock.SoldOut},
	{name: "limit lowered to sold", item: stock.Item{Limit: 50, Sold: 50, Cap: 50}, n: 1, wantRem: 0, want: stock.SoldOut},
}

func TestAcquire(t *testing.T) {
	for _, tc := range acquireCases {
		t.Run(tc.name, func(t *testing.T) {
			it := tc.item
			before := it
			rem, o := it.Acquire(tc.n)
			if rem != tc.wantRem || o != tc.want {
				t.Fatalf("Acquire(%d) = %d, %v; want %d, %v", tc.n, rem, o, tc.wantRem, tc.want)
			}
			checkItem(t, &it)
			switch o {
			case stock.Granted:
				want := lsc{before.Limit, before.Sold + tc.n, before.Cap}
				if got := stateOf(&it); got != want {
					t.Fatalf("after grant: %+v, want %+v", got, want)
				}
				if rem != it.Remaining() {
					t.Fatalf("returned remaining %d, Remaining() %d", rem, it.Remaining())
				}
				// The grant names the units [L-rem-n, L-rem): exactly the ones sold.
				if lo, hi := it.Limit-rem-tc.n, it.Limit-rem; lo != before.Sold || hi != it.Sold {
					t.Fatalf("grant names [%d, %d), sold moved [%d, %d)", lo, hi, before.Sold, it.Sold)
				}
			case stock.Wait:
				// All or nothing: no unit moves; the stall asks for a refill.
				if got := stateOf(&it); got != stateOf(&before) {
					t.Fatalf("Wait changed %+v to %+v", stateOf(&before), got)
				}
				if !it.NeedsRefill() {
					t.Fatal("NeedsRefill() = false after a Wait")
				}
			default:
				if it != before {
					t.Fatalf("%v changed the item: %+v to %+v", o, before, it)
				}
			}
		})
	}
}

func TestAcquireWaitThenGranted(t *testing.T) {
	it := stock.Item{Limit: 100, Sold: 10, Cap: 12}
	if _, o := it.Acquire(5); o != stock.Wait {
		t.Fatalf("Acquire(5) = %v, want wait", o)
	}
	it.Raise(15)
	if rem, o := it.Acquire(5); o != stock.Granted || rem != 85 {
		t.Fatalf("Acquire(5) after Raise = %d, %v; want 85, granted", rem, o)
	}
	if _, o := it.Acquire(1); o != stock.Wait {
		t.Fatalf("Acquire(1) on an empty window = %v, want wait", o)
	}
}

func TestAcquireAllocatesNothing(t *testing.T) {
	it := stock.Item{Limit: stock.MaxLimit, Cap: stock.MaxLimit}
	if a := testing.AllocsPerRun(1000, func() { it.Acquire(1) }); a != 0 {
		t.Fatalf("Acquire allocates %v times per call, want 0", a)
	}
	empty := stock.Item{Limit: 10}
	if a := testing.AllocsPerRun(1000, func() { empty.Acquire(1) }); a != 0 {
		t.Fatalf("Acquire (wait) allocates %v times per call, want 0", a)
	}
}

func TestOutcomeString(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    stock.Outcome
		want string
	}{
		{name: "granted", o: stock.Granted, want: "granted"},
		{name: "wait", o: stock.Wait, want: "wait"},
		{name: "insufficient", o: stock.Insufficient, want: "insufficient"},
		{name: "sold out", o: stock.SoldOut, want: "sold_out"},
		{name: "unknown", o: stock.Outcome(200), want: "unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.o.String(); got != tc.want {
				t.Fatalf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestResume(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rec     stock.Record
		wantRem int64
	}{
		{name: "empty sku", rec: stock.Record{}, wantRem: 0},
		{name: "nothing sold", rec: stock.Record{Limit: 100}, wantRem: 100},
		{name: "part sold", rec: stock.Record{Limit: 100, Cap: 40}, wantRem: 60},
		{name: "cap at limit", rec: stock.Record{Limit: 100, Cap: 100}, wantRem: 0},
		{name: "max limit", rec: stock.Record{Limit: stock.MaxLimit, Cap: stock.MaxLimit - 1}, wantRem: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := stock.Resume(tc.rec)
			checkItem(t, &it)
			// Conservative: everything below the old cap counts as sold.
			if got, want := stateOf(&it), (lsc{tc.rec.Limit, tc.rec.Cap, tc.rec.Cap}); got != want {
				t.Fatalf("Resume(%+v) = %+v, want %+v", tc.rec, got, want)
			}
			if it.Window() != 0 || it.Remaining() != tc.wantRem {
				t.Fatalf("Window() = %d, Remaining() = %d; want 0, %d", it.Window(), it.Remaining(), tc.wantRem)
			}
			if got := it.Record(); got != tc.rec {
				t.Fatalf("Record() = %+v, want %+v", got, tc.rec)
			}
			// A new leader raises the cap before serving.
			if got, want := it.NeedsRefill(), tc.wantRem > 0; got != want {
				t.Fatalf("NeedsRefill() = %v, want %v", got, want)
			}
			if tc.wantRem > 0 {
				if _, o := it.Acquire(1); o != stock.Wait {
					t.Fatalf("Acquire(1) = %v before any raise, want wait", o)
				}
			}
		})
	}
}

func TestRecordValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		rec  stock.Record
		want bool
	}{
		{name: "zero", rec: stock.Record{}, want: true},
		{name: "cap below limit", rec: stock.Record{Limit: 10, Cap: 3}, want: true},
		{name: "cap at limit", rec: stock.Record{Limit: 10, Cap: 10}, want: true},
		{name: "max limit", rec: stock.Record{Limit: stock.MaxLimit, Cap: stock.MaxLimit}, want: true},
		{name: "cap above limit", rec: stock.Record{Limit: 10, Cap: 11}, want: false},
		{name: "negative cap", rec: stock.Record{Limit: 10, Cap: -1}, want: false},
		{name: "limit above max", rec: stock.Record{Limit: stock.MaxLimit + 1}, want: false},
		{name: "per-buyer cap", rec: stock.Record{Limit: 10, PerBuyer: 2}, want: true},
		{name: "per-buyer cap above limit", rec: stock.Record{Limit: 10, PerBuyer: 11}, want: true},
		{name: "per-buyer cap at max", rec: stock.Record{PerBuyer: stock.MaxLimit}, want: true},
		{name: "per-buyer cap above max", rec: stock.Record{Limit: 10, PerBuyer: stock.MaxLimit + 1}, want: false},
		{name: "negative per-buyer cap", rec: stock.Record{Limit: 10, PerBuyer: -1}, want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rec.Valid(); got != tc.want {
				t.Fatalf("%+v.Valid() = %v, want %v", tc.rec, got, tc.want)
			}
		})
	}
}
