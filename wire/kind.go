package wire

// Error kinds, the "error" field of a reply, with their status codes in the
// Nats-Service-Error-Code header.
const (
	ErrBadRequest   = "bad_request"  // 400
	ErrUnknownSKU   = "unknown_sku"  // 404
	ErrSoldOut      = "sold_out"     // 409
	ErrInsufficient = "insufficient" // 409
	ErrUnavailable  = "unavailable"  // 503
	ErrInternal     = "internal"     // 500
	ErrUnknownHold  = "unknown_hold" // 404: no such hold, or it ended long ago
	ErrExpired      = "expired"      // 409: the hold expired and its units came back
	ErrBuyerLimit   = "buyer_limit"  // 409: the buyer would pass the SKU's per-buyer cap
)

// Header names of NATS micro service errors.
const (
	HeaderErrorCode = "Nats-Service-Error-Code"
	HeaderError     = "Nats-Service-Error"
)

// Kinds lists the error kinds; a kind's index is its number in counters
// and, plus one, its status byte in binary batch replies. New kinds go at
// the end, so that existing status bytes keep their meaning.
var Kinds = [...]string{ErrBadRequest, ErrUnknownSKU, ErrSoldOut, ErrInsufficient, ErrUnavailable, ErrInternal, ErrUnknownHold, ErrExpired, ErrBuyerLimit}

// NumKinds is the number of error kinds.
const NumKinds = len(Kinds)

var codes = [NumKinds]int{400, 404, 409, 409, 503, 500, 404, 409, 409}

// Indexes in Kinds of ErrInternal and ErrBuyerLimit.
const (
	internalIndex   = 5
	buyerLimitIndex = 8
)

// KindIndex is the index of kind in Kinds; an unknown kind counts as internal.
func KindIndex(kind string) int {
	for i, k := range Kinds {
		if k == kind {
			return i
		}
	}
	return internalIndex
}

// Code is the status code of kind, or 0 if kind is not one of Kinds.
func Code(kind string) int {
	for i, k := range Kinds {
		if k == kind {
			return codes[i]
		}
	}
	return 0
}

// KindOfCode names the kind of a code, for an error reply whose body does
// not say: 404 is unknown_sku (unknown_hold always comes with its body);
// 409 is left empty, as it has several kinds, and so is a code not in the
// protocol.
func KindOfCode(code int) string {
	switch code {
	case 400:
		return ErrBadRequest
	case 404:
		return ErrUnknownSKU
	case 500:
		return ErrInternal
	case 503:
		return ErrUnavailable
	}
	return ""
}
