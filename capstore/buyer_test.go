package capstore_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/stock"
)

const leaderKey = "/stock/leader/n1"

func buyerRec(bought int64, ids ...string) capstore.BuyerRecord {
	r := capstore.BuyerRecord{Bought: bought}
	for i, id := range ids {
		r.IDs = append(r.IDs, capstore.BuyerID{ID: id, AtMS: 1_765_000_000_000 + int64(i),
			Reply: fmt.Appendf(nil, `{"sku":"a","granted":1,"remaining":%d}`, 9-i)})
	}
	return r
}

// confirmed is a confirmed hold of buyer.
func confirmed(sku, id, buyer string) capstore.HoldWrite {
	r := holdRec(1, stock.HoldConfirmed, `{"sku":"a","confirmed":1}`)
	r.Buyer = buyer
	return capstore.HoldWrite{SKU: sku, ID: id, Rec: r}
}

// modRevs returns the mod revision of every key under prefix.
func modRevs(t *testing.T, cli *clientv3.Client, prefix string) map[string]int64 {
	t.Helper()
	resp, err := cli.Get(ctx(t), prefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	revs := map[string]int64{}
	for _, kv := range resp.Kvs {
		revs[string(kv.Key)] = kv.ModRevision
	}
	return revs
}

func commit(t *testing.T, s *capstore.Store, rev int64, w capstore.Writes) {
	t.Helper()
	if ok, err := s.CommitWrites(ctx(t), leaderKey, rev, w); err != nil || !ok {
		t.Fatalf("CommitWrites = %v, %v", ok, err)
	}
}

// TestCommitBuyersLoadRoundTrip: buyer records written with CommitWrites
// come back from LoadBuyers exactly, whatever bytes their request ids
// hold; absent buyers are absent, and a key asked twice is read once.
func TestCommitBuyersLoadRoundTrip(t *testing.T) {
	cli, s := setup(t, "")
	rev, _ := lead(t, cli, leaderKey)
	want := map[capstore.BuyerKey]capstore.BuyerRecord{
		{SKU: "a", Buyer: "u-1"}:          buyerRec(3, "r-1", "r/2", "quote\"\\\n\x00é", "\xff\xfe"),
		{SKU: "a", Buyer: "u.2@shop:x_Y"}: buyerRec(0),
		{SKU: "b", Buyer: "u-1"}:          buyerRec(stock.MaxLimit, "r-1"),
	}
	w := capstore.Writes{}
	for k, r := range want {
		w.Buyers = append(w.Buyers, capstore.BuyerWrite{SKU: k.SKU, Buyer: k.Buyer, Rec: r})
	}
	if w.Len() != 3 {
		t.Errorf("Len() = %d, want 3", w.Len())
	}
	commit(t, s, rev, w)

	resp, err := cli.Get(ctx(t), "/stock/buyer/b/u-1")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatal(resp, err)
	}
	if got := string(resp.Kvs[0].Value); got != `{"bought":1000000000000000,"ids":[{"id":"r-1","at":1765000000000,"reply":{"sku":"a","granted":1,"remaining":9}}]}` {
		t.Errorf("stored value %s", got)
	}
	if resp.Kvs[0].Lease != 0 {
		t.Errorf("a buyer's key has lease %x", resp.Kvs[0].Lease)
	}

	keys := []capstore.BuyerKey{{SKU: "a", Buyer: "u-1"}, {SKU: "a", Buyer: "u.2@shop:x_Y"}, {SKU: "b", Buyer: "u-1"}, {SKU: "a", Buyer: "u-1"}, {SKU: "c", Buyer: "u-1"}}
	got, bad, err := s.LoadBuyers(ctx(t), keys)
	if err != nil || len(bad) != 0 {
		t.Fatalf("LoadBuyers: %v, bad %v", err, bad)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LoadBuyers = %+v, want %+v", got, want)
	}

	// A later write replaces the record.
	commit(t, s, rev, capstore.Writes{Buyers: []capstore.BuyerWrite{{SKU: "a", Buyer: "u-1", Rec: buyerRec(4, "r-9")}}})
	got, _, err = s.LoadBuyers(ctx(t), keys[:1])
	if err != nil || !reflect.DeepEqual(got[keys[0]], buyerRec(4, "r-9")) {
		t.Errorf("after a rewrite LoadBuyers = %+v, %v", got, err)
	}

	got, bad, err = s.LoadBuyers(ctx(t), nil)
	if err != nil || len(got) != 0 || len(bad) != 0 {
		t.Errorf("LoadBuyers(nil) = %v, %v, %v", got, bad, err)
	}
	for _, k := range []capstore.BuyerKey{{SKU: "", Buyer: "u"}, {SKU: "a", Buyer: ""}, {SKU: "a", Buyer: "u/v"}} {
		if _, _, err := s.LoadBuyers(ctx(t), append(keys[:1:1], k)); !errors.Is(err, capstore.ErrInvalidName) {
			t.Errorf("LoadBuyers of %+v: %v, want ErrInvalidName", k, err)
		}
	}
}

// TestCommitConfirmSharesTheBuyerTransaction: a confirmed hold and its
// buyer's record land in one transaction; a confirmed hold of a buyer not
// written, or without a buyer, goes on its own.
func TestCommitConfirmSharesTheBuyerTransaction(t *testing.T) {
	cli, s := setup(t, "")
	s.MaxTxnOps = 3 // two operations and the compare
	rev, _ := lead(t, cli, leaderKey)
	w := capstore.Writes{
		Buyers: []capstore.BuyerWrite{
			{SKU: "b", Buyer: "u-1", Rec: buyerRec(1, "c-1")},
			{SKU: "a", Buyer: "u-1", Rec: buyerRec(2, "c-1")},
			{SKU: "a", Buyer: "u-2", Rec: buyerRec(5)},
		},
		Holds: []capstore.HoldWrite{
			confirmed("a", "h-1", "u-1"),
			confirmed("a", "h-3", "u-3"), // no record of u-3 in this write
			confirmed("b", "h-1", "u-1"),
			confirmed("a", "h-2", "u-2"),
			confirmed("b", "h-0", ""),
		},
		Horizon: time.Minute,
	}
	before := revision(t, cli)
	commit(t, s, rev, w)
	// Three (buyer, hold) pairs, then two lone holds in one transaction.
	if got := revision(t, cli) - before; got != 4 {
		t.Errorf("took %d transactions, want 4", got)
	}
	revs := modRevs(t, cli, "/stock/")
	for _, p := range [][2]string{{"a/u-1", "a/h-1"}, {"a/u-2", "a/h-2"}, {"b/u-1", "b/h-1"}} {
		b, h := revs["/stock/buyer/"+p[0]], revs["/stock/hold/"+p[1]]
		if b == 0 || b != h {
			t.Errorf("buyer %s at revision %d, its confirmed hold %s at %d", p[0], b, p[1], h)
		}
	}
	holds, _, err := s.LoadHolds(ctx(t))
	if err != nil || holds["a"]["h-1"].Buyer != "u-1" || holds["b"]["h-0"].Buyer != "" {
		t.Errorf("LoadHolds: %+v, %v", holds, err)
	}

	// A buyer and two confirmed holds do not fit two operations.
	w = capstore.Writes{
		Buyers:  []capstore.BuyerWrite{{SKU: "c", Buyer: "u-1", Rec: buyerRec(2)}},
		Holds:   []capstore.HoldWrite{confirmed("c", "h-1", "u-1"), confirmed("c", "h-2", "u-1")},
		Horizon: time.Minute,
	}
	before = revision(t, cli)
	if _, err := s.CommitWrites(ctx(t), leaderKey, rev, w); err == nil {
		t.Error("a buyer and its two confirmed holds fit a transaction of two")
	}
	if revision(t, cli) != before {
		t.Error("a refused CommitWrites wrote")
	}
	s.MaxTxnOps = 4
	commit(t, s, rev, w)
	revs = modRevs(t, cli, "/stock/")
	if b := revs["/stock/buyer/c/u-1"]; b != revs["/stock/hold/c/h-1"] || b != revs["/stock/hold/c/h-2"] {
		t.Errorf("buyer and its holds at different revisions: %v", revs)
	}
}

// TestCommitBuyerWithRecord: a buyer written WithRecord shares its SKU's
// transaction, and so do the SKU's cancelled holds and that buyer's
// confirmed holds, all chained in one group; a WithRecord buyer needs a
// put of its SKU.
func TestCommitBuyerWithRecord(t *testing.T) {
	cli, s := setup(t, "")
	s.MaxTxnOps = 5 // four operations and the compare
	rev, _ := lead(t, cli, leaderKey)
	w := capstore.Writes{
		Puts: map[string]stock.Record{"a": {Limit: 10, Cap: 5, PerBuyer: 2}, "b": {Limit: 10, PerBuyer: 1}},
		Buyers: []capstore.BuyerWrite{
			{SKU: "a", Buyer: "u-1", Rec: buyerRec(1, "rel-1"), WithRecord: true},
			{SKU: "b", Buyer: "u-1", Rec: buyerRec(0, "rel-1"), WithRecord: true},
		},
		Holds: []capstore.HoldWrite{
			{SKU: "a", ID: "c", Rec: holdRec(1, stock.HoldCancelled, `{"sku":"a","cancelled":1}`)},
			confirmed("a", "h", "u-1"),
		},
		Horizon: time.Minute,
	}
	if w.Len() != 6 {
		t.Errorf("Len() = %d, want 6", w.Len())
	}
	before := revision(t, cli)
	commit(t, s, rev, w)
	if got := revision(t, cli) - before; got != 2 {
		t.Errorf("took %d transactions, want 2", got)
	}
	revs := modRevs(t, cli, "/stock/")
	a := revs["/stock/sku/a"]
	for _, k := range []string{"/stock/buyer/a/u-1", "/stock/hold/a/c", "/stock/hold/a/h"} {
		if revs[k] != a {
			t.Errorf("%s at revision %d, the SKU's record at %d", k, revs[k], a)
		}
	}
	if revs["/stock/buyer/b/u-1"] != revs["/stock/sku/b"] {
		t.Errorf("buyer of b and b's record at different revisions: %v", revs)
	}
	recs, _, err := s.Load(ctx(t))
	if err != nil || recs["a"].PerBuyer != 2 || recs["b"].PerBuyer != 1 {
		t.Errorf("Load = %+v, %v", recs, err)
	}

	// One more cancelled hold of a and the chain is past four operations.
	w.Holds = append(w.Holds, capstore.HoldWrite{SKU: "a", ID: "c2", Rec: holdRec(1, stock.HoldCancelled, `{"sku":"a","cancelled":1}`)})
	before = revision(t, cli)
	if _, err := s.CommitWrites(ctx(t), leaderKey, rev, w); err == nil {
		t.Error("a record, two cancels, a buyer and its confirm fit a transaction of four")
	}
	if revision(t, cli) != before {
		t.Error("a refused CommitWrites wrote")
	}

	w = capstore.Writes{
		Puts:   map[string]stock.Record{"b": {Limit: 10}},
		Buyers: []capstore.BuyerWrite{{SKU: "a", Buyer: "u-1", Rec: buyerRec(0), WithRecord: true}},
	}
	if _, err := s.CommitWrites(ctx(t), leaderKey, rev, w); err == nil {
		t.Error("a WithRecord buyer of a SKU not put was accepted")
	}
	if revision(t, cli) != before {
		t.Error("a refused CommitWrites wrote")
	}
}

// TestCommitBuyersFence: a refused fence writes no buyer, nor anything
// that goes with one.
func TestCommitBuyersFence(t *testing.T) {
	cli, s := setup(t, "")
	rev, _ := lead(t, cli, leaderKey)
	w := capstore.Writes{
		Puts:    map[string]stock.Record{"a": {Limit: 10}},
		Buyers:  []capstore.BuyerWrite{{SKU: "a", Buyer: "u-1", Rec: buyerRec(1), WithRecord: true}, {SKU: "b", Buyer: "u-1", Rec: buyerRec(1)}},
		Holds:   []capstore.HoldWrite{confirmed("b", "h", "u-1")},
		Horizon: time.Minute,
	}
	for _, fence := range []int64{rev + 1, 0} {
		ok, err := s.CommitWrites(ctx(t), leaderKey, fence, w)
		if err != nil || ok {
			t.Fatalf("CommitWrites at fence %d = %v, %v; want false, nil", fence, ok, err)
		}
	}
	if n := count(t, cli, "/stock/") - 1; n != 0 { // the leader key
		t.Errorf("%d keys written", n)
	}
}

// TestCommitDeleteBuyers: deleting a SKU deletes its buyers in the same
// transaction, but no buyer of a SKU whose name extends it, and none of
// its holds.
func TestCommitDeleteBuyers(t *testing.T) {
	cli, s := setup(t, "")
	rev, _ := lead(t, cli, leaderKey)
	w := capstore.Writes{
		Puts:    map[string]stock.Record{"a": {Limit: 10}, "ab": {Limit: 10}, "a-b": {Limit: 10}},
		Holds:   []capstore.HoldWrite{{SKU: "a", ID: "h", Rec: holdRec(1, stock.HoldLive, "")}},
		Horizon: time.Minute,
	}
	for _, sku := range []string{"a", "ab", "a-b", "a:b"} {
		for _, buyer := range []string{"u-1", "u-2"} {
			w.Buyers = append(w.Buyers, capstore.BuyerWrite{SKU: sku, Buyer: buyer, Rec: buyerRec(1, "r")})
		}
	}
	commit(t, s, rev, w)

	before := revision(t, cli)
	commit(t, s, rev, capstore.Writes{Deletes: []string{"a", "a"}, Puts: map[string]stock.Record{"ab": {Limit: 11}}})
	if got := revision(t, cli) - before; got != 1 {
		t.Errorf("took %d transactions, want 1", got)
	}
	if n := count(t, cli, "/stock/buyer/a/"); n != 0 {
		t.Errorf("%d buyers of a left", n)
	}
	if n := count(t, cli, "/stock/sku/a"); n != 2 { // ab and a-b
		t.Errorf("%d SKU keys starting with a, want 2", n)
	}
	for _, sku := range []string{"ab", "a-b", "a:b"} {
		if n := count(t, cli, "/stock/buyer/"+sku+"/"); n != 2 {
			t.Errorf("%d buyers of %s, want 2", n, sku)
		}
	}
	if n := count(t, cli, "/stock/hold/a/"); n != 1 {
		t.Errorf("%d holds of a, want 1", n)
	}

	// A buyer of a SKU deleted in the same write is an error.
	w = capstore.Writes{Deletes: []string{"ab"}, Buyers: []capstore.BuyerWrite{{SKU: "ab", Buyer: "u-1", Rec: buyerRec(0)}}}
	before = revision(t, cli)
	if _, err := s.CommitWrites(ctx(t), leaderKey, rev, w); err == nil {
		t.Error("a buyer of a deleted SKU was accepted")
	}
	if revision(t, cli) != before {
		t.Error("a refused CommitWrites wrote")
	}
}

// TestCommitBuyersInvalid: nothing is written for a buyer without a name,
// with a "/" in one, written twice, or whose record does not encode.
func TestCommitBuyersInvalid(t *testing.T) {
	cli, s := setup(t, "")
	rev, _ := lead(t, cli, leaderKey)
	ok := capstore.BuyerWrite{SKU: "a", Buyer: "u", Rec: buyerRec(1)}
	cases := map[string]struct {
		b    capstore.BuyerWrite
		name bool // wraps ErrInvalidName
	}{
		"no sku":          {capstore.BuyerWrite{Buyer: "u"}, true},
		"no buyer":        {capstore.BuyerWrite{SKU: "a"}, true},
		"slash in buyer":  {capstore.BuyerWrite{SKU: "a", Buyer: "u/v"}, true},
		"slash in sku":    {capstore.BuyerWrite{SKU: "a/b", Buyer: "u"}, true},
		"twice":           {ok, false},
		"negative bought": {capstore.BuyerWrite{SKU: "b", Buyer: "u", Rec: capstore.BuyerRecord{Bought: -1}}, false},
		"bad reply":       {capstore.BuyerWrite{SKU: "b", Buyer: "u", Rec: capstore.BuyerRecord{IDs: []capstore.BuyerID{{ID: "r", Reply: []byte("{")}}}}, false},
		"empty id":        {capstore.BuyerWrite{SKU: "b", Buyer: "u", Rec: capstore.BuyerRecord{IDs: []capstore.BuyerID{{Reply: []byte("{}")}}}}, false},
	}
	for name, tc := range cases {
		before := revision(t, cli)
		_, err := s.CommitWrites(ctx(t), leaderKey, rev, capstore.Writes{Buyers: []capstore.BuyerWrite{ok, tc.b}})
		if err == nil || tc.name != errors.Is(err, capstore.ErrInvalidName) {
			t.Errorf("%s: err %v", name, err)
		}
		if revision(t, cli) != before {
			t.Errorf("%s: wrote", name)
		}
	}
	// A record with a per-buyer cap past MaxLimit is not Valid.
	_, err := s.CommitWrites(ctx(t), leaderKey, rev, capstore.Writes{Puts: map[string]stock.Record{"a": {Limit: 1, PerBuyer: stock.MaxLimit + 1}}})
	if !errors.Is(err, capstore.ErrInvalidRecord) {
		t.Errorf("per_buyer past MaxLimit: %v, want ErrInvalidRecord", err)
	}
}

// TestLoadBuyersMany: LoadBuyers of 1,000 keys, over several transactions,
// reads the records there are, reports the corrupt ones and leaves out the
// missing.
func TestLoadBuyersMany(t *testing.T) {
	cli, s := setup(t, "")
	s.MaxTxnOps = 50 // 20 transactions, more than run at once
	rev, _ := lead(t, cli, leaderKey)
	var keys []capstore.BuyerKey
	want := map[capstore.BuyerKey]capstore.BuyerRecord{}
	corrupt := map[capstore.BuyerKey]bool{}
	var w capstore.Writes
	for i := range 1000 {
		k := capstore.BuyerKey{SKU: fmt.Sprint("sku-", i%7), Buyer: fmt.Sprint("u-", i)}
		keys = append(keys, k)
		switch {
		case i%10 == 3: // missing
		case i%20 == 5:
			corrupt[k] = true
			v := []string{`{"bought":-1}`, `{}`, `not json`, `{"bought":1,"ids":[{"id":"r","at":1,"reply":[]}]}`}[i%4]
			if _, err := cli.Put(ctx(t), "/stock/buyer/"+k.SKU+"/"+k.Buyer, v); err != nil {
				t.Fatal(err)
			}
		default:
			want[k] = buyerRec(int64(i), fmt.Sprint("r-", i))
			w.Buyers = append(w.Buyers, capstore.BuyerWrite{SKU: k.SKU, Buyer: k.Buyer, Rec: want[k]})
		}
	}
	commit(t, s, rev, w)
	got, bad, err := s.LoadBuyers(ctx(t), keys)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LoadBuyers read %d records, want %d equal to those written", len(got), len(want))
	}
	if len(bad) != len(corrupt) {
		t.Errorf("%d bad, want %d", len(bad), len(corrupt))
	}
	for k, err := range bad {
		if !corrupt[k] || !errors.Is(err, capstore.ErrCorrupt) {
			t.Errorf("%+v: %v", k, err)
		}
	}
}

// TestLoadBuyersFails: a read that fails returns nothing.
func TestLoadBuyersFails(t *testing.T) {
	_, s := setup(t, "")
	s.MaxTxnOps = 10
	keys := make([]capstore.BuyerKey, 100)
	for i := range keys {
		keys[i] = capstore.BuyerKey{SKU: "a", Buyer: fmt.Sprint("u-", i)}
	}
	c, cancel := context.WithCancel(ctx(t))
	cancel()
	recs, bad, err := s.LoadBuyers(c, keys)
	if err == nil || recs != nil || bad != nil {
		t.Errorf("LoadBuyers with a cancelled context = %v, %v, %v", recs, bad, err)
	}
}

// BenchmarkLoadBuyers reads 1,000 buyer records, as a leader does for a
// burst of requests from buyers it has not seen, and 20,000, as after a
// failover in a flash sale.
func BenchmarkLoadBuyers(b *testing.B) {
	const most = 20_000
	cli, s := setup(b, "")
	rev, _ := lead(b, cli, leaderKey)
	var w capstore.Writes
	keys := make([]capstore.BuyerKey, most)
	for i := range keys {
		keys[i] = capstore.BuyerKey{SKU: fmt.Sprint("sku-", i%10), Buyer: fmt.Sprint("user-", i)}
		r := capstore.BuyerRecord{Bought: 2}
		for j := range 2 {
			r.IDs = append(r.IDs, capstore.BuyerID{ID: fmt.Sprint("req-", i, "-", j), AtMS: 1_765_000_000_000,
				Reply: fmt.Appendf(nil, `{"sku":"sku-%d","granted":1,"remaining":%d}`, i%10, 10_000-i)})
		}
		w.Buyers = append(w.Buyers, capstore.BuyerWrite{SKU: keys[i].SKU, Buyer: keys[i].Buyer, Rec: r})
	}
	if ok, err := s.CommitWrites(ctx(b), leaderKey, rev, w); err != nil || !ok {
		b.Fatal(ok, err)
	}
	for _, n := range []int{1000, most} {
		b.Run(fmt.Sprint("keys=", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, bad, err := s.LoadBuyers(ctx(b), keys[:n])
				if err != nil || len(bad) != 0 || len(got) != n {
					b.Fatal(len(got), bad, err)
				}
			}
		})
	}
}
