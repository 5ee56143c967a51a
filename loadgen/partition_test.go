package loadgen

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/wire"
)

const testParts = 16

func TestPartitionsFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want int
		err  string
	}{
		{nil, 0, ""},
		{[]string{"-partitions", "1"}, 1, ""},
		{[]string{"-partitions", "16"}, 16, ""},
		{[]string{"-partitions", "1024"}, 1024, ""},
		{[]string{"-partitions", "-1"}, 0, "-partitions must be from 0"},
		{[]string{"-partitions", "1025"}, 0, "-partitions must be from 0"},
		{[]string{"-partitions", "x"}, 0, "invalid value"},
	} {
		m := &Main{}
		err := m.ParseFlags(tt.args)
		switch {
		case tt.err == "" && (err != nil || m.Config.Partitions != tt.want):
			t.Errorf("%q: partitions %d, %v; want %d", tt.args, m.Config.Partitions, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("%q: %v, want an error with %q", tt.args, err, tt.err)
		}
	}
}

// TestSplitBatch: a batch is split into one part per partition among its
// items, in the order the partitions first appear, each part holding its
// partition's items in their order, all in one group.
func TestSplitBatch(t *testing.T) {
	names := make([]string, 64)
	for i := range names {
		names[i] = fmt.Sprintf("load%d", i)
	}
	rt := realRoutes("stock", OpAcquire, names, testParts)
	ph := &phase{batch: 40, batchSubs: rt.batchSubs, skuPart: rt.skuPart}
	w := &worker{ph: ph, byPart: make([][]int32, testParts)}
	skus := make([]int32, 0, 40)
	for i := range 40 {
		skus = append(skus, int32((i*7)%len(names)))
	}
	picked := slices.Clone(skus)
	r := w.splitLocked(request{key: 9, skus: skus, first: 5})
	parts := append([]request{r}, r.more...)
	var order []int32 // partitions in order of first appearance
	for _, k := range picked {
		if p := rt.skuPart[k]; !slices.Contains(order, p) {
			order = append(order, p)
		}
	}
	if len(parts) != len(order) || r.group == nil || r.group.left != len(order) {
		t.Fatalf("%d parts, group %+v; want %d", len(parts), r.group, len(order))
	}
	for i, part := range parts {
		var want []int32
		for _, k := range picked {
			if rt.skuPart[k] == order[i] {
				want = append(want, k)
			}
		}
		if part.part != order[i] || !slices.Equal(part.skus, want) || part.group != r.group || part.key != 9 || part.first != 5 {
			t.Fatalf("part %d: %+v, want partition %d with %v", i, part, order[i], want)
		}
	}
	for i, l := range w.byPart {
		if l != nil {
			t.Fatalf("partition %d keeps a list after the split", i)
		}
	}

	one := []int32{3, 3, 3}
	r = w.splitLocked(request{skus: one})
	if r.group != nil || r.more != nil || !slices.Equal(r.skus, one) || r.part != rt.skuPart[3] {
		t.Fatalf("a batch of one partition: %+v", r)
	}
	if got := rt.batchSubs[r.part]; got != wire.PartitionBatchSubject("stock", wire.SubjectAcquire, int(r.part)) {
		t.Fatalf("batch subject %q", got)
	}
}

// TestRoutes: the subjects of a phase are wire's, and those of one
// partition are the subjects without partitions.
func TestRoutes(t *testing.T) {
	names := []string{"load0", "load1", "a-b:c"}
	for _, op := range []string{OpAcquire, OpHold, OpConfirm} {
		one := realRoutes("shop", op, names, 1)
		if !slices.Equal(one.batchSubs, []string{"shop." + op}) || one.skuPart != nil {
			t.Fatalf("one partition: %+v", one)
		}
		many := realRoutes("shop", op, names, testParts)
		for i, name := range names {
			if one.subjects[i] != "shop."+op+"."+name || many.subjects[i] != wire.SKUSubject("shop", op, name, testParts) ||
				many.skuPart[i] != int32(wire.Partition(name, testParts)) {
				t.Fatalf("%s %s: %q, %q, partition %d", op, name, one.subjects[i], many.subjects[i], many.skuPart[i])
			}
		}
	}
	null := nullRoutes("stock.loadgen-null", names)
	if null.subjects[2] != "stock.loadgen-null.a-b:c" || !slices.Equal(null.batchSubs, []string{"stock.loadgen-null"}) || null.skuPart != nil {
		t.Fatalf("null routes %+v", null)
	}
}

// TestPartitionedRuns: against a fake of 16 partitions that serves only
// the partitioned subjects and refuses a SKU sent to another partition,
// every kind of run sets up, loads and verifies its SKUs, with -partitions
// given or asked for.
func TestPartitionedRuns(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, s *Summary, f *fakeResponder)
	}{
		// Stock is far below the picks a SKU expects (sold out everywhere).
		{"single", []string{"-skus", "64", "-stock", "20", "-requests", "4000", "-c", "16"}, func(t *testing.T, s *Summary, _ *fakeResponder) {
			if p := s.Real; p.Counts["granted"] != 64*20 || p.Counts["sold_out"] != 4000-64*20 {
				t.Errorf("granted %d, sold out %d", p.Counts["granted"], p.Counts["sold_out"])
			}
		}},
		{"batch", []string{"-batch", "32", "-skus", "64", "-stock", "20", "-requests", "150", "-c", "8", "-null"}, func(t *testing.T, s *Summary, f *fakeResponder) {
			p := s.Real
			if p.Sent != 150*32 || p.Counts["granted"] != 64*20 || p.Counts["sold_out"] != 150*32-64*20 {
				t.Errorf("sent %d, granted %d, sold out %d", p.Sent, p.Counts["granted"], p.Counts["sold_out"])
			}
			if p.Messages <= 150 || p.MessageReplies != p.Messages {
				t.Errorf("%d messages, %d answered, for 150 batches: want each split and answered", p.Messages, p.MessageReplies)
			}
			if byPart := f.batchesByPart(); len(byPart) != testParts {
				t.Errorf("batch messages by partition: %v", byPart)
			}
			checkPhase(t, "null", s.Null)
			if s.Null.Messages != 150 {
				t.Errorf("null responder got %d messages, want the 150 batches whole", s.Null.Messages)
			}
		}},
		{"batch, asked", []string{"-partitions", "0", "-batch", "16", "-skus", "40", "-stock", "1000", "-requests", "100", "-c", "4"}, func(t *testing.T, s *Summary, _ *fakeResponder) {
			if s.Real.Counts["granted"] != 1600 {
				t.Errorf("granted %d", s.Real.Counts["granted"])
			}
		}},
		{"open loop batch", []string{"-batch", "16", "-skus", "64", "-rate", "1000", "-requests", "100"}, func(t *testing.T, s *Summary, _ *fakeResponder) {
			if s.Real.Counts["granted"] != 1600 || s.Real.Unsent != 0 {
				t.Errorf("granted %d, unsent %d", s.Real.Counts["granted"], s.Real.Unsent)
			}
		}},
		{"buyers", []string{"-skus", "32", "-per-buyer", "1", "-buyers", "1000000", "-requests", "500", "-c", "8"}, func(t *testing.T, s *Summary, _ *fakeResponder) {
			if s.Real.Counts["granted"] != 500 || s.Real.Counts["buyer_limit"] != 0 {
				t.Errorf("granted %d, buyer_limit %d", s.Real.Counts["granted"], s.Real.Counts["buyer_limit"])
			}
		}},
		{"hold", []string{"-op", "hold", "-skus", "32", "-stock", "5", "-requests", "1000", "-c", "8"}, func(t *testing.T, s *Summary, _ *fakeResponder) {
			if s.Real.Counts["granted"] != 160 || s.Real.Counts["sold_out"] != 840 {
				t.Errorf("held %d, sold out %d", s.Real.Counts["granted"], s.Real.Counts["sold_out"])
			}
		}},
		{"confirm", []string{"-op", "confirm", "-skus", "32", "-stock", "100", "-requests", "200", "-c", "8"}, func(t *testing.T, s *Summary, _ *fakeResponder) {
			if s.Warmup.Counts["granted"] != 200 || s.Real.Counts["granted"] != 200 || s.Real.Units != 200 {
				t.Errorf("held %d, confirmed %d (%d units)", s.Warmup.Counts["granted"], s.Real.Counts["granted"], s.Real.Units)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := testenv.NATS(t)
			f := startFakeParts(t, srv.ClientURL(), testParts, fakeFaults{})
			args := append([]string{"-progress", "0", "-conns", "2", "-partitions", fmt.Sprint(testParts)}, tt.args...)
			s, out, err := runLoadgen(t, t.Context(), srv.ClientURL(), args...)
			if err != nil {
				t.Fatal(err)
			}
			if m := f.misrouted(); len(m) > 0 {
				t.Fatalf("%d requests sent to the wrong partition, as %q", len(m), m[0])
			}
			if !strings.Contains(out, "VERIFY OK") || !strings.Contains(out, "over 16 partitions") || s.Partitions != testParts {
				t.Fatalf("report lacks VERIFY OK or the partitions; summary partitions %d", s.Partitions)
			}
			checkPhase(t, "real", s.Real)
			tt.check(t, s, f)
		})
	}
}

// TestPartitionDown: with the acquire subjects of one partition served by
// nobody, its SKUs' requests and batch parts meet no responders, are
// retried on their own and abandoned after -timeout, while every other
// item is granted, and verification passes.
func TestPartitionDown(t *testing.T) {
	const down = 3
	for _, tt := range []struct {
		name     string
		args     []string
		acquires int64
	}{
		{"batch", []string{"-batch", "16", "-requests", "40"}, 40 * 16},
		{"single", []string{"-requests", "400"}, 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := testenv.NATS(t)
			f := startFakeParts(t, srv.ClientURL(), testParts, fakeFaults{downParts: []int{down}})
			args := append([]string{"-progress", "0", "-partitions", "16", "-skus", "64", "-stock", "1000000",
				"-c", "8", "-conns", "2", "-timeout", "300ms", "-backoff", "20ms"}, tt.args...)
			s, out, err := runLoadgen(t, t.Context(), srv.ClientURL(), args...)
			if err != nil {
				t.Fatal(err)
			}
			p := s.Real
			checkPhase(t, "real", p)
			if !strings.Contains(out, "VERIFY OK") || len(f.misrouted()) > 0 {
				t.Fatalf("verification failed or requests misrouted: %q", f.misrouted())
			}
			if p.Counts["granted"]+p.Abandoned != tt.acquires || p.Abandoned == 0 || p.Counts["granted"] == 0 {
				t.Errorf("granted %d, abandoned %d; want every one of %d acquires either, some of each", p.Counts["granted"], p.Abandoned, tt.acquires)
			}
			if p.Retries == 0 || p.Counts["no_responders"] == 0 || p.Counts["timeout"] != 0 {
				t.Errorf("retries %d, no responders %d, timeouts %d", p.Retries, p.Counts["no_responders"], p.Counts["timeout"])
			}
			if n := f.batchesByPart()[down]; n != 0 {
				t.Errorf("the down partition got %d batches", n)
			}
		})
	}
}

// TestSlotWaitsForEveryPart: a closed-loop slot whose batch was split
// starts its next batch when the last of its parts ends, whatever ended
// them, and not before.
func TestSlotWaitsForEveryPart(t *testing.T) {
	names := make([]string, 64)
	for i := range names {
		names[i] = fmt.Sprintf("load%d", i)
	}
	rt := realRoutes("stock", OpAcquire, names, testParts)
	ph := &phase{closed: true, names: names, batch: 32, batchSubs: rt.batchSubs, skuPart: rt.skuPart, timeout: time.Hour, dur: time.Hour}
	w := &worker{ph: ph, inflight: map[uint64]request{}, byPart: make([][]int32, testParts), rng: rand.New(rand.NewPCG(1, 2))}
	for round := range 20 {
		w.mu.Lock()
		r, ok := w.nextLocked(0)
		if !ok {
			t.Fatal("no batch")
		}
		parts := append([]request{r}, r.more...)
		if len(w.inflight) != len(parts) {
			t.Fatalf("round %d: %d in flight, want the %d parts", round, len(w.inflight), len(parts))
		}
		items := 0
		for i, part := range parts {
			items += len(part.skus)
			delete(w.inflight, part.seq)
			next, ok := w.slotNextLocked(part, 0)
			if last := i == len(parts)-1; ok != last {
				t.Fatalf("round %d: part %d of %d ended: next batch %v", round, i+1, len(parts), ok)
			} else if last {
				for _, m := range append([]request{next}, next.more...) {
					delete(w.inflight, m.seq)
				}
			}
		}
		w.mu.Unlock()
		if items != 32 || len(parts) < 2 {
			t.Fatalf("round %d: %d items in %d parts", round, items, len(parts))
		}
	}
}
