package chaos

import (
	"strings"
	"testing"
	"time"
)

// buyerOps are ops of every kind the buyer checker tells apart, on one
// capped SKU of limit 100: u0 acquires 2, is refused at its cap, holds 1
// and confirms it (3, its cap); u1 holds 2 and cancels, holds 1 and
// abandons it, acquires 2 (asked twice); u2 holds 1 that expires on its
// confirm, and has an acquire of 1 and a hold of 2 of unknown outcome.
// Sold for good: 2+1+2 = 5; ever granted or held: 4 acquired + 5 held = 9;
// back: 2+1+1 = 4, and the unknown hold's 2 may come back too.
func buyerOps() []BuyerOp {
	ops := []BuyerOp{
		{Buyer: "u0", N: 2, Answers: []string{"granted 2"}},
		{Buyer: "u0", N: 2, Answers: []string{"buyer_limit 2 0 3"}},
		{Buyer: "u0", N: 1, Hold: true, Answers: []string{"held 1 2026-12-06T10:00:02Z"}, Action: Confirm, Ends: []string{"confirmed 1"}},
		{Buyer: "u1", N: 2, Hold: true, Answers: []string{"held 2 2026-12-06T10:00:02Z"}, Action: Cancel, Ends: []string{"cancelled 2", "cancelled 2"}},
		{Buyer: "u1", N: 1, Hold: true, Answers: []string{"held 1 2026-12-06T10:00:03Z"}, Action: Abandon},
		{Buyer: "u1", N: 2, Answers: []string{"granted 2", "granted 2"}},
		{Buyer: "u2", N: 1, Hold: true, Answers: []string{"held 1 2026-12-06T10:00:03Z"}, Action: Confirm, Ends: []string{"expired"}},
		{Buyer: "u2", N: 1},
		{Buyer: "u2", N: 2, Hold: true},
	}
	for i := range ops {
		ops[i].Seq = int32(i)
	}
	return ops
}

// buyerHist is a history of buyer ops only, with the final state of a
// clean run: every buyer's count as seen, nothing held, the SKU's sold and
// returned units as the ops add up.
func buyerHist(ops []BuyerOp) *History {
	return &History{
		LeaseTTL:      5 * time.Second,
		BuyerSKUs:     []SKU{{Name: "capped", Limit: 100}},
		BuyerOps:      ops,
		BuyerSKUFinal: []BuyerSKUFinal{{Limit: 104, Sold: 9, PerBuyer: PerBuyer, OK: true}},
		BuyerFinals: []BuyerFinal{
			{Buyer: "u0", Bought: 3, PerBuyer: PerBuyer, OK: true},
			{Buyer: "u1", Bought: 2, PerBuyer: PerBuyer, OK: true},
			{Buyer: "u2", Bought: 0, PerBuyer: PerBuyer, OK: true},
		},
	}
}

func TestCheckBuyersPasses(t *testing.T) {
	res, vs := checkBuyers(buyerHist(buyerOps()))
	if len(vs) != 0 {
		t.Fatalf("violations in a clean history: %q", vs)
	}
	want := BuyerResult{Buyers: 3, Acquires: 4, Holds: 5, Granted: 2, Held: 4, CapsHit: 1, Unknown: 2,
		Confirmed: 1, Cancelled: 1, Expired: 1, Abandoned: 1, MostSeen: 3, Checked: 3,
		UnitsSeen: 5, UnitsBought: 5, Returned: 4, DueBack: 4, MostBack: 6}
	if res != want {
		t.Fatalf("result %+v, want %+v", res, want)
	}
	// The acquire of unknown outcome may have been granted, the hold of
	// unknown outcome may have been made and come back; a crash's lost
	// window counts as sold.
	h := buyerHist(buyerOps())
	h.BuyerFinals[2].Bought = 1
	h.BuyerSKUFinal[0] = BuyerSKUFinal{Limit: 106, Sold: 9 + 1 + 2 + 40, PerBuyer: PerBuyer, OK: true}
	if _, vs := checkBuyers(h); len(vs) != 0 {
		t.Fatalf("violations with unknown outcomes and a lost window: %q", vs)
	}
	// A refused acquire repeated after a hold ran out may be granted afresh.
	h = buyerHist(buyerOps())
	h.BuyerOps[7].Answers = []string{"buyer_limit 2 1 3", "granted 1"}
	h.BuyerFinals[2].Bought = 1
	h.BuyerSKUFinal[0].Sold = 10
	if res, vs := checkBuyers(h); len(vs) != 0 || res.Granted != 3 {
		t.Fatalf("a grant after a refusal: %+v, %q", res, vs)
	}
}

func TestCheckBuyersFinds(t *testing.T) {
	for _, c := range []struct {
		name string
		edit func(h *History)
		want string
	}{
		{"a buyer over its cap", func(h *History) {
			h.BuyerOps = append(h.BuyerOps, BuyerOp{Buyer: "u0", Seq: 99, N: 1, Answers: []string{"granted 1"}})
			h.BuyerFinals[0].Bought, h.BuyerSKUFinal[0].Sold = 4, 10
		}, "buyer u0 of capped: clients saw 4 units (3 acquired, 1 confirmed), over the cap of 3"},
		{"a grant missing from the buyer's count", func(h *History) { h.BuyerFinals[1].Bought = 1 },
			"buyer u1 of capped: bought 1 after the run, but clients saw 2 units"},
		{"bought more than could be", func(h *History) { h.BuyerFinals[2].Bought = 2 },
			"buyer u2 of capped: bought 2 after the run, at most 1 could be"},
		{"bought and held over the cap", func(h *History) { h.BuyerFinals[0].Held = 1 }, "bought 3 + held 1, per_buyer 3"},
		{"a buyer's units still held", func(h *History) { h.BuyerFinals[1].Held = 1 }, "buyer u1 of capped still holds 1 units"},
		{"a buyer not answered after the run", func(h *History) { h.BuyerFinals = h.BuyerFinals[:2] }, "3 buyers asked for units, 2 answered"},
		{"a refusal that fits the cap", func(h *History) { h.BuyerOps[1].Answers = []string{"buyer_limit 0 1 3"} }, "they fit the cap of 3"},
		{"a refusal naming another cap", func(h *History) { h.BuyerOps[1].Answers = []string{"buyer_limit 2 0 2"} }, "names per_buyer 2"},
		{"a repeated grant refused", func(h *History) { h.BuyerOps[5].Answers = []string{"granted 2", "buyer_limit 2 0 3"} },
			"a repeat got another answer"},
		{"a grant of other units", func(h *History) { h.BuyerOps[0].Answers = []string{"granted 1"} }, "2 units asked, answered \"granted 1\""},
		{"a repeated cancel answered otherwise", func(h *History) { h.BuyerOps[3].Ends[1] = "unknown_hold" }, "a repeated cancel got another answer"},
		{"another error", func(h *History) { h.BuyerOps[1].Answers = []string{"bad_request"} }, `answered "bad_request"`},
		{"a hold's units that never came back", func(h *History) { h.BuyerSKUFinal[0].Limit = 102 }, "2 units came back, but"},
		{"units returned twice", func(h *History) { h.BuyerSKUFinal[0].Limit, h.BuyerSKUFinal[0].Sold = 107, 12 }, "7 units came back, at most 6 could"},
		{"sold below what was seen", func(h *History) { h.BuyerSKUFinal[0].Sold = 8 }, "clients saw 5 units sold for good, but sold - held - returned is 4"},
		{"oversold as seen", func(h *History) { h.BuyerSKUs[0].Limit = 4; h.BuyerSKUFinal[0].Limit = 8 }, "capped oversold: clients saw 5 units"},
		{"oversold as the SKU says", func(h *History) { h.BuyerSKUFinal[0].Sold = 105 }, "sold 105 of a limit of 104"},
		{"units still held", func(h *History) { h.BuyerSKUFinal[0].Held = 1; h.BuyerSKUFinal[0].Sold = 10 }, "1 units of capped still held"},
		{"no final state", func(h *History) { h.BuyerSKUFinal = nil }, "did not answer a query after the run"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := buyerHist(buyerOps())
			c.edit(h)
			_, vs := checkBuyers(h)
			if !strings.Contains(strings.Join(vs, "\n"), c.want) {
				t.Fatalf("violations %q, want one saying %q", vs, c.want)
			}
		})
	}
}

// TestCheckWithBuyers: Check runs the buyer checker beside the others, a
// buyer over its cap is a safety violation, and the targets report it.
func TestCheckWithBuyers(t *testing.T) {
	b := newHist()
	end := b.steady(0, 20, 0)
	h := b.end(20, end+10)
	bh := buyerHist(buyerOps())
	h.BuyerSKUs, h.BuyerOps, h.BuyerSKUFinal, h.BuyerFinals = bh.BuyerSKUs, bh.BuyerOps, bh.BuyerSKUFinal, bh.BuyerFinals
	r := Check(h, DefaultBounds())
	if !r.OK() || r.Buyers == nil || r.Buyers.Buyers != 3 {
		t.Fatalf("clean: violations %q, buyers %+v", r.Violations, r.Buyers)
	}
	var sum strings.Builder
	if err := WriteSummary(&sum, h, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sum.String(), "3 buyers, 4 acquires and 5 holds") || !strings.Contains(sum.String(), "caps hit 1") ||
		!strings.Contains(sum.String(), "buyers over their cap: 0") {
		t.Errorf("summary lacks the buyers:\n%s", sum.String())
	}
	h.BuyerOps = append(h.BuyerOps, BuyerOp{Buyer: "u1", Seq: 99, N: 2, Answers: []string{"granted 2"}})
	r = Check(h, DefaultBounds())
	if r.OK() || r.Buyers.OverCap != 1 {
		t.Fatalf("over the cap: violations %q, over cap %d", r.Violations, r.Buyers.OverCap)
	}
	for _, tg := range Targets(r, h.LeaseTTL) {
		if tg.Name == "0 buyers over their cap" && !tg.Met {
			return
		}
	}
	t.Fatal("no missed target for the buyer over its cap")
}
