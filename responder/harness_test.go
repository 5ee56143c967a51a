package responder_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/internal/stocktest"
	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/wire"
)

const testTTL = stocktest.TTL

func newCluster(t testing.TB) *stocktest.Cluster { return stocktest.NewCluster(t) }

// reply is a decoded answer with its status code (0 on success).
type reply struct {
	wire.Reply
	code   int
	header string
}

// request sends body to subject and decodes the reply.
func request(t testing.TB, nc *nats.Conn, subject, body string) reply {
	t.Helper()
	r, err := tryRequest(nc, subject, body, 5*time.Second)
	if err != nil {
		t.Fatalf("%s %s: %v", subject, body, err)
	}
	return r
}

func tryRequest(nc *nats.Conn, subject, body string, timeout time.Duration) (reply, error) {
	m, err := nc.Request(subject, []byte(body), timeout)
	if err != nil {
		return reply{}, err
	}
	return decodeReply(m)
}

func decodeReply(m *nats.Msg) (reply, error) {
	var r reply
	dec := json.NewDecoder(bytes.NewReader(m.Data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r.Reply); err != nil {
		return r, fmt.Errorf("reply %q: %w", m.Data, err)
	}
	if c := m.Header.Get(wire.HeaderErrorCode); c != "" {
		code, err := strconv.Atoi(c)
		if err != nil {
			return r, fmt.Errorf("bad code header %q", c)
		}
		r.code, r.header = code, m.Header.Get(wire.HeaderError)
	}
	if (r.code == 0) != (r.Error == "") {
		return r, fmt.Errorf("reply %q has code %d and error %q", m.Data, r.code, r.Error)
	}
	return r, nil
}

// retriable reports whether err or r asks the client to retry: no
// responders during a failover, a timeout, or unavailable.
func retriable(r reply, err error) bool {
	if err != nil {
		return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout)
	}
	return r.Error == wire.ErrUnavailable
}

// setLimit creates sku with limit through whichever node leads.
func setLimit(t testing.TB, nc *nats.Conn, sku string, limit int64) reply {
	t.Helper()
	var r reply
	testenv.Eventually(t, 15*time.Second, 10*time.Millisecond, func() error {
		var err error
		r, err = tryRequest(nc, "stock.admin.set."+sku, fmt.Sprintf(`{"limit":%d}`, limit), 5*time.Second)
		if retriable(r, err) {
			return fmt.Errorf("set %s: %v %+v", sku, err, r)
		}
		if err != nil {
			t.Fatal(err)
		}
		return nil
	})
	if r.Error != "" {
		t.Fatalf("set %s: %+v", sku, r)
	}
	return r
}
