package responder_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stockstate/stock/internal/netproxy"
	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/responder"
	"github.com/stockstate/stock/wire"
)

// TestTakeoverReadsSKUsOnFirstRequest: a new leader starts with only the
// SKUs that have holds, and reads every other one on its first request, on
// every path (single, JSON batch, hold batch, query, set, delete), with
// the state the last leader left; a SKU without a record is unknown_sku.
func TestTakeoverReadsSKUsOnFirstRequest(t *testing.T) {
	c := newCluster(t)
	a := c.Start("node-a", "")
	a.WaitLeading(t)
	const skus = 200
	for i := range skus {
		setLimit(t, c.NC, fmt.Sprintf("sku%d", i), 10)
	}
	if r := request(t, c.NC, "stock.acquire.sku5", `{"n":3}`); r.Granted != 3 {
		t.Fatalf("acquire: %+v", r)
	}
	if r := request(t, c.NC, "stock.hold.sku7", `{"n":2,"id":"cart-1","ttl_s":60}`); r.Held != 2 {
		t.Fatalf("hold: %+v", r)
	}
	b := c.Start("node-b", "")
	a.Stop(t)
	b.WaitLeading(t)
	if n := b.Server.Stats().SKUs; n != 1 {
		t.Fatalf("the new leader starts with %d SKUs, want 1: the one with a hold", n)
	}

	if r := query(t, c.NC, "sku7"); r.Held != 2 || r.Remaining != 8 {
		t.Fatalf("held SKU: %+v", r)
	}
	if r := query(t, c.NC, "sku5"); r.Sold != 3 || r.Remaining != 7 {
		t.Fatalf("query of a SKU not read yet: %+v", r)
	}
	if r := request(t, c.NC, "stock.acquire.sku6", `{"n":4}`); r.Granted != 4 || r.Remaining != 6 {
		t.Fatalf("acquire of a SKU not read yet: %+v", r)
	}

	m, err := c.NC.Request("stock.acquire", []byte(`[{"sku":"sku10","n":1},{"sku":"nope","n":1},{"sku":"sku10","n":2},{"sku":"sku11","n":1},{"sku":"bad sku","n":1}]`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var items []wire.BatchResult
	if err := json.Unmarshal(m.Data, &items); err != nil || len(items) != 5 {
		t.Fatalf("batch reply %s: %v", m.Data, err)
	}
	for i, want := range []wire.BatchResult{
		{SKU: "sku10", Granted: 1, Remaining: 9},
		{SKU: "nope", Error: wire.ErrUnknownSKU, Code: 404},
		{SKU: "sku10", Granted: 2, Remaining: 7},
		{SKU: "sku11", Granted: 1, Remaining: 9},
		{SKU: "bad sku", Error: wire.ErrBadRequest, Code: 400},
	} {
		got := items[i]
		got.Message = ""
		if got != want {
			t.Errorf("batch item %d: %+v, want %+v", i, items[i], want)
		}
	}

	m, err = c.NC.Request("stock.hold", []byte(`[{"sku":"sku12","n":1,"id":"h-1"},{"sku":"nope2","n":1,"id":"h-2"}]`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var holds []map[string]any
	if err := json.Unmarshal(m.Data, &holds); err != nil || len(holds) != 2 ||
		holds[0]["held"] != 1.0 || holds[0]["remaining"] != 9.0 || holds[1]["error"] != wire.ErrUnknownSKU {
		t.Fatalf("hold batch: %s: %v", m.Data, err)
	}

	if r := query(t, c.NC, "ghost"); r.Error != wire.ErrUnknownSKU {
		t.Fatalf("query of a SKU without a record: %+v", r)
	}
	if r := setLimit(t, c.NC, "ghost", 5); r.Limit != 5 {
		t.Fatalf("set of a new SKU: %+v", r)
	}
	if r := request(t, c.NC, "stock.acquire.ghost", `{"n":1}`); r.Granted != 1 || r.Remaining != 4 {
		t.Fatalf("acquire of the new SKU: %+v", r)
	}
	if r := request(t, c.NC, "stock.admin.delete.sku20", ""); r.Error != "" {
		t.Fatalf("delete of a SKU not read yet: %+v", r)
	}
	if r := request(t, c.NC, "stock.acquire.sku20", `{"n":1}`); r.Error != wire.ErrUnknownSKU {
		t.Fatalf("acquire of the deleted SKU: %+v", r)
	}
	// sku5, 6, 7, 10, 11, 12, ghost: the SKUs read or made, not all 200.
	if n := b.Server.Stats().SKUs; n != 7 {
		t.Fatalf("the leader holds %d SKUs, want the 7 it was asked for", n)
	}
}

// TestSKUReadFailsUnavailable: while etcd cannot be reached, a request of
// a SKU the leader has not read is answered unavailable, never
// unknown_sku, and once etcd is back the SKU is read and served.
func TestSKUReadFailsUnavailable(t *testing.T) {
	c := newCluster(t)
	a := c.Start("node-a", "")
	a.WaitLeading(t)
	setLimit(t, c.NC, "sku1", 10)
	proxy, err := netproxy.Start(c.Etcd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	b := c.Start("node-b", proxy.Addr(), func(cfg *responder.Config) { cfg.WriteTimeout = 300 * time.Millisecond })
	a.Stop(t)
	b.WaitLeading(t)

	proxy.Pause()
	r, err := tryRequest(c.NC, "stock.acquire.sku1", `{"n":1}`, 5*time.Second)
	proxy.Resume()
	if err != nil || r.Error != wire.ErrUnavailable || r.code != 503 {
		t.Fatalf("acquire while etcd is away: %+v %v, want unavailable", r, err)
	}
	testenv.Eventually(t, 15*time.Second, 20*time.Millisecond, func() error {
		r, err := tryRequest(c.NC, "stock.acquire.sku1", `{"n":1}`, 2*time.Second)
		if err != nil || r.Error != "" {
			return fmt.Errorf("acquire: %+v %v", r, err)
		}
		if r.Remaining != 9 {
			t.Fatalf("after etcd came back: %+v, want remaining 9", r)
		}
		return nil
	})
}
