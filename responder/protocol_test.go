package responder_test

import (
	"strings"
	"testing"

	"github.com/stockstate/stock/wire"
)

// TestProtocolRoundTrips exercises every subject once, as a user would with
// `nats req`.
func TestProtocolRoundTrips(t *testing.T) {
	c := newCluster(t)
	a := c.Start("node-a", "")
	a.WaitLeading(t)
	nc := c.NC

	r := setLimit(t, nc, "sku1", 100)
	want := wire.Reply{SKU: "sku1", Limit: 100, Sold: 0, Remaining: 100, Leader: "node-a"}
	if r.Reply != want {
		t.Fatalf("set: got %+v, want %+v", r.Reply, want)
	}

	r = request(t, nc, "stock.acquire.sku1", `{"n":2,"id":"req-123"}`)
	if want := (wire.Reply{SKU: "sku1", Granted: 2, Remaining: 98}); r.Reply != want || r.code != 0 {
		t.Fatalf("acquire: got %+v code %d, want %+v", r.Reply, r.code, want)
	}
	r = request(t, nc, "stock.acquire.sku1", "")
	if want := (wire.Reply{SKU: "sku1", Granted: 1, Remaining: 97}); r.Reply != want {
		t.Fatalf("acquire with empty body: got %+v, want %+v", r.Reply, want)
	}
	r = request(t, nc, "stock.acquire.sku1", `{"n":1}`)
	if want := (wire.Reply{SKU: "sku1", Granted: 1, Remaining: 96}); r.Reply != want {
		t.Fatalf("acquire: got %+v, want %+v", r.Reply, want)
	}

	r = request(t, nc, "stock.release.sku1", `{"n":2,"id":"req-124"}`)
	if want := (wire.Reply{SKU: "sku1", Released: 2, Remaining: 98}); r.Reply != want {
		t.Fatalf("release: got %+v, want %+v", r.Reply, want)
	}
	r = request(t, nc, "stock.query.sku1", "")
	if want := (wire.Reply{SKU: "sku1", Limit: 102, Sold: 4, Remaining: 98, Leader: "node-a"}); r.Reply != want {
		t.Fatalf("query: got %+v, want %+v", r.Reply, want)
	}

	r = request(t, nc, "stock.admin.set.sku1", `{"limit":5}`)
	if want := (wire.Reply{SKU: "sku1", Limit: 5, Sold: 4, Remaining: 1, Leader: "node-a"}); r.Reply != want {
		t.Fatalf("lower limit: got %+v, want %+v", r.Reply, want)
	}
	r = request(t, nc, "stock.acquire.sku1", `{"n":2}`)
	if r.code != 409 || r.Error != wire.ErrInsufficient || r.Remaining != 1 || r.header == "" {
		t.Fatalf("insufficient: got %+v code %d", r.Reply, r.code)
	}
	r = request(t, nc, "stock.acquire.sku1", `{"n":1}`)
	if r.Granted != 1 || r.Remaining != 0 {
		t.Fatalf("last unit: got %+v", r.Reply)
	}
	r = request(t, nc, "stock.acquire.sku1", `{"n":1}`)
	if r.code != 409 || r.Error != wire.ErrSoldOut || r.Remaining != 0 {
		t.Fatalf("sold out: got %+v code %d", r.Reply, r.code)
	}
	// A limit below what is sold stops the sale at what is sold.
	r = request(t, nc, "stock.admin.set.sku1", `{"limit":0}`)
	if r.Limit != 5 || r.Sold != 5 || r.Remaining != 0 {
		t.Fatalf("limit below sold: got %+v", r.Reply)
	}

	r = request(t, nc, "stock.admin.delete.sku1", "")
	if want := (wire.Reply{SKU: "sku1", Deleted: true}); r.Reply != want {
		t.Fatalf("delete: got %+v, want %+v", r.Reply, want)
	}
	for _, subj := range []string{"stock.query.sku1", "stock.acquire.sku1", "stock.admin.delete.sku1"} {
		r = request(t, nc, subj, "")
		if r.code != 404 || r.Error != wire.ErrUnknownSKU {
			t.Fatalf("%s after delete: got %+v code %d", subj, r.Reply, r.code)
		}
	}
}

// TestBadInputChangesNothing sends every class of bad input and checks each
// gets its 4xx with a reason, and that the SKU is unchanged afterwards.
func TestBadInputChangesNothing(t *testing.T) {
	c := newCluster(t)
	a := c.Start("node-a", "")
	a.WaitLeading(t)
	nc := c.NC
	setLimit(t, nc, "sku1", 100)
	request(t, nc, "stock.acquire.sku1", `{"n":3}`)
	before := request(t, nc, "stock.query.sku1", "")

	big := `{"n":1,"id":"` + strings.Repeat("x", 2000) + `"}`
	cases := []struct {
		name, subject, body string
		code                int
		kind                string
	}{
		{"not JSON", "stock.acquire.sku1", `n=1`, 400, wire.ErrBadRequest},
		{"truncated JSON", "stock.acquire.sku1", `{"n":1`, 400, wire.ErrBadRequest},
		{"JSON array", "stock.acquire.sku1", `[1]`, 400, wire.ErrBadRequest},
		{"unknown field", "stock.acquire.sku1", `{"n":1,"x":2}`, 400, wire.ErrBadRequest},
		{"n zero", "stock.acquire.sku1", `{"n":0}`, 400, wire.ErrBadRequest},
		{"n negative", "stock.acquire.sku1", `{"n":-1}`, 400, wire.ErrBadRequest},
		{"n fraction", "stock.acquire.sku1", `{"n":1.5}`, 400, wire.ErrBadRequest},
		{"n string", "stock.acquire.sku1", `{"n":"1"}`, 400, wire.ErrBadRequest},
		{"n huge", "stock.acquire.sku1", `{"n":1e18}`, 400, wire.ErrBadRequest},
		{"n over max", "stock.acquire.sku1", `{"n":1000000000000000000}`, 400, wire.ErrBadRequest},
		{"n null", "stock.acquire.sku1", `{"n":null}`, 400, wire.ErrBadRequest},
		{"id not a string", "stock.acquire.sku1", `{"n":1,"id":7}`, 400, wire.ErrBadRequest},
		{"trailing data", "stock.acquire.sku1", `{"n":1}{"n":1}`, 400, wire.ErrBadRequest},
		{"oversized body", "stock.acquire.sku1", big, 400, wire.ErrBadRequest},
		{"bad sku token", "stock.acquire.sku$1", `{"n":1}`, 400, wire.ErrBadRequest},
		{"sku with two tokens", "stock.acquire.sku1.x", `{"n":1}`, 400, wire.ErrBadRequest},
		{"release n negative", "stock.release.sku1", `{"n":-1}`, 400, wire.ErrBadRequest},
		{"release more than sold", "stock.release.sku1", `{"n":4}`, 400, wire.ErrBadRequest},
		{"set negative limit", "stock.admin.set.sku1", `{"limit":-1}`, 400, wire.ErrBadRequest},
		{"set limit string", "stock.admin.set.sku1", `{"limit":"5"}`, 400, wire.ErrBadRequest},
		{"set without limit", "stock.admin.set.sku1", `{}`, 400, wire.ErrBadRequest},
		{"set empty body", "stock.admin.set.sku1", ``, 400, wire.ErrBadRequest},
		{"set huge limit", "stock.admin.set.sku1", `{"limit":1e30}`, 400, wire.ErrBadRequest},
		{"query with body", "stock.query.sku1", `{"n":1}`, 400, wire.ErrBadRequest},
		{"delete with body", "stock.admin.delete.sku1", `{"x":1}`, 400, wire.ErrBadRequest},
		{"unknown sku acquire", "stock.acquire.nosuch", `{"n":1}`, 404, wire.ErrUnknownSKU},
		{"unknown sku release", "stock.release.nosuch", `{"n":1}`, 404, wire.ErrUnknownSKU},
		{"unknown sku query", "stock.query.nosuch", ``, 404, wire.ErrUnknownSKU},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := request(t, nc, tc.subject, tc.body)
			if r.code != tc.code || r.Error != tc.kind {
				t.Fatalf("got code %d %+v, want %d %s", r.code, r.Reply, tc.code, tc.kind)
			}
			if r.Message == "" || r.header == "" {
				t.Fatalf("no reason given: %+v, header %q", r.Reply, r.header)
			}
			after := request(t, nc, "stock.query.sku1", "")
			if after.Reply != before.Reply {
				t.Fatalf("state changed: before %+v, after %+v", before.Reply, after.Reply)
			}
		})
	}
	r := request(t, nc, "stock.query.nosuch", "")
	if r.code != 404 {
		t.Fatalf("bad input created a sku: %+v", r.Reply)
	}
}
