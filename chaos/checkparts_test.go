package chaos

import (
	"strings"
	"testing"
	"time"
)

// phist builds histories of two partitions, one SKU each (s0 in partition
// 0, s1 in partition 1), one client per partition.
type phist struct{ h History }

func newPHist() *phist {
	return &phist{h: History{Partitions: 2, Clients: 2, LeaseTTL: 5 * time.Second,
		SKUs: []SKU{{Name: "s0", Limit: 1_000_000, Partition: 0}, {Name: "s1", Limit: 1_000_000, Partition: 1}}}}
}

// steady grants SKU si's units [from, to) two at a time, one grant every
// 10ms from t, and returns the time after the last.
func (b *phist) steady(si int, from, to int64, t int) int {
	lim := b.h.SKUs[si].Limit
	for u := from; u < to; u += 2 {
		b.h.Acquires = append(b.h.Acquires, Acquire{Client: int32(si), SKU: int32(si), Attempt: 1, N: 2, Granted: 2,
			FirstSend: ms(t), Send: ms(t), Reply: ms(t + 1), Outcome: Granted, Remaining: lim - u - 2})
		t += 10
	}
	return t
}

func (b *phist) leader(p int, node string, lo, hi int) *phist {
	b.h.Leaders = append(b.h.Leaders, LeaderChange{Partition: p, Node: node, Lo: ms(lo), Hi: ms(hi)})
	return b
}

func (b *phist) end(at int) *History {
	for si := range b.h.SKUs {
		var top int64
		for _, a := range b.h.Acquires {
			if int(a.SKU) == si && a.Outcome == Granted {
				_, e := a.Units(b.h.SKUs[si].Limit)
				top = max(top, e)
			}
		}
		b.h.Final = append(b.h.Final, Final{Limit: b.h.SKUs[si].Limit, Sold: top, OK: true})
	}
	b.h.End = ms(at)
	return &b.h
}

// A kill of the leader of partition 0 costs partition 0 its gap; partition
// 1, led by another, goes on and its gap is reported apart.
func TestPartitionGaps(t *testing.T) {
	b := newPHist()
	b.leader(0, "r0", 0, 1).leader(1, "r1", 0, 1)
	b.steady(0, 0, 200, 0) // 0 to 1s
	b.steady(1, 0, 600, 0) // 0 to 3s, no gap
	b.h.Faults = []Fault{{Kind: KillLeader, Target: "r0", Leader: "r0", Leaders: []string{"r0", "r1"}, Partitions: []int{0}, At: ms(1000), Healed: ms(1500)}}
	b.leader(0, "r2", 1390, 1395)
	b.steady(0, 250, 400, 1400) // a hole of 50 units, served again at 1.4s
	r := Check(b.end(3000), DefaultBounds())
	match(t, "violation", r.Violations, nil)
	match(t, "excess", r.Excess, nil)
	f := r.Faults[0]
	if f.Gap != 401*time.Millisecond || f.GapPartition != 0 || f.Others != 1 || f.OtherGap != 10*time.Millisecond || f.OtherGapPartition != 1 {
		t.Errorf("gap %v (p%d), other %v (p%d) of %d", f.Gap, f.GapPartition, f.OtherGap, f.OtherGapPartition, f.Others)
	}
	if f.Lost != 50 || f.Changes != 1 {
		t.Errorf("lost %d, changes %d", f.Lost, f.Changes)
	}
	if len(r.Handoffs) != 0 {
		t.Errorf("the fault's own change counted as a handoff: %+v", r.Handoffs)
	}
	if k := r.Kinds[0]; k.OtherCount != 1 || k.OtherGapMax != 10*time.Millisecond || k.Partitions != 1 {
		t.Errorf("kind: %+v", k)
	}
}

// A partition whose leader the fault did not hit must lose nothing, and a
// stretch of another partition across a change of its own leader is a
// handoff, not the fault's.
func TestPartitionOthers(t *testing.T) {
	b := newPHist()
	b.leader(0, "r0", 0, 1).leader(1, "r1", 0, 1)
	b.steady(0, 0, 600, 0)
	t1 := b.steady(1, 0, 200, 0) // to 1s
	b.h.Faults = []Fault{{Kind: StopLeader, Target: "r0", Leader: "r0", Leaders: []string{"r0", "r1"}, Partitions: []int{0}, At: ms(500), Healed: ms(600)}}
	// partition 1 moves from r1 to r2 at 1.04s, after the fault healed,
	// with a gap of 80ms, and loses 10 units
	b.leader(1, "r2", 1040, 1045)
	b.steady(1, 210, 400, t1+80)
	r := Check(b.end(3000), DefaultBounds())
	match(t, "excess", r.Excess, []string{"lost 10 units of s1 (partition 1, whose leader it did not hit"})
	if len(r.Handoffs) != 1 {
		t.Fatalf("handoffs %+v, want 1", r.Handoffs)
	}
	if h := r.Handoffs[0]; h.Partition != 1 || h.From != "r1" || h.To != "r2" || h.Gap != 90*time.Millisecond || h.Unserved {
		t.Errorf("handoff %+v", h)
	}
	if f := r.Faults[0]; f.OtherGap != 10*time.Millisecond {
		t.Errorf("other gap %v: the handoff's stretch must not count", f.OtherGap)
	}
}

// The stale leader rule from the election keys: an answer for a partition
// from a node that did not lead it then is stale, whatever moved
// leadership; a node that leads again after a handoff may answer again.
func TestStaleLeaderFromKeys(t *testing.T) {
	b := newPHist()
	b.leader(0, "r0", 0, 1).leader(1, "r0", 0, 1)
	b.leader(1, "r1", 100, 110) // a handoff of partition 1 to r1
	b.leader(1, "r0", 300, 310) // and back
	q := func(sku int32, leader string, send, reply int) {
		b.h.Queries = append(b.h.Queries, Query{SKU: sku, Send: ms(send), Reply: ms(reply), Outcome: Granted, Leader: leader})
	}
	q(1, "r0", 50, 51)   // r0 leads
	q(1, "r0", 105, 106) // may still lead: the change is within [100, 110]
	q(1, "r1", 150, 151)
	q(1, "r0", 200, 201) // stale: r1 leads partition 1
	q(0, "r0", 200, 201) // r0 still leads partition 0
	q(1, "r1", 20, 30)   // stale: r1 did not lead yet
	q(1, "r0", 400, 401) // r0 leads again
	q(1, "r1", 250, 305) // in flight across the change back
	r := Check(b.end(500), DefaultBounds())
	match(t, "violation", r.Violations, []string{"stale leader: r0 answered a query of s1 (partition 1) sent at 200ms", "stale leader: r1 answered a query of s1 (partition 1) sent at 20ms"})
	if !strings.Contains(r.Violations[0], "r1 led it from 100ms") {
		t.Errorf("violation does not say who led: %s", r.Violations[0])
	}
}

// The quiet seconds, away from faults and leader changes, give the noise
// the gaps stand on.
func TestQuietGaps(t *testing.T) {
	b := newPHist()
	b.h.Partitions, b.h.SKUs = 1, b.h.SKUs[:1]
	b.leader(0, "r0", 0, 1)
	b.steady(0, 0, 700, 0)       // to 3.5s
	b.steady(0, 700, 1000, 3550) // a stretch of 60ms at 3.5s, then to 5.05s
	b.h.Faults = []Fault{{Kind: KillStandby, Target: "r2", At: ms(500), Healed: ms(600)}}
	r := Check(b.end(5000), DefaultBounds())
	if len(r.Quiet) != 2 || r.Quiet[0] != 10*time.Millisecond || r.Quiet[1] != 60*time.Millisecond {
		t.Errorf("quiet gaps %v, want [10ms 60ms] (the seconds from 2.001s and 3.001s)", r.Quiet)
	}
}

// A hole in a partition the fault did not hit is excused by a request of
// unknown outcome that was in flight when the fault came (sent before it,
// timed out after), as a reply lost with a killed NATS node is.
func TestPartitionInflightUnknown(t *testing.T) {
	b := newPHist()
	b.leader(0, "r0", 0, 1).leader(1, "r1", 0, 1)
	b.steady(0, 0, 600, 0)
	t1 := b.steady(1, 0, 100, 0) // to 500ms
	b.h.Acquires = append(b.h.Acquires, Acquire{Client: 1, SKU: 1, Attempt: 1, N: 2,
		FirstSend: ms(t1 - 5), Send: ms(t1 - 5), Reply: ms(t1 + 295), Outcome: Timeout})
	b.h.Faults = []Fault{{Kind: KillNATS, Target: "nats0", Leader: "r0", Leaders: []string{"r0", "r1"}, Partitions: []int{0}, At: ms(t1 - 2), Healed: ms(t1 + 500)}}
	b.steady(1, 102, 400, t1+10) // units 100 and 101 went to the request that timed out
	r := Check(b.end(3000), DefaultBounds())
	match(t, "excess", r.Excess, nil)
	if f := r.Faults[0]; f.Lost != 2 {
		t.Errorf("lost %d, want 2", f.Lost)
	}
}
