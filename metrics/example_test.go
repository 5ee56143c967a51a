package metrics_test

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockstate/stock/metrics"
	"github.com/stockstate/stock/responder"
)

// ExampleNew registers a responder's metrics and gives the responder the
// Observer; a real program reads Stats from its *responder.Server and
// serves reg with promhttp.HandlerFor.
func ExampleNew() {
	reg := prometheus.NewRegistry()
	stats := func() (responder.Stats, bool) {
		return responder.Stats{Units: 42, Leading: true, SKUs: 3}, true // srv.Stats(), true
	}
	m, err := metrics.New(reg, stats)
	if err != nil {
		panic(err)
	}
	cfg := responder.DefaultConfig()
	cfg.Observer = m // then responder.New(nc, store, campaign, cfg)

	cfg.Observer.StoreWrite(3*time.Millisecond, 2, "committed") // as the responder's writer does

	mfs, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		for _, s := range mf.GetMetric() {
			switch mf.GetName() {
			case "stock_units_granted_total":
				fmt.Println(mf.GetName(), s.GetCounter().GetValue())
			case "stock_leading", "stock_skus":
				fmt.Println(mf.GetName(), s.GetGauge().GetValue())
			case "stock_store_write_duration_seconds":
				fmt.Printf("%s{outcome=%q} count %d\n", mf.GetName(), s.GetLabel()[0].GetValue(), s.GetHistogram().GetSampleCount())
			}
		}
	}
	// Output:
	// stock_leading 1
	// stock_skus 3
	// stock_store_write_duration_seconds{outcome="committed"} count 1
	// stock_store_write_duration_seconds{outcome="fenced"} count 0
	// stock_store_write_duration_seconds{outcome="other"} count 0
	// stock_store_write_duration_seconds{outcome="unknown"} count 0
	// stock_units_granted_total 42
}
