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
	batch    *batcher // nil unless cfg.Batch
	idPrefix string   // of the request ids the Client makes up
	idSeq    atomic.Uint64

	closed    atomic.Bool
	closeOnce sync.Once
}

// subjects are the request subjects without their SKU; each ends in ".".
// batch is the batch subject itself.
type subjects struct {
	acquire, release, query, set, del string
	hold, confirm, cancel, extend     string
	batch, holdBatch                  string
}

// New returns a Client that sends requests on nc. The connection stays the
// caller's. With cfg.Batch the Client runs sender goroutines until Close;
// without it it starts none, and Close only makes later calls fail.
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
			acquire:   p + wire.SubjectAcquire + ".",
			release:   p + wire.SubjectRelease + ".",
			query:     p + wire.SubjectQuery + ".",
			set:       p + wire.SubjectSet + ".",
			del:       p + wire.SubjectDelete + ".",
			hold:      p + wire.SubjectHold + ".",
			confirm:   p + wire.SubjectConfirm + ".",
			cancel:    p + wire.SubjectCancel + ".",
			extend:    p + wire.SubjectExtend + ".",
			batch:     p + wire.SubjectAcquire,
			holdBatch: p + wire.SubjectHold,
		},
	}
	if cfg.Batch {
		c.batch = newBatcher(t, c.subjects.batch, cfg)
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
}

// CallOption changes one Acquire or Release call.
type CallOption func(*callOptions)

type callOptions struct {
	id string
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

// requestID is the id set by opts, or a new one: the Client's random
// prefix (128 bits from crypto/rand, in base32) and a sequence number of
// the Client, in base 36. The prefix makes it unique among clients, the
// number among the Client's calls; a counter costs a small part of what
// drawing 128 random bits for every call does.
func (c *Client) requestID(opts []CallOption) string {
	var o callOptions
	for _, f := range opts {
		f(&o)
	}
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
func (c *Client) Acquire(ctx context.Context, sku string, n int64, opts ...CallOption) (Grant, error) {
	if err := checkSKU(sku); err != nil {
		return Grant{}, err
	}
	id := c.requestID(opts)
	if c.batch != nil {
		return c.acquireBatched(ctx, call{op: "acquire", sku: sku, id: id}, n)
	}
	r, err := c.do(ctx, call{op: "acquire", sku: sku, id: id, subject: c.subjects.acquire + sku, body: unitsBody(n, id)})
	if err != nil {
		return Grant{}, err
	}
	return Grant{SKU: r.SKU, Granted: r.Granted, Remaining: r.Remaining}, nil
}

// Release gives n units of sku back (an order was cancelled): the limit
// rises by n. Its id is stored with the change, so a retry, even one that a
// later leader serves, never returns the units twice. Releasing more than
// was sold returns ErrBadRequest.
func (c *Client) Release(ctx context.Context, sku string, n int64, opts ...CallOption) (Release, error) {
	if err := checkSKU(sku); err != nil {
		return Release{}, err
	}
	id := c.requestID(opts)
	r, err := c.do(ctx, call{op: "release", sku: sku, id: id, subject: c.subjects.release + sku, body: unitsBody(n, id)})
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
	r, err := c.do(ctx, call{op: "query", sku: sku, subject: c.subjects.query + sku})
	if err != nil {
		return Stock{}, err
	}
	return stockOf(r), nil
}

// SetLimit creates sku with limit, or changes its limit, and returns its
// state after. The limit is absolute, so a retry is harmless. A limit below
// what is sold stops the sale at what is sold.
func (c *Client) SetLimit(ctx context.Context, sku string, limit int64) (Stock, error) {
	if err := checkSKU(sku); err != nil {
		return Stock{}, err
	}
	body, err := json.Marshal(wire.SetRequest{Limit: limit})
	if err != nil {
		return Stock{}, fmt.Errorf("client: set %s: %w", sku, err)
	}
	r, err := c.do(ctx, call{op: "set", sku: sku, subject: c.subjects.set + sku, body: body})
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
	_, err := c.do(ctx, call{op: "delete", sku: sku, subject: c.subjects.del + sku})
	return err
}

func stockOf(r wire.Reply) Stock {
	return Stock{SKU: r.SKU, Limit: r.Limit, Sold: r.Sold, Held: r.Held, Remaining: r.Remaining, Leader: r.Leader}
}

// unitsBody encodes {"n":n,"id":id}.
func unitsBody(n int64, id string) []byte {
	if plainID(id) {
		b := make([]byte, 0, 24+len(id))
		b = append(b, `{"n":`...)
		b = strconv.AppendInt(b, n, 10)
		b = append(b, `,"id":"`...)
		b = append(b, id...)
		return append(b, `"}`...)
	}
	b, _ := json.Marshal(wire.Request{N: n, ID: id}) // a struct of an int and a string cannot fail
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
