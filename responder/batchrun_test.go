package responder_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stockstate/stock/wire"
)

// TestBatchRuns: runs of items of one SKU, broken by items with ids, bad
// items, other SKUs and refusals, give the results of serving the items one
// by one in order, in both encodings.
func TestBatchRuns(t *testing.T) {
	c := newCluster(t)
	c.Start("node-a", "").WaitLeading(t)
	type want struct {
		granted, remaining int64
		kind               string
	}
	for _, enc := range []string{"binary", "json"} {
		t.Run(enc, func(t *testing.T) {
			a, b := "a-"+enc, "b-"+enc
			setLimit(t, c.NC, a, 10)
			setLimit(t, c.NC, b, 5)
			items := []wire.BatchItem{
				{SKU: a, N: 2},
				{SKU: a, N: 1, ID: "i1"},
				{SKU: a, N: 0},
				{SKU: a, N: 3},
				{SKU: b, N: 1},
				{SKU: a, N: 5},
				{SKU: a, N: 4},
				{SKU: a, N: 1},
				{SKU: b, N: 9},
				{SKU: a, N: 1, ID: "i1"},
				{SKU: "nosuch", N: 1},
				{SKU: "bad.sku", N: 1},
				{SKU: b, N: 1},
			}
			wants := []want{
				{2, 8, ""},
				{1, 7, ""},
				{0, 0, wire.ErrBadRequest},
				{3, 4, ""},
				{1, 4, ""},
				{0, 4, wire.ErrInsufficient},
				{4, 0, ""},
				{0, 0, wire.ErrSoldOut},
				{0, 4, wire.ErrInsufficient},
				{1, 7, ""},
				{0, 0, wire.ErrUnknownSKU},
				{0, 0, wire.ErrBadRequest},
				{1, 3, ""},
			}
			var got []wire.BatchResult
			if enc == "binary" {
				m, err := c.NC.Request("stock.acquire", wire.AppendBatchRequest(nil, items), 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if got, err = wire.DecodeBatchReply(m.Data, nil); err != nil {
					t.Fatal(err)
				}
			} else {
				js, _ := json.Marshal(items)
				got = batchJSON(t, c.NC, string(js))
			}
			if len(got) != len(wants) {
				t.Fatalf("%d results for %d items", len(got), len(wants))
			}
			for i, w := range wants {
				g := got[i]
				if g.Granted != w.granted || g.Remaining != w.remaining || g.Error != w.kind {
					t.Errorf("item %d %+v: got %+v, want %+v", i, items[i], g, w)
				}
			}
		})
	}
}

// TestBatchPooledConcurrent: binary and JSON batches from many goroutines
// share the responder's pooled batch state while items wait for refills
// and repeat ids, within a batch and across batches of one goroutine. Every
// repeat gets its first result, every unit is granted once, and the SKUs
// sell out exactly. Run with -race: a batch's state reused while still
// referenced shows as a race or a wrong result.
func TestBatchPooledConcurrent(t *testing.T) {
	const limit = 3000
	c := newCluster(t)
	node := c.Start("node-a", "")
	node.WaitLeading(t)
	skus := []string{"p0", "p1", "p2", "p3"}
	for _, sku := range skus {
		setLimit(t, c.NC, sku, limit)
	}
	var mu sync.Mutex
	led := newLedger(limit)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			first := map[string]wire.BatchResult{} // by id
			var results []wire.BatchResult
			for round := 0; ; round++ {
				items := make([]wire.BatchItem, 40)
				for i := range items {
					items[i] = wire.BatchItem{SKU: skus[(g+i/7)%len(skus)], N: int64(1 + i%2)}
					if i%5 == 0 {
						items[i].ID = fmt.Sprintf("g%d-r%d-i%d", g, round-round%2, i) // repeated by the next round
					}
				}
				items[len(items)-1] = items[0] // repeated within the batch
				var err error
				if g%2 == 0 {
					m, err := c.NC.Request("stock.acquire", wire.AppendBatchRequest(nil, items), 5*time.Second)
					if err != nil {
						t.Error(err)
						return
					}
					if results, err = wire.DecodeBatchReply(m.Data, results); err != nil {
						t.Error(err)
						return
					}
				} else {
					js, _ := json.Marshal(items)
					m, err := c.NC.Request("stock.acquire", js, 5*time.Second)
					if err != nil {
						t.Error(err)
						return
					}
					results = nil
					if err = json.Unmarshal(m.Data, &results); err != nil {
						t.Error(err)
						return
					}
				}
				if err != nil || len(results) != len(items) {
					t.Errorf("%d results for %d items: %v", len(results), len(items), err)
					return
				}
				open := false
				mu.Lock()
				for i, r := range results {
					r.SKU, r.Code, r.Message = "", 0, ""
					if id := items[i].ID; id != "" {
						id = items[i].SKU + "/" + id
						if f, ok := first[id]; ok {
							if f != r {
								t.Errorf("repeat of %s: %+v, first %+v", id, r, f)
							}
							continue
						}
						first[id] = r
					}
					open = led.add(t, i, items[i].SKU, r) || open
				}
				mu.Unlock()
				if !open || t.Failed() {
					return
				}
			}
		})
	}
	wg.Wait()
	led.soldOut(t, skus...)
	if st := node.Server.Stats(); st.Stalls == 0 {
		t.Errorf("no item waited for a refill: %+v", st)
	}
}
