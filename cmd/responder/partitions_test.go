package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/stockstate/stock/internal/testenv"
	"github.com/stockstate/stock/wire"
)

// runFails runs the program with args and returns the error Run ends with,
// which it must within 30 s.
func runFails(t *testing.T, args ...string) error {
	t.Helper()
	m := NewMain()
	if err := m.ParseFlags(append([]string{"-lease-ttl", "2s", "-http", "", "-connect-timeout", "20s"}, args...), func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	m.Logger = testenv.Logger(t)
	defer m.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := m.Run(ctx)
	if err == nil {
		t.Fatal("Run served")
	}
	return err
}

// TestEmbeddedPartitions: the embedded default with -partitions 4 maps the
// subjects itself and leads all four partitions, which its metrics and
// discovery say; started again on the same data with another number, it
// refuses, naming the cluster's.
func TestEmbeddedPartitions(t *testing.T) {
	dir := t.TempDir()
	natsAddr, etcdAddr, peerAddr := testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)
	m, stop := startMain(t, nil, "-nats-listen", natsAddr, "-etcd-listen", etcdAddr, "-etcd-peer-listen", peerAddr,
		"-data-dir", dir, "-id", "node-a", "-partitions", "4")
	testenv.Eventually(t, 15*time.Second, 10*time.Millisecond, func() error {
		if n := len(m.resp.Load().LeadingPartitions()); n != 4 {
			return fmt.Errorf("leads %d of 4 partitions", n)
		}
		return nil
	})
	nc := testenv.Connect(t, m.NATSURL())
	for _, sku := range []string{"sku1", "sku2", "sku3", "sku4", "sku5"} {
		if r := req(t, nc, "stock.admin.set."+sku, `{"limit":10}`); r.Limit != 10 {
			t.Fatalf("set %s: %+v", sku, r)
		}
		if r := req(t, nc, "stock.acquire."+sku, `{"n":3}`); r.Granted != 3 || r.Remaining != 7 {
			t.Fatalf("acquire %s: %+v", sku, r)
		}
	}
	if v := value(t, scrape(t, m.HTTPAddr()), "stock_partitions_leading"); v != 4 {
		t.Fatalf("stock_partitions_leading %v", v)
	}
	msg, err := nc.Request("$SRV.INFO.stock", nil, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var info micro.Info
	if err := json.Unmarshal(msg.Data, &info); err != nil || info.Metadata["partitions"] != "4" || info.Metadata["leading"] != "0,1,2,3" {
		t.Fatalf("info: %v %+v", err, info.Metadata)
	}
	stop()

	err = runFails(t, "-nats-listen", natsAddr, "-etcd-listen", etcdAddr, "-etcd-peer-listen", peerAddr,
		"-data-dir", dir, "-id", "node-a", "-partitions", "8")
	if !strings.Contains(err.Error(), "-partitions 4") {
		t.Fatalf("another number of partitions: %v", err)
	}
}

// TestRefusesWithoutMapping: against a NATS server that does not map the
// SKU subjects, a responder of 4 partitions refuses to serve and names the
// lines to add; one of 1 partition against a server that maps them
// refuses too.
func TestRefusesWithoutMapping(t *testing.T) {
	srv := testenv.NATS(t)
	etcd := testenv.Endpoint(testenv.Etcd(t))
	err := runFails(t, "-nats", srv.ClientURL(), "-etcd", etcd, "-etcd-prefix", "/four", "-partitions", "4")
	want := wire.PartitionMappings("stock", 4)[0].ConfigLine()
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "stock.acquire.<sku> arrives on stock.acquire.<sku>, not stock.acquire.<sku>.") {
		t.Fatalf("no mapping: %v", err)
	}

	for _, mp := range wire.PartitionMappings("stock", 4) {
		if err := srv.GlobalAccount().AddMapping(mp.From, mp.To); err != nil {
			t.Fatal(err)
		}
	}
	err = runFails(t, "-nats", srv.ClientURL(), "-etcd", etcd, "-etcd-prefix", "/eight", "-partitions", "8")
	if !strings.Contains(err.Error(), wire.PartitionMappings("stock", 8)[0].ConfigLine()) {
		t.Fatalf("mapping of 4 for 8 partitions: %v", err)
	}
	err = runFails(t, "-nats", srv.ClientURL(), "-etcd", etcd, "-etcd-prefix", "/one")
	if !strings.Contains(err.Error(), "Remove the account's mappings") {
		t.Fatalf("mapping for 1 partition: %v", err)
	}
}
