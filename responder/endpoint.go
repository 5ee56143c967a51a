package responder

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/wire"
)

// Endpoint indexes, in the order of Stats.Endpoints and of endpoints.
const (
	epAcquire = iota
	epRelease
	epQuery
	epSet
	epDelete
	epBatch
	epHold
	epConfirm
	epCancel
	epExtend
	epHoldBatch
	numEndpoints
)

// endpoint is one request subject of the protocol: how its body decodes and
// what serves a request that passed the common checks of handle. A batch
// subject has no SKU token and no args: it has its own handler instead.
type endpoint struct {
	name    string // in Stats and discovery
	subject string // under the prefix; the SKU token follows, except for a batch
	hot     bool   // subscribed Config.Workers times
	dedupe  bool   // an id makes repeats get the first answer
	decode  func(body []byte, maxBody int) (args, error)
	serve   func(t *term, sku string, a args, rq request)
	batch   func(t *term, m *nats.Msg) // a batch subject's handler
}

// args are the fields of a decoded request body.
type args struct {
	n        int64         // acquire, release, hold
	id       string        // acquire, release, hold ops
	buyer    string        // acquire, release, hold, query
	limit    int64         // admin.set
	perBuyer int64         // admin.set
	ttl      time.Duration // hold, extend
	ent      *entry        // the SKU's entry if handle found it, which acquire then need not look up
}

// endpoints is the protocol: one row per request subject.
var endpoints = [numEndpoints]endpoint{
	epAcquire: {name: "acquire", subject: wire.SubjectAcquire, hot: true, dedupe: true, decode: decodeUnits, serve: (*term).acquire},
	epRelease: {name: "release", subject: wire.SubjectRelease, dedupe: true, decode: decodeUnits, serve: (*term).release},
	epQuery:   {name: "query", subject: wire.SubjectQuery, decode: decodeQuery, serve: (*term).query},
	epSet:     {name: "admin_set", subject: wire.SubjectSet, decode: decodeSet, serve: (*term).set},
	epDelete:  {name: "admin_delete", subject: wire.SubjectDelete, decode: decodeEmpty, serve: (*term).del},
	epBatch:   {name: "acquire_batch", subject: wire.SubjectAcquire, hot: true, batch: (*term).onBatch},
	epHold:    {name: "hold", subject: wire.SubjectHold, dedupe: true, decode: decodeHold, serve: (*term).hold},
	epConfirm: {name: "confirm", subject: wire.SubjectConfirm, dedupe: true, decode: decodeHoldID, serve: (*term).confirm},
	epCancel:  {name: "cancel", subject: wire.SubjectCancel, dedupe: true, decode: decodeHoldID, serve: (*term).cancel},
	// An extend is not deduplicated: a repeat extends again from now.
	epExtend:    {name: "extend", subject: wire.SubjectExtend, decode: decodeExtend, serve: (*term).extend},
	epHoldBatch: {name: "hold_batch", subject: wire.SubjectHold, batch: (*term).onHoldBatch},
}

func decodeUnits(body []byte, maxBody int) (args, error) {
	n, id, buyer, err := wire.DecodeUnits(body, maxBody)
	return args{n: n, id: id, buyer: buyer}, err
}

func decodeSet(body []byte, maxBody int) (args, error) {
	l, k, err := wire.DecodeSet(body, maxBody)
	return args{limit: l, perBuyer: k}, err
}

func decodeQuery(body []byte, maxBody int) (args, error) {
	buyer, err := wire.DecodeQuery(body, maxBody)
	return args{buyer: buyer}, err
}

func decodeEmpty(body []byte, _ int) (args, error) { return args{}, wire.DecodeEmpty(body) }

func decodeHold(body []byte, maxBody int) (args, error) {
	n, id, buyer, ttl, err := wire.DecodeHold(body, maxBody)
	return args{n: n, id: id, buyer: buyer, ttl: ttl}, err
}

func decodeHoldID(body []byte, maxBody int) (args, error) {
	id, err := wire.DecodeHoldID(body, maxBody)
	return args{id: id}, err
}

func decodeExtend(body []byte, maxBody int) (args, error) {
	id, ttl, err := wire.DecodeExtend(body, maxBody)
	return args{id: id, ttl: ttl}, err
}

// handle does what every request of a SKU subject needs before it is
// served, in this order: a message without a reply subject changes nothing;
// the request is counted; a bad SKU or body is answered bad_request and a
// term that stopped serving answers unavailable, neither changing state; a
// repeat of an id is answered from the dedupe cache; a SKU the term has
// not read yet is read first (skuLoads). It runs on the NATS subscription
// goroutines, several at once, and never blocks.
func (t *term) handle(i int, m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	ep := &endpoints[i]
	rq := t.s.counters.begin(m.Reply, i)
	sku := t.p.sku(i, m.Subject)
	if !wire.ValidSKU(sku) {
		t.finish(rq, errorAnswer(sku, 0, wire.ErrBadRequest, wire.ErrSKU.Error()))
		return
	}
	if !owns(t.p, sku) {
		t.finish(rq, errorAnswer(sku, 0, wire.ErrBadRequest, t.p.notOwned(sku)))
		return
	}
	a, err := ep.decode(m.Data, t.s.cfg.MaxBody)
	if err != nil {
		t.finish(rq, errorAnswer(sku, 0, wire.ErrBadRequest, err.Error()))
		return
	}
	if !t.serving() {
		t.finish(rq, unavailable(sku))
		return
	}
	if ep.dedupe && a.id != "" {
		rq.key = dedupeKey(ep.subject, sku, a.id)
		if !t.begin(rq) {
			return
		}
	}
	if a.ent = t.cat.read.Load().m[sku]; a.ent == nil && !t.cat.known(sku) {
		t.serveRead(ep, sku, a, rq)
		return
	}
	ep.serve(t, sku, a, rq)
}

// serveRead serves the request once sku's record is read, or answers it
// unavailable if the read fails. (Apart from handle, so that the
// closure's captures do not move handle's variables to the heap.)
func (t *term) serveRead(ep *endpoint, sku string, a args, rq request) {
	t.skus.await([]string{sku}, func(ok bool) {
		if !ok {
			t.finish(rq, unavailable(sku))
			return
		}
		ep.serve(t, sku, a, rq)
	})
}

// dedupeKey names a request with an id. Single and batch acquires share
// keys, so a retry may take either form.
func dedupeKey(subject, sku, id string) string { return subject + "\x00" + sku + "\x00" + id }

// subscribe subscribes to every endpoint in the queue group: the hot ones
// once per worker, so that their handlers run on several goroutines.
func (t *term) subscribe() ([]*nats.Subscription, error) {
	nc, q := t.s.nc, t.s.cfg.Queue
	var subs []*nats.Subscription
	for i := range endpoints {
		h := func(m *nats.Msg) { t.handle(i, m) }
		if b := endpoints[i].batch; b != nil {
			h = func(m *nats.Msg) { b(t, m) }
		}
		copies := 1
		if endpoints[i].hot {
			copies = t.s.cfg.Workers
		}
		subj := t.p.subject(i)
		for range copies {
			sub, err := nc.QueueSubscribe(subj, q, h)
			if err != nil {
				return subs, fmt.Errorf("responder: subscribe %s: %w", subj, err)
			}
			subs = append(subs, sub)
		}
	}
	return subs, nc.Flush()
}
