package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/internal/embedded"

	"github.com/stockstate/stock/wire"
)

func TestKillSKUs(t *testing.T) {
	seen := map[string]bool{}
	for p, skus := range killSKUs() {
		if len(skus) != killSKUsPer {
			t.Fatalf("partition %d: %d SKUs, want %d", p, len(skus), killSKUsPer)
		}
		for _, s := range skus {
			if wire.Partition(s, benchPartitions) != p || seen[s] {
				t.Fatalf("%s in partition %d: partition %d, seen before %v", s, p, wire.Partition(s, benchPartitions), seen[s])
			}
			seen[s] = true
		}
	}
}

const msec = time.Millisecond

// at is a grant whose request was sent 1 ms before its reply came.
func at(t time.Duration) seenGrant { return seenGrant{sent: t - msec, at: t, granted: 1} }

func TestFirstGrantAgain(t *testing.T) {
	kill, end := 1000*msec, 6000*msec
	gs := []seenGrant{
		at(990 * msec),
		{sent: 999 * msec, at: 1001 * msec, granted: 1}, // sent before the kill: the killed one's reply
		at(1400 * msec),
		at(1300 * msec), // out of order: loops are merged
		at(7000 * msec),
	}
	got, ok := firstGrantAgain(gs, kill, end)
	if !ok || got != 300*msec {
		t.Fatalf("first grant again %v %v, want 300ms", got, ok)
	}
	if _, ok := firstGrantAgain([]seenGrant{at(990 * msec), at(7000 * msec)}, kill, end); ok {
		t.Fatal("a grant after the end counted")
	}
}

func TestLongestGap(t *testing.T) {
	kill, end := 1000*msec, 6000*msec
	for _, c := range []struct {
		name string
		gs   []seenGrant
		want time.Duration
	}{
		{"from the last grant before the kill", []seenGrant{at(900 * msec), at(980 * msec), at(1050 * msec), at(3000 * msec), at(4500 * msec), at(6000 * msec)}, 1950 * msec},
		{"across the kill", []seenGrant{at(940 * msec), at(1060 * msec), at(1070 * msec), at(5999 * msec), at(6000 * msec)}, 4929 * msec},
		{"to the end", []seenGrant{at(999 * msec), at(1010 * msec), at(1020 * msec), at(1030 * msec)}, 4970 * msec},
		{"none before the kill", []seenGrant{at(1040 * msec), at(6000 * msec)}, 4960 * msec},
		{"none at all", nil, 5000 * msec},
		{"out of order", []seenGrant{at(5000 * msec), at(1000 * msec), at(3000 * msec), at(6000 * msec)}, 2000 * msec},
	} {
		if got := longestGap(c.gs, kill, end); got != c.want {
			t.Errorf("%s: longest gap %v, want %v", c.name, got, c.want)
		}
	}
	// A steady stream every 2 ms has gaps of 2 ms.
	var gs []seenGrant
	for t := 0 * msec; t <= 7000*msec; t += 2 * msec {
		gs = append(gs, at(t))
	}
	if got := longestGap(gs, kill, end); got != 2*msec {
		t.Fatalf("steady stream: %v", got)
	}
}

func TestUnitsCheck(t *testing.T) {
	const limit = 10
	g := func(granted, remaining int64) seenGrant { return seenGrant{granted: granted, remaining: remaining} }
	for _, c := range []struct {
		name           string
		gs             []seenGrant
		oversold, dups int64
	}{
		{"distinct units", []seenGrant{g(1, 9), g(1, 8), g(2, 6), g(1, 5)}, 0, 0},
		{"every unit", []seenGrant{g(5, 5), g(5, 0)}, 0, 0},
		{"a unit twice", []seenGrant{g(1, 9), g(1, 9), g(1, 8)}, 0, 1},
		{"overlapping ranges", []seenGrant{g(3, 5), g(2, 4)}, 0, 1},         // [2,5) and [4,6)
		{"beyond the limit", []seenGrant{g(5, 5), g(5, 0), g(2, -1)}, 2, 1}, // 12 granted of 10; [9,11) names 9 again and 10
		{"a unit below 0", []seenGrant{g(2, 9)}, 1, 0},                      // [-1,1)
	} {
		over, dups := unitsCheck(c.gs, limit)
		if over != c.oversold || dups != c.dups {
			t.Errorf("%s: oversold %d, twice %d; want %d and %d", c.name, over, dups, c.oversold, c.dups)
		}
	}
}

func TestPrintPartkill(t *testing.T) {
	runs := []killRun{
		{orphans: []time.Duration{300 * msec, 350 * msec}, gaps: []time.Duration{10 * msec, 20 * msec}, grants: 100},
		{orphans: []time.Duration{400 * msec, 450 * msec}, gaps: []time.Duration{30 * msec, 60 * msec}, grants: 100, moves: 2},
	}
	var b bytes.Buffer
	printPartkill(&b, runs)
	out := b.String()
	for _, want := range []string{
		"| orphaned partitions (4, over 2 runs): kill → first grant again | 375 ms | 300 ms–450 ms | median ≤ 500 ms | met |",
		"| other partitions (4, over 2 runs): longest gap between grants after the kill | 25 ms | 10 ms–60 ms | never > 50 ms | not met |",
		"| units oversold | 0 | | 0 | met |",
		"Median per run of the orphaned partitions: 325 ms, 425 ms;",
		"Gaps over 50 ms: run 2: 60 ms.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// acquireLoop against a responder that is not there at first, then answers
// every request but one late.
func TestAcquireLoop(t *testing.T) {
	srv, err := embedded.StartNATS("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	const subject, limit = "stock.acquire.x.3", 1_000_000
	start := time.Now()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var counts loopCounts
	var gs []seenGrant
	var loopErr error
	done := make(chan struct{})
	go func() { defer close(done); gs, loopErr = acquireLoop(ctx, nc, subject, start, &counts) }()

	time.Sleep(50 * time.Millisecond) // no responders yet
	remaining := int64(limit)
	var mu sync.Mutex
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		mu.Lock()
		remaining--
		r := remaining
		mu.Unlock()
		body := fmt.Sprintf(`{"sku":"x","granted":1,"remaining":%d}`, r)
		if r == limit-3 { // the third grant comes late
			time.AfterFunc(killAttempt+50*time.Millisecond, func() { _ = m.Respond([]byte(body)) })
			return
		}
		_ = m.Respond([]byte(body))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	time.Sleep(400 * time.Millisecond)
	cancel()
	<-done
	if loopErr != nil {
		t.Fatal(loopErr)
	}
	if counts.noResponders == 0 || counts.timeouts != 1 || counts.late != 1 {
		t.Fatalf("counts %+v: want no responders at first, then 1 timeout and its late grant", counts)
	}
	late := 0
	for _, g := range gs {
		if g.at < g.sent || g.sent < 50*msec {
			t.Fatalf("grant %+v: received before sent, or sent while nobody answered", g)
		}
		if g.at-g.sent > killAttempt {
			late++
			if g.remaining != limit-3 {
				t.Fatalf("late grant %+v, want the third", g)
			}
		}
	}
	if late != 1 {
		t.Fatalf("%d late grants among %d", late, len(gs))
	}
	if over, twice := unitsCheck(gs, limit); over != 0 || twice != 0 || int64(len(gs)) != limit-remaining {
		t.Fatalf("%d grants of %d answered, oversold %d, twice %d", len(gs), limit-remaining, over, twice)
	}
}
