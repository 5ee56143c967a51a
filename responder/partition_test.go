package responder_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stockstate/stock/internal/stocktest"
	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/responder/liveness"
	"github.com/stockstate/stock/wire"
)

// leaders returns, per partition, the id of the node that serves it ("" if
// none does, "!" if more than one claims it).
func leaders(nodes []*stocktest.Node, n int) []string {
	out := make([]string, n)
	for _, node := range nodes {
		for _, p := range node.Server.LeadingPartitions() {
			if out[p] != "" {
				out[p] = "!"
			} else {
				out[p] = node.ID
			}
		}
	}
	return out
}

// waitSpread waits until every partition has one leader among nodes and
// their counts differ by at most one, and returns the leaders.
func waitSpread(t *testing.T, nodes []*stocktest.Node, n int) []string {
	t.Helper()
	var ls []string
	testenv.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		ls = leaders(nodes, n)
		count := map[string]int{}
		for p, id := range ls {
			if id == "" || id == "!" {
				return fmt.Errorf("partition %d: leader %q", p, id)
			}
			count[id]++
		}
		lo, hi := n, 0
		for _, node := range nodes {
			lo, hi = min(lo, count[node.ID]), max(hi, count[node.ID])
		}
		if hi-lo > 1 {
			return fmt.Errorf("uneven: %v", count)
		}
		return nil
	})
	return ls
}

// TestPartitionsSpreadAndRoute: three responders over 8 partitions lead 2
// or 3 each; every SKU is served by its partition's leader through the NATS
// mapping and on its partitioned subject; a request sent to the wrong
// partition is refused without a change; <prefix>.partitions answers 8.
func TestPartitionsSpreadAndRoute(t *testing.T) {
	const parts = 8
	c := stocktest.NewPartitionedCluster(t, parts)
	nodes := []*stocktest.Node{c.Start("node-a", ""), c.Start("node-b", ""), c.Start("node-c", "")}
	ls := waitSpread(t, nodes, parts)

	m, err := c.NC.Request("stock."+wire.SubjectPartitions, nil, 5*time.Second)
	if err != nil || string(m.Data) != `{"partitions":8}` {
		t.Fatalf("partitions: %v %q", err, m.Data)
	}
	for i := range 40 {
		sku := fmt.Sprintf("sku%d", i)
		p := wire.Partition(sku, parts)
		setLimit(t, c.NC, sku, 10)
		if r := request(t, c.NC, "stock.acquire."+sku, `{"n":1}`); r.Error != "" || r.Remaining != 9 {
			t.Fatalf("acquire %s through the mapping: %+v", sku, r.Reply)
		}
		if r := request(t, c.NC, wire.SKUSubject("stock", wire.SubjectAcquire, sku, parts), `{"n":2}`); r.Error != "" || r.Remaining != 7 {
			t.Fatalf("acquire %s on its partition's subject: %+v", sku, r.Reply)
		}
		wrong := fmt.Sprintf("stock.acquire.%s.%d", sku, (p+1)%parts)
		if r := request(t, c.NC, wrong, `{"n":1}`); r.code != 400 || !strings.Contains(r.Message, fmt.Sprintf("partition %d of 8", p)) {
			t.Fatalf("acquire %s on %s: %+v", sku, wrong, r.Reply)
		}
		q := request(t, c.NC, "stock.query."+sku, "")
		if q.Sold != 3 || q.Leader != ls[p] {
			t.Fatalf("query %s (partition %d led by %s): %+v", sku, p, ls[p], q.Reply)
		}
	}

	// A batch of every partition's SKUs, split by whoever receives it.
	var items []string
	for i := range 40 {
		items = append(items, fmt.Sprintf(`{"sku":"sku%d","n":1}`, i))
	}
	m, err = c.NC.Request("stock.acquire", []byte("["+strings.Join(items, ",")+"]"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var results []wire.Reply
	if err := json.Unmarshal(m.Data, &results); err != nil || len(results) != 40 {
		t.Fatalf("split batch: %v %q", err, m.Data)
	}
	for i, r := range results {
		if r.SKU != fmt.Sprintf("sku%d", i) || r.Granted != 1 || r.Remaining != 6 || r.Error != "" {
			t.Fatalf("split batch item %d: %+v", i, r)
		}
	}
	// A partition's own batch subject refuses an item of another partition.
	m, err = c.NC.Request(wire.PartitionBatchSubject("stock", wire.SubjectAcquire, 0), []byte(`[{"sku":"sku2","n":1},{"sku":"sku1","n":1}]`), 5*time.Second)
	if err != nil || json.Unmarshal(m.Data, &results) != nil || len(results) != 2 {
		t.Fatalf("partition 0 batch: %v %q", err, m.Data)
	}
	for i, sku := range []string{"sku2", "sku1"} { // of partitions 0 and 1
		r := results[i]
		if own := wire.Partition(sku, parts) == 0; own != (r.Error == "") || !own && r.Error != wire.ErrBadRequest {
			t.Fatalf("partition 0 batch item %s (partition %d): %+v", sku, wire.Partition(sku, parts), r)
		}
	}
}

// TestPartitionHandoffLosesNothing: a responder that joins a cluster of
// one under load takes half the partitions by graceful handoffs; every
// grant names units no other grant named, and what the leaders count as
// sold is exactly what the clients were granted.
func TestPartitionHandoffLosesNothing(t *testing.T) {
	const parts, skus, limit = 8, 16, 1_000_000
	c := stocktest.NewPartitionedCluster(t, parts)
	a := c.Start("node-a", "")
	waitSpread(t, []*stocktest.Node{a}, parts)
	for i := range skus {
		setLimit(t, c.NC, fmt.Sprintf("sku%d", i), limit)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	loads := make([]*load, skus)
	var waits []func()
	for i := range skus {
		l, wait := startLoad(ctx, c.NC, fmt.Sprintf("sku%d", i), limit, 2)
		loads[i], waits = l, append(waits, wait)
	}
	loads[0].waitGrants(t, 500)
	nodes := []*stocktest.Node{a, c.Start("node-b", "")}
	ls := waitSpread(t, nodes, parts)
	if !slices.Contains(ls, "node-b") {
		t.Fatalf("node-b leads nothing: %v", ls)
	}
	for _, l := range loads {
		l.waitGrants(t, 200)
	}
	cancel()
	for _, w := range waits {
		w()
	}
	for i, l := range loads {
		sku := fmt.Sprintf("sku%d", i)
		q := request(t, c.NC, "stock.query."+sku, "")
		if lost := l.check(t, q.Sold); lost != 0 {
			t.Errorf("%s: %d units sold that no client was granted", sku, lost)
		}
	}
}

// TestPartitionedFailover: one of three responders loses its NATS
// connection (as a crashed process does); the others revoke its leases,
// take its partitions, and every SKU grants again; the partitions the
// others led keep their leaders.
func TestPartitionedFailover(t *testing.T) {
	const parts, skus = 6, 24
	c := stocktest.NewPartitionedCluster(t, parts)
	nodes := []*stocktest.Node{c.Start("node-a", ""), c.Start("node-b", ""), c.Start("node-c", "")}
	before := waitSpread(t, nodes, parts)
	for i := range skus {
		setLimit(t, c.NC, fmt.Sprintf("sku%d", i), 1_000_000)
	}
	var stopped atomic.Bool
	var wg sync.WaitGroup
	gaps := make([]time.Duration, skus)
	for i := range skus {
		wg.Go(func() {
			sku, last := fmt.Sprintf("sku%d", i), time.Now()
			for !stopped.Load() {
				r, err := tryRequest(c.NC, "stock.acquire."+sku, `{"n":1}`, time.Second)
				if err == nil && r.Error == "" {
					gaps[i], last = max(gaps[i], time.Since(last)), time.Now()
				} else {
					time.Sleep(time.Millisecond)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	dead := nodes[1]
	survivors := []*stocktest.Node{nodes[0], nodes[2]}
	// The balancer spreads the succession: the dead node's partitions have
	// different heirs next in their queues.
	testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		heirs := map[string]bool{}
		for p := range parts {
			q, err := dead.Electors[p].Candidates(context.Background(), 2)
			if err != nil || len(q) < 2 {
				return fmt.Errorf("partition %d: queue %v: %v", p, q, err)
			}
			if liveness.IDOf(q[0].Value) == dead.ID {
				heirs[liveness.IDOf(q[1].Value)] = true
			}
		}
		if len(heirs) != len(survivors) {
			return fmt.Errorf("heirs of %s's partitions: %v", dead.ID, heirs)
		}
		return nil
	})
	for _, n := range survivors {
		for len(n.Leads) > 0 {
			<-n.Leads
		}
	}
	dead.NC.Close()
	after := waitSpread(t, survivors, parts)
	time.Sleep(300 * time.Millisecond)
	stopped.Store(true)
	wg.Wait()
	orphans, won := 0, 0
	for p := range parts {
		if before[p] == dead.ID {
			orphans++
		} else if after[p] != before[p] {
			t.Errorf("partition %d moved from %s to %s though its leader lives", p, before[p], after[p])
		}
	}
	for _, n := range survivors {
		won += len(n.Leads)
	}
	if won != orphans {
		t.Errorf("the survivors won %d leaderships for %d orphaned partitions: some moved twice", won, orphans)
	}
	for i, g := range gaps {
		p := wire.Partition(fmt.Sprintf("sku%d", i), parts)
		t.Logf("sku%d (partition %d, led by %s then %s): longest gap %v", i, p, before[p], after[p], g)
		if g > 10*time.Second {
			t.Errorf("sku%d stopped for %v", i, g)
		}
	}
}
