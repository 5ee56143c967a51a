package capstore_test

import (
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stockstate/stock/stock"
)

// TestRefence: moving the fence refuses every write fenced on the old
// revision, keeps the leader key's value and lease, and is refused once the
// key is gone or another's.
func TestRefence(t *testing.T) {
	cli, s := setup(t, "")
	const leader = "/stock/leader/n1"
	rev, lease := lead(t, cli, leader)
	old := map[string]stock.Record{"sku1": {Limit: 100, Cap: 10}}
	newer := map[string]stock.Record{"sku1": {Limit: 100, Cap: 20}}

	fence, ok, err := s.Refence(ctx(t), leader, rev)
	if err != nil || !ok || fence <= rev {
		t.Fatalf("Refence = %d, %v, %v; want a revision above %d", fence, ok, err, rev)
	}
	if ok, err := s.Commit(ctx(t), leader, fence, newer, nil); err != nil || !ok {
		t.Fatalf("Commit on the new fence = %v, %v", ok, err)
	}
	if ok, err := s.Commit(ctx(t), leader, rev, old, nil); err != nil || ok {
		t.Fatalf("Commit on the old fence = %v, %v; want false, nil", ok, err)
	}
	if ok, _, err := s.Release(ctx(t), leader, rev, "sku1", old["sku1"], "id1", []byte("r"), time.Minute); err != nil || ok {
		t.Fatalf("Release on the old fence = %v, %v; want false, nil", ok, err)
	}
	if n := count(t, cli, "/stock/release/"); n != 0 {
		t.Fatalf("a release on the old fence wrote %d keys", n)
	}
	recs, _, err := s.Load(ctx(t))
	if err != nil || recs["sku1"] != newer["sku1"] {
		t.Fatalf("Load = %v, %v; want %v", recs, err, newer)
	}
	g, err := cli.Get(ctx(t), leader)
	if err != nil {
		t.Fatal(err)
	}
	if kv := g.Kvs[0]; string(kv.Value) != "node" || clientv3.LeaseID(kv.Lease) != lease || kv.CreateRevision != rev {
		t.Fatalf("leader key after Refence: value %q lease %x create %d; want node, %x, %d", kv.Value, kv.Lease, kv.CreateRevision, lease, rev)
	}

	if _, ok, err := s.Refence(ctx(t), leader, rev+1); err != nil || ok {
		t.Fatalf("Refence with another create revision = %v, %v; want false, nil", ok, err)
	}
	if _, err := cli.Revoke(ctx(t), lease); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Refence(ctx(t), leader, rev); err != nil || ok {
		t.Fatalf("Refence after the lease ended = %v, %v; want false, nil", ok, err)
	}
}
