package wire

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stockstate/stock/stock"
)

// FuzzDecodeBinaryBatch: any input either fails cleanly or decodes to items
// that encode back to the same bytes.
func FuzzDecodeBinaryBatch(f *testing.F) {
	f.Add(AppendBatchRequest(nil, []BatchItem{{SKU: "a", N: 1}, {SKU: "b", N: 3, ID: "x"}}))
	f.Add([]byte{1, 0})
	f.Add([]byte{1, 5, 1, 'a'})
	f.Fuzz(func(t *testing.T, body []byte) {
		if len(body) == 0 || body[0] != BatchBinary {
			return
		}
		spans, err := DecodeBinaryBatch(body, nil)
		if err != nil {
			return
		}
		items := publicItems(body, spans)
		if len(items) > MaxBatchItems {
			t.Fatalf("%d items", len(items))
		}
		for _, it := range items {
			if it.N < 0 {
				t.Fatalf("negative n from %x", body)
			}
		}
		// Canonical encodings round-trip; non-minimal varints may not.
		again := AppendBatchRequest(nil, items)
		backSpans, err := DecodeBinaryBatch(again, nil)
		if err != nil || len(backSpans) != len(items) {
			t.Fatalf("re-decoding %x: %v", again, err)
		}
		back := publicItems(again, backSpans)
		for i := range back {
			if back[i] != items[i] {
				t.Fatalf("item %d: %+v became %+v", i, items[i], back[i])
			}
		}
	})
}

// FuzzDecodeJSONBatch: any input either fails whole or yields one item per
// array element, and an item that read well has what encoding/json reads in
// it, with n in range.
func FuzzDecodeJSONBatch(f *testing.F) {
	f.Add([]byte(`[{"sku":"a","n":2,"id":"x"},{"sku":"b"}]`))
	f.Add([]byte(`[{"sku":"a","n":0},{"n":"1"},{"sku":"a","x":1},1,null]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"sku":"a","n":2,"id":"x","buyer":"u-1"},{"sku":"b","buyer":""},{"sku":"c","buyer":"u 1"},{"sku":"d","buyer":null}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		items, data, msgs, err := DecodeJSONBatch(body, nil, nil, nil)
		if err != nil {
			return
		}
		var raw []json.RawMessage
		if json.Unmarshal(body, &raw) != nil || len(raw) != len(items) || len(msgs) != len(items) {
			t.Fatalf("%q: %d items, %d messages; encoding/json reads %d elements", body, len(items), len(msgs), len(raw))
		}
		for i, it := range items {
			if msgs[i] != "" {
				continue
			}
			var fields struct { // pointers, as a later null unsets an earlier value
				SKU, ID, Buyer *string
				N              int64
			}
			if err := json.Unmarshal(raw[i], &fields); err != nil {
				t.Fatalf("item %d %q read well but encoding/json says %v", i, raw[i], err)
			}
			ref := BatchItem{N: fields.N}
			for _, f := range []struct{ p, to *string }{{fields.SKU, &ref.SKU}, {fields.ID, &ref.ID}, {fields.Buyer, &ref.Buyer}} {
				if f.p != nil {
					*f.to = *f.p
				}
			}
			if ref.N == 0 {
				ref.N = 1 // absent n means 1
			}
			got := BatchItem{SKU: string(it.SKU(data)), N: it.N, ID: string(it.ID(data)), Buyer: string(it.Buyer(data))}
			if got != ref || it.N < 1 || it.N > stock.MaxUnits || it.HasBuyer() != (got.Buyer != "") || it.HasBuyer() && !ValidBuyer(got.Buyer) {
				t.Fatalf("item %d %q: %+v, encoding/json reads %+v", i, raw[i], got, ref)
			}
		}
	})
}

// publicItems turns decoded items into BatchItems.
func publicItems(data []byte, spans []ItemSpan) []BatchItem {
	items := make([]BatchItem, len(spans))
	for i := range spans {
		items[i] = BatchItem{SKU: string(spans[i].SKU(data)), N: spans[i].N, ID: string(spans[i].ID(data))}
	}
	return items
}

func TestBatchReplyRoundTrip(t *testing.T) {
	results := []ItemResult{{Granted: 2, Remaining: 5}, {Status: 3}, {Status: 4, Remaining: 1}, {Granted: 1000000, Remaining: 1 << 40}}
	body := AppendBinaryReply([]byte("xy"), results)
	if string(body[:2]) != "xy" {
		t.Fatalf("prefix lost: %x", body)
	}
	body = body[2:]
	got, err := DecodeBatchReply(body, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []BatchResult{{Granted: 2, Remaining: 5}, {Error: ErrSoldOut, Code: 409}, {Error: ErrInsufficient, Code: 409, Remaining: 1}, {Granted: 1000000, Remaining: 1 << 40}}
	if len(got) != len(want) {
		t.Fatalf("%d results", len(got))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("result %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, err := DecodeBatchReply(body[:len(body)-1], nil); err == nil {
		t.Fatal("truncated reply decoded")
	}
	if !bytes.Equal(body[:1], []byte{1}) {
		t.Fatal("no version byte")
	}
}

func BenchmarkDecodeBatch(b *testing.B) {
	items := make([]BatchItem, 256)
	for i := range items {
		items[i] = BatchItem{SKU: "sku" + string(rune('a'+i%26)), N: 1}
	}
	bin := AppendBatchRequest(nil, items)
	js := []byte(`[`)
	for i, it := range items {
		if i > 0 {
			js = append(js, ',')
		}
		js = append(js, `{"sku":"`+it.SKU+`","n":1}`...)
	}
	js = append(js, ']')
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		var buf []ItemSpan
		for b.Loop() {
			buf, _ = DecodeBinaryBatch(bin, buf[:0])
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/item")
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		var items []ItemSpan
		var data []byte
		var msgs []string
		for b.Loop() {
			items, data, msgs, _ = DecodeJSONBatch(js, items[:0], data[:0], msgs[:0])
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(items)), "ns/item")
	})
}
