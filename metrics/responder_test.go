package metrics_test

import (
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stockstate/stock/internal/stocktest"
	"github.com/stockstate/stock/metrics"
	"github.com/stockstate/stock/responder"
	"github.com/stockstate/stock/wire"
)

// TestWithResponder wires Metrics into a real responder (real NATS, real
// etcd): the counters move with the requests, and the Observer sees the
// term start and its committed store writes.
func TestWithResponder(t *testing.T) {
	c := stocktest.NewCluster(t)
	reg := prometheus.NewPedanticRegistry()
	var srv atomic.Pointer[responder.Server]
	m, err := metrics.New(reg, func() (responder.Stats, bool) {
		s := srv.Load()
		if s == nil {
			return responder.Stats{}, false
		}
		return s.Stats(), true
	})
	if err != nil {
		t.Fatal(err)
	}
	n := c.Start("node-a", "", func(cfg *responder.Config) { cfg.Observer = m })
	srv.Store(n.Server)
	n.WaitLeading(t)

	request := func(subject, body string) wire.Reply {
		t.Helper()
		msg, err := c.NC.Request(subject, []byte(body), 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", subject, err)
		}
		var r wire.Reply
		if err := json.Unmarshal(msg.Data, &r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	request("stock.admin.set.sku1", `{"limit":10}`)
	for range 3 {
		if r := request("stock.acquire.sku1", `{"n":2}`); r.Granted != 2 {
			t.Fatalf("acquire: %+v", r)
		}
	}
	if r := request("stock.acquire.sku1", `{"n":5}`); r.Error != wire.ErrInsufficient {
		t.Fatalf("acquire 5 of 4: %+v", r)
	}

	for name, want := range map[string]float64{
		"stock_units_granted_total": 6,
		"stock_leading":             1,
		"stock_skus":                1,
	} {
		if got := gatherValue(t, reg, name, nil); got != want {
			t.Errorf("%s = %g, want %g", name, got, want)
		}
	}
	if got := gatherValue(t, reg, "stock_requests_total", map[string]string{"endpoint": "acquire"}); got != 4 {
		t.Errorf("acquire requests = %g, want 4", got)
	}
	if got := gatherValue(t, reg, "stock_errors_total", map[string]string{"kind": "insufficient"}); got != 1 {
		t.Errorf("insufficient errors = %g, want 1", got)
	}
	if got := gatherValue(t, reg, "stock_leadership_changes_total", map[string]string{"state": "leading"}); got != 1 {
		t.Errorf("leadership changes to leading = %g, want 1", got)
	}
	if got := gatherValue(t, reg, "stock_store_write_duration_seconds", map[string]string{"outcome": "committed"}); got < 1 {
		t.Errorf("committed store writes observed = %g, want at least 1", got)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Fatalf("lint: %v %v", problems, err)
	}
}

// gatherValue returns the value of the metric name whose labels include
// labels: a counter's or gauge's value, a histogram's sample count.
func gatherValue(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue metric
				}
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	t.Fatalf("no metric %s%v", name, labels)
	return 0
}
