package wire

// Request is the body of acquire and release: {"n":2,"id":"req-123"},
// with "buyer" for a SKU with a per-buyer cap. An empty body means n 1, no
// id and no buyer.
type Request struct {
	N     int64  `json:"n"`
	ID    string `json:"id,omitempty"`
	Buyer string `json:"buyer,omitempty"`
}

// SetRequest is the body of admin.set: {"limit":100}, or with a per-buyer
// cap {"limit":100,"per_buyer":2}; per_buyer 0 or absent means no cap.
type SetRequest struct {
	Limit    int64 `json:"limit"`
	PerBuyer int64 `json:"per_buyer,omitempty"`
}

// QueryRequest is the body of query for one buyer: {"buyer":"u-1"}. A
// query without a buyer has an empty body.
type QueryRequest struct {
	Buyer string `json:"buyer,omitempty"`
}

// Reply is every reply body. Which fields are present depends on the subject:
// acquire sets Granted, release Released, query and admin.set Limit, Sold,
// Held and Leader (and PerBuyer for a SKU with a per-buyer cap), query with
// a buyer Buyer, PerBuyer, Held and Bought, admin.delete Deleted, hold and
// extend Held, ID and ExpiresAt, confirm Confirmed, cancel Cancelled; errors
// set Error and Message, and buyer_limit errors Bought, Held and PerBuyer
// too. The responder writes these bodies by hand (encode.go, buyer.go),
// with the same field names.
type Reply struct {
	SKU       string `json:"sku"`
	Granted   int64  `json:"granted,omitempty"`
	Released  int64  `json:"released,omitempty"`
	Held      int64  `json:"held,omitempty"` // hold, extend; query, admin.set: units in live holds; query with a buyer, buyer_limit: the buyer's
	Confirmed int64  `json:"confirmed,omitempty"`
	Cancelled int64  `json:"cancelled,omitempty"`
	Remaining int64  `json:"remaining"`
	ID        string `json:"id,omitempty"`         // hold, extend
	ExpiresAt string `json:"expires_at,omitempty"` // hold, extend: HoldTimeFormat
	Limit     int64  `json:"limit,omitempty"`
	Sold      int64  `json:"sold,omitempty"`
	Leader    string `json:"leader,omitempty"`
	Deleted   bool   `json:"deleted,omitempty"`
	Buyer     string `json:"buyer,omitempty"`     // query with a buyer
	Bought    int64  `json:"bought,omitempty"`    // query with a buyer, buyer_limit: the buyer's units for good
	PerBuyer  int64  `json:"per_buyer,omitempty"` // query, admin.set, buyer_limit: the SKU's per-buyer cap
	Error     string `json:"error,omitempty"`
	Message   string `json:"message,omitempty"`
}

// Event is a stock event on <prefix>.events.<sku>.
type Event struct {
	SKU       string `json:"sku"`
	Remaining int64  `json:"remaining"`
	SoldOut   bool   `json:"sold_out"`
}
