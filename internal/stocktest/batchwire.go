package stocktest

import (
	"encoding/binary"
	"errors"

	"github.com/stockstate/stock/wire"
)

// DecodeBatchRequest reads a binary batch request as wire/batch.go
// describes it, written from that description rather than with the
// responder's decoder, so that fakes standing in for a responder check the
// clients' encoding against the documented layout.
func DecodeBatchRequest(b []byte) ([]wire.BatchItem, error) {
	if len(b) == 0 || b[0] != 0x01 {
		return nil, errors.New("not a binary batch")
	}
	b = b[1:]
	uvarint := func() (uint64, error) {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return 0, errors.New("truncated")
		}
		b = b[k:]
		return v, nil
	}
	str := func() (string, error) {
		l, err := uvarint()
		if err != nil || l > uint64(len(b)) {
			return "", errors.New("truncated")
		}
		s := string(b[:l])
		b = b[l:]
		return s, nil
	}
	count, err := uvarint()
	if err != nil {
		return nil, err
	}
	items := make([]wire.BatchItem, count)
	for i := range items {
		if items[i].SKU, err = str(); err != nil {
			return nil, err
		}
		n, err := uvarint()
		if err != nil {
			return nil, err
		}
		items[i].N = int64(n)
		if items[i].ID, err = str(); err != nil {
			return nil, err
		}
	}
	if len(b) != 0 {
		return nil, errors.New("data after the last item")
	}
	return items, nil
}
