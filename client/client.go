package client

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/stockstate/stock/wire"
)

// Client calls the responders over one NATS connection. It is safe for
// concurrent use; see the package documentation for what a retry means.
type Client struct {
	cfg      Config
	t        transport
	subjects subjects
	routes   atomic.Pointer[routes] // nil until the partitions are known (partition.go)
	disc     discovery
	batch    *batcher // nil unless cfg.Batch
	idPrefix string   // of the request ids the Client makes up
	idSeq    atomic.Uint64

	closed    atomic.Bool
	closeOnce sync.Once
}

// subjects are the request subjects without their SKU and partition; each
// ends in ".". The batch subjects are the routes' (partition.go).
type subjects struct {
	acquire, release, query, set, del string
	hold, confirm, cancel, extend     string
}

// New returns a Client that sends requests on nc. The connection stays the
// caller's. With cfg.Batch the Client runs sender goroutines, started for
// each partition as its first acquire comes, until Close; without it it
// starts none, and Close only makes later calls fail. With cfg.Partitions
// 0 New sends nothing: the first call asks the cluster (Client.Partitions).
func New(nc *nats.Conn, cfg Config) (*Client, error) {
	if nc == nil {
		return nil, errors.New("client: nil connection")
	}
	return newClient(natsTransport{nc}, cfg)
}

func newClient(t transport, cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := cfg.Prefix + "."
	c := &Client{
		cfg:      cfg,
		t:        t,
		idPrefix: rand.Text() + ".",
		subjects: subjects{
			acquire: p + wire.SubjectAcquire + ".",
			release: p + wire.SubjectRelease + ".",
			query:   p + wire.SubjectQuery + ".",
			set:     p + wire.SubjectSet + ".",
			del:     p + wire.SubjectDelete + ".",
			hold:    p + wire.SubjectHold + ".",
			confirm: p + wire.SubjectConfirm + ".",
			cancel:  p + wire.SubjectCancel + ".",
			extend:  p + wire.SubjectExtend + ".",
		},
	}
	if cfg.Partitions > 0 {
		c.routes.Store(newRoutes(cfg.Prefix, cfg.Partitions))
	}
	if cfg.Batch {
		c.batch = newBatcher(t, cfg)
	}
	return c, nil
}

// Close stops the Client: calls after it return ErrClosed. With Batch, the
// batched acquires still queued return ErrClosed without having been sent,
// those whose batch is in flight return ErrClosed with an unknown outcome
// (as after a timeout: repeat them with the same id on another Client to
// learn it), and Close returns once the sender goroutines have. Calls on
// the single subjects in progress finish normally. The connection stays
// open. Close is safe to call more than once, and concurrently; it always
// returns nil.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		if c.batch != nil {
			c.batch.close()
		}
	})
	return nil
}

// Grant is the reply to an acquire: Granted units (all that were asked
// for) and what remained right after them. The grant names its units:
// [limit-Remaining-Granted, limit-Remaining).
type Grant struct {
	SKU       string
	Granted   int64
	Remaining int64
}

// Release is the reply to a release: Released units came back, raising the
// limit, and Remaining were left right after.
type Release struct {
	SKU       string
	Released  int64
	Remaining int64
}

// Stock is a SKU's state as the leader named Leader knows it.
type Stock struct {
	SKU       string
	Limit     int64
	Sold      int64
	Held      int64 // in live holds, counted in Sold
	Remaining int64
	Leader    string
	PerBuyer  int64 // units one buyer may take; 0: no cap
}

// BuyerStock is what one buyer has of a SKU: Bought units for good
// (acquired, or held and confirmed, less released) and Held in live holds,
// of the PerBuyer (0: no cap) the SKU allows each buyer; Remaining is what
// is left of the SKU for everyone.
type BuyerStock struct {
	SKU, Buyer                        string
	PerBuyer, Held, Bought, Remaining int64
}

// CallOption changes one Acquire, Release or Hold call.
type CallOption func(*callOptions)

type callOptions struct {
	id       string
	buyer    string
	buyerSet bool // WithBuyer was given, even with ""
}

// WithID sets the request id (1 to 128 bytes) that every attempt of the
// call carries. Without it each call gets an id of its own, which no other
// call of any client shares. Pass an id of your own (an order id, say) to
// be able to repeat a call that gave up without knowing whether it was
// served: within the dedupe horizon the repeat gets the first reply again
// and changes nothing. An empty id means one of the call's own.
func WithID(id string) CallOption {
	return func(o *callOptions) { o.id = id }
}

// WithBuyer names the buyer (1 to 128 characters from A-Z, a-z, 0-9, _, -,
// :, . and @) that Acquire, Release or Hold is for, so that a SKU's
// per-buyer cap (SetLimitPerBuyer) counts it. A buyer that is not valid,
// "" included, fails the call before sending with ErrBadRequest. A batching
// Client sends an Acquire with a buyer on the single subject, as the binary
// batches carry no buyer.
func WithBuyer(buyer string) CallOption {
	return func(o *callOptions) { o.buyer, o.buyerSet = buyer, true }
}

// options applies opts.
func options(opts []CallOption) callOptions {
	var o callOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// checkBuyer refuses a buyer given with WithBuyer that is not valid.
func checkBuyer(sku string, o *callOptions) error {
	if o.buyerSet && !wire.ValidBuyer(o.buyer) {
		return &Error{Code: 400, Kind: wire.ErrBadRequest, SKU: sku, Message: wire.ErrBuyer.Error() + " (checked before sending)"}
	}
	return nil
}

// requestID is the id set by opts, or a new one: the Client's random
// prefix (128 bits from crypto/rand, in base32) and a sequence number of
// the Client, in base 36. The prefix makes it unique among clients, the
// number among the Client's calls; a counter costs a small part of what
// drawing 128 random bits for every call does.
func (c *Client) requestID(o *callOptions) string {
	if o.id != "" {
		return o.id
	}
	b := make([]byte, 0, len(c.idPrefix)+14)
	b = append(b, c.idPrefix...)
	b = strconv.AppendUint(b, c.idSeq.Add(1), 36)
	return string(b)
}

// Acquire asks for n units of sku, all or none. It returns ErrSoldOut when
// nothing remains and ErrInsufficient (with Error.Remaining) when less than
// n remains; while no node serves it retries with the same id until ctx
// ends (see the package documentation). The leader validates n; n < 1
// returns ErrBadRequest.
//
// With Config.Batch the call joins the next batch request instead of
// sending a request of its own (see the package documentation); it returns
// the same results and the same typed errors, but an error's Message is
// generic for bad_request and internal, since a batch reply carries none.
//
// With WithBuyer, a SKU with a per-buyer cap refuses a request that would
// take the buyer past it with ErrBuyerLimit (with Error.Bought, Held and
// PerBuyer); it is final, not retried. Such calls skip the batcher.
func (c *Client) Acquire(ctx context.Context, sku string, n int64, opts ...CallOption) (Grant, error) {
	if err := checkSKU(sku); err != nil {
		return Grant{}, err
	}
	o := options(opts)
	if err := checkBuyer(sku, &o); err != nil {
		return Grant{}, err
	}
	id := c.requestID(&o)
	if c.batch != nil && o.buyer == "" {
		return c.acquireBatched(ctx, call{op: "acquire", sku: sku, id: id}, n)
	}
	r, err := c.do(ctx, call{op: "acquire", sku: sku, id: id, base: c.subjects.acquire, body: unitsBody(n, id, o.buyer)})
	if err != nil {
		return Grant{}, err
	}
	return Grant{SKU: r.SKU, Granted: r.Granted, Remaining: r.Remaining}, nil
}

// Release gives n units of sku back (an order was cancelled): the limit
// rises by n. Its id is stored with the change, so a retry, even one that a
// later leader serves, never returns the units twice. Releasing more than
// was sold returns ErrBadRequest. With WithBuyer the units come off what
// the buyer has bought.
func (c *Client) Release(ctx context.Context, sku string, n int64, opts ...CallOption) (Release, error) {
	if err := checkSKU(sku); err != nil {
		return Release{}, err
	}
	o := options(opts)
	if err := checkBuyer(sku, &o); err != nil {
		return Release{}, err
	}
	id := c.requestID(&o)
	r, err := c.do(ctx, call{op: "release", sku: sku, id: id, base: c.subjects.release, body: unitsBody(n, id, o.buyer)})
	if err != nil {
		return Release{}, err
	}
	return Release{SKU: r.SKU, Released: r.Released, Remaining: r.Remaining}, nil
}

// Query returns sku's state. It changes nothing and is retried like the
// other calls.
func (c *Client) Query(ctx context.Context, sku string) (Stock, error) {
	if err := checkSKU(sku); err != nil {
		return Stock{}, err
	}
	r, err := c.do(ctx, call{op: "query", sku: sku, base: c.subjects.query})
	if err != nil {
		return Stock{}, err
	}
	return stockOf(r), nil
}

// QueryBuyer returns what buyer has of sku: an unknown buyer has bought
// and held nothing. It changes nothing and is retried like Query.
func (c *Client) QueryBuyer(ctx context.Context, sku, buyer string) (BuyerStock, error) {
	if err := checkSKU(sku); err != nil {
		return BuyerStock{}, err
	}
	o := callOptions{buyer: buyer, buyerSet: true}
	if err := checkBuyer(sku, &o); err != nil {
		return BuyerStock{}, err
	}
	body, _ := json.Marshal(wire.QueryRequest{Buyer: buyer}) // a string cannot fail
	r, err := c.do(ctx, call{op: "query", sku: sku, base: c.subjects.query, body: body})
	if err != nil {
		return BuyerStock{}, err
	}
	return BuyerStock{SKU: r.SKU, Buyer: r.Buyer, PerBuyer: r.PerBuyer, Held: r.Held, Bought: r.Bought, Remaining: r.Remaining}, nil
}

// SetLimit creates sku with limit, or changes its limit, and returns its
// state after. The limit is absolute, so a retry is harmless. A limit below
// what is sold stops the sale at what is sold. It sets no per-buyer cap,
// and so removes one sku had (see SetLimitPerBuyer).
func (c *Client) SetLimit(ctx context.Context, sku string, limit int64) (Stock, error) {
	return c.SetLimitPerBuyer(ctx, sku, limit, 0)
}

// SetLimitPerBuyer is SetLimit that also caps what one buyer may take of
// sku at perBuyer units (0: no cap): acquires and holds made WithBuyer
// that would take a buyer past it return ErrBuyerLimit. Like the limit,
// the cap is absolute, so a retry is harmless.
func (c *Client) SetLimitPerBuyer(ctx context.Context, sku string, limit, perBuyer int64) (Stock, error) {
	if err := checkSKU(sku); err != nil {
		return Stock{}, err
	}
	body, err := json.Marshal(wire.SetRequest{Limit: limit, PerBuyer: perBuyer})
	if err != nil {
		return Stock{}, fmt.Errorf("client: set %s: %w", sku, err)
	}
	r, err := c.do(ctx, call{op: "set", sku: sku, base: c.subjects.set, body: body})
	if err != nil {
		return Stock{}, err
	}
	return stockOf(r), nil
}

// Delete removes sku. It is retried like the other calls, so when an
// attempt whose outcome was unknown did delete it, the call returns
// ErrUnknownSKU.
func (c *Client) Delete(ctx context.Context, sku string) error {
	if err := checkSKU(sku); err != nil {
		return err
	}
	_, err := c.do(ctx, call{op: "delete", sku: sku, base: c.subjects.del})
	return err
}

func stockOf(r wire.Reply) Stock {
	return Stock{SKU: r.SKU, Limit: r.Limit, Sold: r.Sold, Held: r.Held, Remaining: r.Remaining, Leader: r.Leader, PerBuyer: r.PerBuyer}
}

// unitsBody encodes {"n":n,"id":id}, with "buyer" unless it is "". A
// buyer is a checked token and needs no escaping.
func unitsBody(n int64, id, buyer string) []byte {
	if plainID(id) {
		b := make([]byte, 0, 24+len(id)+len(buyer)+12)
		b = append(b, `{"n":`...)
		b = strconv.AppendInt(b, n, 10)
		b = append(b, `,"id":"`...)
		b = append(b, id...)
		if buyer != "" {
			b = append(b, `","buyer":"`...)
			b = append(b, buyer...)
		}
		return append(b, `"}`...)
	}
	b, _ := json.Marshal(wire.Request{N: n, ID: id, Buyer: buyer}) // a struct of an int and strings cannot fail
	return b
}

// plainID reports whether id needs no escaping in a JSON string.
func plainID(id string) bool {
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return id != ""
}

// checkSKU refuses a SKU that cannot be one token of a subject: such a
// request would reach another subject, or none. Every other check is the
// responder's.
func checkSKU(sku string) error {
	bad := sku == ""
	for i := 0; i < len(sku) && !bad; i++ {
		c := sku[i]
		bad = c == '.' || c == '*' || c == '>' || c <= ' ' || c == 0x7f
	}
	if bad {
		return &Error{Code: 400, Kind: wire.ErrBadRequest, SKU: sku,
			Message: "sku must be one subject token: not empty, without '.', '*', '>', spaces or control characters (checked before sending)"}
	}
	return nil
}
