package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"sigs.k8s.io/yaml"

	"github.com/stockstate/stock/internal/testenv"
)

// dashboard is what the tests read of deploy/grafana/dashboards/stock.json.
type dashboard struct {
	Panels []struct {
		Title      string `json:"title"`
		Type       string `json:"type"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "grafana", "dashboards", "stock.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("stock.json: %v", err)
	}
	return d
}

// readYAML decodes a YAML file of the repository into v.
func readYAML(t *testing.T, v any, path ...string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{"..", ".."}, path...)...))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", filepath.Join(path...), err)
	}
}

var (
	metricName    = regexp.MustCompile(`\bstock_[a-z_]+`)
	endpointMatch = regexp.MustCompile(`endpoint=~"([^"]+)"`)
)

// TestDashboardQueriesExist: every metric a panel of the dashboard queries
// is in the /metrics output of a running responder (histograms by their
// _bucket series), and so is every endpoint a panel selects; every panel
// reads the provisioned data source.
func TestDashboardQueriesExist(t *testing.T) {
	m, _ := runMain(t, t.TempDir())
	nc := testenv.Connect(t, m.NATSURL())
	req(t, nc, "stock.admin.set.sku1", `{"limit":100}`)
	req(t, nc, "stock.acquire.sku1", `{"n":1}`)
	req(t, nc, "stock.hold.sku1", `{"n":1,"id":"cart-1"}`)
	mfs := scrape(t, m.HTTPAddr())

	var ds struct {
		Datasources []struct{ UID string }
	}
	readYAML(t, &ds, "deploy", "grafana", "provisioning", "datasources", "prometheus.yml")
	if len(ds.Datasources) != 1 {
		t.Fatalf("data sources %+v, want one", ds.Datasources)
	}
	endpoints := map[string]bool{}
	for _, mt := range mfs["stock_requests_total"].GetMetric() {
		for _, l := range mt.GetLabel() {
			endpoints[l.GetValue()] = true
		}
	}
	queried := 0
	for _, p := range readDashboard(t).Panels {
		if p.Type == "row" {
			continue
		}
		if p.Datasource.UID != ds.Datasources[0].UID || len(p.Targets) == 0 {
			t.Errorf("panel %q: data source %q and %d queries, want %q and some", p.Title, p.Datasource.UID, len(p.Targets), ds.Datasources[0].UID)
		}
		for _, q := range p.Targets {
			names := metricName.FindAllString(q.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q reads no stock_ metric", p.Title, q.Expr)
			}
			for _, name := range names {
				queried++
				family := strings.TrimSuffix(name, "_bucket")
				if mf, ok := mfs[family]; !ok || (family != name && mf.GetType().String() != "HISTOGRAM") {
					t.Errorf("panel %q queries %s, which /metrics does not have", p.Title, name)
				}
			}
			for _, sel := range endpointMatch.FindAllStringSubmatch(q.Expr, -1) {
				for _, ep := range strings.Split(sel[1], "|") {
					if !endpoints[ep] {
						t.Errorf("panel %q selects endpoint %q, which stock_requests_total does not have", p.Title, ep)
					}
				}
			}
		}
	}
	if queried < 10 {
		t.Fatalf("the dashboard queries %d metrics", queried)
	}
}

// mountOf is the volume of s whose target is target.
func mountOf(s types.ServiceConfig, target string) (types.ServiceVolumeConfig, bool) {
	for _, v := range s.Volumes {
		if v.Target == target {
			return v, true
		}
	}
	return types.ServiceVolumeConfig{}, false
}

// TestComposeMonitoring: Prometheus scrapes the -http address of every
// responder of docker-compose.yml; Grafana gets the provisioning files and
// the dashboard from deploy/grafana, and its data source is that
// Prometheus.
func TestComposeMonitoring(t *testing.T) {
	p := loadCompose(t)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	prom, graf := p.Services["prometheus"], p.Services["grafana"]
	if prom.Name == "" || graf.Name == "" {
		t.Fatalf("services %v: want prometheus and grafana", p.ServiceNames())
	}

	if v, ok := mountOf(prom, "/etc/prometheus/prometheus.yml"); !ok || v.Source != filepath.Join(root, "deploy", "prometheus.yml") {
		t.Errorf("prometheus mounts %+v, want deploy/prometheus.yml at /etc/prometheus/prometheus.yml", prom.Volumes)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			StaticConfigs []struct{ Targets []string } `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	readYAML(t, &cfg, "deploy", "prometheus.yml")
	var targets, want []string
	for _, sc := range cfg.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			targets = append(targets, st.Targets...)
		}
	}
	for name, s := range p.Services {
		if !strings.HasPrefix(name, "responder") {
			continue
		}
		m := NewMain()
		if err := m.ParseFlags(s.Command, env(s)); err != nil {
			t.Fatal(err)
		}
		_, port, err := net.SplitHostPort(m.Options.HTTP)
		if err != nil {
			t.Fatalf("%s: -http %q: %v", name, m.Options.HTTP, err)
		}
		want = append(want, net.JoinHostPort(name, port))
	}
	sort.Strings(targets)
	sort.Strings(want)
	if !slices.Equal(targets, want) {
		t.Errorf("prometheus scrapes %v, want every responder %v", targets, want)
	}

	prov, ok := mountOf(graf, "/etc/grafana/provisioning")
	if !ok || prov.Source != filepath.Join(root, "deploy", "grafana", "provisioning") {
		t.Errorf("grafana mounts %+v, want deploy/grafana/provisioning at /etc/grafana/provisioning", graf.Volumes)
	}
	var providers struct {
		Providers []struct {
			Options struct{ Path string }
		}
	}
	readYAML(t, &providers, "deploy", "grafana", "provisioning", "dashboards", "stock.yml")
	if len(providers.Providers) != 1 {
		t.Fatalf("dashboard providers %+v, want one", providers.Providers)
	}
	dash, ok := mountOf(graf, providers.Providers[0].Options.Path)
	if !ok || dash.Source != filepath.Join(root, "deploy", "grafana", "dashboards") {
		t.Errorf("grafana mounts %+v, want deploy/grafana/dashboards at the provider's path %s", graf.Volumes, providers.Providers[0].Options.Path)
	}
	if _, err := os.Stat(filepath.Join(dash.Source, "stock.json")); err != nil {
		t.Error(err)
	}
	var ds struct {
		Datasources []struct{ URL string }
	}
	readYAML(t, &ds, "deploy", "grafana", "provisioning", "datasources", "prometheus.yml")
	if len(ds.Datasources) != 1 || ds.Datasources[0].URL != "http://prometheus:9090" {
		t.Errorf("data sources %+v, want the prometheus service at http://prometheus:9090", ds.Datasources)
	}
}
