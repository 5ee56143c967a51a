package responder

// Wire types of the protocol (DESIGN.md, "Wire protocol"). Clients such as
// cmd/loadgen decode replies into these; the responder encodes them by hand
// (encode.go) on the hot path, with the same field names.

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
// acquire sets Granted, release Released, query and admin.set Limit, Sold and
// Leader, admin.delete Deleted; errors set Error and Message.
type Reply struct {
	SKU       string `json:"sku"`
	Granted   int64  `json:"granted,omitempty"`
	Released  int64  `json:"released,omitempty"`
	Remaining int64  `json:"remaining"`
	Limit     int64  `json:"limit,omitempty"`
	Sold      int64  `json:"sold,omitempty"`
	Leader    string `json:"leader,omitempty"`
	Deleted   bool   `json:"deleted,omitempty"`
	Error     string `json:"error,omitempty"`
	Message   string `json:"message,omitempty"`
}

// Error kinds, the "error" field of a reply, with their status codes in the
// Nats-Service-Error-Code header.
const (
	ErrBadRequest   = "bad_request"  // 400
	ErrUnknownSKU   = "unknown_sku"  // 404
	ErrSoldOut      = "sold_out"     // 409
	ErrInsufficient = "insufficient" // 409
	ErrUnavailable  = "unavailable"  // 503
	ErrInternal     = "internal"     // 500
)

// Header names of NATS micro service errors.
const (
	HeaderErrorCode = "Nats-Service-Error-Code"
	HeaderError     = "Nats-Service-Error"
)

// Subjects under a prefix (default "stock"); the SKU is the last token,
// except on the batch subject <prefix>.acquire itself (batchwire.go).
const (
	SubjectAcquire = "acquire"
	SubjectRelease = "release"
	SubjectQuery   = "query"
	SubjectSet     = "admin.set"
	SubjectDelete  = "admin.delete"
	SubjectEvents  = "events" // published by the leader, not requested
)

// Event is a stock event on <prefix>.events.<sku>.
type Event struct {
	SKU       string `json:"sku"`
	Remaining int64  `json:"remaining"`
	SoldOut   bool   `json:"sold_out"`
}
