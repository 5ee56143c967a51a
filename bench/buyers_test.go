package main

import (
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/loadgen"
)

// TestWriteBuyers: writeBuyers puts every record, over transactions that
// do not divide the count evenly, under the keys and in the layout the
// store reads back: each buyer with one unit bought.
func TestWriteBuyers(t *testing.T) {
	const count = 5*buyerTxnPuts + 3
	e := testenv.Etcd(t)
	if _, err := writeBuyers(t.Context(), testenv.Endpoint(e), "s", count); err != nil {
		t.Fatal(err)
	}
	cli := testenv.Client(t, testenv.Endpoint(e))
	resp, err := cli.Get(t.Context(), "/stock/buyer/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != count {
		t.Fatalf("%v buyer keys (%v), want %d", resp.Count, err, count)
	}
	keys := []capstore.BuyerKey{{SKU: "s", Buyer: existingBuyer(0)}, {SKU: "s", Buyer: existingBuyer(count - 1)}, {SKU: "s", Buyer: existingBuyer(count)}}
	recs, bad, err := capstore.New(cli, "/stock").LoadBuyers(t.Context(), keys)
	if err != nil || len(bad) > 0 {
		t.Fatalf("LoadBuyers: %v, corrupt %v", err, bad)
	}
	if len(recs) != 2 || recs[keys[0]].Bought != 1 || recs[keys[1]].Bought != 1 {
		t.Fatalf("records %+v: want the first and the last buyer, one unit bought each", recs)
	}
}

// TestEveryBuyerOnce: a buyers run passes only when no buyer met its cap.
func TestEveryBuyerOnce(t *testing.T) {
	run := func(limited, most int64) *loadgen.Summary {
		return &loadgen.Summary{
			Warmup: &loadgen.PhaseSummary{Counts: map[string]int64{"buyer_limit": 0}},
			Real:   &loadgen.PhaseSummary{Counts: map[string]int64{"buyer_limit": limited}},
			Verify: &loadgen.Verdict{OK: true, SKUs: []loadgen.SKUVerdict{{PerBuyer: 1, MostPerBuyer: most}}},
		}
	}
	if err := everyBuyerOnce(run(0, 1)); err != nil {
		t.Errorf("a clean run: %v", err)
	}
	if err := everyBuyerOnce(run(3, 1)); err == nil {
		t.Error("a run with buyer_limit replies passed")
	}
	if err := everyBuyerOnce(run(0, 2)); err == nil {
		t.Error("a run with a buyer granted twice passed")
	}
}
