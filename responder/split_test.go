package responder

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/wire"
)

const splitParts = 16

// splitItem is one item as a fake partition leader received it.
type splitItem struct {
	SKU, ID, Buyer string
	N              int64
	TTL            time.Duration
}

// fakeLeaders stand in for the leaders of splitParts partitions: plain
// subscriptions on the partition batch subjects that answer every item,
// granted (or held) n units with remaining = its partition, and keep what
// they received. A partition may instead be left without a subscription
// (absent), take batches and never answer (silent), or answer an error
// reply (refusing).
type fakeLeaders struct {
	mu    sync.Mutex
	got   map[int][]splitItem // per partition, the items received, in order
	wrong []string            // items received by another partition's leader, or unreadable
	msgs  int                 // sub-batches received
}

type fakeMode int

const (
	serving fakeMode = iota
	absent
	silent
	refusing
)

func startFakeLeaders(t *testing.T, nc *nats.Conn, modes map[int]fakeMode) *fakeLeaders {
	t.Helper()
	f := &fakeLeaders{got: map[int][]splitItem{}}
	for p := range splitParts {
		if modes[p] != absent {
			f.serve(t, nc, p, modes[p])
		}
	}
	return f
}

// serve subscribes partition p's leader, answering as mode says.
func (f *fakeLeaders) serve(t *testing.T, nc *nats.Conn, p int, mode fakeMode) {
	t.Helper()
	for _, verb := range []string{wire.SubjectAcquire, wire.SubjectHold} {
		_, err := nc.Subscribe(wire.PartitionBatchSubject("stock", verb, p), func(m *nats.Msg) {
			reply := f.answer(p, verb, m.Data)
			switch mode {
			case silent:
			case refusing:
				_ = nc.PublishMsg(unavailable("").msg(m.Reply))
			default:
				_ = nc.Publish(m.Reply, reply)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// answer decodes a sub-batch of partition p as a leader would, records its
// items, and returns the reply a serving leader gives.
func (f *fakeLeaders) answer(p int, verb string, body []byte) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs++
	var items []splitItem
	var reply []byte
	switch {
	case verb == wire.SubjectHold:
		specs, msgs, err := wire.DecodeHoldBatch(body)
		if err != nil {
			f.wrong = append(f.wrong, fmt.Sprintf("partition %d: hold batch %q: %v", p, body, err))
			return nil
		}
		reply = append(reply, '[')
		for i, s := range specs {
			if msgs[i] != "" {
				f.wrong = append(f.wrong, fmt.Sprintf("partition %d: forwarded bad hold %+v: %s", p, s, msgs[i]))
			}
			items = append(items, splitItem{SKU: s.SKU, ID: s.ID, Buyer: s.Buyer, N: s.N, TTL: s.TTL})
			if i > 0 {
				reply = append(reply, ',')
			}
			reply = wire.AppendHold(reply, s.SKU, s.N, int64(p), s.ID, time.Unix(int64(s.TTL/time.Second), 0))
		}
		reply = append(reply, ']')
	case len(body) > 0 && body[0] == wire.BatchBinary:
		spans, err := wire.DecodeBinaryBatch(body, nil)
		if err != nil {
			f.wrong = append(f.wrong, fmt.Sprintf("partition %d: binary batch %x: %v", p, body, err))
			return nil
		}
		results := make([]wire.ItemResult, len(spans))
		for i := range spans {
			it := &spans[i]
			items = append(items, splitItem{SKU: string(it.SKU(body)), ID: string(it.ID(body)), N: it.N})
			results[i] = wire.ItemResult{Granted: it.N, Remaining: int64(p)}
		}
		reply = wire.AppendBinaryReply(nil, results)
	default:
		spans, data, msgs, err := wire.DecodeJSONBatch(body, nil, nil, nil)
		if err != nil {
			f.wrong = append(f.wrong, fmt.Sprintf("partition %d: JSON batch %q: %v", p, body, err))
			return nil
		}
		reply = append(reply, '[')
		for i := range spans {
			it := &spans[i]
			if msgs[i] != "" {
				f.wrong = append(f.wrong, fmt.Sprintf("partition %d: forwarded bad item %d of %q: %s", p, i, body, msgs[i]))
			}
			sku := string(it.SKU(data))
			items = append(items, splitItem{SKU: sku, ID: string(it.ID(data)), Buyer: string(it.Buyer(data)), N: it.N})
			if i > 0 {
				reply = append(reply, ',')
			}
			reply = wire.AppendJSONResult(reply, sku, wire.ItemResult{Granted: it.N, Remaining: int64(p)}, "")
		}
		reply = append(reply, ']')
	}
	for _, it := range items {
		if q := wire.Partition(it.SKU, splitParts); q != p {
			f.wrong = append(f.wrong, fmt.Sprintf("partition %d received %s of partition %d", p, it.SKU, q))
		}
	}
	f.got[p] = append(f.got[p], items...)
	return reply
}

// received returns every item received, by partition, and the sub-batch
// count, and fails the test on items sent to the wrong partition.
func (f *fakeLeaders) received(t *testing.T) (map[int][]splitItem, int) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range f.wrong {
		t.Error(w)
	}
	return f.got, f.msgs
}

// splitEnv is a NATS server with a splitter over splitParts partitions, the
// fake leaders, and a client connection.
type splitEnv struct {
	client  *nats.Conn
	leaders *fakeLeaders
}

func newSplitEnv(t *testing.T, timeout time.Duration, modes map[int]fakeMode) *splitEnv {
	t.Helper()
	srv := splitNATS(t)
	nc := testenv.Conn(t, srv)
	subs, err := answerSplits(nc, "stock", "stock.split", splitParts, timeout, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
	})
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return &splitEnv{client: testenv.Conn(t, srv), leaders: startFakeLeaders(t, testenv.Conn(t, srv), modes)}
}

// splitNATS starts a NATS server that takes messages of twice
// wire.MaxBatchBody, so that oversized batches reach the splitter.
func splitNATS(t *testing.T) *server.Server {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, NoLog: true, NoSigs: true, MaxPayload: 2 * wire.MaxBatchBody})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats did not start")
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

func (e *splitEnv) request(t *testing.T, verb string, body []byte) *nats.Msg {
	t.Helper()
	m, err := e.client.Request("stock."+verb, body, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", verb, err)
	}
	return m
}

// splitBatchItems are n items of SKUs sku0..sku39, item i of i+1 units;
// with ids, every third item has an id that needs escaping and every
// fifth a buyer.
func splitBatchItems(n int, ids bool) []wire.BatchItem {
	items := make([]wire.BatchItem, n)
	for i := range items {
		items[i] = wire.BatchItem{SKU: fmt.Sprintf("sku%d", i%40), N: int64(i + 1)}
		if ids && i%3 == 0 {
			items[i].ID = fmt.Sprintf(`o-"%d"<é>`, i)
		}
		if ids && i%5 == 0 {
			items[i].Buyer = fmt.Sprintf("u-%d@x", i)
		}
	}
	return items
}

// checkReceived checks that the leaders together received exactly want
// (each item once, in its batch's order within a partition), and that
// every partition got some.
func checkReceived(t *testing.T, f *fakeLeaders, want []splitItem) {
	t.Helper()
	got, _ := f.received(t)
	byPart := map[int][]splitItem{}
	for _, it := range want {
		p := wire.Partition(it.SKU, splitParts)
		byPart[p] = append(byPart[p], it)
	}
	for p := range splitParts {
		if !slices.Equal(got[p], byPart[p]) {
			t.Errorf("partition %d received %+v, want %+v", p, got[p], byPart[p])
		}
	}
}

// TestSplitAcquireBinary: a binary batch of SKUs of all 16 partitions is
// split, each leader gets only its items, and the reply has every item's
// result in order.
func TestSplitAcquireBinary(t *testing.T) {
	e := newSplitEnv(t, 2*time.Second, nil)
	items := splitBatchItems(300, true)
	parts := map[int]bool{}
	var want []splitItem
	results := make([]wire.ItemResult, len(items))
	for i, it := range items {
		p := wire.Partition(it.SKU, splitParts)
		parts[p] = true
		want = append(want, splitItem{SKU: it.SKU, ID: it.ID, N: it.N})
		results[i] = wire.ItemResult{Granted: it.N, Remaining: int64(p)}
	}
	if len(parts) != splitParts {
		t.Fatalf("the batch names %d partitions, want %d", len(parts), splitParts)
	}
	m := e.request(t, wire.SubjectAcquire, wire.AppendBatchRequest(nil, items))
	if wantBody := wire.AppendBinaryReply(nil, results); !bytes.Equal(m.Data, wantBody) {
		t.Fatalf("reply %x, want %x", m.Data, wantBody)
	}
	checkReceived(t, e.leaders, want)
	if _, n := e.leaders.received(t); n != splitParts {
		t.Fatalf("%d sub-batches, want one per partition", n)
	}
}

// TestSplitAcquireJSON: as TestSplitAcquireBinary for a JSON batch, whose
// ids (escaped) and buyers reach the leaders as given.
func TestSplitAcquireJSON(t *testing.T) {
	e := newSplitEnv(t, 2*time.Second, nil)
	items := splitBatchItems(300, true)
	body, err := json.Marshal(items)
	if err != nil {
		t.Fatal(err)
	}
	var want []splitItem
	wantBody := []byte{'['}
	for i, it := range items {
		want = append(want, splitItem{SKU: it.SKU, ID: it.ID, Buyer: it.Buyer, N: it.N})
		if i > 0 {
			wantBody = append(wantBody, ',')
		}
		wantBody = wire.AppendJSONResult(wantBody, it.SKU, wire.ItemResult{Granted: it.N, Remaining: int64(wire.Partition(it.SKU, splitParts))}, "")
	}
	wantBody = append(wantBody, ']')
	m := e.request(t, wire.SubjectAcquire, body)
	if !bytes.Equal(m.Data, wantBody) {
		t.Fatalf("reply\n%s\nwant\n%s", m.Data, wantBody)
	}
	checkReceived(t, e.leaders, want)
}

// TestSplitHold: a hold batch over 16 partitions comes back in order, each
// hold's id, units, TTL and buyer reaching its leader as given.
func TestSplitHold(t *testing.T) {
	e := newSplitEnv(t, 2*time.Second, nil)
	var items []wire.HoldItem
	for i := range 200 {
		it := wire.HoldItem{SKU: fmt.Sprintf("sku%d", i%40), ID: fmt.Sprintf(`cart-"%d"`, i)}
		if i%2 == 0 {
			it.N, it.TTLs = int64(i+1), int64(60+i)
		}
		if i%7 == 0 {
			it.Buyer = fmt.Sprintf("u-%d", i)
		}
		items = append(items, it)
	}
	body, err := json.Marshal(items)
	if err != nil {
		t.Fatal(err)
	}
	var want []splitItem
	wantBody := []byte{'['}
	for i, it := range items {
		n, ttl := max(it.N, 1), time.Duration(it.TTLs)*time.Second
		if it.TTLs == 0 {
			ttl = 900 * time.Second
		}
		want = append(want, splitItem{SKU: it.SKU, ID: it.ID, Buyer: it.Buyer, N: n, TTL: ttl})
		if i > 0 {
			wantBody = append(wantBody, ',')
		}
		wantBody = wire.AppendHold(wantBody, it.SKU, n, int64(wire.Partition(it.SKU, splitParts)), it.ID, time.Unix(int64(ttl/time.Second), 0))
	}
	wantBody = append(wantBody, ']')
	m := e.request(t, wire.SubjectHold, body)
	if !bytes.Equal(m.Data, wantBody) {
		t.Fatalf("reply\n%s\nwant\n%s", m.Data, wantBody)
	}
	checkReceived(t, e.leaders, want)
}

// TestSplitPartitionDown: the items of a partition without responders, of
// one that does not answer in time and of one that answers an error are
// unavailable (503), in both encodings and for holds; every other item
// keeps its answer.
func TestSplitPartitionDown(t *testing.T) {
	items := splitBatchItems(200, false)
	down := map[int]fakeMode{
		wire.Partition(items[0].SKU, splitParts): absent,
		wire.Partition(items[1].SKU, splitParts): silent,
		wire.Partition(items[2].SKU, splitParts): refusing,
	}
	if len(down) != 3 {
		t.Fatalf("items 0 to 2 share partitions: %v", down)
	}
	e := newSplitEnv(t, 300*time.Millisecond, down)

	t.Run("binary", func(t *testing.T) {
		start := time.Now()
		m := e.request(t, wire.SubjectAcquire, wire.AppendBatchRequest(nil, items))
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("reply after %v: the silent partition's timeout is 300ms", d)
		}
		got, err := wire.DecodeBatchReply(m.Data, nil)
		if err != nil || len(got) != len(items) {
			t.Fatalf("reply %x: %v", m.Data, err)
		}
		for i, it := range items {
			p := wire.Partition(it.SKU, splitParts)
			want := wire.BatchResult{Granted: it.N, Remaining: int64(p)}
			if _, isDown := down[p]; isDown {
				want = wire.BatchResult{Error: wire.ErrUnavailable, Code: 503}
			}
			if got[i] != want {
				t.Errorf("item %d (partition %d): %+v, want %+v", i, p, got[i], want)
			}
		}
	})
	check := func(t *testing.T, verb string, body []byte, ok func(i int, r map[string]any) bool) {
		m := e.request(t, verb, body)
		var got []map[string]any
		if err := json.Unmarshal(m.Data, &got); err != nil || len(got) != len(items) {
			t.Fatalf("reply %s: %v", m.Data, err)
		}
		for i, r := range got {
			p := wire.Partition(items[i].SKU, splitParts)
			if _, isDown := down[p]; isDown {
				if r["sku"] != items[i].SKU || r["error"] != wire.ErrUnavailable || r["code"] != 503.0 || r["granted"] != 0.0 || r["remaining"] != 0.0 || r["message"] == "" {
					t.Errorf("item %d (partition %d): %v, want unavailable", i, p, r)
				}
			} else if r["sku"] != items[i].SKU || r["error"] != nil || !ok(i, r) {
				t.Errorf("item %d (partition %d): %v", i, p, r)
			}
		}
	}
	t.Run("json", func(t *testing.T) {
		body, _ := json.Marshal(items)
		check(t, wire.SubjectAcquire, body, func(i int, r map[string]any) bool {
			return r["granted"] == float64(items[i].N) && r["remaining"] == float64(wire.Partition(items[i].SKU, splitParts))
		})
	})
	t.Run("hold", func(t *testing.T) {
		holds := make([]wire.HoldItem, len(items))
		for i, it := range items {
			holds[i] = wire.HoldItem{SKU: it.SKU, N: it.N, ID: fmt.Sprintf("h-%d", i)}
		}
		body, _ := json.Marshal(holds)
		check(t, wire.SubjectHold, body, func(i int, r map[string]any) bool {
			return r["held"] == float64(items[i].N) && r["id"] == holds[i].ID
		})
	})
}

// TestSplitWaitsOutAHandoff: a partition whose leader subscribes only
// after the batch came, as after a handoff, still answers its items, each
// exactly once, and the other partitions are not asked twice.
func TestSplitWaitsOutAHandoff(t *testing.T) {
	items := splitBatchItems(64, false)
	late := wire.Partition(items[0].SKU, splitParts)
	e := newSplitEnv(t, 2*time.Second, map[int]fakeMode{late: absent})
	type result struct {
		m   *nats.Msg
		err error
	}
	done := make(chan result, 1)
	go func() {
		m, err := e.client.Request("stock."+wire.SubjectAcquire, wire.AppendBatchRequest(nil, items), 5*time.Second)
		done <- result{m, err}
	}()
	time.Sleep(150 * time.Millisecond)
	e.leaders.serve(t, testenv.Connect(t, e.client.ConnectedUrl()), late, serving)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	m := r.m
	got, err := wire.DecodeBatchReply(m.Data, nil)
	if err != nil || len(got) != len(items) {
		t.Fatalf("reply %x: %v", m.Data, err)
	}
	for i, it := range items {
		if want := (wire.BatchResult{Granted: it.N, Remaining: int64(wire.Partition(it.SKU, splitParts))}); got[i] != want {
			t.Errorf("item %d: %+v, want %+v", i, got[i], want)
		}
	}
	want := make([]splitItem, len(items))
	for i, it := range items {
		want[i] = splitItem{SKU: it.SKU, N: it.N}
	}
	checkReceived(t, e.leaders, want)
}

// TestSplitMalformed: a message that is not a batch gets one bad_request
// with the micro error headers, as a leader answers it, and nothing is
// forwarded; a message without a reply subject is ignored.
func TestSplitMalformed(t *testing.T) {
	e := newSplitEnv(t, 2*time.Second, nil)
	tooMany := wire.AppendBatchRequest(nil, make([]wire.BatchItem, wire.MaxBatchItems+1))
	manyJSON := []byte("[" + strings.Repeat(`{"sku":"a"},`, wire.MaxBatchItems) + `{"sku":"a"}]`)
	huge := append([]byte(`[{"sku":"a","id":"`), bytes.Repeat([]byte("x"), wire.MaxBatchBody)...)
	huge = append(huge, `"}]`...)
	cases := []struct {
		name, verb string
		body       []byte
	}{
		{"empty", wire.SubjectAcquire, nil},
		{"object", wire.SubjectAcquire, []byte(`{"sku":"a"}`)},
		{"not json", wire.SubjectAcquire, []byte(`[{"sku":"a"}`)},
		{"truncated binary", wire.SubjectAcquire, wire.AppendBatchRequest(nil, []wire.BatchItem{{SKU: "abc", N: 1}})[:4]},
		{"binary trailing data", wire.SubjectAcquire, append(wire.AppendBatchRequest(nil, []wire.BatchItem{{SKU: "a", N: 1}}), 0)},
		{"too many binary items", wire.SubjectAcquire, tooMany},
		{"too many JSON items", wire.SubjectAcquire, manyJSON},
		{"oversized", wire.SubjectAcquire, huge},
		{"hold empty", wire.SubjectHold, nil},
		{"hold object", wire.SubjectHold, []byte(`{"sku":"a","id":"h"}`)},
		{"hold binary", wire.SubjectHold, wire.AppendBatchRequest(nil, []wire.BatchItem{{SKU: "a", N: 1}})},
		{"hold too many", wire.SubjectHold, []byte("[" + strings.Repeat(`{"sku":"a","id":"h"},`, wire.MaxBatchItems) + `{"sku":"a","id":"h"}]`)},
		{"hold oversized", wire.SubjectHold, huge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := e.request(t, c.verb, c.body)
			if code := m.Header.Get(wire.HeaderErrorCode); code != "400" {
				t.Fatalf("code %q, body %s", code, m.Data)
			}
			var r wire.Reply
			if err := json.Unmarshal(m.Data, &r); err != nil || r.Error != wire.ErrBadRequest || r.Message == "" || r.Message != m.Header.Get(wire.HeaderError) {
				t.Fatalf("body %s (%v), header %q", m.Data, err, m.Header.Get(wire.HeaderError))
			}
			if want := errorAnswer("", 0, wire.ErrBadRequest, r.Message).body; !bytes.Equal(m.Data, want) {
				t.Fatalf("body %s, want %s", m.Data, want)
			}
		})
	}
	// What an oversized body is told is what a leader tells it.
	m := e.request(t, wire.SubjectAcquire, huge)
	if want := wire.ErrBodyTooLarge(len(huge), wire.MaxBatchBody).Error(); m.Header.Get(wire.HeaderError) != want {
		t.Errorf("oversized: %q, want %q", m.Header.Get(wire.HeaderError), want)
	}
	// No reply subject: nothing is forwarded, nothing answered.
	if err := e.client.Publish("stock."+wire.SubjectAcquire, wire.AppendBatchRequest(nil, splitBatchItems(10, false))); err != nil {
		t.Fatal(err)
	}
	if err := e.client.Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if got, n := e.leaders.received(t); n != 0 {
		t.Fatalf("%d sub-batches forwarded: %v", n, got)
	}
}

// TestSplitBadItems: items that cannot be served are answered bad_request
// by the splitter with a leader's message and are not forwarded; the other
// items of their batch are.
func TestSplitBadItems(t *testing.T) {
	e := newSplitEnv(t, 2*time.Second, nil)
	longID := strings.Repeat("i", wire.MaxIDLen+1)

	t.Run("json", func(t *testing.T) {
		body := []byte(`[{"sku":"sku1","n":2},{"sku":"a b"},{"sku":"sku2","n":0},{"sku":"sku3","n":"1"},` +
			`{"sku":"sku4","x":1},{"sku":"sku5","id":""},{"sku":"sku6","buyer":"u 1"},{"sku":"sku7","id":"` + longID + `"},` +
			`1,null,{},{"sku":"sku8","id":"o-8","buyer":"u-8"}]`)
		spans, data, msgs, err := wire.DecodeJSONBatch(body, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []byte{'['}
		for i := range spans {
			if i > 0 {
				want = append(want, ',')
			}
			sku, msg := string(spans[i].SKU(data)), msgs[i]
			if msg == "" {
				msg = wire.ItemError(data, &spans[i])
			}
			switch i {
			case 0, len(spans) - 1:
				if msg != "" {
					t.Fatalf("item %d is bad: %s", i, msg)
				}
				want = wire.AppendJSONResult(want, sku, wire.ItemResult{Granted: spans[i].N, Remaining: int64(wire.Partition(sku, splitParts))}, "")
			default:
				if msg == "" {
					t.Fatalf("item %d is good", i)
				}
				want = wire.AppendJSONResult(want, sku, wire.ItemResult{Status: wire.StatusOf(wire.ErrBadRequest)}, msg)
			}
		}
		want = append(want, ']')
		m := e.request(t, wire.SubjectAcquire, body)
		if !bytes.Equal(m.Data, want) {
			t.Fatalf("reply\n%s\nwant\n%s", m.Data, want)
		}
	})
	t.Run("binary", func(t *testing.T) {
		items := []wire.BatchItem{{SKU: "a b", N: 1}, {SKU: "sku9", N: 3, ID: "o-9"}, {SKU: "sku10", N: 0}, {SKU: "sku11", N: 1, ID: longID}, {SKU: "", N: 1}}
		m := e.request(t, wire.SubjectAcquire, wire.AppendBatchRequest(nil, items))
		bad := wire.ItemResult{Status: wire.StatusOf(wire.ErrBadRequest)}
		want := wire.AppendBinaryReply(nil, []wire.ItemResult{bad, {Granted: 3, Remaining: int64(wire.Partition("sku9", splitParts))}, bad, bad, bad})
		if !bytes.Equal(m.Data, want) {
			t.Fatalf("reply %x, want %x", m.Data, want)
		}
	})
	t.Run("hold", func(t *testing.T) {
		body := []byte(`[{"sku":"sku12"},{"sku":"sku13","id":"h-13","ttl_s":0},{"sku":"a b","id":"h"},{"sku":"sku14","id":"h-14","n":2,"ttl_s":30},{"sku":"sku15","id":"h-15","z":1}]`)
		specs, msgs, err := wire.DecodeHoldBatch(body)
		if err != nil {
			t.Fatal(err)
		}
		want := []byte{'['}
		for i, s := range specs {
			if i > 0 {
				want = append(want, ',')
			}
			if i == 3 {
				want = wire.AppendHold(want, s.SKU, 2, int64(wire.Partition(s.SKU, splitParts)), s.ID, time.Unix(30, 0))
				continue
			}
			if msgs[i] == "" {
				t.Fatalf("hold %d is good", i)
			}
			want = appendItemError(want, s.SKU, errorAnswer(s.SKU, 0, wire.ErrBadRequest, msgs[i]))
		}
		want = append(want, ']')
		m := e.request(t, wire.SubjectHold, body)
		if !bytes.Equal(m.Data, want) {
			t.Fatalf("reply\n%s\nwant\n%s", m.Data, want)
		}
	})
	t.Run("all bad", func(t *testing.T) {
		m := e.request(t, wire.SubjectAcquire, []byte(`[{"sku":"a b"}]`))
		var got []wire.BatchResult
		if err := json.Unmarshal(m.Data, &got); err != nil || len(got) != 1 || got[0].Error != wire.ErrBadRequest || got[0].Code != 400 {
			t.Fatalf("reply %s: %v", m.Data, err)
		}
	})
	got, _ := e.leaders.received(t)
	want := map[string]splitItem{
		"sku1":  {SKU: "sku1", N: 2},
		"sku8":  {SKU: "sku8", N: 1, ID: "o-8", Buyer: "u-8"},
		"sku9":  {SKU: "sku9", N: 3, ID: "o-9"},
		"sku14": {SKU: "sku14", N: 2, ID: "h-14", TTL: 30 * time.Second},
	}
	n := 0
	for _, its := range got {
		for _, it := range its {
			if w, ok := want[it.SKU]; !ok || it != w {
				t.Errorf("forwarded %+v, want %+v", it, w)
			}
			n++
		}
	}
	if n != len(want) {
		t.Errorf("%d items forwarded, want %d: %v", n, len(want), got)
	}
}

// TestSplitQueueGroup: with a splitter in each of several processes, each
// batch is split by one of them, once.
func TestSplitQueueGroup(t *testing.T) {
	srv := testenv.NATS(t)
	for range 3 {
		nc := testenv.Conn(t, srv)
		subs, err := answerSplits(nc, "stock", "stock.split", splitParts, 2*time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			for _, s := range subs {
				_ = s.Unsubscribe()
			}
		})
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	leaders := startFakeLeaders(t, testenv.Conn(t, srv), nil)
	client := testenv.Conn(t, srv)
	const batches = 20
	for i := range batches {
		items := []wire.BatchItem{{SKU: fmt.Sprintf("q%d", i), N: 1}}
		m, err := client.Request("stock.acquire", wire.AppendBatchRequest(nil, items), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := wire.DecodeBatchReply(m.Data, nil); err != nil || len(got) != 1 || got[0].Granted != 1 {
			t.Fatalf("batch %d: %+v %v", i, got, err)
		}
	}
	if err := client.Flush(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if _, n := leaders.received(t); n != batches {
		t.Fatalf("%d sub-batches for %d single-partition batches", n, batches)
	}
}

// TestSplitArgs: settings that cannot split are refused before subscribing.
func TestSplitArgs(t *testing.T) {
	nc := testenv.Conn(t, testenv.NATS(t))
	for _, c := range []struct {
		name          string
		prefix, queue string
		partitions    int
		timeout       time.Duration
	}{
		{"one partition", "stock", "q", 1, time.Second},
		{"too many partitions", "stock", "q", wire.MaxPartitions + 1, time.Second},
		{"no queue", "stock", "", 16, time.Second},
		{"bad prefix", "stock.>", "q", 16, time.Second},
		{"no timeout", "stock", "q", 16, 0},
	} {
		if subs, err := answerSplits(nc, c.prefix, c.queue, c.partitions, c.timeout, nil); err == nil {
			t.Errorf("%s: subscribed %d", c.name, len(subs))
		}
	}
	if n := nc.NumSubscriptions(); n != 0 {
		t.Errorf("%d subscriptions left", n)
	}
}
