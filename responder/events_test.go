package responder_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/responder"
	"github.com/stockstate/stock/wire"
)

// TestStockEvents: the leader publishes remaining on stock.events.<sku>,
// at once on sell-out and on restock from zero, and otherwise at most
// about ten times a second however fast it sells.
func TestStockEvents(t *testing.T) {
	c := newCluster(t)
	c.Start("node-a", "").WaitLeading(t)
	sub, err := c.NC.SubscribeSync("stock.events.sku1")
	if err != nil {
		t.Fatal(err)
	}
	c.NC.Flush()
	next := func(within time.Duration) wire.Event {
		t.Helper()
		m, err := sub.NextMsg(within)
		if err != nil {
			t.Fatalf("no event within %v: %v", within, err)
		}
		var ev wire.Event
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		return ev
	}
	setLimit(t, c.NC, "sku1", 2000)
	if ev := next(time.Second); ev != (wire.Event{SKU: "sku1", Remaining: 2000}) {
		t.Fatalf("on creation: %+v", ev)
	}

	start := time.Now()
	for range 1000 {
		request(t, c.NC, "stock.acquire.sku1", `{"n":1}`)
	}
	request(t, c.NC, "stock.acquire.sku1", `{"n":1000}`) // sells out
	elapsed := time.Since(start)
	var evs []wire.Event
	for {
		m, err := sub.NextMsg(300 * time.Millisecond)
		if err == nats.ErrTimeout {
			break
		}
		var ev wire.Event
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	if len(evs) == 0 || evs[len(evs)-1] != (wire.Event{SKU: "sku1", Remaining: 0, SoldOut: true}) {
		t.Fatalf("last event is not the sell-out: %+v", evs)
	}
	if max := int(elapsed/(100*time.Millisecond)) + 3; len(evs) > max {
		t.Fatalf("%d events in %v, more than 10 a second allow (%d)", len(evs), elapsed, max)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Remaining >= evs[i-1].Remaining {
			t.Fatalf("events out of order: %+v", evs)
		}
	}

	// The restock is published before the release is answered, from the
	// same connection, so it is already here when the reply is.
	request(t, c.NC, "stock.release.sku1", `{"n":5}`)
	if ev := next(20 * time.Millisecond); ev != (wire.Event{SKU: "sku1", Remaining: 5}) {
		t.Fatalf("restock from zero: %+v", ev)
	}
}

// TestStockEventsBeforeHandoff: a leader that stops gracefully publishes
// the changes it still had queued, so a page following the SKU sees the
// last figure of the term even when no tick came before the handoff.
func TestStockEventsBeforeHandoff(t *testing.T) {
	c := newCluster(t)
	a := c.Start("node-a", "", func(cfg *responder.Config) { cfg.EventInterval = time.Hour })
	a.WaitLeading(t)
	setLimit(t, c.NC, "sku1", 10)
	sub, err := c.NC.SubscribeSync("stock.events.sku1")
	if err != nil {
		t.Fatal(err)
	}
	c.NC.Flush()
	request(t, c.NC, "stock.acquire.sku1", `{"n":3}`)
	if m, err := sub.NextMsg(50 * time.Millisecond); err == nil {
		t.Fatalf("event before the tick: %s", m.Data)
	}
	a.Stop(t)
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("no event at the handoff: %v", err)
	}
	var ev wire.Event
	if err := json.Unmarshal(m.Data, &ev); err != nil {
		t.Fatal(err)
	}
	if ev != (wire.Event{SKU: "sku1", Remaining: 7}) {
		t.Fatalf("at the handoff: %+v, want remaining 7", ev)
	}
}
