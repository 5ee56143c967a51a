package capstore_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/stock"
)

func holdRec(n int64, state stock.HoldState, end string) capstore.HoldRecord {
	r := capstore.HoldRecord{
		Hold:  stock.Hold{N: n, Expires: time.UnixMilli(1_800_000_000_123), State: state},
		Reply: []byte(`{"sku":"a","held":1}`),
	}
	if end != "" {
		r.End = []byte(end)
	}
	return r
}

// TestCommitHoldsLoadRoundTrip: holds written with CommitWrites come back
// from LoadHolds exactly, whatever their ids; ended holds' keys carry the
// dedupe lease and live ones none.
func TestCommitHoldsLoadRoundTrip(t *testing.T) {
	cli, s := setup(t, "")
	rev, _ := lead(t, cli, "/stock/leader/n1")
	want := map[string]map[string]capstore.HoldRecord{
		"a": {"cart-1": holdRec(2, stock.HoldLive, ""), "x/y%2F": holdRec(1, stock.HoldConfirmed, `{"sku":"a","confirmed":1}`)},
		"b": {"cart-1": holdRec(3, stock.HoldExpired, "")},
	}
	var ws []capstore.HoldWrite
	for sku, hs := range want {
		for id, r := range hs {
			ws = append(ws, capstore.HoldWrite{SKU: sku, ID: id, Rec: r})
		}
	}
	w := capstore.Writes{Puts: map[string]stock.Record{"a": {Limit: 10, Cap: 5}}, Holds: ws, Horizon: time.Minute}
	if ok, err := s.CommitWrites(ctx(t), "/stock/leader/n1", rev, w); err != nil || !ok {
		t.Fatalf("CommitWrites = %v, %v", ok, err)
	}
	got, bad, err := s.LoadHolds(ctx(t))
	if err != nil || len(bad) != 0 {
		t.Fatalf("LoadHolds: %v, bad %v", err, bad)
	}
	for sku, hs := range want {
		for id, r := range hs {
			g, ok := got[sku][id]
			if !ok || g.Hold.N != r.Hold.N || !g.Hold.Expires.Equal(r.Hold.Expires) || g.Hold.State != r.Hold.State ||
				!bytes.Equal(g.Reply, r.Reply) || !bytes.Equal(g.End, r.End) {
				t.Errorf("hold %s/%s = %+v, want %+v", sku, id, g, r)
			}
		}
	}
	resp, err := cli.Get(ctx(t), "/stock/hold/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		live := bytes.Contains(kv.Value, []byte(`"state":"live"`))
		if live != (kv.Lease == 0) {
			t.Errorf("key %s (live %v) has lease %x", kv.Key, live, kv.Lease)
		}
	}
}

// TestCommitHoldDeletes: a HoldWrite with Delete removes the hold's key,
// with or without other writes beside it, and needs no horizon.
func TestCommitHoldDeletes(t *testing.T) {
	cli, s := setup(t, "")
	rev, _ := lead(t, cli, "/stock/leader/n1")
	w := capstore.Writes{Holds: []capstore.HoldWrite{
		{SKU: "a", ID: "gone", Rec: holdRec(1, stock.HoldConfirmed, `{"sku":"a","confirmed":1}`)},
		{SKU: "a", ID: "kept", Rec: holdRec(2, stock.HoldLive, "")},
	}, Horizon: time.Minute}
	if ok, err := s.CommitWrites(ctx(t), "/stock/leader/n1", rev, w); err != nil || !ok {
		t.Fatalf("CommitWrites = %v, %v", ok, err)
	}
	del := capstore.Writes{Holds: []capstore.HoldWrite{{SKU: "a", ID: "gone", Delete: true}, {SKU: "b", ID: "never-written", Delete: true}}}
	if ok, err := s.CommitWrites(ctx(t), "/stock/leader/n1", rev, del); err != nil || !ok {
		t.Fatalf("CommitWrites of deletes = %v, %v", ok, err)
	}
	got, bad, err := s.LoadHolds(ctx(t))
	if err != nil || len(bad) != 0 {
		t.Fatalf("LoadHolds: %v, bad %v", err, bad)
	}
	if _, ok := got["a"]["gone"]; ok || len(got["a"]) != 1 || got["a"]["kept"].Hold.N != 2 {
		t.Fatalf("after the delete: %+v, want only a/kept", got)
	}
}

// TestCommitHoldsShareTheSKUTransaction: with two operations per
// transaction, a SKU's record and its cancelled hold go in one, never
// apart; a SKU with more cancelled holds than fit is refused before
// anything is written.
func TestCommitHoldsShareTheSKUTransaction(t *testing.T) {
	cli, s := setup(t, "")
	s.MaxTxnOps = 3
	rev, _ := lead(t, cli, "/stock/leader/n1")
	w := capstore.Writes{
		Puts: map[string]stock.Record{"a": {Limit: 10}, "b": {Limit: 10}},
		Holds: []capstore.HoldWrite{
			{SKU: "a", ID: "h", Rec: holdRec(1, stock.HoldCancelled, `{"sku":"a","cancelled":1,"remaining":10}`)},
			{SKU: "b", ID: "h", Rec: holdRec(1, stock.HoldCancelled, `{"sku":"b","cancelled":1,"remaining":10}`)},
		},
		Horizon: time.Minute,
	}
	before := revision(t, cli)
	if ok, err := s.CommitWrites(ctx(t), "/stock/leader/n1", rev, w); err != nil || !ok {
		t.Fatalf("CommitWrites = %v, %v", ok, err)
	}
	if got := revision(t, cli) - before; got != 2 {
		t.Errorf("two (record, hold) pairs took %d transactions, want 2", got)
	}
	resp, err := cli.Get(ctx(t), "/stock/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	revs := map[string]int64{}
	for _, kv := range resp.Kvs {
		revs[string(kv.Key)] = kv.ModRevision
	}
	for _, sku := range []string{"a", "b"} {
		if revs["/stock/sku/"+sku] != revs["/stock/hold/"+sku+"/h"] {
			t.Errorf("SKU %s and its hold written in different transactions: %v", sku, revs)
		}
	}

	w.Holds = append(w.Holds, capstore.HoldWrite{SKU: "a", ID: "h2", Rec: holdRec(1, stock.HoldCancelled, `{"sku":"a","cancelled":1,"remaining":11}`)})
	before = revision(t, cli)
	if _, err := s.CommitWrites(ctx(t), "/stock/leader/n1", rev, w); err == nil {
		t.Fatal("a record and two holds fit a transaction of two")
	}
	if revision(t, cli) != before {
		t.Error("a refused CommitWrites wrote")
	}
}

// TestCommitLiveHoldsSpread: live, confirmed and expired holds change no
// record, so more of them than a transaction takes spread over several,
// beside their SKU's record.
func TestCommitLiveHoldsSpread(t *testing.T) {
	cli, s := setup(t, "")
	s.MaxTxnOps = 3
	rev, _ := lead(t, cli, "/stock/leader/n1")
	w := capstore.Writes{Puts: map[string]stock.Record{"a": {Limit: 100, Cap: 50}}, Horizon: time.Minute}
	for i := range 5 {
		st := []stock.HoldState{stock.HoldLive, stock.HoldLive, stock.HoldLive, stock.HoldConfirmed, stock.HoldExpired}[i]
		w.Holds = append(w.Holds, capstore.HoldWrite{SKU: "a", ID: fmt.Sprint("h", i), Rec: holdRec(1, st, `{"sku":"a","confirmed":1}`)})
	}
	before := revision(t, cli)
	if ok, err := s.CommitWrites(ctx(t), "/stock/leader/n1", rev, w); err != nil || !ok {
		t.Fatalf("CommitWrites = %v, %v", ok, err)
	}
	if got := revision(t, cli) - before; got != 3 {
		t.Errorf("a record and 5 holds took %d transactions of two, want 3", got)
	}
	got, _, err := s.LoadHolds(ctx(t))
	if err != nil || len(got["a"]) != 5 {
		t.Fatalf("LoadHolds: %d holds of a, %v; want 5", len(got["a"]), err)
	}
}

// TestCommitHoldsInvalid: an ended hold needs a horizon, a hold needs a SKU
// and an id, and replies must be JSON; nothing is written otherwise.
func TestCommitHoldsInvalid(t *testing.T) {
	cli, s := setup(t, "")
	rev, _ := lead(t, cli, "/stock/leader/n1")
	cases := map[string]capstore.Writes{
		"no horizon": {Holds: []capstore.HoldWrite{{SKU: "a", ID: "h", Rec: holdRec(1, stock.HoldExpired, "")}}},
		"no id":      {Holds: []capstore.HoldWrite{{SKU: "a", Rec: holdRec(1, stock.HoldLive, "")}}},
		"no sku":     {Holds: []capstore.HoldWrite{{ID: "h", Rec: holdRec(1, stock.HoldLive, "")}}},
		"bad reply":  {Holds: []capstore.HoldWrite{{SKU: "a", ID: "h", Rec: capstore.HoldRecord{Hold: stock.Hold{N: 1}, Reply: []byte("{")}}}},
	}
	for name, w := range cases {
		before := revision(t, cli)
		if _, err := s.CommitWrites(ctx(t), "/stock/leader/n1", rev, w); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if revision(t, cli) != before {
			t.Errorf("%s: wrote", name)
		}
	}
}

// TestLoadHoldsCorrupt: a hold key or value that does not parse is reported
// by key, never read as a hold.
func TestLoadHoldsCorrupt(t *testing.T) {
	cli, s := setup(t, "")
	for k, v := range map[string]string{
		"/stock/hold/a/x":     `{"n":0,"expires_ms":1,"state":"live","reply":{}}`,
		"/stock/hold/a/y":     `{"n":1,"expires_ms":1,"state":"gone","reply":{}}`,
		"/stock/hold/a/z":     `{"n":1,"expires_ms":1,"state":"live","reply":{},"extra":1}`,
		"/stock/hold/no-id":   `{"n":1,"expires_ms":1,"state":"live","reply":{}}`,
		"/stock/hold/a/valid": `{"n":1,"expires_ms":1,"state":"live","reply":{}}`,
	} {
		if _, err := cli.Put(ctx(t), k, v); err != nil {
			t.Fatal(err)
		}
	}
	holds, bad, err := s.LoadHolds(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != 4 || len(holds["a"]) != 1 || holds["a"]["valid"].Hold.N != 1 {
		t.Fatalf("holds %v, bad %v; want one valid hold and four corrupt keys", holds, bad)
	}
	for k, err := range bad {
		if !errors.Is(err, capstore.ErrCorrupt) {
			t.Errorf("%s: %v does not wrap ErrCorrupt", k, err)
		}
	}
}
