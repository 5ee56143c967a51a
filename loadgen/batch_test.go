package loadgen

import (
	"bytes"
	"testing"

	"github.com/stockstate/stock/wire"
)

// TestBatchItemsEncoding: a batch built from batchItems is the bytes
// wire.AppendBatchRequest writes.
func TestBatchItemsEncoding(t *testing.T) {
	names := []string{"a", "sku-1", string(bytes.Repeat([]byte("x"), 200))}
	for _, n := range []int64{1, 3, 300} {
		enc := batchItems(names, n)
		var items []wire.BatchItem
		got := []byte{0x01, 5}
		for _, k := range []int{0, 2, 1, 1, 0} {
			items = append(items, wire.BatchItem{SKU: names[k], N: n})
			got = append(got, enc[k]...)
		}
		if want := wire.AppendBatchRequest(nil, items); !bytes.Equal(got, want) {
			t.Fatalf("n=%d: %x, want %x", n, got, want)
		}
	}
}

// TestDecodeBatchReply: loadgen's decoder agrees with the responder's on
// every prefix of a reply: the same results, or both refuse it.
func TestDecodeBatchReply(t *testing.T) {
	body := []byte{0x01, 4}
	for _, r := range []struct {
		status byte
		g, rem uint64
	}{{0, 1, 500}, {3, 0, 0}, {4, 0, 2}, {0, 2, 300000}} {
		body = append(body, r.status)
		body = appendUvarint(body, r.g)
		body = appendUvarint(body, r.rem)
	}
	for l := 0; l <= len(body); l++ {
		want, werr := wire.DecodeBatchReply(body[:l], nil)
		got, gerr := decodeBatchReply(body[:l], nil)
		if (werr == nil) != (gerr == nil) || len(got) != len(want) {
			t.Fatalf("prefix %d: %v, %v; responder: %v, %v", l, got, gerr, want, werr)
		}
		for i, w := range want {
			kind := KindGranted
			if w.Error != "" {
				kind = kindOfError(w.Error)
			}
			if g := got[i]; g.kind != kind || g.granted != w.Granted || g.remaining != w.Remaining {
				t.Fatalf("prefix %d, result %d: %+v, responder: %+v", l, i, g, w)
			}
		}
	}
	if _, err := decodeBatchReply([]byte{0x01, 1, byte(len(wire.BatchStatuses)), 0, 0}, nil); err == nil {
		t.Fatal("unknown status accepted")
	}
}

func appendUvarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}
