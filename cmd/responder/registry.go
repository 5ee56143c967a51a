package main

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/stockstate/stock/metrics"
	"github.com/stockstate/stock/responder"
)

// newRegistry returns the registry /metrics serves, holding the Go runtime
// and process metrics, stock_build_info and the responder's own (package
// metrics), and the Observer the responder must be given. Before Run
// creates the responder, a scrape shows none of its counters.
func (m *Main) newRegistry() (*prometheus.Registry, *metrics.Metrics, error) {
	reg := prometheus.NewRegistry()
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "stock_build_info",
		Help:        "Always 1; the version label is the responder's version.",
		ConstLabels: prometheus.Labels{"version": Version()},
	})
	build.Set(1)
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		build,
	} {
		if err := reg.Register(c); err != nil {
			return nil, nil, err
		}
	}
	observer, err := metrics.New(reg, func() (responder.Stats, bool) {
		r := m.resp.Load()
		if r == nil {
			return responder.Stats{}, false
		}
		return r.Stats(), true
	})
	if err != nil {
		return nil, nil, err
	}
	return reg, observer, nil
}
