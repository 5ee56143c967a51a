package capstore_test

import (
	"bytes"
	"errors"
	"maps"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/stock"
)

func TestRelease(t *testing.T) {
	cli, s := setup(t, "")
	const leader = "/stock/leader/n1"
	rev, _ := lead(t, cli, leader)
	if ok, err := s.Commit(ctx(t), leader, rev, map[string]stock.Record{"sku1": {Limit: 100, Cap: 60}}, nil); err != nil || !ok {
		t.Fatalf("Commit = %v, %v", ok, err)
	}
	const ttl = 10 * time.Minute
	first := []byte(`{"sku":"sku1","released":2,"remaining":43}`)
	released := stock.Record{Limit: 102, Cap: 60}

	ok, prev, err := s.Release(ctx(t), leader, rev, "sku1", released, "req-124", first, ttl)
	if err != nil || !ok || prev != nil {
		t.Fatalf("first Release = %v, %q, %v; want true, nil, nil", ok, prev, err)
	}
	recs, _, err := s.Get(ctx(t), []string{"sku1"})
	if err != nil || recs["sku1"] != released {
		t.Fatalf("after Release, Get = %v, %v; want %+v", recs, err, released)
	}
	resp, err := cli.Get(ctx(t), "/stock/release/sku1/req-124")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("id key: %v, %v", resp, err)
	}
	kv := resp.Kvs[0]
	if !bytes.Equal(kv.Value, first) {
		t.Errorf("id key holds %q, want %q", kv.Value, first)
	}
	if kv.Lease == 0 {
		t.Fatal("id key has no lease")
	}
	ttlResp, err := cli.TimeToLive(ctx(t), clientv3.LeaseID(kv.Lease))
	if err != nil {
		t.Fatal(err)
	}
	if min, max := int64(ttl/time.Second), int64((ttl+capstore.LeaseSlack)/time.Second); ttlResp.TTL < min || ttlResp.TTL > max || ttlResp.GrantedTTL != max {
		t.Errorf("lease TTL %ds (granted %ds), want within [%d, %d] and granted %d", ttlResp.TTL, ttlResp.GrantedTTL, min, max, max)
	}

	// The same id again: nothing changes, the first reply comes back.
	ok, prev, err = s.Release(ctx(t), leader, rev, "sku1", stock.Record{Limit: 104, Cap: 60}, "req-124", []byte("second"), ttl)
	if err != nil || !ok || !bytes.Equal(prev, first) {
		t.Fatalf("repeated Release = %v, %q, %v; want true, %q, nil", ok, prev, err, first)
	}
	recs, _, err = s.Get(ctx(t), []string{"sku1"})
	if err != nil || recs["sku1"] != released {
		t.Errorf("a repeated Release changed the record: %v, %v", recs, err)
	}

	// Another id shares the lease.
	ok, prev, err = s.Release(ctx(t), leader, rev, "sku1", stock.Record{Limit: 103, Cap: 60}, "req-125", []byte("third"), ttl)
	if err != nil || !ok || prev != nil {
		t.Fatalf("Release of a new id = %v, %q, %v", ok, prev, err)
	}
	resp, err = cli.Get(ctx(t), "/stock/release/sku1/req-125")
	if err != nil || len(resp.Kvs) != 1 || resp.Kvs[0].Lease != kv.Lease {
		t.Errorf("second id key %v, %v; want it on lease %x", resp.Kvs, err, kv.Lease)
	}

	// A horizon longer than the shared lease has left needs a new lease.
	ok, _, err = s.Release(ctx(t), leader, rev, "sku1", stock.Record{Limit: 104, Cap: 60}, "req-126", []byte("fourth"), time.Hour)
	if err != nil || !ok {
		t.Fatalf("Release with a longer horizon = %v, %v", ok, err)
	}
	resp, err = cli.Get(ctx(t), "/stock/release/sku1/req-126")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("id key: %v, %v", resp, err)
	}
	ttlResp, err = cli.TimeToLive(ctx(t), clientv3.LeaseID(resp.Kvs[0].Lease))
	if err != nil || ttlResp.TTL < int64(time.Hour/time.Second) {
		t.Errorf("lease for a 1h horizon has %ds left, %v", ttlResp.TTL, err)
	}
}

// An empty reply is still "seen before": prev is non-nil.
func TestReleaseEmptyReply(t *testing.T) {
	cli, s := setup(t, "")
	rev, _ := lead(t, cli, "/stock/leader/n1")
	r := stock.Record{Limit: 1}
	if ok, prev, err := s.Release(ctx(t), "/stock/leader/n1", rev, "sku1", r, "id", nil, time.Minute); err != nil || !ok || prev != nil {
		t.Fatalf("first Release = %v, %q, %v", ok, prev, err)
	}
	ok, prev, err := s.Release(ctx(t), "/stock/leader/n1", rev, "sku1", r, "id", nil, time.Minute)
	if err != nil || !ok || prev == nil || len(prev) != 0 {
		t.Fatalf("repeated Release = %v, %#v, %v; want true, []byte{}, nil", ok, prev, err)
	}
}

func TestReleaseFence(t *testing.T) {
	cli, s := setup(t, "")
	const leader = "/stock/leader/n1"
	rev, lease := lead(t, cli, leader)
	r := stock.Record{Limit: 5, Cap: 1}
	ok, prev, err := s.Release(ctx(t), leader, rev+1, "sku1", r, "req-1", []byte("reply"), time.Minute)
	if err != nil || ok || prev != nil {
		t.Fatalf("Release with a wrong fence = %v, %q, %v; want false, nil, nil", ok, prev, err)
	}
	if _, err := cli.Revoke(ctx(t), lease); err != nil {
		t.Fatal(err)
	}
	ok, prev, err = s.Release(ctx(t), leader, rev, "sku1", r, "req-1", []byte("reply"), time.Minute)
	if err != nil || ok || prev != nil {
		t.Fatalf("Release after the leader key was revoked = %v, %q, %v; want false, nil, nil", ok, prev, err)
	}
	if n := count(t, cli, "/stock/"); n != 0 {
		t.Errorf("%d keys written", n)
	}
}

// Distinct (sku, id) pairs never share a dedupe key, even with "/" in them.
func TestReleaseSlashes(t *testing.T) {
	cli, s := setup(t, "")
	rev, _ := lead(t, cli, "/stock/leader/n1")
	r := stock.Record{Limit: 5}
	for _, p := range [][2]string{{"a", "b/c"}, {"a/b", "c"}, {"a", "b%2Fc"}} {
		ok, prev, err := s.Release(ctx(t), "/stock/leader/n1", rev, p[0], r, p[1], []byte(p[0]+" "+p[1]), time.Minute)
		if err != nil || !ok || prev != nil {
			t.Errorf("Release(%q, id %q) = %v, %q, %v; want a first write", p[0], p[1], ok, prev, err)
		}
	}
	recs, _, err := s.Load(ctx(t))
	if want := map[string]stock.Record{"a": r, "a/b": r}; err != nil || !maps.Equal(recs, want) {
		t.Errorf("Load = %v, %v; want %v", recs, err, want)
	}
}

// A shared lease that disappears (revoked, or lost in a restore) is replaced.
func TestReleaseLeaseGone(t *testing.T) {
	cli, s := setup(t, "")
	rev, _ := lead(t, cli, "/stock/leader/n1")
	r := stock.Record{Limit: 5}
	if ok, _, err := s.Release(ctx(t), "/stock/leader/n1", rev, "sku1", r, "id1", []byte("1"), time.Minute); err != nil || !ok {
		t.Fatalf("Release = %v, %v", ok, err)
	}
	resp, err := cli.Get(ctx(t), "/stock/release/sku1/id1")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("id key: %v, %v", resp, err)
	}
	old := clientv3.LeaseID(resp.Kvs[0].Lease)
	if _, err := cli.Revoke(ctx(t), old); err != nil {
		t.Fatal(err)
	}
	ok, prev, err := s.Release(ctx(t), "/stock/leader/n1", rev, "sku1", r, "id2", []byte("2"), time.Minute)
	if err != nil || !ok || prev != nil {
		t.Fatalf("Release after the shared lease was revoked = %v, %q, %v; want true, nil, nil", ok, prev, err)
	}
	resp, err = cli.Get(ctx(t), "/stock/release/sku1/id2")
	if err != nil || len(resp.Kvs) != 1 || clientv3.LeaseID(resp.Kvs[0].Lease) == old {
		t.Errorf("id2 key %v, %v; want it on a new lease", resp.Kvs, err)
	}
}

func TestReleaseInvalid(t *testing.T) {
	cli, s := setup(t, "")
	const leader = "/stock/leader/n1"
	rev, _ := lead(t, cli, leader)
	good := stock.Record{Limit: 5}
	for _, tt := range []struct {
		name         string
		key, sku, id string
		rec          stock.Record
		ttl          time.Duration
		want         error
	}{
		{"cap above limit", leader, "sku1", "id", stock.Record{Limit: 1, Cap: 2}, time.Minute, capstore.ErrInvalidRecord},
		{"negative limit", leader, "sku1", "id", stock.Record{Limit: -1}, time.Minute, capstore.ErrInvalidRecord},
		{"empty SKU", leader, "", "id", good, time.Minute, capstore.ErrInvalidName},
		{"empty id", leader, "sku1", "", good, time.Minute, capstore.ErrInvalidName},
		{"empty leader key", "", "sku1", "id", good, time.Minute, capstore.ErrInvalidName},
		{"no horizon", leader, "sku1", "id", good, 0, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ok, prev, err := s.Release(ctx(t), tt.key, rev, tt.sku, tt.rec, tt.id, []byte("r"), tt.ttl)
			if ok || prev != nil || err == nil {
				t.Fatalf("Release = %v, %q, %v; want false, nil and an error", ok, prev, err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
			if n := count(t, cli, "/stock/sku/") + count(t, cli, "/stock/release/"); n != 0 {
				t.Errorf("%d keys written", n)
			}
		})
	}
}

// Concurrent Releases of one id: exactly one writes, the rest get its reply;
// concurrent Releases of distinct ids share one lease.
func TestReleaseConcurrent(t *testing.T) {
	cli, s := setup(t, "")
	rev, _ := lead(t, cli, "/stock/leader/n1")
	c := ctx(t)
	const n = 16
	type result struct {
		ok    bool
		prev  []byte
		err   error
		reply []byte
	}
	results := make(chan result, n)
	for i := range n {
		go func() {
			reply := []byte{byte('a' + i)}
			ok, prev, err := s.Release(c, "/stock/leader/n1", rev, "sku1", stock.Record{Limit: int64(i)}, "same", reply, time.Minute)
			results <- result{ok, prev, err, reply}
		}()
	}
	var winner []byte
	var prevs [][]byte
	for range n {
		r := <-results
		switch {
		case r.err != nil || !r.ok:
			t.Errorf("Release = %v, %v", r.ok, r.err)
		case r.prev == nil && winner != nil:
			t.Errorf("two Releases of one id wrote: %q and %q", winner, r.reply)
		case r.prev == nil:
			winner = r.reply
		default:
			prevs = append(prevs, r.prev)
		}
	}
	for _, p := range prevs {
		if !bytes.Equal(p, winner) {
			t.Errorf("prev %q, want the first reply %q", p, winner)
		}
	}
	recs, _, err := s.Get(c, []string{"sku1"})
	if err != nil || len(winner) != 1 || recs["sku1"].Limit != int64(winner[0]-'a') {
		t.Errorf("record %v, %v; want the one written with reply %q", recs, err, winner)
	}

	done := make(chan error, n)
	for i := range n {
		go func() {
			_, _, err := s.Release(c, "/stock/leader/n1", rev, "sku2", stock.Record{Limit: 1}, string(rune('a'+i)), nil, time.Minute)
			done <- err
		}()
	}
	for range n {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	resp, err := cli.Get(c, "/stock/release/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	leases := map[int64]bool{}
	for _, kv := range resp.Kvs {
		leases[kv.Lease] = true
	}
	if len(resp.Kvs) != n+1 || len(leases) != 1 {
		t.Errorf("%d id keys on %d leases, want %d on 1", len(resp.Kvs), len(leases), n+1)
	}
}
