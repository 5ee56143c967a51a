package responder_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stockstate/stock/wire"
)

func batchJSON(t *testing.T, nc *nats.Conn, body string) []wire.BatchResult {
	t.Helper()
	m, err := nc.Request("stock.acquire", []byte(body), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var out []wire.BatchResult
	if err := json.Unmarshal(m.Data, &out); err != nil {
		t.Fatalf("%q: %v", m.Data, err)
	}
	return out
}

// TestBatchItems: one JSON batch mixes SKUs, good items and every kind of
// bad item; each bad item gets its own error and the others are served.
func TestBatchItems(t *testing.T) {
	c := newCluster(t)
	c.Start("node-a", "").WaitLeading(t)
	setLimit(t, c.NC, "a", 10)
	setLimit(t, c.NC, "b", 3)
	setLimit(t, c.NC, "gone", 0)

	got := batchJSON(t, c.NC, `[
		{"sku":"a","n":2},
		{"sku":"b","n":5},
		{"sku":"a"},
		{"sku":"nosuch","n":1},
		{"sku":"bad.sku","n":1},
		{"sku":"a","n":0},
		{"sku":"a","n":-1},
		{"sku":"a","n":1.5},
		{"sku":"a","n":"1"},
		{"sku":"a","n":1,"x":1},
		{"sku":"a","n":1,"id":"`+strings.Repeat("i", 200)+`"},
		7,
		{"sku":"gone","n":1},
		{"sku":"b","n":3}
	]`)
	want := []struct {
		granted, remaining int64
		kind               string
	}{
		{2, 8, ""},
		{0, 3, wire.ErrInsufficient},
		{1, 7, ""},
		{0, 0, wire.ErrUnknownSKU},
		{0, 0, wire.ErrBadRequest},
		{0, 0, wire.ErrBadRequest},
		{0, 0, wire.ErrBadRequest},
		{0, 0, wire.ErrBadRequest},
		{0, 0, wire.ErrBadRequest},
		{0, 0, wire.ErrBadRequest},
		{0, 0, wire.ErrBadRequest},
		{0, 0, wire.ErrBadRequest},
		{0, 0, wire.ErrSoldOut},
		{3, 0, ""},
	}
	if len(got) != len(want) {
		t.Fatalf("%d results for %d items: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Granted != w.granted || g.Remaining != w.remaining || g.Error != w.kind || (w.kind != "" && (g.Code == 0 || g.Message == "")) {
			t.Errorf("item %d: got %+v, want %+v", i, g, w)
		}
	}
	if q := request(t, c.NC, "stock.query.a", ""); q.Sold != 3 {
		t.Fatalf("a sold %d, want 3", q.Sold)
	}
}

// TestBatchDuplicateIDs: a repeated id inside one batch, and in a later
// batch, gets the first result and takes its units once.
func TestBatchDuplicateIDs(t *testing.T) {
	c := newCluster(t)
	c.Start("node-a", "").WaitLeading(t)
	setLimit(t, c.NC, "a", 100)
	got := batchJSON(t, c.NC, `[{"sku":"a","n":4,"id":"x"},{"sku":"a","n":4,"id":"x"},{"sku":"a","n":1,"id":"y"}]`)
	if got[0] != got[1] || got[0].Granted != 4 || got[2].Granted != 1 {
		t.Fatalf("results: %+v", got)
	}
	again := batchJSON(t, c.NC, `[{"sku":"a","n":4,"id":"x"}]`)
	if again[0] != got[0] {
		t.Fatalf("later repeat: %+v, first %+v", again[0], got[0])
	}
	// A single acquire with the same id is the same request too.
	if r := request(t, c.NC, "stock.acquire.a", `{"n":4,"id":"x"}`); r.Granted != 4 || r.Remaining != got[0].Remaining {
		t.Fatalf("single repeat: %+v", r.Reply)
	}
	if q := request(t, c.NC, "stock.query.a", ""); q.Sold != 5 {
		t.Fatalf("sold %d, want 5", q.Sold)
	}
}

// TestBatchBinaryUnderLoad: binary batches from many goroutines sell a SKU
// out exactly, with items that wait for refills and items on several SKUs.
func TestBatchBinaryUnderLoad(t *testing.T) {
	const limit = 5000
	c := newCluster(t)
	c.Start("node-a", "").WaitLeading(t)
	for _, sku := range []string{"s0", "s1", "s2"} {
		setLimit(t, c.NC, sku, limit)
	}
	var mu sync.Mutex
	led := newLedger(limit)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var results []wire.BatchResult
			for round := 0; ; round++ {
				items := make([]wire.BatchItem, 64)
				for i := range items {
					items[i] = wire.BatchItem{SKU: fmt.Sprintf("s%d", (g+i)%3), N: int64(1 + i%3)}
				}
				m, err := c.NC.Request("stock.acquire", wire.AppendBatchRequest(nil, items), 5*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				if results, err = wire.DecodeBatchReply(m.Data, results); err != nil || len(results) != len(items) {
					t.Errorf("reply %x: %v", m.Data, err)
					return
				}
				open := false
				mu.Lock()
				for i, r := range results {
					open = led.add(t, i, items[i].SKU, r) || open
				}
				mu.Unlock()
				if !open {
					return
				}
			}
		}()
	}
	wg.Wait()
	led.soldOut(t, "s0", "s1", "s2")
}

// ledger checks the units that batch results name: each SKU has the same
// limit, a grant of n leaving r names units [limit-r-n, limit-r), and no
// unit may be named twice. It is not safe for concurrent use.
type ledger struct {
	limit   int64
	granted map[string]int64
	units   map[string]map[int64]bool
}

func newLedger(limit int64) *ledger {
	return &ledger{limit: limit, granted: map[string]int64{}, units: map[string]map[int64]bool{}}
}

// add records result r of item i, on sku, and reports whether the SKU may
// still have stock (a grant, or insufficient for this n).
func (l *ledger) add(t *testing.T, i int, sku string, r wire.BatchResult) bool {
	switch r.Error {
	case "":
		l.granted[sku] += r.Granted
		if l.units[sku] == nil {
			l.units[sku] = map[int64]bool{}
		}
		for u := l.limit - r.Remaining - r.Granted; u < l.limit-r.Remaining; u++ {
			if l.units[sku][u] {
				t.Errorf("%s unit %d granted twice", sku, u)
			}
			l.units[sku][u] = true
		}
		return true
	case wire.ErrInsufficient:
		return true
	case wire.ErrSoldOut:
		return false
	default:
		t.Errorf("item %d: %+v", i, r)
		return false
	}
}

// soldOut fails the test unless exactly the limit of each SKU was granted.
func (l *ledger) soldOut(t *testing.T, skus ...string) {
	for _, sku := range skus {
		if g := l.granted[sku]; g != l.limit {
			t.Errorf("%s: granted %d, want exactly %d", sku, g, l.limit)
		}
	}
}

// TestBatchMalformed: a message that is not a batch at all gets one
// bad_request error and changes nothing.
func TestBatchMalformed(t *testing.T) {
	c := newCluster(t)
	c.Start("node-a", "").WaitLeading(t)
	setLimit(t, c.NC, "a", 10)
	for _, body := range []string{"", "{}", "[", `{"sku":"a"}`, "\x01\x05\x01a", "\x01\x01\x01a\x01\x00extra", "\x01\xff\xff\xff\xff\x0f"} {
		r := request(t, c.NC, "stock.acquire", body)
		if r.code != 400 || r.Error != wire.ErrBadRequest {
			t.Errorf("%q: %+v code %d", body, r.Reply, r.code)
		}
	}
	if q := request(t, c.NC, "stock.query.a", ""); q.Sold != 0 {
		t.Fatalf("sold %d after malformed batches", q.Sold)
	}
}
