package client_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/internal/stocktest"
	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/wire"
)

// partFake stands in for the leaders of n partitions under prefix: plain
// subscriptions per partition on its SKU subjects and batch subjects, and
// one on <prefix>.partitions. As a real leader does, it answers a request
// or batch item sent to a partition its SKU is not in with bad_request. It
// grants whatever is asked; a SKU's remaining is remainingOf(sku), so a
// result names the item it answers.
type partFake struct {
	t      testing.TB
	nc     *nats.Conn
	prefix string
	n      int

	mu       sync.Mutex
	requests []partReq // every request, in arrival order
	asked    int       // requests on <prefix>.partitions
	misroute []string  // subjects of requests or items sent to the wrong partition
}

// partReq is one request the fake received: its subject, and for a batch
// the SKUs of its items.
type partReq struct {
	subject string
	skus    []string
}

// partFakeOptions change the fake: partitions that are down (nobody
// subscribes) or paused (requests are taken and never answered), a gate
// that holds batch replies until it closes, and the partitions reply.
type partFakeOptions struct {
	down, paused map[int]bool
	gate         chan struct{}
	noAsk        bool   // do not answer <prefix>.partitions
	askReply     []byte // instead of {"partitions":n}
}

func startPartFake(t testing.TB, srv *server.Server, prefix string, n int, o partFakeOptions) *partFake {
	t.Helper()
	f := &partFake{t: t, nc: testenv.Conn(t, srv), prefix: prefix, n: n}
	sub := func(subject string, h nats.MsgHandler) {
		if _, err := f.nc.Subscribe(subject, h); err != nil {
			t.Fatal(err)
		}
	}
	for p := range n {
		if o.down[p] {
			continue
		}
		h := func(m *nats.Msg) { f.serve(m, p, o.gate) }
		if o.paused[p] {
			h = func(m *nats.Msg) { f.record(partReq{subject: m.Subject}) }
		}
		if n == 1 {
			sub(prefix+".*.*", h)
			sub(prefix+".admin.*.*", h)
			sub(prefix+"."+wire.SubjectAcquire, h)
			sub(prefix+"."+wire.SubjectHold, h)
			continue
		}
		tok := strconv.Itoa(p)
		sub(prefix+".*.*."+tok, h)
		sub(prefix+".admin.*.*."+tok, h)
		sub(prefix+".partition."+tok+".*", h)
	}
	if !o.noAsk {
		reply := o.askReply
		if reply == nil {
			reply = wire.AppendPartitions(nil, n)
		}
		f.answerAsk(reply)
	}
	if err := f.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return f
}

// answerAsk starts answering <prefix>.partitions with reply.
func (f *partFake) answerAsk(reply []byte) {
	_, err := f.nc.Subscribe(f.prefix+"."+wire.SubjectPartitions, func(m *nats.Msg) {
		f.mu.Lock()
		f.asked++
		f.mu.Unlock()
		f.respond(m, &nats.Msg{Data: reply})
	})
	if err == nil {
		err = f.nc.Flush()
	}
	if err != nil {
		f.t.Fatal(err)
	}
}

func (f *partFake) record(r partReq) {
	f.mu.Lock()
	f.requests = append(f.requests, r)
	f.mu.Unlock()
}

// received returns the requests so far, and fails t if any was sent to
// the wrong partition.
func (f *partFake) received(t testing.TB) []partReq {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.misroute {
		t.Errorf("sent to the wrong partition: %s", s)
	}
	return slices.Clone(f.requests)
}

func (f *partFake) askCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.asked
}

// remainingOf is what the fake says remains of sku after any request.
func remainingOf(sku string) int64 {
	h := fnv.New64a()
	h.Write([]byte(sku))
	return int64(h.Sum64()%1_000_000) + 1
}

func (f *partFake) respond(m *nats.Msg, r *nats.Msg) {
	if err := m.RespondMsg(r); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		f.t.Errorf("fake reply: %v", err)
	}
}

// serve answers a request received by partition p.
func (f *partFake) serve(m *nats.Msg, p int, gate chan struct{}) {
	rest := strings.TrimPrefix(m.Subject, f.prefix+".")
	if strings.HasPrefix(rest, "partition.") || rest == wire.SubjectAcquire || rest == wire.SubjectHold {
		body := f.serveBatch(m, p, strings.HasSuffix(rest, wire.SubjectHold))
		if body == nil {
			return
		}
		go func() {
			if gate != nil {
				<-gate
			}
			f.respond(m, &nats.Msg{Data: body})
		}()
		return
	}
	toks := strings.Split(rest, ".")
	if f.n > 1 {
		toks = toks[:len(toks)-1] // the partition token: this subscription's
	}
	verb, sku := strings.Join(toks[:len(toks)-1], "."), toks[len(toks)-1]
	f.record(partReq{subject: m.Subject, skus: []string{sku}})
	if wire.Partition(sku, f.n) != p {
		f.mu.Lock()
		f.misroute = append(f.misroute, m.Subject)
		f.mu.Unlock()
		f.fail(m, sku, wire.ErrBadRequest, 400, "sku of another partition")
		return
	}
	var req struct {
		N     int64  `json:"n"`
		ID    string `json:"id"`
		TTLs  int64  `json:"ttl_s"`
		Buyer string `json:"buyer"`
		Limit int64  `json:"limit"`
	}
	if len(m.Data) > 0 {
		if err := json.Unmarshal(m.Data, &req); err != nil {
			f.fail(m, sku, wire.ErrBadRequest, 400, err.Error())
			return
		}
	}
	r := wire.Reply{SKU: sku, Remaining: remainingOf(sku)}
	switch verb {
	case wire.SubjectAcquire:
		r.Granted = req.N
	case wire.SubjectRelease:
		r.Released = req.N
	case wire.SubjectQuery:
		r.Limit, r.Leader, r.Buyer = 2*r.Remaining, "fake-"+strconv.Itoa(p), req.Buyer
	case wire.SubjectSet:
		r.Limit, r.Leader = req.Limit, "fake-"+strconv.Itoa(p)
	case wire.SubjectDelete:
		r.Deleted = true
	case wire.SubjectHold, wire.SubjectExtend:
		r.Held, r.ID, r.ExpiresAt = max(req.N, 1), req.ID, time.Now().Add(time.Minute).UTC().Format(wire.HoldTimeFormat)
	case wire.SubjectConfirm:
		r.Confirmed = 1
	case wire.SubjectCancel:
		r.Cancelled = 1
	default:
		f.fail(m, sku, wire.ErrBadRequest, 400, "no such verb "+verb)
		return
	}
	body, _ := json.Marshal(r)
	f.respond(m, &nats.Msg{Data: body})
}

// serveBatch records a batch received by partition p and returns its reply,
// or nil after answering an error itself.
func (f *partFake) serveBatch(m *nats.Msg, p int, hold bool) []byte {
	var skus []string
	var reply []byte
	misrouted := func(sku string) bool {
		if wire.Partition(sku, f.n) == p {
			return false
		}
		f.mu.Lock()
		f.misroute = append(f.misroute, m.Subject+" item "+sku)
		f.mu.Unlock()
		return true
	}
	if hold {
		var items []wire.HoldItem
		if err := json.Unmarshal(m.Data, &items); err != nil {
			f.t.Errorf("hold batch %q: %v", m.Data, err)
			f.fail(m, "", wire.ErrBadRequest, 400, err.Error())
			return nil
		}
		rs := make([]wire.HoldResult, len(items))
		for i, it := range items {
			skus = append(skus, it.SKU)
			if misrouted(it.SKU) {
				rs[i] = wire.HoldResult{Reply: wire.Reply{SKU: it.SKU, Error: wire.ErrBadRequest, Message: "sku of another partition"}, Code: 400}
				continue
			}
			rs[i].Reply = wire.Reply{SKU: it.SKU, Held: it.N, ID: it.ID, Remaining: remainingOf(it.SKU),
				ExpiresAt: time.Now().Add(time.Minute).UTC().Format(wire.HoldTimeFormat)}
		}
		reply, _ = json.Marshal(rs)
	} else {
		items, err := stocktest.DecodeBatchRequest(m.Data)
		if err != nil {
			f.t.Errorf("batch %x: %v", m.Data, err)
			f.fail(m, "", wire.ErrBadRequest, 400, err.Error())
			return nil
		}
		reply = binary.AppendUvarint([]byte{0x01}, uint64(len(items)))
		for _, it := range items {
			skus = append(skus, it.SKU)
			status, granted := byte(0), uint64(it.N)
			if misrouted(it.SKU) {
				status, granted = 1, 0
			}
			reply = append(reply, status)
			reply = binary.AppendUvarint(reply, granted)
			reply = binary.AppendUvarint(reply, uint64(remainingOf(it.SKU)))
		}
	}
	f.record(partReq{subject: m.Subject, skus: skus})
	return reply
}

func (f *partFake) fail(m *nats.Msg, sku, kind string, code int, msg string) {
	body, _ := json.Marshal(wire.Reply{SKU: sku, Error: kind, Message: msg})
	r := &nats.Msg{Data: body, Header: nats.Header{}}
	r.Header.Set(wire.HeaderErrorCode, strconv.Itoa(code))
	r.Header.Set(wire.HeaderError, msg)
	f.respond(m, r)
}
