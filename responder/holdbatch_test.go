package responder_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/wire"
)

// holdBatch sends a batch of holds and decodes its reply, one result per item.
func holdBatch(t testing.TB, nc *nats.Conn, body string) ([]wire.HoldResult, []json.RawMessage) {
	t.Helper()
	m, err := nc.Request("stock.hold", []byte(body), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(m.Data, &raw); err != nil {
		t.Fatalf("%q: %v", m.Data, err)
	}
	out := make([]wire.HoldResult, len(raw))
	for i, r := range raw {
		dec := json.NewDecoder(bytes.NewReader(r))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&out[i]); err != nil {
			t.Fatalf("item %d %s: %v", i, r, err)
		}
	}
	return out, raw
}

// TestHoldBatchItems: one batch of holds mixes SKUs, good items and every
// kind of bad item; each item gets the answer its single hold would get,
// repeats included, and bad items change nothing.
func TestHoldBatchItems(t *testing.T) {
	c := newCluster(t)
	c.Start("node-a", "").WaitLeading(t)
	nc := c.NC
	setLimit(t, nc, "sku1", 10)
	setLimit(t, nc, "sku2", 1)

	body := `[{"sku":"sku1","n":2,"id":"b-1","ttl_s":60},` +
		`{"sku":"sku2","id":"b-2"},` +
		`{"sku":"sku2","id":"b-3"},` +
		`{"sku":"sku1","n":2,"id":"b-1","ttl_s":60},` +
		`{"sku":"nosuch","id":"b-4"},` +
		`{"sku":"sku2","id":"b-1"},` +
		`{"sku":"sku1","n":0,"id":"b-5"},` +
		`{"sku":"sku1","n":1},` +
		`{"sku":"a*b","id":"b-6"},` +
		`{"sku":"sku1","id":"b-7","ttl_s":0},` +
		`{"sku":"sku1","id":"b-8","ttl":900},` +
		`{"id":"b-9"},` +
		`7]`
	got, raw := holdBatch(t, nc, body)
	want := []struct {
		kind      string
		code      int
		held, rem int64
	}{
		{"", 0, 2, 8}, {"", 0, 1, 0}, {wire.ErrSoldOut, 409, 0, 0}, {"", 0, 2, 8}, {wire.ErrUnknownSKU, 404, 0, 0},
		{wire.ErrBadRequest, 400, 0, 0}, {wire.ErrBadRequest, 400, 0, 0}, {wire.ErrBadRequest, 400, 0, 0},
		{wire.ErrBadRequest, 400, 0, 0}, {wire.ErrBadRequest, 400, 0, 0}, {wire.ErrBadRequest, 400, 0, 0},
		{wire.ErrBadRequest, 400, 0, 0}, {wire.ErrBadRequest, 400, 0, 0},
	}
	if len(got) != len(want) {
		t.Fatalf("%d results for %d items: %s", len(got), len(want), raw)
	}
	for i, w := range want {
		r := got[i]
		if r.Error != w.kind || r.Code != w.code || r.Held != w.held || r.Remaining != w.rem || (w.kind != "") != (r.Message != "") {
			t.Errorf("item %d: %s, want %+v", i, raw[i], w)
		}
	}
	if !bytes.Equal(raw[0], raw[3]) {
		t.Errorf("a repeated item got %s, the first %s", raw[3], raw[0])
	}
	if single := request(t, nc, "stock.hold.sku2", `{"id":"b-2"}`); single.Held != 1 || single.ExpiresAt != got[1].ExpiresAt {
		t.Errorf("the batch's hold repeated on the single subject: %+v, want %s", single.Reply, raw[1])
	}
	if q := query(t, nc, "sku1"); q.Held != 2 || q.Remaining != 8 || q.Sold != 2 {
		t.Fatalf("sku1 after the batch: %+v", q)
	}
	again, raw2 := holdBatch(t, nc, body)
	for i := range 2 {
		if !bytes.Equal(raw2[i], raw[i]) {
			t.Errorf("repeated batch, item %d: %s, want the first answer %s", i, raw2[i], raw[i])
		}
	}
	if again[0].Held != 2 {
		t.Fatalf("repeated batch: %+v", again[0])
	}
	if q := query(t, nc, "sku1"); q.Held != 2 || q.Sold != 2 {
		t.Fatalf("sku1 after the repeated batch: %+v", q)
	}
	if r := request(t, nc, "stock.confirm.sku1", `{"id":"b-1"}`); r.Confirmed != 2 {
		t.Fatalf("confirm of a batch's hold: %+v", r.Reply)
	}
	if r := request(t, nc, "stock.cancel.sku2", `{"id":"b-2"}`); r.Cancelled != 1 || r.Remaining != 1 {
		t.Fatalf("cancel of a batch's hold: %+v", r.Reply)
	}
}

// TestHoldBatchMalformed: a message that is not a batch of holds at all gets
// one bad_request error and changes nothing.
func TestHoldBatchMalformed(t *testing.T) {
	c := newCluster(t)
	c.Start("node-a", "").WaitLeading(t)
	setLimit(t, c.NC, "a", 10)
	tooMany := "[" + strings.Repeat(`{"sku":"a","id":"x"},`, wire.MaxBatchItems) + `{"sku":"a","id":"x"}]`
	for _, body := range []string{"", "{}", "[", `{"sku":"a","id":"x"}`, "\x01\x01\x01a\x01\x00", tooMany} {
		r := request(t, c.NC, "stock.hold", body)
		if r.code != 400 || r.Error != wire.ErrBadRequest || r.Message == "" {
			t.Errorf("%.40q: %+v code %d", body, r.Reply, r.code)
		}
	}
	if q := query(t, c.NC, "a"); q.Sold != 0 || q.Held != 0 {
		t.Fatalf("after malformed batches: %+v", q)
	}
}

// TestHoldBatchesToSellOut: concurrent batches of holds on one SKU hold
// exactly its limit, no unit twice.
func TestHoldBatchesToSellOut(t *testing.T) {
	c := newCluster(t)
	c.Start("node-a", "").WaitLeading(t)
	nc := c.NC
	const limit, workers, batches, items = 500, 16, 5, 10
	setLimit(t, nc, "flash", limit)
	var mu sync.Mutex
	var held, refused int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for b := range batches {
				var sb strings.Builder
				sb.WriteByte('[')
				for i := range items {
					if i > 0 {
						sb.WriteByte(',')
					}
					fmt.Fprintf(&sb, `{"sku":"flash","id":"w%d-b%d-i%d","ttl_s":600}`, w, b, i)
				}
				sb.WriteByte(']')
				got, raw := holdBatch(t, nc, sb.String())
				mu.Lock()
				for i, r := range got {
					switch {
					case r.Held == 1 && r.Error == "":
						held++
					case r.Error == wire.ErrSoldOut:
						refused++
					default:
						t.Errorf("item %d: %s", i, raw[i])
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if held != limit || held+refused != workers*batches*items {
		t.Fatalf("%d held, %d refused of %d, want %d held", held, refused, workers*batches*items, limit)
	}
	if q := query(t, nc, "flash"); q.Held != limit || q.Remaining != 0 {
		t.Fatalf("after the batches: %+v", q)
	}
}
