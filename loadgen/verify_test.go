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
			before: []SKUState{{"a", 5, 0, 0}},
			grants: []grant{{0, 2, 2, 3}, {0, 2, 2, 1}, {0, 1, 1, 0}},
			after:  []SKUState{{"a", 5, 5, 0}},
			ok:     true,
		},
		{
			name:   "out-of-order replies",
			before: []SKUState{{"a", 10, 0, 0}},
			grants: []grant{{0, 1, 1, 7}, {0, 1, 1, 9}, {0, 1, 1, 8}},
			after:  []SKUState{{"a", 10, 3, 0}},
			ok:     true,
		},
		{
			name:   "lost to failover",
			before: []SKUState{{"a", 100, 10, 0}},
			// units 10..11 granted, then a new leader skipped the rest of a window: 40..41
			grants: []grant{{0, 2, 2, 88}, {0, 2, 2, 58}},
			after:  []SKUState{{"a", 100, 50, 0}},
			ok:     true,
			lost:   36,
		},
		{
			name:     "unit named twice",
			before:   []SKUState{{"a", 10, 0, 0}},
			grants:   []grant{{0, 2, 2, 8}, {0, 2, 2, 7}},
			after:    []SKUState{{"a", 10, 4, 0}},
			failures: []string{"1 units granted more than once"},
			overlaps: 1,
		},
		{
			name:     "sum over limit",
			before:   []SKUState{{"a", 3, 0, 0}},
			grants:   []grant{{0, 1, 1, 2}, {0, 1, 1, 1}, {0, 1, 1, 0}, {0, 1, 1, 0}},
			after:    []SKUState{{"a", 3, 4, 0}},
			failures: []string{"oversold: 4 units granted, only 3", "1 units granted more than once"},
			overlaps: 1,
		},
		{
			name:     "sold below seen",
			before:   []SKUState{{"a", 10, 0, 0}},
			grants:   []grant{{0, 1, 1, 9}, {0, 1, 1, 8}},
			after:    []SKUState{{"a", 10, 1, 0}},
			failures: []string{"sold rose by 1 (from 0 to 1), less than the 2 units"},
			lost:     0,
		},
		{
			name:     "unit sold before the run",
			before:   []SKUState{{"a", 10, 5, 0}},
			grants:   []grant{{0, 1, 1, 6}}, // names unit 3
			after:    []SKUState{{"a", 10, 6, 0}},
			failures: []string{"1 grants name units outside [5, 10)"},
		},
		{
			name:     "negative remaining",
			before:   []SKUState{{"a", 1, 0, 0}},
			grants:   []grant{{0, 1, 1, -1}},
			after:    []SKUState{{"a", 1, 1, 0}},
			failures: []string{"outside [0, 1)"},
		},
		{
			name:     "partial grant",
			before:   []SKUState{{"a", 10, 0, 0}},
			grants:   []grant{{0, 3, 2, 8}},
			after:    []SKUState{{"a", 10, 2, 0}},
			failures: []string{"1 grants of another number of units"},
		},
		{
			name:     "limit changed: units not checked",
			before:   []SKUState{{"a", 10, 0, 0}},
			grants:   []grant{{0, 1, 1, 9}, {0, 1, 1, 9}}, // after a raise to 11, both name "unit 0"
			after:    []SKUState{{"a", 11, 2, 0}},
			ok:       true,
			overlaps: 1, // reported, but not a failure
		},
		{
			name:   "huge limit: sums only",
			before: []SKUState{{"a", maxTrackedUnits * 2, 0, 0}},
			grants: []grant{{0, 1, 1, maxTrackedUnits*2 - 1}, {0, 1, 1, maxTrackedUnits*2 - 1}},
			after:  []SKUState{{"a", maxTrackedUnits * 2, 2, 0}},
			ok:     true,
		},
		{
			name:     "several SKUs, one bad",
			before:   []SKUState{{"a", 2, 0, 0}, {"b", 2, 0, 0}},
			grants:   []grant{{0, 1, 1, 1}, {1, 1, 1, 1}, {1, 1, 1, 1}},
			after:    []SKUState{{"a", 2, 1, 0}, {"b", 2, 2, 0}},
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
	l := NewLedger([]SKUState{{"a", 10, 0, 0}})
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
	v := NewLedger([]SKUState{{"a", 1, 0, 0}}).Verify(nil)
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

// TestLedgerBuyers: the units seen per buyer are summed over the workers'
// ledgers, and a buyer granted more than the SKU's per_buyer fails the
// verification, whichever ledgers its grants came through.
func TestLedgerBuyers(t *testing.T) {
	type grant struct {
		sku          int
		buyer, units int64
	}
	tests := []struct {
		name     string
		before   []SKUState
		after    []SKUState
		grants   []grant
		overCap  int64
		buyers   []int64 // per SKU
		most     []int64
		failures []string
	}{
		{
			name:   "at the cap",
			before: []SKUState{{"a", 100, 0, 2}},
			grants: []grant{{0, 5, 1}, {0, 5, 1}, {0, 4096, 2}, {0, 1_000_000_007, 1}},
			buyers: []int64{3}, most: []int64{2},
		},
		{
			name:    "one buyer over, its grants in two ledgers",
			before:  []SKUState{{"a", 100, 0, 2}},
			grants:  []grant{{0, 7, 1}, {0, 7, 2}, {0, 8, 2}},
			overCap: 1,
			buyers:  []int64{2}, most: []int64{3},
			failures: []string{"a: 1 buyers granted more than the per-buyer cap of 2 units (buyer 7 got 3)"},
		},
		{
			name:   "no cap: counted, never over",
			before: []SKUState{{"a", 100, 0, 0}},
			grants: []grant{{0, 1, 3}, {0, 1, 3}},
			buyers: []int64{1}, most: []int64{6},
		},
		{
			name:    "the same buyer on two SKUs: caps are per SKU",
			before:  []SKUState{{"a", 100, 0, 1}, {"b", 100, 0, 1}},
			grants:  []grant{{0, 3, 1}, {1, 3, 1}, {1, 4, 1}, {1, 4, 1}},
			overCap: 1,
			buyers:  []int64{1, 2}, most: []int64{1, 2},
			failures: []string{"b: 1 buyers granted more"},
		},
		{
			name:   "cap raised during the run: the larger one counts",
			before: []SKUState{{"a", 100, 0, 1}},
			after:  []SKUState{{"a", 100, 2, 3}},
			grants: []grant{{0, 3, 1}, {0, 3, 1}},
			buyers: []int64{1}, most: []int64{2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLedger(tt.before)
			other := l.fork()
			sold := make([]int64, len(tt.before))
			for i, g := range tt.grants {
				target := l
				if i%2 == 1 {
					target = other
				}
				sold[g.sku] += g.units
				target.Grant(g.sku, g.units, g.units, tt.before[g.sku].Limit-sold[g.sku])
				target.GrantBuyer(g.sku, g.buyer, g.units)
			}
			l.Merge(other)
			after := tt.after
			if after == nil {
				for i, b := range tt.before {
					after = append(after, SKUState{b.Name, b.Limit, sold[i], b.PerBuyer})
				}
			}
			v := l.Verify(after)
			if v.OK != (len(tt.failures) == 0) || len(v.Failures) != len(tt.failures) {
				t.Fatalf("OK %v, failures %q; want %q", v.OK, v.Failures, tt.failures)
			}
			for i, want := range tt.failures {
				if !strings.Contains(v.Failures[i], want) {
					t.Errorf("failure %d = %q, want it to contain %q", i, v.Failures[i], want)
				}
			}
			if v.BuyersOverCap != tt.overCap {
				t.Errorf("buyers over cap %d, want %d", v.BuyersOverCap, tt.overCap)
			}
			for i, s := range v.SKUs {
				if s.Buyers != tt.buyers[i] || s.MostPerBuyer != tt.most[i] {
					t.Errorf("%s: %d buyers, most %d; want %d, %d", s.SKU, s.Buyers, s.MostPerBuyer, tt.buyers[i], tt.most[i])
				}
			}
		})
	}
}

// TestLedgerBuyersByName: a late grant counts for its buyer by the SKU
// named in its reply; an unknown SKU is refused.
func TestLedgerBuyersByName(t *testing.T) {
	l := NewLedger([]SKUState{{"a", 10, 0, 1}})
	if !l.GrantBuyerByName([]byte("a"), 3, 2) || l.GrantBuyerByName([]byte("zz"), 3, 2) {
		t.Fatal("GrantBuyerByName: want the known SKU only")
	}
	l.GrantByName([]byte("a"), 2, 2, 8)
	if v := l.Verify([]SKUState{{"a", 10, 2, 1}}); v.OK || v.BuyersOverCap != 1 {
		t.Fatalf("verdict %+v: want buyer 3 over its cap of 1", v)
	}
}
