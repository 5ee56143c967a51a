package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/stockstate/stock/capstore"
	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/stock"
	"github.com/stockstate/stock/wire"
)

// TestPTSKUs: the names of one partition are distinct SKU tokens of that
// partition, the same on every call; a spread puts every name in its own.
func TestPTSKUs(t *testing.T) {
	skus := ptSKUsOf("pone", 0, ptPartitions, 1000)
	seen := map[string]bool{}
	for _, s := range skus {
		if !wire.ValidSKU(s) || wire.Partition(s, ptPartitions) != 0 || seen[s] {
			t.Fatalf("%q: valid %v, partition %d, repeated %v", s, wire.ValidSKU(s), wire.Partition(s, ptPartitions), seen[s])
		}
		seen[s] = true
	}
	if again := ptSKUsOf("pone", 0, ptPartitions, 1000); strings.Join(again, ",") != strings.Join(skus, ",") {
		t.Fatal("names differ between calls")
	}
	by := ptSpread("pall", ptPartitions, 10_000)
	total := 0
	for p, ss := range by {
		if len(ss) < 10_000/ptPartitions/2 {
			t.Errorf("partition %d has %d of 10,000 names", p, len(ss))
		}
		for _, s := range ss {
			if wire.Partition(s, ptPartitions) != p {
				t.Fatalf("%s is in partition %d, spread into %d", s, wire.Partition(s, ptPartitions), p)
			}
		}
		total += len(ss)
	}
	if total != 10_000 {
		t.Fatalf("%d names spread, want 10,000", total)
	}
}

// TestPTWrite: ptWrite puts every record, over transactions that do
// not divide the count evenly, under its partition's prefix in the layout
// the store loads (limit ptLimit, cap 0), stores the number of
// partitions, and writes nothing the second time.
func TestPTWrite(t *testing.T) {
	const count = 3*ptTxnPuts*ptPartitions + 5
	e := testenv.Etcd(t)
	cli := testenv.Client(t, testenv.Endpoint(e))
	by := ptSpread("w", ptPartitions, count)
	wrote, _, err := ptWrite(t.Context(), cli, by)
	if err != nil || wrote != count {
		t.Fatalf("wrote %d (%v), want %d", wrote, err, count)
	}
	for p, skus := range by {
		recs, bad, err := capstore.New(cli, capstore.PartitionPrefix(ptEtcdPrefix, p, ptPartitions)).Load(t.Context())
		if err != nil || len(bad) > 0 || len(recs) != len(skus) {
			t.Fatalf("partition %d: %d records, corrupt %v, %v; want %d", p, len(recs), bad, err, len(skus))
		}
		for _, s := range skus {
			if recs[s] != (stock.Record{Limit: ptLimit}) {
				t.Fatalf("partition %d, %s: %+v", p, s, recs[s])
			}
		}
	}
	if n, err := capstore.Partitions(t.Context(), cli, ptEtcdPrefix, ptPartitions); err != nil || n != ptPartitions {
		t.Fatalf("partitions %d, %v; want %d", n, err, ptPartitions)
	}
	if _, err := capstore.Partitions(t.Context(), cli, ptEtcdPrefix, 1); !errors.Is(err, capstore.ErrPartitions) {
		t.Fatalf("a responder of 1 partition: %v, want ErrPartitions", err)
	}
	rev := func() int64 {
		resp, err := cli.Get(t.Context(), "/", clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Revision
	}
	before := rev()
	if wrote, _, err := ptWrite(t.Context(), cli, by); err != nil || wrote != 0 || rev() != before {
		t.Fatalf("second write: wrote %d, %v, revision %d to %d; want nothing", wrote, err, before, rev())
	}
}

// TestPTNATSConfig: a nats-server started from the configuration
// delivers stock.<verb>.<sku> on the SKU's partitioned subject.
func TestPTNATSConfig(t *testing.T) {
	addr := testenv.FreeAddr(t)
	path := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(path, []byte(ptNATSConfig(addr, ptPartitions)), 0o644); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	opts.NoLog, opts.NoSigs = true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	nc, err := nats.Connect("nats://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	sub, err := nc.SubscribeSync("stock.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, verb := range wire.SKUVerbs {
		sku := "pone-7"
		if err := nc.Publish("stock."+verb+"."+sku, nil); err != nil {
			t.Fatal(err)
		}
		m, err := sub.NextMsg(2 * time.Second)
		if err != nil {
			t.Fatal(verb, err)
		}
		if want := wire.SKUSubject("stock", verb, sku, ptPartitions); m.Subject != want {
			t.Errorf("%s: delivered on %s, want %s", verb, m.Subject, want)
		}
	}
}

// TestParsePTLog: the first leading line of each partition since the
// start, and the serving line after it, with its SKUs and durations.
func TestParsePTLog(t *testing.T) {
	log := `time=2026-05-09T10:00:00.000Z level=INFO msg=leading partition=3 id=a key=/stock/p/3/leader/1 rev=5
time=2026-05-09T10:00:01.000Z level=INFO msg="responder running" partitions=16
time=2026-05-09T10:00:02.000Z level=INFO msg=leading partition=3 id=a key=/stock/p/3/leader/2 rev=9
time=2026-05-09T10:00:02.250Z level=INFO msg=serving partition=3 held_skus=62500 corrupt=0 holds=0 load=212.5ms resume=1µs subscribe=1.5ms
time=2026-05-09T10:00:03.000Z level=INFO msg=leading partition=3 id=a key=/stock/p/3/leader/3 rev=12
time=2026-05-09T10:00:03.100Z level=INFO msg=serving partition=3 held_skus=1 corrupt=0 holds=0 load=1ms resume=0s subscribe=1ms
time=2026-05-09T10:00:02.500Z level=INFO msg=leading partition=0 id=a key=/stock/p/0/leader/4 rev=13
`
	since := time.Date(2026, 5, 9, 10, 0, 1, 500_000_000, time.UTC)
	leading, serving, err := parsePTLog(strings.NewReader(log), since)
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time { v, _ := time.Parse(time.RFC3339Nano, s); return v }
	if !leading[3].at.Equal(at("2026-05-09T10:00:02Z")) || !serving[3].at.Equal(at("2026-05-09T10:00:02.25Z")) {
		t.Errorf("partition 3: leading %v, serving %v", leading[3].at, serving[3].at)
	}
	if serving[3].skus != 62500 || serving[3].load != 212500*time.Microsecond || serving[3].rest != 1501*time.Microsecond {
		t.Errorf("partition 3 serving: %+v", serving[3])
	}
	if leading[0].at.IsZero() || !serving[0].at.IsZero() || !leading[1].at.IsZero() {
		t.Errorf("partition 0 %+v %+v, partition 1 %+v", leading[0], serving[0], leading[1])
	}
}
