package wire

import (
	"fmt"
	"strconv"
)

// MaxBuyerLen is the longest buyer id, in bytes.
const MaxBuyerLen = 128

// ValidBuyer reports whether s is a buyer id: 1..128 of A-Z a-z 0-9 _ - : . @.
// A buyer id needs no escaping in JSON.
func ValidBuyer[S string | []byte](s S) bool {
	if len(s) == 0 || len(s) > MaxBuyerLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == ':' || c == '.' || c == '@') {
			return false
		}
	}
	return true
}

// ErrBuyer is the reason given for a buyer id that is not valid.
var ErrBuyer = fmt.Errorf("buyer must be 1 to %d characters from A-Z, a-z, 0-9, underscore, hyphen, colon, dot and @", MaxBuyerLen)

// buyerField checks an optional buyer field as sent: absent (or null) is
// no buyer, anything present must be ValidBuyer.
func buyerField(p *string) (string, error) {
	switch {
	case p == nil:
		return "", nil
	case !ValidBuyer(*p):
		return "", ErrBuyer
	}
	return *p, nil
}

// AppendBuyerLimit appends the error of a request refused by a SKU's
// per-buyer cap: the error body of kind buyer_limit, with the code if
// withCode (a batch item), and what the buyer has. bought counts the units
// the buyer has for good (acquired or confirmed, less released), held those
// in its live holds; a request of n is refused when bought+held+n > perBuyer.
func AppendBuyerLimit(b []byte, sku string, remaining, bought, held, perBuyer int64, message string, withCode bool) []byte {
	b = appendErrorFields(b, sku, remaining, ErrBuyerLimit, message, withCode)
	b = append(b, `,"bought":`...)
	b = strconv.AppendInt(b, bought, 10)
	b = append(b, `,"held":`...)
	b = strconv.AppendInt(b, held, 10)
	b = append(b, `,"per_buyer":`...)
	b = strconv.AppendInt(b, perBuyer, 10)
	return append(b, '}')
}

// AppendBuyer appends the reply of query with a buyer: the SKU's cap, what
// the buyer holds and has bought, and what remains of the SKU. sku and
// buyer are validated tokens and need no escaping.
func AppendBuyer(b []byte, sku, buyer string, perBuyer, held, bought, remaining int64) []byte {
	b = append(b, `{"sku":"`...)
	b = append(b, sku...)
	b = append(b, `","buyer":"`...)
	b = append(b, buyer...)
	b = append(b, `","per_buyer":`...)
	b = strconv.AppendInt(b, perBuyer, 10)
	b = append(b, `,"held":`...)
	b = strconv.AppendInt(b, held, 10)
	b = append(b, `,"bought":`...)
	b = strconv.AppendInt(b, bought, 10)
	b = append(b, `,"remaining":`...)
	b = strconv.AppendInt(b, remaining, 10)
	return append(b, '}')
}
