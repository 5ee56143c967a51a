package responder

import (
	"encoding/json"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"
)

// answer is one reply: a JSON body, and for errors the status code and
// reason that go into the micro error headers. It is what the dedupe cache
// keeps, so a repeated id gets the same bytes.
type answer struct {
	body []byte
	code int    // 0 for success
	kind int    // index in kindNames, for errors
	desc string // Nats-Service-Error

	granted, remaining int64 // of acquires, for batch replies
}

func (a answer) ok() bool { return a.code == 0 }

// final reports whether a repeat of the request must get this answer again.
// Unavailable and internal errors are not final: a retry may succeed.
func (a answer) final() bool { return a.code != 503 && a.code != 500 }

// msg builds the NATS reply for subject.
func (a answer) msg(subject string) *nats.Msg {
	m := &nats.Msg{Subject: subject, Data: a.body}
	if a.code != 0 {
		m.Header = nats.Header{
			HeaderErrorCode: []string{strconv.Itoa(a.code)},
			HeaderError:     []string{a.desc},
		}
	}
	return m
}

// Status codes of the error kinds.
var errorCodes = map[string]int{
	ErrBadRequest:   400,
	ErrUnknownSKU:   404,
	ErrSoldOut:      409,
	ErrInsufficient: 409,
	ErrUnavailable:  503,
	ErrInternal:     500,
}

// The hand-written encoders below write the same JSON that encoding/json
// writes for Reply. SKUs are validated tokens and need no escaping.

func grantAnswer(sku string, granted, remaining int64) answer {
	return answer{body: appendGrant(make([]byte, 0, 80+len(sku)), sku, granted, remaining), granted: granted, remaining: remaining}
}

// appendGrant appends the reply to a grant to b.
func appendGrant(b []byte, sku string, granted, remaining int64) []byte {
	b = append(b, `{"sku":"`...)
	b = append(b, sku...)
	b = append(b, `","granted":`...)
	b = strconv.AppendInt(b, granted, 10)
	b = append(b, `,"remaining":`...)
	b = strconv.AppendInt(b, remaining, 10)
	return append(b, '}')
}

// grantBuffers recycle the bodies of grants that no dedupe entry keeps:
// NATS copies a body into its write buffer before Publish returns.
var grantBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 128); return &b }}

func releaseAnswer(sku string, released, remaining int64) answer {
	b := make([]byte, 0, 80+len(sku))
	b = append(b, `{"sku":"`...)
	b = append(b, sku...)
	b = append(b, `","released":`...)
	b = strconv.AppendInt(b, released, 10)
	b = append(b, `,"remaining":`...)
	b = strconv.AppendInt(b, remaining, 10)
	b = append(b, '}')
	return answer{body: b}
}

// queryAnswer is the reply of query and admin.set. leader is JSON-quoted.
func queryAnswer(sku string, limit, sold int64, leader []byte) answer {
	b := make([]byte, 0, 96+len(sku)+len(leader))
	b = append(b, `{"sku":"`...)
	b = append(b, sku...)
	b = append(b, `","limit":`...)
	b = strconv.AppendInt(b, limit, 10)
	b = append(b, `,"sold":`...)
	b = strconv.AppendInt(b, sold, 10)
	b = append(b, `,"remaining":`...)
	b = strconv.AppendInt(b, limit-sold, 10)
	b = append(b, `,"leader":`...)
	b = append(b, leader...)
	b = append(b, '}')
	return answer{body: b}
}

func deletedAnswer(sku string) answer {
	return answer{body: []byte(`{"sku":"` + sku + `","deleted":true}`)}
}

// errorAnswer is an error reply of kind (an Err* constant). sku may be any
// string the client sent, so it is escaped.
func errorAnswer(sku string, remaining int64, kind, message string) answer {
	b := make([]byte, 0, 80+len(sku)+len(message))
	b = append(b, `{"sku":`...)
	b = append(b, quote(sku)...)
	b = append(b, `,"granted":0,"remaining":`...)
	b = strconv.AppendInt(b, remaining, 10)
	b = append(b, `,"error":"`...)
	b = append(b, kind...)
	b = append(b, `","message":`...)
	b = append(b, quote(message)...)
	b = append(b, '}')
	return answer{body: b, code: errorCodes[kind], kind: kindIndex(kind), desc: message, remaining: remaining}
}

// quote returns s as a JSON string.
func quote(s string) []byte {
	b, _ := json.Marshal(s)
	return b
}
