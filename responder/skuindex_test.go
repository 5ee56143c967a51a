package responder

import (
	"fmt"
	"testing"
)

// TestSKUIndex: every SKU finds its own entry and others none, at sizes
// from empty to beyond a few doublings of the table.
func TestSKUIndex(t *testing.T) {
	for _, n := range []int{0, 1, 3, 4, 5, 100, 3000} {
		m := map[string]*entry{}
		for i := range n {
			sku := fmt.Sprintf("s%d", i)
			m[sku] = &entry{sku: sku}
		}
		x := newSKUIndex(m)
		for sku, e := range m {
			if got := x.get([]byte(sku)); got != e {
				t.Fatalf("n=%d: %s found %v", n, sku, got)
			}
		}
		for _, sku := range []string{"", "s", fmt.Sprintf("s%d", n), "s0x", "x0"} {
			if got := x.get([]byte(sku)); got != nil {
				t.Fatalf("n=%d: absent %q found %s", n, sku, got.sku)
			}
		}
	}
}
