package wire

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"
)

// splitItems are the items the split tests encode: defaults, ids that need
// escaping, buyers, and the largest n.
var splitItems = []BatchItem{
	{SKU: "a", N: 1},
	{SKU: "sku-2:x", N: 1_000_000, ID: `q"u\o<t>e&` + "\u2028é"},
	{SKU: "c_3", N: 7, ID: "o-1", Buyer: "u-1@x.y"},
	{SKU: "d", N: 2, Buyer: "b:2"},
}

// TestSplitBinaryItems: the binary sub-batch of some items decodes to those
// items, in the order asked for.
func TestSplitBinaryItems(t *testing.T) {
	body := AppendBatchRequest(nil, splitItems)
	spans, err := DecodeBinaryBatch(body, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, idx := range [][]int{{}, {0}, {3, 1}, {0, 1, 2, 3}} {
		sub := AppendBinaryItems(nil, body, spans, idx)
		got, err := DecodeBinaryBatch(sub, nil)
		if err != nil {
			t.Fatalf("%v: %v", idx, err)
		}
		back := publicItems(sub, got)
		if len(back) != len(idx) {
			t.Fatalf("%v: %d items", idx, len(back))
		}
		for k, i := range idx {
			want := splitItems[i]
			want.Buyer = "" // binary items carry none
			if back[k] != want {
				t.Fatalf("%v: item %d is %+v, want %+v", idx, k, back[k], want)
			}
		}
	}
}

// TestSplitJSONItems: the JSON sub-batch of some items decodes, with the
// responder's decoder, to the same SKUs, units, ids and buyers.
func TestSplitJSONItems(t *testing.T) {
	body, err := json.Marshal(splitItems)
	if err != nil {
		t.Fatal(err)
	}
	spans, data, msgs, err := DecodeJSONBatch(body, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(msgs, func(m string) bool { return m != "" }) {
		t.Fatalf("items did not read: %q", msgs)
	}
	idx := []int{2, 0, 3, 1}
	sub := AppendJSONItems(nil, data, spans, idx)
	got, gotData, gotMsgs, err := DecodeJSONBatch(sub, nil, nil, nil)
	if err != nil {
		t.Fatalf("%s: %v", sub, err)
	}
	if len(got) != len(idx) {
		t.Fatalf("%s: %d items", sub, len(got))
	}
	for k, i := range idx {
		if gotMsgs[k] != "" {
			t.Fatalf("item %d of %s: %s", k, sub, gotMsgs[k])
		}
		g, w := &got[k], &spans[i]
		if !bytes.Equal(g.SKU(gotData), w.SKU(data)) || g.N != w.N || !bytes.Equal(g.ID(gotData), w.ID(data)) ||
			g.HasID() != w.HasID() || !bytes.Equal(g.Buyer(gotData), w.Buyer(data)) || g.HasBuyer() != w.HasBuyer() {
			t.Fatalf("item %d of %s differs from item %d of %s", k, sub, i, body)
		}
	}
	if s := AppendJSONItems(nil, data, spans, nil); string(s) != "[]" {
		t.Fatalf("no items: %s", s)
	}
}

// TestSplitHoldItems: the hold sub-batch of some specs decodes to the same
// specs, defaults written out.
func TestSplitHoldItems(t *testing.T) {
	body := []byte(`[{"sku":"a","id":"h-1"},{"sku":"b","n":3,"id":"h\"2","ttl_s":60,"buyer":"u-1"},{"sku":"c","n":1,"id":"h-3","ttl_s":86400}]`)
	specs, msgs, err := DecodeHoldBatch(body)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(msgs, func(m string) bool { return m != "" }) {
		t.Fatalf("items did not read: %q", msgs)
	}
	if specs[0].TTL != 900*time.Second || specs[0].N != 1 {
		t.Fatalf("defaults: %+v", specs[0])
	}
	idx := []int{1, 2, 0}
	sub := AppendHoldItems(nil, specs, idx)
	got, gotMsgs, err := DecodeHoldBatch(sub)
	if err != nil {
		t.Fatalf("%s: %v", sub, err)
	}
	for k, i := range idx {
		if gotMsgs[k] != "" || got[k] != specs[i] {
			t.Fatalf("item %d of %s: %+v (%s), want %+v", k, sub, got[k], gotMsgs[k], specs[i])
		}
	}
}

// TestSplitBinaryResults: a binary reply decodes to its results, status
// bytes kept, and encodes back to the same bytes; broken replies fail.
func TestSplitBinaryResults(t *testing.T) {
	want := []ItemResult{
		{Granted: 3, Remaining: 1 << 40},
		{Status: StatusOf(ErrSoldOut)},
		{Status: StatusOf(ErrInsufficient), Remaining: 2},
		{Status: StatusOf(ErrUnavailable)},
	}
	body := AppendBinaryReply(nil, want)
	got, err := DecodeBinaryResults(body, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if again := AppendBinaryReply(nil, got); !bytes.Equal(again, body) {
		t.Fatalf("re-encoded %x, want %x", again, body)
	}
	for _, bad := range [][]byte{nil, {0x02, 0}, {BatchBinary}, body[:len(body)-1], append(slices.Clip(body), 0), {BatchBinary, 1, byte(len(BatchStatuses)), 0, 0}} {
		if _, err := DecodeBinaryResults(bad, nil); err == nil {
			t.Errorf("%x decoded", bad)
		}
	}
}

// TestSplitJSONReplyItems: a JSON reply splits into its items as sent; a
// body that is not an array fails.
func TestSplitJSONReplyItems(t *testing.T) {
	one := AppendJSONResult(nil, "a", ItemResult{Granted: 1, Remaining: 4}, "")
	two := AppendItemError(nil, "b", 0, ErrSoldOut, "sold out")
	body := append(append(append(append([]byte{'['}, one...), ','), two...), ']')
	raw, err := JSONReplyItems(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) != 2 || !bytes.Equal(raw[0], one) || !bytes.Equal(raw[1], two) {
		t.Fatalf("got %q", raw)
	}
	for _, bad := range []string{"", "{}", "[", `{"error":"unavailable"}`} {
		if _, err := JSONReplyItems([]byte(bad)); err == nil {
			t.Errorf("%q split", bad)
		}
	}
}
