package loadgen

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestLedgerVerify(t *testing.T) {
	type grant struct {
		sku                           int
		requested, granted, remaining int64
	}
	tests := []struct {
		name     string
		before   []SKUState
		grants   []grant
		after    []SKUState
		ok       bool
		failures []string // substrings, in order
		lost     int64
		overlaps int64
	}{
		{
			name:   "exact sell-out",
			before: []SKUState{{"a", 5, 0}},
			grants: []grant{{0, 2, 2, 3}, {0, 2, 2, 1}, {0, 1, 1, 0}},
			after:  []SKUState{{"a", 5, 5}},
			ok:     true,
		},
		{
			name:   "out-of-order replies",
			before: []SKUState{{"a", 10, 0}},
			grants: []grant{{0, 1, 1, 7}, {0, 1, 1, 9}, {0, 1, 1, 8}},
			after:  []SKUState{{"a", 10, 3}},
			ok:     true,
		},
		{
			name:   "lost to failover",
			before: []SKUState{{"a", 100, 10}},
			// units 10..11 granted, then a new leader skipped the rest of a window: 40..41
			grants: []grant{{0, 2, 2, 88}, {0, 2, 2, 58}},
			after:  []SKUState{{"a", 100, 50}},
			ok:     true,
			lost:   36,
		},
		{
			name:     "unit named twice",
			before:   []SKUState{{"a", 10, 0}},
			grants:   []grant{{0, 2, 2, 8}, {0, 2, 2, 7}},
			after:    []SKUState{{"a", 10, 4}},
			failures: []string{"1 units granted more than once"},
			overlaps: 1,
		},
		{
			name:     "sum over limit",
			before:   []SKUState{{"a", 3, 0}},
			grants:   []grant{{0, 1, 1, 2}, {0, 1, 1, 1}, {0, 1, 1, 0}, {0, 1, 1, 0}},
			after:    []SKUState{{"a", 3, 4}},
			failures: []string{"oversold: 4 units granted, only 3", "1 units granted more than once"},
			overlaps: 1,
		},
		{
			name:     "sold below seen",
			before:   []SKUState{{"a", 10, 0}},
			grants:   []grant{{0, 1, 1, 9}, {0, 1, 1, 8}},
			after:    []SKUState{{"a", 10, 1}},
			failures: []string{"sold rose by 1 (from 0 to 1), less than the 2 units"},
			lost:     0,
		},
		{
			name:     "unit sold before the run",
			before:   []SKUState{{"a", 10, 5}},
			grants:   []grant{{0, 1, 1, 6}}, // names unit 3
			after:    []SKUState{{"a", 10, 6}},
			failures: []string{"1 grants name units outside [5, 10)"},
		},
		{
			name:     "negative remaining",
			before:   []SKUState{{"a", 1, 0}},
			grants:   []grant{{0, 1, 1, -1}},
			after:    []SKUState{{"a", 1, 1}},
			failures: []string{"outside [0, 1)"},
		},
		{
			name:     "partial grant",
			before:   []SKUState{{"a", 10, 0}},
			grants:   []grant{{0, 3, 2, 8}},
			after:    []SKUState{{"a", 10, 2}},
			failures: []string{"1 grants of another number of units"},
		},
		{
			name:     "limit changed: units not checked",
			before:   []SKUState{{"a", 10, 0}},
			grants:   []grant{{0, 1, 1, 9}, {0, 1, 1, 9}}, // after a raise to 11, both name "unit 0"
			after:    []SKUState{{"a", 11, 2}},
			ok:       true,
			overlaps: 1, // reported, but not a failure
		},
		{
			name:   "huge limit: sums only",
			before: []SKUState{{"a", maxTrackedUnits * 2, 0}},
			grants: []grant{{0, 1, 1, maxTrackedUnits*2 - 1}, {0, 1, 1, maxTrackedUnits*2 - 1}},
			after:  []SKUState{{"a", maxTrackedUnits * 2, 2}},
			ok:     true,
		},
		{
			name:     "several SKUs, one bad",
			before:   []SKUState{{"a", 2, 0}, {"b", 2, 0}},
			grants:   []grant{{0, 1, 1, 1}, {1, 1, 1, 1}, {1, 1, 1, 1}},
			after:    []SKUState{{"a", 2, 1}, {"b", 2, 2}},
			failures: []string{"b: 1 units granted more than once"},
			overlaps: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Spread the grants over two ledgers, as two workers would, and merge.
			l := NewLedger(tt.before)
			other := l.fork()
			for i, g := range tt.grants {
				target := l
				if i%2 == 1 {
					target = other
				}
				target.Grant(g.sku, g.requested, g.granted, g.remaining)
			}
			l.Merge(other)
			v := l.Verify(tt.after)
			if v.OK != tt.ok {
				t.Fatalf("OK = %v, want %v; failures %q", v.OK, tt.ok, v.Failures)
			}
			if len(v.Failures) != len(tt.failures) {
				t.Fatalf("failures %q, want %d like %q", v.Failures, len(tt.failures), tt.failures)
			}
			for i, want := range tt.failures {
				if !strings.Contains(v.Failures[i], want) {
					t.Errorf("failure %d = %q, want it to contain %q", i, v.Failures[i], want)
				}
			}
			if v.Lost != tt.lost {
				t.Errorf("lost = %d, want %d", v.Lost, tt.lost)
			}
			var overlaps int64
			for _, s := range v.SKUs {
				overlaps += s.Overlaps
			}
			if overlaps != tt.overlaps {
				t.Errorf("overlaps = %d, want %d", overlaps, tt.overlaps)
			}
		})
	}
}

func TestLedgerGrantByName(t *testing.T) {
	l := NewLedger([]SKUState{{"a", 10, 0}})
	if !l.GrantByName([]byte("a"), 1, 1, 9) {
		t.Fatal("known SKU refused")
	}
	if l.GrantByName([]byte("zz"), 1, 1, 9) {
		t.Fatal("unknown SKU accepted")
	}
	if got := l.Units(); got != 1 {
		t.Fatalf("units = %d, want 1", got)
	}
}

func TestLedgerVerifyWrongCount(t *testing.T) {
	v := NewLedger([]SKUState{{"a", 1, 0}}).Verify(nil)
	if v.OK {
		t.Fatal("verify of a missing SKU passed")
	}
}

// TestUnitSet checks the paged bitmap against plain maps, with ranges that
// cross word and page boundaries, and the merge of two sets.
func TestUnitSet(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sets := [2]*unitSet{newUnitSet(), newUnitSet()}
	refs := [2]map[int64]bool{{}, {}}
	for i := range 3000 {
		a, n := r.Int64N(3*unitPageBits), r.Int64N(200)
		if i%100 == 0 {
			n = r.Int64N(2 * unitPageBits)
		}
		k := i % 2
		var dup int64
		for u := a; u < a+n; u++ {
			if refs[k][u] {
				dup++
			}
			refs[k][u] = true
		}
		if got := sets[k].add(a, a+n); got != dup {
			t.Fatalf("add(%d, %d) = %d duplicates, want %d", a, a+n, got, dup)
		}
	}
	var shared int64
	for u := range refs[1] {
		if refs[0][u] {
			shared++
		}
	}
	if got := sets[0].merge(sets[1]); got != shared {
		t.Fatalf("merge found %d shared units, want %d", got, shared)
	}
	if got, want := sets[0].len(), int64(len(refs[0])+len(refs[1]))-shared; got != want {
		t.Fatalf("len after merge = %d, want %d", got, want)
	}
}

func TestUnitSetAddDuplicates(t *testing.T) {
	s := newUnitSet()
	if d := s.add(60, 70); d != 0 {
		t.Fatalf("fresh add: %d duplicates", d)
	}
	if d := s.add(65, 130); d != 5 {
		t.Fatalf("overlapping add: %d duplicates, want 5", d)
	}
	if d := s.add(unitPageBits-3, unitPageBits+3); d != 0 {
		t.Fatalf("page-crossing add: %d duplicates", d)
	}
	if d := s.add(0, unitPageBits+10); d != 70+6 {
		t.Fatalf("covering add: %d duplicates, want %d", d, 70+6)
	}
	if got := s.len(); got != unitPageBits+10 {
		t.Fatalf("len = %d, want %d", got, unitPageBits+10)
	}
}
