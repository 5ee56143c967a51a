package stock_test

import (
	"testing"

	"github.com/stockstate/stock/stock"
)

// lsc is the visible state of an Item: limit, sold and cap.
type lsc struct{ L, S, C int64 }

func stateOf(it *stock.Item) lsc { return lsc{it.Limit, it.Sold, it.Cap} }

// checkItem fails t unless 0 <= Sold <= Cap <= Limit <= MaxLimit.
func checkItem(t testing.TB, it *stock.Item) {
	t.Helper()
	if !(0 <= it.Sold && it.Sold <= it.Cap && it.Cap <= it.Limit && it.Limit <= stock.MaxLimit) {
		t.Fatalf("invariant 0 <= S <= C <= L <= MaxLimit broken: %+v", stateOf(it))
	}
}
