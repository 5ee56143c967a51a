package wire

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"strconv"
	"time"
)

// With several partitions, a batch sent to <prefix>.acquire or <prefix>.hold
// is split by partition: the items of each partition go, in their order and
// in the request's encoding, to its PartitionBatchSubject, and the
// partitions' replies are put back at the items' positions. The encoders
// below write such a sub-batch from items already decoded (and found good),
// so that its leader decodes the same values: the same SKU, n, id, buyer and
// TTL. Only the encoding may differ (canonical varints, n and ttl_s written
// out when they were defaults).

// AppendBinaryItems appends the binary batch request of items[i] for each i
// of idx, in that order; the items' spans point into data.
func AppendBinaryItems(b, data []byte, items []ItemSpan, idx []int) []byte {
	b = append(b, BatchBinary)
	b = binary.AppendUvarint(b, uint64(len(idx)))
	for _, i := range idx {
		it := &items[i]
		b = binary.AppendUvarint(b, uint64(it.skuLen))
		b = append(b, it.SKU(data)...)
		b = binary.AppendUvarint(b, uint64(max(it.N, 0)))
		b = binary.AppendUvarint(b, uint64(it.idLen))
		b = append(b, it.ID(data)...)
	}
	return b
}

// AppendJSONItems appends the JSON batch request of items[i] for each i of
// idx, in that order: [{"sku":..,"n":..,"id":..,"buyer":..}, ...], with id
// and buyer only where the item has them. The items' spans point into data.
func AppendJSONItems(b, data []byte, items []ItemSpan, idx []int) []byte {
	b = append(b, '[')
	for k, i := range idx {
		if k > 0 {
			b = append(b, ',')
		}
		it := &items[i]
		b = append(b, `{"sku":`...)
		b = append(b, Quote(string(it.SKU(data)))...)
		b = append(b, `,"n":`...)
		b = strconv.AppendInt(b, it.N, 10)
		if it.HasID() {
			b = append(b, `,"id":`...)
			b = append(b, Quote(string(it.ID(data)))...)
		}
		if it.HasBuyer() {
			b = append(b, `,"buyer":`...)
			b = append(b, Quote(string(it.Buyer(data)))...)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// AppendHoldItems appends the hold batch request of specs[i] for each i of
// idx, in that order: [{"sku":..,"n":..,"id":..,"ttl_s":..,"buyer":..}, ...],
// with buyer only where the spec has one. A spec's TTL is whole seconds, as
// DecodeHoldBatch gives it.
func AppendHoldItems(b []byte, specs []HoldSpec, idx []int) []byte {
	b = append(b, '[')
	for k, i := range idx {
		if k > 0 {
			b = append(b, ',')
		}
		s := &specs[i]
		b = append(b, `{"sku":`...)
		b = append(b, Quote(s.SKU)...)
		b = append(b, `,"n":`...)
		b = strconv.AppendInt(b, s.N, 10)
		b = append(b, `,"id":`...)
		b = append(b, Quote(s.ID)...)
		b = append(b, `,"ttl_s":`...)
		b = strconv.AppendInt(b, int64(s.TTL/time.Second), 10)
		if s.Buyer != "" {
			b = append(b, `,"buyer":`...)
			b = append(b, Quote(s.Buyer)...)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}

// DecodeBinaryResults reads a binary batch reply into out (reusing its
// storage), keeping each item's status byte, so that AppendBinaryReply of
// the results writes the same items again.
func DecodeBinaryResults(body []byte, out []ItemResult) ([]ItemResult, error) {
	if len(body) == 0 || body[0] != BatchBinary {
		return nil, errors.New("batch: not a binary reply")
	}
	count, p := uvarintAt(body, 1)
	if p < 0 || count > MaxBatchItems {
		return nil, errBatchTruncated
	}
	out = out[:0]
	for range count {
		if p >= len(body) || int(body[p]) >= len(BatchStatuses) {
			return nil, errBatchTruncated
		}
		r := ItemResult{Status: body[p]}
		var g, rem uint64
		if g, p = uvarintAt(body, p+1); p < 0 {
			return nil, errBatchTruncated
		}
		if rem, p = uvarintAt(body, p); p < 0 {
			return nil, errBatchTruncated
		}
		r.Granted, r.Remaining = int64(g), int64(rem)
		out = append(out, r)
	}
	if p != len(body) {
		return nil, errors.New("batch: data after the last result")
	}
	return out, nil
}

// JSONReplyItems splits a JSON batch reply (of an acquire or a hold batch)
// into its items, unread, each as it was sent.
func JSONReplyItems(body []byte) ([]json.RawMessage, error) {
	raw, err := jsonItems(body)
	if err != nil {
		return nil, errors.New("batch: not a JSON batch reply")
	}
	return raw, nil
}
