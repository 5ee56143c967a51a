package loadgen

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/internal/stocktest"
	"github.com/stockstate/stock/wire"
)

// fakeFaults makes the in-test responder misbehave in a chosen way.
type fakeFaults struct {
	oversell   int64 // grant up to limit+oversell units
	dupEvery   int   // every dupEvery-th grant does not advance sold: it names the same units as the next
	dropEvery  int   // every dropEvery-th grant (batch message) is made but its reply never sent
	delayEvery int   // every delayEvery-th grant (batch message) reply is sent after delay
	delay      time.Duration
	noAcquire  bool   // never subscribe to acquire: every acquire meets no responders
	overBuyer  int64  // let each buyer of a capped SKU have up to per_buyer+overBuyer units
	wholeError string // answer every batch with this error for the whole message
}

// fakeResponder follows the wire protocol of DESIGN.md with one leader's
// ordered view of each SKU, in memory, over plain queue subscriptions.
type fakeResponder struct {
	t      testing.TB
	nc     *nats.Conn
	prefix string
	faults fakeFaults

	mu      sync.Mutex
	skus    map[string]*fakeSKU
	grants  int
	batches int // batch messages
	acquire []*nats.Subscription
	timers  sync.WaitGroup
}

type fakeSKU struct {
	limit, sold, perBuyer int64
	bought                map[string]int64 // per buyer, of a SKU with a per-buyer cap
}

func startFake(t testing.TB, url string, faults fakeFaults) *fakeResponder {
	t.Helper()
	nc, err := nats.Connect(url, nats.Name("fake-responder"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeResponder{t: t, nc: nc, prefix: "stock", faults: faults, skus: make(map[string]*fakeSKU)}
	t.Cleanup(func() {
		f.timers.Wait()
		nc.Close()
	})
	for _, s := range []struct {
		subject string
		h       nats.MsgHandler
	}{
		{wire.SubjectQuery, f.onQuery},
		{wire.SubjectSet, f.onSet},
	} {
		if _, err := nc.QueueSubscribe(f.prefix+"."+s.subject+".*", "stock", s.h); err != nil {
			t.Fatal(err)
		}
	}
	if !faults.noAcquire {
		f.subscribeAcquire()
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return f
}

// subscribeAcquire subscribes to the single acquire subjects and to the
// batch subject.
func (f *fakeResponder) subscribeAcquire() {
	acq := f.prefix + "." + wire.SubjectAcquire
	single, err := f.nc.QueueSubscribe(acq+".*", "stock", f.onAcquire)
	if err != nil {
		f.t.Error(err)
		return
	}
	batch, err := f.nc.QueueSubscribe(acq, "stock", f.onBatch)
	if err != nil {
		f.t.Error(err)
		return
	}
	if err := f.nc.Flush(); err != nil {
		f.t.Error(err)
	}
	f.mu.Lock()
	f.acquire = []*nats.Subscription{single, batch}
	f.mu.Unlock()
}

// failover takes the acquire subscription away for d, as a graceful leader
// change does: requests already delivered are answered (the subscription is
// drained, not dropped), and requests meanwhile get "no responders".
func (f *fakeResponder) failover(d time.Duration) {
	f.mu.Lock()
	subs := f.acquire
	f.mu.Unlock()
	for _, sub := range subs {
		if err := sub.Drain(); err != nil {
			f.t.Error(err)
		}
	}
	if err := f.nc.Flush(); err != nil {
		f.t.Error(err)
	}
	time.Sleep(d)
	f.subscribeAcquire()
}

func (f *fakeResponder) grantCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.grants
}

func skuOf(subject string) string { return subject[strings.LastIndexByte(subject, '.')+1:] }

func (f *fakeResponder) reply(m *nats.Msg, r wire.Reply, code int) {
	body, err := json.Marshal(r)
	if err != nil {
		f.t.Error(err)
		return
	}
	out := &nats.Msg{Subject: m.Reply, Data: body}
	if r.Error != "" {
		out.Header = nats.Header{}
		out.Header.Set(wire.HeaderErrorCode, strconv.Itoa(code))
		out.Header.Set(wire.HeaderError, r.Message)
	}
	_ = f.nc.PublishMsg(out)
}

func (f *fakeResponder) fail(m *nats.Msg, sku, kind string, code int, remaining int64, msg string) {
	f.reply(m, wire.Reply{SKU: sku, Remaining: remaining, Error: kind, Message: msg}, code)
}

func (f *fakeResponder) onAcquire(m *nats.Msg) {
	name := skuOf(m.Subject)
	req := wire.Request{N: 1}
	if len(m.Data) > 0 {
		dec := json.NewDecoder(bytes.NewReader(m.Data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil || req.N < 1 {
			f.fail(m, name, wire.ErrBadRequest, 400, 0, "bad request")
			return
		}
	}
	f.mu.Lock()
	r, code := f.acquireLocked(name, req.N, req.Buyer)
	k := f.grants
	f.mu.Unlock()
	if code != 0 {
		f.reply(m, r, code)
		return
	}
	switch {
	case f.faults.dropEvery > 0 && k%f.faults.dropEvery == 0:
	case f.faults.delayEvery > 0 && k%f.faults.delayEvery == 0:
		f.timers.Add(1)
		time.AfterFunc(f.faults.delay, func() {
			defer f.timers.Done()
			f.reply(m, r, 0)
		})
	default:
		f.reply(m, r, 0)
	}
}

// acquireLocked serves n units of name to buyer ("": none) with one
// leader's ordered view and per-buyer caps, and the faults; it returns the
// reply and its error code, 0 for a grant.
func (f *fakeResponder) acquireLocked(name string, n int64, buyer string) (wire.Reply, int) {
	s, ok := f.skus[name]
	if !ok {
		return wire.Reply{SKU: name, Error: wire.ErrUnknownSKU, Message: "no such SKU"}, 404
	}
	remaining := s.limit + f.faults.oversell - s.sold
	switch {
	case s.perBuyer > 0 && buyer == "":
		return wire.Reply{SKU: name, Error: wire.ErrBadRequest, Message: "a buyer is required"}, 400
	case s.perBuyer > 0 && s.bought[buyer]+n > s.perBuyer+f.faults.overBuyer:
		return wire.Reply{SKU: name, Remaining: max(0, s.limit-s.sold), Error: wire.ErrBuyerLimit, Message: "over the buyer's cap",
			Bought: s.bought[buyer], PerBuyer: s.perBuyer}, 409
	case remaining <= 0:
		return wire.Reply{SKU: name, Error: wire.ErrSoldOut, Message: "sold out"}, 409
	case remaining < n:
		return wire.Reply{SKU: name, Remaining: remaining, Error: wire.ErrInsufficient, Message: "not enough left"}, 409
	}
	if s.perBuyer > 0 {
		s.bought[buyer] += n
	}
	f.grants++
	if f.faults.dupEvery == 0 || f.grants%f.faults.dupEvery != 0 {
		s.sold += n
	}
	return wire.Reply{SKU: name, Granted: n, Remaining: max(0, s.limit-s.sold)}, 0
}

// onBatch serves the batch subject, binary encoding only, item by item as
// onAcquire serves single requests; dropEvery and delayEvery count messages.
func (f *fakeResponder) onBatch(m *nats.Msg) {
	items, err := stocktest.DecodeBatchRequest(m.Data)
	if err != nil {
		f.t.Errorf("batch %x: %v", m.Data, err)
		f.fail(m, "", wire.ErrBadRequest, 400, 0, err.Error())
		return
	}
	if f.faults.wholeError != "" {
		f.fail(m, "", f.faults.wholeError, 503, 0, "whole batch")
		return
	}
	body := binary.AppendUvarint([]byte{0x01}, uint64(len(items)))
	f.mu.Lock()
	for _, it := range items {
		r, _ := f.acquireLocked(it.SKU, it.N, "") // binary items carry no buyer
		body = append(body, byte(slices.Index(wire.BatchStatuses[:], r.Error)))
		body = binary.AppendUvarint(body, uint64(r.Granted))
		body = binary.AppendUvarint(body, uint64(r.Remaining))
	}
	f.batches++
	k := f.batches
	f.mu.Unlock()
	switch {
	case f.faults.dropEvery > 0 && k%f.faults.dropEvery == 0:
	case f.faults.delayEvery > 0 && k%f.faults.delayEvery == 0:
		f.timers.Add(1)
		time.AfterFunc(f.faults.delay, func() {
			defer f.timers.Done()
			_ = f.nc.Publish(m.Reply, body)
		})
	default:
		_ = f.nc.Publish(m.Reply, body)
	}
}

func (f *fakeResponder) state(name string) (wire.Reply, bool) {
	s, ok := f.skus[name]
	if !ok {
		return wire.Reply{}, false
	}
	return wire.Reply{SKU: name, Limit: s.limit, Sold: s.sold, PerBuyer: s.perBuyer, Remaining: max(0, s.limit-s.sold), Leader: "fake"}, true
}

func (f *fakeResponder) onQuery(m *nats.Msg) {
	name := skuOf(m.Subject)
	f.mu.Lock()
	r, ok := f.state(name)
	f.mu.Unlock()
	if !ok {
		f.fail(m, name, wire.ErrUnknownSKU, 404, 0, "no such SKU")
		return
	}
	f.reply(m, r, 0)
}

func (f *fakeResponder) onSet(m *nats.Msg) {
	name := skuOf(m.Subject)
	var req wire.SetRequest
	if err := json.Unmarshal(m.Data, &req); err != nil || req.Limit < 0 || req.PerBuyer < 0 {
		f.fail(m, name, wire.ErrBadRequest, 400, 0, "bad request")
		return
	}
	f.mu.Lock()
	s, ok := f.skus[name]
	if !ok {
		s = &fakeSKU{bought: make(map[string]int64)}
		f.skus[name] = s
	}
	s.limit, s.perBuyer = req.Limit, req.PerBuyer
	r, _ := f.state(name)
	f.mu.Unlock()
	f.reply(m, r, 0)
}
