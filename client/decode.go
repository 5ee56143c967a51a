package client

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/stockstate/stock/wire"
)

// decodeReply turns a reply message into its body, or into an *Error when
// it carries the micro error headers or an "error" field. Unknown fields
// are ignored, so a newer responder may add some. sku names the request's
// SKU for errors whose body does not.
func decodeReply(m *nats.Msg, sku string) (wire.Reply, error) {
	var r wire.Reply
	codeHdr := m.Header.Get(wire.HeaderErrorCode)
	code, codeErr := strconv.Atoi(codeHdr)
	if codeErr != nil {
		code = 0
	}
	if err := json.Unmarshal(m.Data, &r); err != nil {
		if codeHdr == "" {
			return r, fmt.Errorf("client: %s: reply %.64q is not a stock reply: %w", sku, m.Data, err)
		}
		// An error reply whose body does not parse still has its headers.
		return r, &Error{Code: code, Kind: wire.KindOfCode(code), Message: m.Header.Get(wire.HeaderError), SKU: sku}
	}
	if codeHdr == "" && r.Error == "" {
		return r, nil
	}
	e := &Error{Code: code, Kind: r.Error, Message: r.Message, SKU: r.SKU, Remaining: r.Remaining,
		Bought: r.Bought, Held: r.Held, PerBuyer: r.PerBuyer}
	if e.Kind == "" {
		e.Kind = wire.KindOfCode(code)
	}
	if e.Code == 0 {
		e.Code = wire.Code(e.Kind)
	}
	if e.Message == "" {
		e.Message = m.Header.Get(wire.HeaderError)
	}
	if e.SKU == "" {
		e.SKU = sku
	}
	return r, e
}
