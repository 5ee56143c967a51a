package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/stockstate/stock/wire"
)

// The configuration file parses with nats-server's own parser, and a
// server started from it delivers a SKU subject on its partition's.
func TestPartitionsConf(t *testing.T) {
	addr := freeAddr()
	conf, err := partitionsConf(addr, "stock", benchPartitions)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("%v\n%s", err, conf)
	}
	if got := opts.Host + ":" + fmt.Sprint(opts.Port); got != addr {
		t.Fatalf("listens on %s, want %s", got, addr)
	}
	opts.NoLog, opts.NoSigs = true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	nc, err := nats.Connect("nats://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for _, verb := range wire.SKUVerbs {
		for _, sku := range []string{"pk-0", "pk-1", "scale17", "sku:A_b-9"} {
			want := wire.SKUSubject("stock", verb, sku, benchPartitions)
			sub, err := nc.SubscribeSync("stock." + verb + ".>")
			if err != nil {
				t.Fatal(err)
			}
			if err := nc.Publish("stock."+verb+"."+sku, nil); err != nil {
				t.Fatal(err)
			}
			m, err := sub.NextMsg(2 * time.Second)
			if err != nil {
				t.Fatalf("%s %s: %v", verb, sku, err)
			}
			if m.Subject != want {
				t.Fatalf("stock.%s.%s delivered on %s, want %s", verb, sku, m.Subject, want)
			}
			_ = sub.Unsubscribe()
		}
	}
}

func TestSpreadEvenly(t *testing.T) {
	for _, c := range []struct {
		counts []int
		want   bool
	}{
		{[]int{16}, true},
		{[]int{8, 8}, true},
		{[]int{9, 7}, false},
		{[]int{4, 4, 4, 4}, true},
		{[]int{6, 5, 5}, true},
		{[]int{6, 6, 4}, false},
		{[]int{5, 5, 5}, false}, // one partition without a leader
		{nil, false},
	} {
		if got := spreadEvenly(c.counts, 16); got != c.want {
			t.Errorf("spreadEvenly(%v) = %v, want %v", c.counts, got, c.want)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	// utime 250 and stime 50 ticks; the command holds spaces and a ')'.
	stat := "4242 (nats server) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 100 0 0\n"
	got, err := parseProcStat(stat)
	if err != nil || got != 3*time.Second {
		t.Fatalf("parseProcStat = %v, %v; want 3s", got, err)
	}
	if _, err := parseProcStat("4242 (short) S 1"); err == nil {
		t.Fatal("a short stat line parsed")
	}
	own, err := procCPU(os.Getpid())
	if err != nil || own < 0 {
		t.Fatalf("procCPU of the test: %v, %v", own, err)
	}
}

func TestMetricsOf(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "# HELP stock_partitions Partitions.\n# TYPE stock_partitions gauge\nstock_partitions 16\n"+
			"stock_partitions_leading 5\nstock_requests_total{endpoint=\"acquire\"} 9\n")
	}))
	defer srv.Close()
	m, err := metricsOf(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	if m["stock_partitions"] != 16 || m["stock_partitions_leading"] != 5 || len(m) != 2 {
		t.Fatalf("metrics %v", m)
	}
}

func TestPrintScaling(t *testing.T) {
	run := func(grants, cpu float64) scalingRun {
		return scalingRun{grants: grants, p99: 50_000, cpu: cpu, throttled: 0.9, nats: 0.2, etcd: 0.3, loadgen: 0.2}
	}
	rows := []scalingRow{
		{n: 1, runs: []scalingRun{run(500_000, 0.25), run(520_000, 0.25), run(480_000, 0.25)}},
		{n: 2, runs: []scalingRun{run(900_000, 0.5), run(950_000, 0.5), run(1_000_000, 0.5)}},
		{n: 4, runs: []scalingRun{run(1_500_000, 0.9), run(1_400_000, 0.9), run(1_600_000, 0.9)}},
	}
	var b bytes.Buffer
	printScaling(&b, options{runs: 3, duration: 10 * time.Second, warmup: time.Second, scalingQuota: 0.25}, rows)
	out := b.String()
	for _, want := range []string{
		"| 1 | 500,000 | 480,000–520,000 | 1.00 | 0.8 (met) | 0.25 (0.25) |",
		"| 2 | 950,000 | 900,000–1,000,000 | 0.95 | 0.8 (met) |",
		"| 4 | 1,500,000 | 1,400,000–1,600,000 | 0.75 | 0.8 (not met) | 0.90 (1.00) | 90% | 0.60 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
