package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/stockstate/stock/internal/netproxy"
	"github.com/stockstate/stock/internal/testenv"
)

// get fetches http://addr+path and returns the status and body.
func get(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	code, body, err := tryGet(addr, path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return code, body
}

func tryGet(addr, path string) (int, string, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// scrape fetches /metrics as Prometheus does and parses it.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := get(t, addr, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return mfs
}

// value returns the value of the series of name whose labels include
// labels ("k=v" pairs): a counter's or gauge's value, a histogram's count.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	mf, ok := mfs[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
series:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			if have[k] != v {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

// TestMetricsAndHealth scrapes /metrics of the running program over HTTP,
// before and after some requests, and checks that the counters moved by
// exactly what the requests did; and that /healthz, /readyz (leading) and
// /debug/stats answer.
func TestMetricsAndHealth(t *testing.T) {
	m, _ := runMain(t, t.TempDir())
	addr := m.HTTPAddr()
	nc := testenv.Connect(t, m.NATSURL())

	before := scrape(t, addr)
	if v := value(t, before, "stock_leading"); v != 1 {
		t.Fatalf("stock_leading %g before, want 1", v)
	}
	acquires0 := value(t, before, "stock_requests_total", "endpoint=acquire")
	units0 := value(t, before, "stock_units_granted_total")

	req(t, nc, "stock.admin.set.sku1", `{"limit":100}`)
	for i := range 5 {
		if r := req(t, nc, "stock.acquire.sku1", fmt.Sprintf(`{"n":%d}`, i+1)); r.Granted != int64(i+1) {
			t.Fatalf("acquire: %+v", r)
		}
	}
	if r := req(t, nc, "stock.acquire.nosuch", ""); r.Error != "unknown_sku" {
		t.Fatalf("acquire of an unknown SKU: %+v", r)
	}
	if r := req(t, nc, "stock.acquire.sku1", `{"n":0}`); r.Error != "bad_request" {
		t.Fatalf("acquire of 0: %+v", r)
	}

	after := scrape(t, addr)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"stock_requests_total", []string{"endpoint=acquire"}, acquires0 + 7},
		{"stock_requests_total", []string{"endpoint=admin_set"}, 1},
		{"stock_request_errors_total", []string{"endpoint=acquire"}, 2},
		{"stock_errors_total", []string{"kind=unknown_sku"}, 1},
		{"stock_errors_total", []string{"kind=bad_request"}, 1},
		{"stock_errors_total", []string{"kind=sold_out"}, 0},
		{"stock_units_granted_total", nil, units0 + 15},
		{"stock_leading", nil, 1},
		{"stock_skus", nil, 1},
		{"stock_terms_total", nil, 1},
		{"stock_leadership_changes_total", []string{"state=leading"}, 1},
		{"stock_fenced_writes_total", nil, 0},
		{"stock_build_info", []string{"version=" + Version()}, 1},
	} {
		if got := value(t, after, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %g, want %g", c.name, c.labels, got, c.want)
		}
	}
	if got := value(t, after, "stock_store_write_duration_seconds", "outcome=committed"); got < 1 {
		t.Errorf("committed store writes observed: %g, want at least 1", got)
	}
	if got := value(t, after, "stock_window_units"); got < 1 {
		t.Errorf("stock_window_units = %g, want a window open", got)
	}
	if _, ok := after["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	if _, ok := after["process_cpu_seconds_total"]; !ok {
		t.Error("no process metrics")
	}
	for name := range after {
		if strings.Contains(name, "sku1") {
			t.Errorf("metric %s names a SKU", name)
		}
	}

	if code, body := get(t, addr, "/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get(t, addr, "/readyz"); code != 200 || strings.TrimSpace(body) != "leading" {
		t.Errorf("/readyz: %d %q", code, body)
	}
	if code, body := get(t, addr, "/debug/stats"); code != 200 || !strings.Contains(body, `"Units": 15`) {
		t.Errorf("/debug/stats: %d %s", code, body)
	}
}

// TestReadiness runs two responders on a shared NATS server and etcd; the
// standby reaches etcd through a proxy that the test pauses. The leader is
// ready ("leading"); the standby is ready ("standby") while etcd answers
// it, and not (503) while etcd does not.
func TestReadiness(t *testing.T) {
	srv := testenv.NATS(t)
	etcd := testenv.Endpoint(testenv.Etcd(t))
	leader, _ := startMain(t, nil, "-id", "node-a", "-nats", srv.ClientURL(), "-etcd", etcd)
	waitLeading(t, leader)

	proxy, err := netproxy.Start(etcd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	standby, _ := startMain(t, nil, "-id", "node-b", "-nats", srv.ClientURL(), "-etcd", proxy.Addr())
	t.Cleanup(proxy.Resume) // before the standby stops

	ready := func(m *Main, wantCode int, wantBody string) {
		t.Helper()
		testenv.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
			code, body, err := tryGet(m.HTTPAddr(), "/readyz")
			if err != nil {
				return err
			}
			if code != wantCode || !strings.HasPrefix(strings.TrimSpace(body), wantBody) {
				return fmt.Errorf("%s /readyz: %d %q, want %d %q", m.Options.ID, code, body, wantCode, wantBody)
			}
			return nil
		})
	}
	ready(leader, 200, "leading")
	ready(standby, 200, "standby")
	if v := value(t, scrape(t, standby.HTTPAddr()), "stock_leading"); v != 0 {
		t.Errorf("standby's stock_leading = %g", v)
	}

	proxy.Pause()
	ready(standby, 503, "etcd unreachable")
	ready(leader, 200, "leading")
	if code, _ := get(t, standby.HTTPAddr(), "/healthz"); code != 200 {
		t.Errorf("standby /healthz with etcd unreachable: %d, want 200 (alive)", code)
	}

	proxy.Resume()
	ready(standby, 200, "standby")
}
