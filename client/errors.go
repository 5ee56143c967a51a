package client

import (
	"errors"
	"fmt"

	"github.com/stockstate/stock/wire"
)

// Sentinels, one per error kind of the protocol. An *Error matches the one
// of its kind: errors.Is(err, ErrSoldOut).
var (
	ErrBadRequest   = errors.New("client: bad request")    // 400: the request cannot be served as sent
	ErrUnknownSKU   = errors.New("client: unknown sku")    // 404: no such SKU
	ErrSoldOut      = errors.New("client: sold out")       // 409: nothing remains
	ErrInsufficient = errors.New("client: insufficient")   // 409: less remains than asked for
	ErrUnavailable  = errors.New("client: unavailable")    // 503: no node could serve; retried until the call ends
	ErrInternal     = errors.New("client: internal error") // 500: a bug or a corrupt record; not retried
	ErrUnknownHold  = errors.New("client: unknown hold")   // 404: no such hold, or it ended long ago
	ErrExpired      = errors.New("client: hold expired")   // 409: the hold expired and its units came back
	ErrBuyerLimit   = errors.New("client: buyer limit")    // 409: the buyer would pass the SKU's per-buyer cap; not retried
)

// Error is an error reply of the responder. Use errors.Is with a sentinel
// to test its kind, and errors.As to read Remaining or, for buyer_limit,
// what the buyer has:
//
//	var e *client.Error
//	if errors.As(err, &e) && errors.Is(err, client.ErrInsufficient) {
//		retryWith(e.Remaining)
//	}
type Error struct {
	Code      int    // status code of the Nats-Service-Error-Code header: 400, 404, 409, 500 or 503
	Kind      string // the reply's "error": wire.ErrSoldOut and the like
	Message   string // the reply's "message", for people
	SKU       string
	Remaining int64 // units left; set for insufficient

	// Set for buyer_limit: the buyer's units for good (acquired, or
	// confirmed holds, less released), in its live holds, and the SKU's
	// cap; a request of n was refused as Bought+Held+n > PerBuyer. A
	// batched reply leaves them 0.
	Bought, Held, PerBuyer int64
}

func (e *Error) Error() string {
	return fmt.Sprintf("client: %s: %s (%d): %s", e.SKU, e.Kind, e.Code, e.Message)
}

// Is reports whether target is the sentinel of e's kind. A kind this
// package does not know is matched by its code when the code names one
// kind (400, 404, 500, 503), so a newer responder's finer kinds still
// match the sentinel of their class.
func (e *Error) Is(target error) bool {
	s := sentinel(e.Kind)
	if s == nil {
		s = sentinel(wire.KindOfCode(e.Code))
	}
	return s != nil && s == target
}

func sentinel(kind string) error {
	switch kind {
	case wire.ErrBadRequest:
		return ErrBadRequest
	case wire.ErrUnknownSKU:
		return ErrUnknownSKU
	case wire.ErrSoldOut:
		return ErrSoldOut
	case wire.ErrInsufficient:
		return ErrInsufficient
	case wire.ErrUnavailable:
		return ErrUnavailable
	case wire.ErrInternal:
		return ErrInternal
	case wire.ErrUnknownHold:
		return ErrUnknownHold
	case wire.ErrExpired:
		return ErrExpired
	case wire.ErrBuyerLimit:
		return ErrBuyerLimit
	}
	return nil
}

// retryable reports whether a reply error asks for another attempt.
func (e *Error) retryable() bool { return errors.Is(e, ErrUnavailable) }
