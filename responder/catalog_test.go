package responder

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stockstate/stock/stock"
)

// TestCatalog: puts and removes are seen by both lookups at once, before
// and after the read map is replaced; broken SKUs report their error.
func TestCatalog(t *testing.T) {
	bad := errors.New("corrupt")
	c := newCatalog(map[string]stock.Record{"a": {Limit: 1}, "b": {Limit: 2}}, map[string]error{"x": bad})
	find := func(sku string) *entry {
		t.Helper()
		e1, err1 := c.get(sku)
		e2, err2 := c.getBytes([]byte(sku))
		if e1 != e2 || err1 != err2 {
			t.Fatalf("%s: get %p %v, getBytes %p %v", sku, e1, err1, e2, err2)
		}
		return e1
	}
	if find("a") == nil || find("b") == nil || find("c") != nil {
		t.Fatal("initial SKUs")
	}
	if _, err := c.get("x"); err != bad {
		t.Fatalf("broken SKU: %v", err)
	}
	c3 := &entry{sku: "c"}
	c.put(c3)
	for range 10 { // past the misses that replace the read map
		if find("c") != c3 {
			t.Fatal("put not seen")
		}
	}
	if c.read.Load().m["c"] != c3 {
		t.Fatal("read map not replaced after misses")
	}
	old := find("a")
	c.remove("a")
	if find("a") != nil {
		t.Fatal("removed SKU found")
	}
	a2 := &entry{sku: "a"}
	c.put(a2)
	if e := find("a"); e != a2 || e == old {
		t.Fatal("re-created SKU not found")
	}
	c.remove("x")
	if _, err := c.get("x"); err != nil {
		t.Fatalf("broken SKU after remove: %v", err)
	}
	if n := len(c.all()); n != 3 {
		t.Fatalf("all: %d entries", n)
	}
}

// TestCatalogConcurrent: lookups run while SKUs are added and removed; a
// SKU is found as soon as its put returns and not after its remove does.
func TestCatalogConcurrent(t *testing.T) {
	c := newCatalog(nil, nil)
	const n = 500
	// SKUs 0..added-1 were put; 0..removed-1 removed again, and the removal
	// of those below removing may have begun.
	var added, removed, removing atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				lo, hi := removed.Load(), added.Load()
				if hi == 0 {
					continue
				}
				i := rng.Int64N(hi)
				e, _ := c.getBytes(fmt.Appendf(nil, "s%d", i))
				if i >= lo && i < hi && e == nil && removing.Load() <= i {
					t.Errorf("s%d not found", i)
					return
				}
				if i < lo && e != nil {
					t.Errorf("removed s%d found", i)
					return
				}
			}
		})
	}
	for i := range n {
		c.put(&entry{sku: fmt.Sprintf("s%d", i)})
		added.Store(int64(i + 1))
		if i%3 == 2 {
			r := removed.Load()
			removing.Store(r + 1)
			c.remove(fmt.Sprintf("s%d", r))
			removed.Store(r + 1)
		}
	}
	close(stop)
	wg.Wait()
}

// BenchmarkCatalogGet looks SKUs of a batch up by their bytes.
func BenchmarkCatalogGet(b *testing.B) {
	recs := map[string]stock.Record{}
	for i := range 1000 {
		recs[fmt.Sprintf("bbatch1000%d", i)] = stock.Record{Limit: 10}
	}
	c := newCatalog(recs, nil)
	r := rand.New(rand.NewPCG(1, 2))
	keys := make([][]byte, 4096)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "bbatch1000%d", r.IntN(1000))
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if e, _ := c.getBytes(keys[i%len(keys)]); e == nil {
			b.Fatal("missing")
		}
	}
}
