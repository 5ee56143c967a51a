package loadgen

import (
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/stockstate/stock/wire"
)

// Kind is the outcome of one request attempt. Every attempt that was sent
// ends in exactly one Kind, so the per-kind counts of a phase add up to the
// number of attempts sent.
type Kind int

const (
	KindGranted Kind = iota
	KindSoldOut
	KindInsufficient
	KindUnavailable
	KindBadRequest
	KindUnknownSKU
	KindInternal
	KindUnknownHold
	KindExpired
	KindBuyerLimit   // the buyer would pass the SKU's per-buyer cap
	KindInvalid      // a reply loadgen does not understand (bad JSON, unknown error kind, wrong SKU)
	KindNoResponders // NATS answered 503 "no responders": nobody subscribes to the subject now
	KindTimeout      // no reply within -timeout
	KindSendError    // the publish itself failed
	numKinds
)

var kindNames = [numKinds]string{
	KindGranted:      "granted",
	KindSoldOut:      wire.ErrSoldOut,
	KindInsufficient: wire.ErrInsufficient,
	KindUnavailable:  wire.ErrUnavailable,
	KindBadRequest:   wire.ErrBadRequest,
	KindUnknownSKU:   wire.ErrUnknownSKU,
	KindInternal:     wire.ErrInternal,
	KindUnknownHold:  wire.ErrUnknownHold,
	KindExpired:      wire.ErrExpired,
	KindBuyerLimit:   wire.ErrBuyerLimit,
	KindInvalid:      "invalid",
	KindNoResponders: "no_responders",
	KindTimeout:      "timeout",
	KindSendError:    "send_error",
}

func (k Kind) String() string {
	if k < 0 || k >= numKinds {
		return "kind?"
	}
	return kindNames[k]
}

// isReply reports whether k is an answer from a responder (as opposed to
// NATS saying nobody listens, a timeout, or a failed publish).
func (k Kind) isReply() bool { return k <= KindInvalid }

// kindOfError maps the "error" field of a reply, or the error of a batch
// item, to a Kind.
func kindOfError[T string | []byte](e T) Kind {
	switch string(e) {
	case wire.ErrSoldOut:
		return KindSoldOut
	case wire.ErrInsufficient:
		return KindInsufficient
	case wire.ErrUnavailable:
		return KindUnavailable
	case wire.ErrBadRequest:
		return KindBadRequest
	case wire.ErrUnknownSKU:
		return KindUnknownSKU
	case wire.ErrInternal:
		return KindInternal
	case wire.ErrUnknownHold:
		return KindUnknownHold
	case wire.ErrExpired:
		return KindExpired
	case wire.ErrBuyerLimit:
		return KindBuyerLimit
	}
	return KindInvalid
}

// kindOfCode maps a Nats-Service-Error-Code header to a Kind, for error
// replies whose body does not name the error: 409 by what remains.
func kindOfCode(code string, remaining int64) Kind {
	c, err := strconv.Atoi(strings.TrimSpace(code))
	switch {
	case err != nil:
		return KindInvalid
	case c == 409 && remaining > 0:
		return KindInsufficient
	case c == 409:
		return KindSoldOut
	}
	return kindOfError(wire.KindOfCode(c))
}

// isNoResponders reports whether m is the status message the NATS server
// sends back when a request's subject has no subscribers (the client must
// support headers, which nats.go does by default).
func isNoResponders(m *nats.Msg) bool {
	return len(m.Data) == 0 && m.Header != nil && m.Header.Get("Status") == "503"
}

// classify decides the outcome of a reply message and decodes its body into v.
// The SKU in the body is checked by the caller, which knows what it asked for.
func classify(m *nats.Msg, v *wire.ReplyView) Kind {
	if isNoResponders(m) {
		return KindNoResponders
	}
	ok := wire.DecodeReplyView(m.Data, v)
	var code string
	if m.Header != nil {
		code = m.Header.Get(wire.HeaderErrorCode)
	}
	switch {
	case ok && len(v.Error) > 0:
		return kindOfError(v.Error)
	case code != "":
		return kindOfCode(code, v.Remaining)
	case !ok:
		return KindInvalid
	case v.Granted > 0 || v.Held > 0 || v.Confirmed > 0:
		return KindGranted // acquire, hold or confirm
	}
	return KindInvalid
}
