package responder

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/stockstate/stock/election"
	"github.com/stockstate/stock/responder/liveness"
)

// queuesOf builds election queues from instance names, leader first.
func queuesOf(qs ...[]string) [][]election.Candidate {
	out := make([][]election.Candidate, len(qs))
	for i, q := range qs {
		out[i] = []election.Candidate{}
		for j, inst := range q {
			out[i] = append(out[i], election.Candidate{Value: liveness.CandidateValue("id-"+inst, inst), Lease: int64(100*i + j + 1)})
		}
	}
	return out
}

func TestPlanBalance(t *testing.T) {
	all := map[string]bool{"a": true, "b": true, "c": true}
	for _, tc := range []struct {
		name          string
		self          string
		queues        [][]election.Candidate
		answered      map[string]bool
		since         []int64
		yield, requeu []int
	}{
		{
			name: "a leads all: hands half to b, newest first",
			self: "a", queues: queuesOf([]string{"a", "b"}, []string{"a", "b"}, []string{"a", "b"}, []string{"a", "b"}),
			answered: all, since: []int64{1, 4, 2, 3}, yield: []int{1, 3},
		},
		{
			name: "a partition still loading goes first",
			self: "a", queues: queuesOf([]string{"a", "b"}, []string{"a", "b"}, []string{"a", "b"}, []string{"a", "b"}),
			answered: all, since: []int64{5, math.MaxInt64, 9, 2}, yield: []int{1, 2},
		},
		{
			name: "even already", self: "a",
			queues:   queuesOf([]string{"a", "b"}, []string{"b", "a"}, []string{"a", "b"}),
			answered: all, since: []int64{1, 0, 2},
		},
		{
			name: "no heir that did not answer", self: "a",
			queues:   queuesOf([]string{"a", "b"}, []string{"a", "b"}, []string{"a", "b"}),
			answered: map[string]bool{}, since: []int64{1, 2, 3},
		},
		{
			name: "a standby ahead of a better heir steps aside", self: "b",
			// a leads 3, b leads 2, c leads none: c is the better heir of a's partitions.
			queues: queuesOf([]string{"a", "b", "c"}, []string{"a", "c", "b"}, []string{"a", "b", "c"},
				[]string{"b", "a", "c"}, []string{"b", "a", "c"}),
			answered: all, since: []int64{0, 0, 0, 8, 9}, requeu: []int{0, 2},
		},
		{
			name: "even: a standby ahead of the partition's heir steps aside", self: "b",
			// a leads 0 and 1, whose heirs are b and c in some order; b stands first in both.
			queues:   queuesOf([]string{"a", "b", "c"}, []string{"a", "b", "c"}, []string{"b", "a", "c"}, []string{"c", "a", "b"}),
			answered: all, since: []int64{0, 0, 5, 0},
			requeu: func() []int {
				if heirs("b", queuesOf([]string{"a", "b", "c"}, []string{"a", "b", "c"}), all)[0] == "c" {
					return []int{0}
				}
				return []int{1}
			}(),
		},
		{
			name: "a fine heir stays", self: "b",
			queues:   queuesOf([]string{"a", "b", "c"}, []string{"a", "b", "c"}, []string{"a", "b", "c"}, []string{"c", "a", "b"}),
			answered: all, since: []int64{0, 0, 0, 0},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			y, r := planBalance(tc.self, tc.queues, tc.answered, tc.since)
			if !slices.Equal(y, tc.yield) || !slices.Equal(r, tc.requeu) {
				t.Fatalf("yield %v requeue %v, want %v %v", y, r, tc.yield, tc.requeu)
			}
		})
	}
}

// TestPlanBalanceConverges plays the moves of every responder against one
// shared view until none is left: from any start, the counts end at most
// one apart, and every move narrowed them.
func TestPlanBalanceConverges(t *testing.T) {
	for _, n := range []int{2, 3, 4, 5} {
		for _, parts := range []int{1, 7, 16} {
			t.Run(fmt.Sprintf("%d responders %d partitions", n, parts), func(t *testing.T) {
				insts := make([]string, n)
				answered := map[string]bool{}
				for i := range insts {
					insts[i] = fmt.Sprintf("r%d", i)
					answered[insts[i]] = true
				}
				queues := make([][]string, parts)
				for p := range queues {
					queues[p] = slices.Clone(insts) // r0 first everywhere: it leads all
				}
				for round := 0; ; round++ {
					if round > 10*parts+10 {
						t.Fatalf("no convergence: %v", queues)
					}
					moved := false
					for _, self := range insts {
						since := make([]int64, parts)
						for p, q := range queues {
							if q[0] == self {
								since[p] = int64(p + 1)
							}
						}
						yield, requeue := planBalance(self, queuesOf(queues...), answered, since)
						for _, p := range append(yield, requeue...) {
							q := queues[p]
							at := slices.Index(q, self)
							queues[p] = append(append(slices.Clone(q[:at]), q[at+1:]...), self)
							moved = true
						}
						if moved {
							break // the others see the new queues next round
						}
					}
					if !moved {
						break
					}
				}
				count := map[string]int{}
				for _, q := range queues {
					count[q[0]]++
				}
				lo, hi := parts, 0
				for _, inst := range insts {
					lo, hi = min(lo, count[inst]), max(hi, count[inst])
				}
				if hi-lo > 1 {
					t.Fatalf("counts %v", count)
				}
				// Each responder's partitions have heirs next that share
				// them evenly: whichever dies, the survivors' parts of its
				// partitions are at most one apart.
				heir := heirs(insts[0], queuesOf(queues...), answered)
				for p, q := range queues {
					if q[1] != heir[p] {
						t.Fatalf("partition %d: queue %v, heir %s", p, q, heir[p])
					}
				}
				for _, dead := range insts {
					took := map[string]int{}
					for _, q := range queues {
						if q[0] == dead {
							took[q[1]]++
						}
					}
					lo, hi := parts, 0
					for _, inst := range insts {
						if inst != dead {
							lo, hi = min(lo, took[inst]), max(hi, took[inst])
						}
					}
					if hi-lo > 1 {
						t.Fatalf("the survivors of %s take %v of its partitions", dead, took)
					}
				}
			})
		}
	}
}
