package wire

// Request is the body of acquire and release: {"n":2,"id":"req-123"}.
// An empty body means n 1 and no id.
type Request struct {
	N  int64  `json:"n"`
	ID string `json:"id,omitempty"`
}

// SetRequest is the body of admin.set: {"limit":100}.
type SetRequest struct {
	Limit int64 `json:"limit"`
}

// Reply is every reply body. Which fields are present depends on the subject:
// acquire sets Granted, release Released, query and admin.set Limit, Sold,
// Held and Leader, admin.delete Deleted, hold and extend Held, ID and
// ExpiresAt, confirm Confirmed, cancel Cancelled; errors set Error and
// Message. The responder
// writes these bodies by hand (encode.go), with the same field names.
type Reply struct {
	SKU       string `json:"sku"`
	Granted   int64  `json:"granted,omitempty"`
	Released  int64  `json:"released,omitempty"`
	Held      int64  `json:"held,omitempty"` // hold, extend; query and admin.set: units in live holds
	Confirmed int64  `json:"confirmed,omitempty"`
	Cancelled int64  `json:"cancelled,omitempty"`
	Remaining int64  `json:"remaining"`
	ID        string `json:"id,omitempty"`         // hold, extend
	ExpiresAt string `json:"expires_at,omitempty"` // hold, extend: HoldTimeFormat
	Limit     int64  `json:"limit,omitempty"`
	Sold      int64  `json:"sold,omitempty"`
	Leader    string `json:"leader,omitempty"`
	Deleted   bool   `json:"deleted,omitempty"`
	Error     string `json:"error,omitempty"`
	Message   string `json:"message,omitempty"`
}

// Event is a stock event on <prefix>.events.<sku>.
type Event struct {
	SKU       string `json:"sku"`
	Remaining int64  `json:"remaining"`
	SoldOut   bool   `json:"sold_out"`
}
