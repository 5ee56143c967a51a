package chaos

import (
	"strings"
	"testing"
	"time"
)

// hist builds small histories for the checker: one SKU of limit 1000 unless
// changed, one client.
type hist struct{ h History }

func newHist() *hist {
	return &hist{h: History{SKUs: []SKU{{Name: "s", Limit: 1000}}, Clients: 1, LeaseTTL: 5 * time.Second}}
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

// grant records a grant of units [start, start+n) of SKU 0, sent and
// replied at the given milliseconds.
func (b *hist) grant(start, n int64, send, reply int) *hist {
	lim := b.h.SKUs[0].Limit
	b.h.Acquires = append(b.h.Acquires, Acquire{SKU: 0, Attempt: 1, N: n, Granted: n,
		FirstSend: ms(send), Send: ms(send), Reply: ms(reply), Outcome: Granted, Remaining: lim - start - n})
	return b
}

func (b *hist) attempt(n int64, o Outcome, send, reply int) *hist {
	b.h.Acquires = append(b.h.Acquires, Acquire{SKU: 0, Attempt: 1, N: n, FirstSend: ms(send), Send: ms(send), Reply: ms(reply), Outcome: o})
	return b
}

func (b *hist) query(leader string, sold int64, send, reply int) *hist {
	b.h.Queries = append(b.h.Queries, Query{SKU: 0, Send: ms(send), Reply: ms(reply), Outcome: Granted,
		Limit: b.h.SKUs[0].Limit, Sold: sold, Leader: leader})
	return b
}

func (b *hist) fault(k Kind, target, leader string, at int) *hist {
	b.h.Faults = append(b.h.Faults, Fault{Kind: k, Target: target, Leader: leader, At: ms(at), Healed: ms(at + 100)})
	return b
}

func (b *hist) window(node string, at int, w int64) *hist {
	b.h.Windows = append(b.h.Windows, WindowSample{At: ms(at), Node: node, Window: w})
	return b
}

// end sets the final sold count and the end of the load.
func (b *hist) end(sold int64, at int) *History {
	b.h.Final = []Final{{Limit: b.h.SKUs[0].Limit, Sold: sold, OK: true}}
	b.h.End = ms(at)
	return &b.h
}

// steady grants units [from, to) two at a time, one grant every 10ms
// starting at t, and returns the time after the last.
func (b *hist) steady(from, to int64, t int) int {
	for u := from; u < to; u += 2 {
		b.grant(u, min(2, to-u), t, t+1)
		t += 10
	}
	return t
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name       string
		h          func() *History
		violations []string // substrings, one per violation expected
		excess     []string
		check      func(t *testing.T, r *Result)
	}{
		{
			name: "clean",
			h: func() *History {
				b := newHist()
				t := b.steady(0, 100, 0)
				b.query("r0", 100, t, t+1)
				return b.end(100, t+10)
			},
		},
		{
			name: "units granted twice and oversold",
			h: func() *History {
				b := newHist()
				b.h.SKUs[0].Limit = 3
				b.grant(0, 2, 0, 1).grant(0, 2, 5, 6)
				return b.end(3, 10)
			},
			violations: []string{"oversold", "granted again", "stale grant"},
		},
		{
			name: "grant outside the limit",
			h: func() *History {
				b := newHist()
				b.h.Acquires = append(b.h.Acquires, Acquire{N: 1, Granted: 1, Outcome: Granted, Remaining: 1000, Send: ms(1), Reply: ms(2)})
				return b.end(1, 10)
			},
			violations: []string{"outside"},
		},
		{
			name: "partial grant",
			h: func() *History {
				b := newHist()
				b.h.Acquires = append(b.h.Acquires, Acquire{N: 3, Granted: 2, Outcome: Granted, Remaining: 998, Send: ms(1), Reply: ms(2)})
				return b.end(2, 10)
			},
			violations: []string{"all or nothing"},
		},
		{
			name: "stale grant: units below one granted before the request was sent",
			h: func() *History {
				b := newHist()
				b.grant(10, 2, 0, 100)
				b.grant(5, 1, 150, 160)
				return b.end(12, 200)
			},
			violations: []string{"stale grant"},
		},
		{
			name: "grants replied out of order are not stale",
			h: func() *History {
				b := newHist()
				b.grant(0, 2, 0, 50) // sent first, replied after the second
				b.grant(2, 2, 10, 20)
				return b.end(4, 100)
			},
		},
		{
			name: "stale leader: the old leader answers after the new one, no fault in between",
			h: func() *History {
				b := newHist()
				b.query("r0", 0, 0, 1).fault(PauseLeader, "r0", "r0", 5)
				b.query("r1", 0, 10, 11).query("r0", 0, 20, 21).query("r1", 0, 30, 31)
				return b.end(0, 40)
			},
			violations: []string{"stale leader: r0"},
		},
		{
			name: "old leader's answer in flight across the change",
			h: func() *History {
				b := newHist()
				b.query("r0", 0, 0, 1).fault(KillLeader, "r0", "r0", 5)
				b.query("r1", 0, 10, 11).query("r0", 0, 9, 12).query("r1", 0, 30, 31)
				return b.end(0, 40)
			},
		},
		{
			name: "old leader leads again after a fault of the new one",
			h: func() *History {
				b := newHist()
				b.query("r0", 0, 0, 1).fault(KillLeader, "r0", "r0", 5)
				b.query("r1", 0, 10, 11).fault(StopLeader, "r1", "r1", 15)
				b.query("r0", 0, 20, 21)
				return b.end(0, 40)
			},
			check: func(t *testing.T, r *Result) {
				if r.Faults[0].NewLeader != "r1" || r.Faults[1].NewLeader != "r0" {
					t.Errorf("new leaders: %q, %q", r.Faults[0].NewLeader, r.Faults[1].NewLeader)
				}
			},
		},
		{
			name: "a standby's death does not explain a leader change",
			h: func() *History {
				b := newHist()
				b.query("r0", 0, 0, 1).fault(KillLeader, "r0", "r0", 5)
				b.query("r1", 0, 10, 11).fault(KillStandby, "r2", "r1", 15)
				b.query("r0", 0, 20, 21)
				return b.end(0, 40)
			},
			violations: []string{"stale leader: r0"},
		},
		{
			name: "sold goes back",
			h: func() *History {
				b := newHist()
				b.query("r0", 10, 0, 5).query("r0", 8, 6, 7)
				return b.end(10, 20)
			},
			violations: []string{"stale query answer"},
		},
		{
			name: "query below units already granted",
			h: func() *History {
				b := newHist()
				b.grant(0, 3, 0, 1)
				b.query("r1", 2, 5, 6)
				return b.end(3, 20)
			},
			violations: []string{"stale query answer"},
		},
		{
			name: "final sold below a granted unit",
			h: func() *History {
				b := newHist()
				b.grant(0, 3, 0, 1)
				return b.end(2, 20)
			},
			violations: []string{"final sold 2"},
		},
		{
			name: "crash loses a window",
			h: func() *History {
				b := newHist()
				b.h.SKUs[0].Limit = 1_000_000
				t := b.steady(0, 400, 0) // 200 grants over 2s: 200 units/s
				b.fault(KillLeader, "r0", "r0", t)
				b.steady(450, 500, t+3000) // a hole of 50 units, within 4*200*0.1 = 80
				return b.end(500, t+4000)
			},
			check: func(t *testing.T, r *Result) {
				f := r.Faults[0]
				if f.Lost != 50 || f.OverBound || f.Gap < 3*time.Second {
					t.Errorf("fault: %+v", f)
				}
				if r.Kinds[0].Lost != 50 || r.Kinds[0].Count != 1 {
					t.Errorf("kind: %+v", r.Kinds[0])
				}
			},
		},
		{
			name: "crash loses more than its window",
			h: func() *History {
				b := newHist()
				b.h.SKUs[0].Limit = 1_000_000
				t := b.steady(0, 400, 0)
				b.window("r0", t-50, 40)
				b.fault(KillLeader, "r0", "r0", t)
				b.steady(900, 1000, t+3000) // a hole of 500
				return b.end(1000, t+4000)
			},
			excess: []string{"more than its window"},
		},
		{
			name: "the leader's reported window bounds a crash",
			h: func() *History {
				b := newHist()
				b.h.SKUs[0].Limit = 1_000_000
				t := b.steady(0, 400, 0)
				b.window("r0", t-50, 300)
				b.fault(KillLeader, "r0", "r0", t)
				b.steady(900, 1000, t+3000)
				return b.end(1000, t+4000)
			},
		},
		{
			name: "near sell-out a crash loses at most a quarter of what remains",
			h: func() *History {
				b := newHist()
				b.h.SKUs[0].Limit = 500
				t := b.steady(0, 400, 0)
				b.window("r0", t-50, 1000)
				b.fault(KillLeader, "r0", "r0", t)
				b.steady(460, 500, t+3000) // 60 lost of 100 remaining
				return b.end(500, t+4000)
			},
			excess: []string{"quarter"},
		},
		{
			name: "graceful stop loses nothing",
			h: func() *History {
				b := newHist()
				t := b.steady(0, 100, 0)
				b.fault(StopLeader, "r0", "r0", t)
				b.steady(100, 200, t+50)
				return b.end(200, t+3000)
			},
			check: func(t *testing.T, r *Result) {
				if f := r.Faults[0]; f.Lost != 0 || f.Gap != 51*time.Millisecond || f.FirstGrant != 51*time.Millisecond {
					t.Errorf("fault: %+v", f)
				}
			},
		},
		{
			name: "graceful stop that loses units",
			h: func() *History {
				b := newHist()
				t := b.steady(0, 100, 0)
				b.fault(StopLeader, "r0", "r0", t)
				b.steady(105, 200, t+50)
				return b.end(200, t+3000)
			},
			excess: []string{"graceful stop lost 5"},
		},
		{
			name: "graceful stop with a timeout of unknown outcome",
			h: func() *History {
				b := newHist()
				t := b.steady(0, 100, 0)
				b.fault(StopLeader, "r0", "r0", t)
				b.attempt(3, Timeout, t+1, t+2500)
				b.steady(103, 200, t+50)
				return b.end(200, t+3000)
			},
			check: func(t *testing.T, r *Result) {
				if f := r.Faults[0]; f.Lost != 3 || f.Unknown != 3 {
					t.Errorf("fault: %+v", f)
				}
			},
		},
		{
			name: "units sold after the last grant seen are lost in the last epoch",
			h: func() *History {
				b := newHist()
				t := b.steady(0, 100, 0)
				b.fault(KillStandby, "r2", "r0", t)
				b.attempt(2, Timeout, t+10, t+2510)
				return b.end(102, t+3000)
			},
			check: func(t *testing.T, r *Result) {
				if f := r.Faults[0]; f.Lost != 2 || f.Unknown != 2 || !f.NoGrant {
					t.Errorf("fault: %+v", f)
				}
				if s := r.SKUs[0]; s.Lost != 2 || s.Unknown != 2 {
					t.Errorf("sku: %+v", s)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Check(tt.h(), DefaultBounds())
			match(t, "violation", r.Violations, tt.violations)
			match(t, "excess", r.Excess, tt.excess)
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

// match checks that got has one message containing each of want, and no other.
func match(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d %ss, want %d: %q", len(got), what, len(want), got)
		return
	}
	for i, w := range want {
		if !strings.Contains(got[i], w) {
			t.Errorf("%s %d = %q, want it to contain %q", what, i, got[i], w)
		}
	}
}

func TestPercentile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 3}, {0.99, 5}, {1, 5}, {0.01, 1}} {
		if got := percentile(ds, c.p); got != c.want {
			t.Errorf("percentile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if percentile(nil, 0.5) != 0 {
		t.Error("percentile of nothing")
	}
}

func TestScheduleReplays(t *testing.T) {
	a := newSchedule(42, AllKinds, LongWeights)
	b := newSchedule(42, AllKinds, LongWeights)
	seen := map[Kind]int{}
	n := 0
	for range 3 * 10 {
		x, y := a.next(), b.next()
		if x != y {
			t.Fatalf("step %d: %+v != %+v", n, x, y)
		}
		seen[x.kind]++
		n++
	}
	for _, k := range AllKinds {
		if want := 3 * max(LongWeights[k], 1); seen[k] != want {
			t.Errorf("%s: %d in three rounds, want %d", k, seen[k], want)
		}
	}
	c := newSchedule(43, AllKinds, LongWeights)
	same := true
	a = newSchedule(42, AllKinds, LongWeights)
	for range 10 {
		if a.next() != c.next() {
			same = false
		}
	}
	if same {
		t.Error("seeds 42 and 43 drew the same schedule")
	}
}
