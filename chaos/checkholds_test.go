package chaos

import (
	"strings"
	"testing"
	"time"
)

// holdHist is a history of holds only: a hold SKU of limit 1000 and these
// holds, with the final state the test sets.
func holdHist(final HoldFinal, lives ...HoldLife) *History {
	for i := range lives {
		lives[i].Seq = int32(i)
	}
	return &History{LeaseTTL: 5 * time.Second, HoldSKU: SKU{Name: "held", Limit: 1000}, Holds: lives, HoldFinal: final}
}

// The holds of every kind the checker tells apart, and the final state
// they add up to: 2+1+3+2+1 = 9 units held and 0 still held; 1+3+2 come
// back (cancelled, expired on confirm, abandoned), the cancel without an
// answer's 1 too, so the limit rises by 7; 2 confirmed.
func allKinds() []HoldLife {
	return []HoldLife{
		{N: 2, Answers: []string{"held 2 2026-12-06T10:00:02Z"}, Action: Confirm, Ends: []string{"confirmed 2", "confirmed 2"}},
		{N: 1, Answers: []string{"held 1 2026-12-06T10:00:02Z", "held 1 2026-12-06T10:00:02Z"}, Action: Cancel, Ends: []string{"cancelled 1"}},
		{N: 3, Answers: []string{"held 3 2026-12-06T10:00:03Z"}, Action: Confirm, Ends: []string{"expired"}},
		{N: 2, Answers: []string{"held 2 2026-12-06T10:00:03Z"}, Action: Abandon},
		{N: 1, Answers: []string{"held 1 2026-12-06T10:00:04Z"}, Action: Cancel},
		{N: 3, Answers: []string{"sold_out"}},
	}
}

func TestCheckHoldsPasses(t *testing.T) {
	h := holdHist(HoldFinal{Limit: 1007, Sold: 9, OK: true, After: time.Second}, allKinds()...)
	res, vs := checkHolds(h)
	if len(vs) != 0 {
		t.Fatalf("violations in a clean history: %q", vs)
	}
	want := HoldResult{Holds: 6, Held: 5, Refused: 1, Confirmed: 1, Cancelled: 1, Expired: 1, Abandoned: 1, EndUnknown: 1,
		ConfirmedUnits: 2, DueBack: 7, Returned: 7, BackAfter: time.Second}
	if res != want {
		t.Fatalf("result %+v, want %+v", res, want)
	}

	// A window lost in a crash counts as sold: more sold is no violation.
	h.HoldFinal.Sold = 50
	if _, vs := checkHolds(h); len(vs) != 0 {
		t.Fatalf("violations with lost window units: %q", vs)
	}
	// Holds of unknown outcome and confirms of unknown outcome may add units back.
	h = holdHist(HoldFinal{Limit: 1007 + 2 + 4, Sold: 9 + 2 + 4, OK: true}, append(allKinds(),
		HoldLife{N: 2}, HoldLife{N: 4, Answers: []string{"held 4 x"}, Action: Confirm})...)
	if _, vs := checkHolds(h); len(vs) != 0 {
		t.Fatalf("violations with unknown outcomes: %q", vs)
	}
}

func TestCheckHoldsFinds(t *testing.T) {
	for _, c := range []struct {
		name  string
		final HoldFinal
		edit  func(ls []HoldLife)
		want  string
	}{
		{"a repeated hold answered otherwise", HoldFinal{Limit: 1007, Sold: 9, OK: true},
			func(ls []HoldLife) { ls[1].Answers[1] = "held 1 2026-12-06T10:00:05Z" }, "a repeat got another answer"},
		{"a confirm that also expired", HoldFinal{Limit: 1007, Sold: 9, OK: true},
			func(ls []HoldLife) { ls[0].Ends[1] = "expired" }, "a repeated confirm got another answer"},
		{"a held hold unknown to its confirm", HoldFinal{Limit: 1007, Sold: 9, OK: true},
			func(ls []HoldLife) { ls[0].Ends = []string{"unknown_hold"} }, `confirm answered "unknown_hold"`},
		{"an abandoned hold that never came back", HoldFinal{Limit: 1005, Sold: 9, OK: true}, nil, "5 units came back, but"},
		{"units returned twice", HoldFinal{Limit: 1010, Sold: 9, OK: true}, nil, "at most 7 could"},
		{"a confirmed hold returned", HoldFinal{Limit: 1007, Sold: 8, OK: true}, nil, "2 units confirmed, but sold - held - returned is 1"},
		{"units still held", HoldFinal{Limit: 1005, Sold: 9, Held: 2, OK: true}, nil, "2 units of held still held"},
		{"oversold", HoldFinal{Limit: 1007, Sold: 1008, OK: true}, nil, "oversold"},
		{"no final state", HoldFinal{}, nil, "did not answer"},
		{"a hold of other units", HoldFinal{Limit: 1007, Sold: 9, OK: true},
			func(ls []HoldLife) { ls[3].Answers = []string{"held 1 2026-12-06T10:00:03Z"} }, "of 2 units answered"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ls := allKinds()
			if c.edit != nil {
				c.edit(ls)
			}
			_, vs := checkHolds(holdHist(c.final, ls...))
			if !strings.Contains(strings.Join(vs, "\n"), c.want) {
				t.Fatalf("violations %q, want one saying %q", vs, c.want)
			}
		})
	}
}
