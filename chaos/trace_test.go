package chaos

import "testing"

// A change is bracketed by the reads around its revision: after the send
// of the last read below it, before the reply of the first read at or
// above it, and never after it was seen.
func TestBracket(t *testing.T) {
	samples := []clockSample{
		{send: ms(0), recv: ms(2), rev: 10},
		{send: ms(20), recv: ms(22), rev: 11},
		{send: ms(40), recv: ms(45), rev: 15},
		{send: ms(60), recv: ms(61), rev: 15},
		{send: ms(80), recv: ms(90), rev: 20},
	}
	raw := []rawChange{
		{part: 1, node: "r1", revLo: 12, revHi: 12, seen: ms(70)}, // between the reads of 11 and 15
		{part: 0, node: "r0", revLo: 15, revHi: 15, seen: ms(50)}, // read at 15 itself
		{part: 0, node: "r2", revLo: 16, revHi: 19, seen: ms(85)}, // a resync: the seen time is sooner than the read's reply
		{part: 0, node: "", revLo: 30, revHi: 30, seen: ms(100)},  // after every read
		{part: 1, node: "r0", revLo: 5, revHi: 5, seen: ms(1)},    // before every read
	}
	got := bracket(raw, samples)
	want := []LeaderChange{
		{Partition: 0, Node: "r0", Rev: 15, Lo: ms(20), Hi: ms(45)},
		{Partition: 0, Node: "r2", Rev: 19, Lo: ms(60), Hi: ms(85)},
		{Partition: 0, Node: "", Rev: 30, Lo: ms(80), Hi: ms(100)},
		{Partition: 1, Node: "r1", Rev: 12, Lo: ms(20), Hi: ms(45)},
		{Partition: 1, Node: "r0", Rev: 5, Lo: 0, Hi: ms(1)},
	}
	if len(got) != len(want) {
		t.Fatalf("%d changes, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("change %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestSplitCandidate(t *testing.T) {
	if n, i := splitCandidate("r1#abc"); n != "r1" || i != "abc" {
		t.Errorf("%q %q", n, i)
	}
	if n, i := splitCandidate("node#a#b"); n != "node#a" || i != "b" {
		t.Errorf("%q %q", n, i)
	}
}
