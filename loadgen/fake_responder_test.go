package loadgen

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"maps"
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
	downParts  []int  // with partitions: never subscribe to acquire of these partitions
	overBuyer  int64  // let each buyer of a capped SKU have up to per_buyer+overBuyer units
	wholeError string // answer every batch with this error for the whole message
}

// fakeResponder follows the wire protocol of DESIGN.md with one leader's
// ordered view of each SKU, in memory, over plain queue subscriptions. With
// partitions it serves the partitioned subjects only, as the leaders of
// every partition would, and answers a request or batch item sent to a
// partition its SKU is not in with bad_request.
type fakeResponder struct {
	t      testing.TB
	nc     *nats.Conn
	prefix string
	parts  int
	faults fakeFaults

	mu       sync.Mutex
	skus     map[string]*fakeSKU
	grants   int
	batches  int              // batch messages
	byPart   map[int]int      // batch messages per partition
	misroute []string         // requests and items sent to the wrong partition
	holds    map[string]int64 // units of each live hold, by id
	acquire  []*nats.Subscription
	timers   sync.WaitGroup
}

type fakeSKU struct {
	limit, sold, perBuyer int64
	bought                map[string]int64 // per buyer, of a SKU with a per-buyer cap
}

func startFake(t testing.TB, url string, faults fakeFaults) *fakeResponder {
	return startFakeParts(t, url, 1, faults)
}

// startFakeParts starts a fake of a cluster of parts partitions.
func startFakeParts(t testing.TB, url string, parts int, faults fakeFaults) *fakeResponder {
	t.Helper()
	nc, err := nats.Connect(url, nats.Name("fake-responder"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeResponder{t: t, nc: nc, prefix: "stock", parts: parts, faults: faults, skus: make(map[string]*fakeSKU), byPart: make(map[int]int), holds: make(map[string]int64)}
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
		{wire.SubjectHold, f.onHold},
		{wire.SubjectConfirm, f.onConfirm},
	} {
		if _, err := nc.QueueSubscribe(f.skuPattern(s.subject), "stock", s.h); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := nc.Subscribe(f.prefix+"."+wire.SubjectPartitions, func(m *nats.Msg) {
		_ = m.Respond(wire.AppendPartitions(nil, parts))
	}); err != nil {
		t.Fatal(err)
	}
	if !faults.noAcquire {
		f.subscribeAcquire()
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return f
}

// skuPattern is the subscription of verb's SKU subjects.
func (f *fakeResponder) skuPattern(verb string) string {
	if f.parts > 1 {
		return f.prefix + "." + verb + ".*.*"
	}
	return f.prefix + "." + verb + ".*"
}

// subscribeAcquire subscribes to the single acquire subjects and to the
// batch subject, or with partitions to those of each partition not down.
func (f *fakeResponder) subscribeAcquire() {
	acq := f.prefix + "." + wire.SubjectAcquire
	patterns := [][2]string{{acq + ".*", acq}}
	if f.parts > 1 {
		patterns = nil
		for p := range f.parts {
			if !slices.Contains(f.faults.downParts, p) {
				patterns = append(patterns, [2]string{acq + ".*." + strconv.Itoa(p), wire.PartitionBatchSubject(f.prefix, wire.SubjectAcquire, p)})
			}
		}
	}
	var subs []*nats.Subscription
	for _, pat := range patterns {
		single, err := f.nc.QueueSubscribe(pat[0], "stock", f.onAcquire)
		if err != nil {
			f.t.Error(err)
			return
		}
		batch, err := f.nc.QueueSubscribe(pat[1], "stock", f.onBatch)
		if err != nil {
			f.t.Error(err)
			return
		}
		subs = append(subs, single, batch)
	}
	if err := f.nc.Flush(); err != nil {
		f.t.Error(err)
	}
	f.mu.Lock()
	f.acquire = subs
	f.mu.Unlock()
}

// skuOf is the SKU a request names on its subject. With partitions it
// checks the partition token: a SKU of another partition is answered
// bad_request, and ok is false.
func (f *fakeResponder) skuOf(m *nats.Msg) (sku string, ok bool) {
	toks := strings.Split(m.Subject, ".")
	if f.parts < 2 {
		return toks[len(toks)-1], true
	}
	sku = toks[len(toks)-2]
	if toks[len(toks)-1] != strconv.Itoa(wire.Partition(sku, f.parts)) {
		f.mu.Lock()
		f.misroute = append(f.misroute, m.Subject)
		f.mu.Unlock()
		f.fail(m, sku, wire.ErrBadRequest, 400, 0, "sku of another partition")
		return sku, false
	}
	return sku, true
}

// misrouted returns the requests and items sent to the wrong partition.
func (f *fakeResponder) misrouted() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.misroute)
}

// batchesByPart returns the batch messages received per partition.
func (f *fakeResponder) batchesByPart() map[int]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.byPart)
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
	name, ok := f.skuOf(m)
	if !ok {
		return
	}
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
// With partitions, an item of another partition than the subject's is
// answered bad_request.
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
	part := 0
	if f.parts > 1 {
		part, _ = strconv.Atoi(strings.Split(m.Subject, ".")[2])
	}
	body := binary.AppendUvarint([]byte{0x01}, uint64(len(items)))
	f.mu.Lock()
	f.byPart[part]++
	for _, it := range items {
		if wire.Partition(it.SKU, f.parts) != part {
			f.misroute = append(f.misroute, m.Subject+" item "+it.SKU)
			body = append(body, 1, 0, 0) // bad_request
			continue
		}
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
	name, ok := f.skuOf(m)
	if !ok {
		return
	}
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
	name, ok := f.skuOf(m)
	if !ok {
		return
	}
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

// onHold serves a hold as an acquire of the same units: held, not granted;
// a repeat of an id holds again (loadgen sends each id once).
func (f *fakeResponder) onHold(m *nats.Msg) {
	name, ok := f.skuOf(m)
	if !ok {
		return
	}
	var req wire.HoldRequest
	if err := json.Unmarshal(m.Data, &req); err != nil || req.ID == "" {
		f.fail(m, name, wire.ErrBadRequest, 400, 0, "bad hold")
		return
	}
	f.mu.Lock()
	r, code := f.acquireLocked(name, max(req.N, 1), req.Buyer)
	if code == 0 {
		f.holds[req.ID] = r.Granted
	}
	f.mu.Unlock()
	if code == 0 {
		r.Held, r.Granted, r.ID = r.Granted, 0, req.ID
		r.ExpiresAt = time.Now().Add(time.Hour).UTC().Format(wire.HoldTimeFormat)
	}
	f.reply(m, r, code)
}

// onConfirm confirms a live hold made by onHold, once.
func (f *fakeResponder) onConfirm(m *nats.Msg) {
	name, ok := f.skuOf(m)
	if !ok {
		return
	}
	var req wire.HoldIDRequest
	_ = json.Unmarshal(m.Data, &req)
	f.mu.Lock()
	units, live := f.holds[req.ID]
	delete(f.holds, req.ID)
	f.mu.Unlock()
	if !live {
		f.fail(m, name, wire.ErrUnknownHold, 404, 0, "no such hold")
		return
	}
	f.reply(m, wire.Reply{SKU: name, Confirmed: units}, 0)
}
