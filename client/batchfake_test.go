package client_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/internal/stocktest"
	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/wire"
)

// batchFake stands in for a responder on the batch subject: a plain
// subscription that decodes each binary batch and answers batch i (from 0)
// with answer(i, items); a nil answer sends nothing.
type batchFake struct {
	mu      sync.Mutex
	batches [][]wire.BatchItem
	bad     []error
}

func startBatchFake(t testing.TB, srv *server.Server, answer func(i int, items []wire.BatchItem) *nats.Msg) *batchFake {
	t.Helper()
	f := &batchFake{}
	nc := testenv.Conn(t, srv)
	_, err := nc.Subscribe("stock.acquire", func(m *nats.Msg) {
		items, err := stocktest.DecodeBatchRequest(m.Data)
		f.mu.Lock()
		i := len(f.batches)
		f.batches = append(f.batches, items)
		if err != nil {
			f.bad = append(f.bad, fmt.Errorf("batch %x: %w", m.Data, err))
		}
		f.mu.Unlock()
		if r := answer(i, items); r != nil {
			// A connection closed at cleanup, while the answer was held, is
			// no failure.
			if err := m.RespondMsg(r); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
				t.Errorf("fake reply: %v", err)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return f
}

// received returns the batches received so far, and fails t if any was
// malformed.
func (f *batchFake) received(t testing.TB) [][]wire.BatchItem {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, err := range f.bad {
		t.Error(err)
	}
	return append([][]wire.BatchItem(nil), f.batches...)
}

// batchReply encodes results as a binary batch reply; a result's Error
// names its status.
func batchReply(results []wire.BatchResult) *nats.Msg {
	b := binary.AppendUvarint([]byte{0x01}, uint64(len(results)))
	for _, r := range results {
		status := -1
		for i, k := range wire.BatchStatuses {
			if k == r.Error {
				status = i
			}
		}
		if status < 0 {
			panic("no status " + r.Error)
		}
		b = append(b, byte(status))
		b = binary.AppendUvarint(b, uint64(r.Granted))
		b = binary.AppendUvarint(b, uint64(r.Remaining))
	}
	return &nats.Msg{Data: b}
}
