package responder_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stockstate/stock/wire"
)

// TestConcurrentAcquiresSellExactlyTheLimit: 64 goroutines acquire random
// amounts until the SKU sells out; the grants sum to exactly the limit, no
// two grants name the same unit, and the SKU then answers sold_out.
func TestConcurrentAcquiresSellExactlyTheLimit(t *testing.T) {
	const limit = 1000
	c := newCluster(t)
	c.Start("node-a", "").WaitLeading(t)
	setLimit(t, c.NC, "sku1", limit)

	var granted atomic.Int64
	var mu sync.Mutex
	units := make([]int, limit) // how many grants named each unit
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for {
				n := 1 + rng.IntN(5)
				r, err := tryRequest(c.NC, "stock.acquire.sku1", fmt.Sprintf(`{"n":%d}`, n), 5*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				switch r.Error {
				case "":
					if r.Granted != int64(n) {
						t.Errorf("asked %d, granted %d", n, r.Granted)
						return
					}
					granted.Add(r.Granted)
					mu.Lock()
					for u := limit - r.Remaining - r.Granted; u < limit-r.Remaining; u++ {
						units[u]++
					}
					mu.Unlock()
				case wire.ErrInsufficient:
					if r.Remaining >= int64(n) || r.Remaining <= 0 {
						t.Errorf("insufficient with remaining %d for n %d", r.Remaining, n)
						return
					}
				case wire.ErrSoldOut:
					return
				default:
					t.Errorf("unexpected reply %+v", r.Reply)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := granted.Load(); got != limit {
		t.Fatalf("granted %d units in all, want exactly %d", got, limit)
	}
	for u, k := range units {
		if k != 1 {
			t.Fatalf("unit %d was granted %d times", u, k)
		}
	}
	r := request(t, c.NC, "stock.acquire.sku1", `{"n":1}`)
	if r.Error != wire.ErrSoldOut || r.code != 409 {
		t.Fatalf("after sell-out: %+v", r.Reply)
	}
	q := request(t, c.NC, "stock.query.sku1", "")
	if q.Sold != limit || q.Remaining != 0 {
		t.Fatalf("query after sell-out: %+v", q.Reply)
	}
}

// TestRepeatedIDIsGrantedOnce: the same id gets the same reply twice and
// takes its units once, also when the copies arrive together.
func TestRepeatedIDIsGrantedOnce(t *testing.T) {
	c := newCluster(t)
	c.Start("node-a", "").WaitLeading(t)
	setLimit(t, c.NC, "sku1", 100)

	first := request(t, c.NC, "stock.acquire.sku1", `{"n":3,"id":"order-1"}`)
	second := request(t, c.NC, "stock.acquire.sku1", `{"n":3,"id":"order-1"}`)
	if first.Reply != second.Reply || first.Granted != 3 {
		t.Fatalf("first %+v, second %+v", first.Reply, second.Reply)
	}
	// Copies sent together, before the first is answered.
	var wg sync.WaitGroup
	replies := make([]reply, 8)
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			replies[i] = request(t, c.NC, "stock.acquire.sku1", `{"n":5,"id":"order-2"}`)
		}()
	}
	wg.Wait()
	for _, r := range replies[1:] {
		if r.Reply != replies[0].Reply {
			t.Fatalf("copies got different replies: %+v and %+v", replies[0].Reply, r.Reply)
		}
	}
	rel1 := request(t, c.NC, "stock.release.sku1", `{"n":2,"id":"cancel-1"}`)
	rel2 := request(t, c.NC, "stock.release.sku1", `{"n":2,"id":"cancel-1"}`)
	if rel1.Reply != rel2.Reply || rel1.Released != 2 {
		t.Fatalf("release first %+v, second %+v", rel1.Reply, rel2.Reply)
	}
	q := request(t, c.NC, "stock.query.sku1", "")
	if q.Sold != 8 || q.Limit != 102 {
		t.Fatalf("want sold 8 (3+5) and limit 102 (100+2): %+v", q.Reply)
	}
}
