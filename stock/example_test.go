package stock_test

import (
	"fmt"
	"time"

	"github.com/stockstate/stock/stock"
)

// A leader's life with one SKU: resume from the store, raise the cap before
// granting from it, refill ahead of demand, sell out.
func ExampleItem_Acquire() {
	p := stock.DefaultPolicy()
	now := time.Date(2025, 11, 11, 0, 0, 0, 0, time.UTC)

	// The store holds limit 100 and cap 40: units below 40 count as sold.
	it := stock.Resume(stock.Record{Limit: 100, Cap: 40})
	fmt.Println(it.Acquire(4)) // the window [40, 40) is empty

	target, ok := it.PlanRefill(now, p, 4)
	fmt.Println("refill to", target, ok)
	// ... persist target with a fenced write; once it is durable:
	it.Raise(target)
	fmt.Println(it.Acquire(4))

	// Serve requests of 5 until fewer than 5 remain.
	grants, waits := 0, 0
	for {
		now = now.Add(10 * time.Millisecond)
		if it.NeedsRefill() { // refill ahead, so that requests need not wait
			if target, ok := it.PlanRefill(now, p, 0); ok {
				it.Raise(target) // once the write is durable
			}
		}
		rem, o := it.Acquire(5)
		if o == stock.Wait { // near sell-out windows are small: wait for a raise
			waits++
			target, _ := it.PlanRefill(now, p, 5)
			it.Raise(target)
			continue
		}
		if o != stock.Granted {
			fmt.Println(grants, "grants,", waits, "waits, then", rem, o)
			break
		}
		grants++
	}
	target, ok = it.PlanRefill(now, p, 1)
	it.Raise(target)
	fmt.Println(it.Acquire(1))
	fmt.Println(it.Acquire(1))
	// Output:
	// 60 wait
	// refill to 55 true
	// 56 granted
	// 11 grants, 3 waits, then 1 insufficient
	// 0 granted
	// 0 sold_out
}

// A graceful stop writes the exact cap and the next leader loses nothing; a
// crash leaves the old cap and the next leader skips the unsold window.
func ExampleResume() {
	it := stock.Item{Limit: 100, Sold: 37, Cap: 60} // a leader mid-window

	trimmed := stock.Resume(it.Trim())
	fmt.Println("after a graceful stop:", trimmed.Sold, "sold,", trimmed.Remaining(), "remaining")

	crashed := stock.Resume(it.Record())
	fmt.Println("after a crash:", crashed.Sold, "sold,", crashed.Remaining(), "remaining")
	// Output:
	// after a graceful stop: 37 sold, 63 remaining
	// after a crash: 60 sold, 40 remaining
}
