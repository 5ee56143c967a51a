package capstore_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"

	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/stock"
)

func TestCommitLoadRoundTrip(t *testing.T) {
	cli, s := setup(t, "/shop/")
	s.PageSize = 7
	const leader = "/shop/leader/n1"
	rev, _ := lead(t, cli, leader)

	want := map[string]stock.Record{}
	for i := range 300 {
		want[fmt.Sprintf("sku%03d", i)] = stock.Record{Limit: int64(1000 + i), Cap: int64(i)}
	}
	before := revision(t, cli)
	ok, err := s.Commit(ctx(t), leader, rev, want, nil)
	if err != nil || !ok {
		t.Fatalf("Commit = %v, %v; want true, nil", ok, err)
	}
	// 300 puts at 127 per transaction (128 ops with the compare): 3 transactions.
	if got := revision(t, cli) - before; got != 3 {
		t.Errorf("Commit took %d transactions, want 3", got)
	}
	resp, err := cli.Get(ctx(t), "/shop/sku/sku007")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(resp.Kvs[0].Value); got != `{"limit":1007,"cap":7}` {
		t.Errorf("stored value %s", got)
	}

	recs, bad, err := s.Load(ctx(t))
	if err != nil || len(bad) != 0 {
		t.Fatalf("Load: bad %v, err %v", bad, err)
	}
	if !maps.Equal(recs, want) {
		t.Fatalf("Load returned %d records, want %d equal to those committed", len(recs), len(want))
	}

	// Delete the even SKUs and change the odd ones, in one Commit.
	puts := map[string]stock.Record{}
	var deletes []string
	for i := range 300 {
		sku := fmt.Sprintf("sku%03d", i)
		if i%2 == 0 {
			deletes = append(deletes, sku)
			delete(want, sku)
		} else {
			want[sku] = stock.Record{Limit: 5, Cap: 5}
			puts[sku] = want[sku]
		}
	}
	deletes = append(deletes, "sku000", "never-existed")
	if ok, err := s.Commit(ctx(t), leader, rev, puts, deletes); err != nil || !ok {
		t.Fatalf("Commit = %v, %v; want true, nil", ok, err)
	}
	recs, bad, err = s.Load(ctx(t))
	if err != nil || len(bad) != 0 {
		t.Fatalf("Load: bad %v, err %v", bad, err)
	}
	if !maps.Equal(recs, want) {
		t.Fatalf("after deletes Load returned %d records, want %d", len(recs), len(want))
	}

	// Get reads a subset at one revision, across several transactions.
	s.MaxTxnOps = 4
	recs, bad, err = s.Get(ctx(t), []string{"sku001", "sku002", "sku003", "sku001", "sku299", "nope", "sku101"})
	if err != nil || len(bad) != 0 {
		t.Fatalf("Get: bad %v, err %v", bad, err)
	}
	wantGet := map[string]stock.Record{"sku001": want["sku001"], "sku003": want["sku003"], "sku299": want["sku299"], "sku101": want["sku101"]}
	if !maps.Equal(recs, wantGet) {
		t.Errorf("Get = %v, want %v", recs, wantGet)
	}
}

func TestCommitSmallTransactions(t *testing.T) {
	cli, s := setup(t, "")
	s.MaxTxnOps = 3
	rev, _ := lead(t, cli, "/stock/leader/n1")
	puts := map[string]stock.Record{"a": {Limit: 1}, "b": {Limit: 2}, "c": {Limit: 3}, "d": {Limit: 4}, "e": {Limit: 5}}
	before := revision(t, cli)
	if ok, err := s.Commit(ctx(t), "/stock/leader/n1", rev, puts, nil); err != nil || !ok {
		t.Fatalf("Commit = %v, %v", ok, err)
	}
	if got := revision(t, cli) - before; got != 3 {
		t.Errorf("5 puts at 2 per transaction took %d transactions, want 3", got)
	}
	recs, _, err := s.Load(ctx(t))
	if err != nil || !maps.Equal(recs, puts) {
		t.Errorf("Load = %v, %v; want %v", recs, err, puts)
	}

	// With nothing to write, Commit checks the fence only.
	if ok, err := s.Commit(ctx(t), "/stock/leader/n1", rev, nil, nil); err != nil || !ok {
		t.Errorf("empty Commit as leader = %v, %v; want true, nil", ok, err)
	}
	if ok, err := s.Commit(ctx(t), "/stock/leader/n1", rev+1, nil, nil); err != nil || ok {
		t.Errorf("empty Commit with wrong fence = %v, %v; want false, nil", ok, err)
	}
}

func TestCommitFence(t *testing.T) {
	cli, s := setup(t, "")
	s.MaxTxnOps = 4 // several transactions, so a refused first one must stop the rest
	const leader = "/stock/leader/n1"
	rev, lease := lead(t, cli, leader)
	puts := map[string]stock.Record{}
	for i := range 10 {
		puts[fmt.Sprintf("sku%d", i)] = stock.Record{Limit: 10, Cap: 1}
	}

	for _, tt := range []struct {
		name string
		key  string
		rev  int64
	}{
		{"wrong revision", leader, rev + 1},
		{"zero revision", leader, 0},
		{"other key", "/stock/leader/n2", rev},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := s.Commit(ctx(t), tt.key, tt.rev, puts, nil)
			if err != nil || ok {
				t.Fatalf("Commit = %v, %v; want false, nil", ok, err)
			}
			if n := count(t, cli, "/stock/sku/"); n != 0 {
				t.Errorf("%d keys written", n)
			}
		})
	}

	if ok, err := s.Commit(ctx(t), leader, rev, puts, nil); err != nil || !ok {
		t.Fatalf("Commit as leader = %v, %v", ok, err)
	}
	if _, err := cli.Revoke(ctx(t), lease); err != nil {
		t.Fatal(err)
	}
	changed := map[string]stock.Record{"sku1": {Limit: 99, Cap: 99}, "new": {Limit: 1}}
	ok, err := s.Commit(ctx(t), leader, rev, changed, []string{"sku2"})
	if err != nil || ok {
		t.Fatalf("Commit after the leader key's lease was revoked = %v, %v; want false, nil", ok, err)
	}
	recs, _, err := s.Load(ctx(t))
	if err != nil || !maps.Equal(recs, puts) {
		t.Errorf("a refused Commit changed the store: %v, %v", recs, err)
	}

	// A new leader's key has a new create revision; the old fence stays refused.
	rev2, _ := lead(t, cli, leader)
	if ok, err := s.Commit(ctx(t), leader, rev, changed, nil); err != nil || ok {
		t.Errorf("Commit with the old fence = %v, %v; want false, nil", ok, err)
	}
	if ok, err := s.Commit(ctx(t), leader, rev2, changed, nil); err != nil || !ok {
		t.Errorf("Commit with the new fence = %v, %v; want true, nil", ok, err)
	}
}

func TestCommitElection(t *testing.T) {
	cli, s := setup(t, "")
	sess, err := concurrency.NewSession(cli, concurrency.WithTTL(5))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	e := concurrency.NewElection(sess, capstore.ElectionPrefix(""))
	if err := e.Campaign(ctx(t), "node-a"); err != nil {
		t.Fatal(err)
	}
	puts := map[string]stock.Record{"sku1": {Limit: 3}}
	ok, err := s.Commit(ctx(t), e.Key(), e.Rev(), puts, nil)
	if err != nil || !ok {
		t.Fatalf("Commit as elected leader %s = %v, %v", e.Key(), ok, err)
	}
	if n := count(t, cli, "/stock/leader/"); n != 1 {
		t.Errorf("%d keys under /stock/leader/, want 1 (the campaign's)", n)
	}
	key, rev := e.Key(), e.Rev()
	if err := e.Resign(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Commit(ctx(t), key, rev, map[string]stock.Record{"sku1": {Limit: 4}}, nil); err != nil || ok {
		t.Errorf("Commit after Resign = %v, %v; want false, nil", ok, err)
	}
}

func TestCommitInvalid(t *testing.T) {
	cli, s := setup(t, "")
	const leader = "/stock/leader/n1"
	rev, _ := lead(t, cli, leader)
	good := stock.Record{Limit: 10, Cap: 5}
	for _, tt := range []struct {
		name    string
		key     string
		puts    map[string]stock.Record
		deletes []string
		want    error
	}{
		{"cap above limit", leader, map[string]stock.Record{"a": good, "b": {Limit: 1, Cap: 2}}, nil, capstore.ErrInvalidRecord},
		{"negative cap", leader, map[string]stock.Record{"a": good, "b": {Limit: 1, Cap: -1}}, nil, capstore.ErrInvalidRecord},
		{"limit above max", leader, map[string]stock.Record{"a": good, "b": {Limit: stock.MaxLimit + 1}}, nil, capstore.ErrInvalidRecord},
		{"empty SKU put", leader, map[string]stock.Record{"a": good, "": good}, nil, capstore.ErrInvalidName},
		{"empty SKU delete", leader, map[string]stock.Record{"a": good}, []string{""}, capstore.ErrInvalidName},
		{"empty leader key", "", map[string]stock.Record{"a": good}, nil, capstore.ErrInvalidName},
		{"put and delete", leader, map[string]stock.Record{"a": good}, []string{"a"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := s.Commit(ctx(t), tt.key, rev, tt.puts, tt.deletes)
			if ok || err == nil {
				t.Fatalf("Commit = %v, %v; want false and an error", ok, err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Commit error %v, want %v", err, tt.want)
			}
			if n := count(t, cli, "/stock/sku/"); n != 0 {
				t.Errorf("%d keys written", n)
			}
		})
	}
}

func TestCommitCancelled(t *testing.T) {
	cli, s := setup(t, "")
	rev, _ := lead(t, cli, "/stock/leader/n1")
	c, cancel := context.WithCancel(ctx(t))
	cancel()
	ok, err := s.Commit(c, "/stock/leader/n1", rev, map[string]stock.Record{"a": {Limit: 1}}, nil)
	if ok || !errors.Is(err, context.Canceled) {
		t.Errorf("Commit with a cancelled context = %v, %v; want false, context.Canceled", ok, err)
	}
}
