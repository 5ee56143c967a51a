package responder

import (
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/stockstate/stock/wire"
)

// answer is one reply: a JSON body, and for errors the status code and
// reason that go into the micro error headers. It is what the dedupe cache
// keeps, so a repeated id gets the same bytes.
type answer struct {
	body []byte
	code int    // 0 for success
	kind int    // index in wire.Kinds, for errors
	desc string // Nats-Service-Error

	granted, remaining int64    // of acquires, for batch replies
	over               *overCap // of a buyer_limit error, for batch replies
}

// overCap is what a buyer_limit error says of the buyer's units.
type overCap struct{ bought, held, perBuyer int64 }

func (a answer) ok() bool { return a.code == 0 }

// final reports whether a repeat of the request must get this answer again.
// Unavailable and internal errors are not final: a retry may succeed.
func (a answer) final() bool { return a.code != 503 && a.code != 500 }

// msg builds the NATS reply for subject.
func (a answer) msg(subject string) *nats.Msg {
	m := &nats.Msg{Subject: subject, Data: a.body}
	if a.code != 0 {
		m.Header = nats.Header{
			wire.HeaderErrorCode: []string{strconv.Itoa(a.code)},
			wire.HeaderError:     []string{a.desc},
		}
	}
	return m
}

func grantAnswer(sku string, granted, remaining int64) answer {
	return answer{body: wire.AppendGrant(make([]byte, 0, 80+len(sku)), sku, granted, remaining), granted: granted, remaining: remaining}
}

// grantBuffers recycle the bodies of grants that no dedupe entry keeps:
// NATS copies a body into its write buffer before Publish returns.
var grantBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 128); return &b }}

func releaseAnswer(sku string, released, remaining int64) answer {
	return answer{body: wire.AppendRelease(make([]byte, 0, 80+len(sku)), sku, released, remaining)}
}

// queryAnswer is the reply of query and admin.set. leader is JSON-quoted.
func queryAnswer(sku string, limit, sold, held, perBuyer int64, leader []byte) answer {
	return answer{body: wire.AppendQuery(make([]byte, 0, 128+len(sku)+len(leader)), sku, limit, sold, held, perBuyer, leader)}
}

// appendItemError appends a's error as an item of a batch reply.
func appendItemError(b []byte, sku string, a answer) []byte {
	if o := a.over; o != nil {
		return wire.AppendBuyerLimit(b, sku, a.remaining, o.bought, o.held, o.perBuyer, a.desc, true)
	}
	return wire.AppendItemError(b, sku, a.remaining, wire.Kinds[a.kind], a.desc)
}

func deletedAnswer(sku string) answer {
	return answer{body: wire.AppendDeleted(make([]byte, 0, 40+len(sku)), sku)}
}

// errorAnswer is an error reply of kind (a wire.Err* constant).
func errorAnswer(sku string, remaining int64, kind, message string) answer {
	b := wire.AppendError(make([]byte, 0, 80+len(sku)+len(message)), sku, remaining, kind, message)
	return answer{body: b, code: wire.Code(kind), kind: wire.KindIndex(kind), desc: message, remaining: remaining}
}
