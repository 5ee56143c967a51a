package chaos

// The few reply shapes the checker reads, copied from DESIGN.md rather than
// imported from package wire on purpose: a bug shared by the product's codec
// and its checker would hide itself.

// reply is every reply body the harness reads: acquire, query (also with
// a buyer), admin.set, hold, confirm, cancel, and errors.
type reply struct {
	SKU       string `json:"sku"`
	Granted   int64  `json:"granted"`
	Held      int64  `json:"held"`
	Confirmed int64  `json:"confirmed"`
	Cancelled int64  `json:"cancelled"`
	ExpiresAt string `json:"expires_at"`
	Remaining int64  `json:"remaining"`
	Limit     int64  `json:"limit"`
	Sold      int64  `json:"sold"`
	Leader    string `json:"leader"`
	Buyer     string `json:"buyer"`     // query with a buyer
	Bought    int64  `json:"bought"`    // query with a buyer, buyer_limit
	PerBuyer  int64  `json:"per_buyer"` // query of a capped SKU, query with a buyer, buyer_limit
	Error     string `json:"error"`
	Message   string `json:"message"`
}

// Error kinds of the "error" field.
const (
	errSoldOut      = "sold_out"
	errInsufficient = "insufficient"
	errUnavailable  = "unavailable"
	errExpired      = "expired"
	errBuyerLimit   = "buyer_limit"
)

// Subjects under the default prefix; the SKU is appended.
const (
	subjAcquire = "stock.acquire."
	subjQuery   = "stock.query."
	subjSet     = "stock.admin.set."
	subjHold    = "stock.hold."
	subjConfirm = "stock.confirm."
	subjCancel  = "stock.cancel."
)

// nodeStats are the counters of GET /debug/stats the summary reports.
type nodeStats struct {
	Units        uint64
	Stalls       uint64
	WaitTimeouts uint64
	Refills      uint64
	Fenced       uint64
	Unknown      uint64
	Terms        uint64
	Revoked      uint64
	Leading      bool
	Partitions   int
	LeadingParts []int
	WindowUnits  int64
}
