package metrics

import (
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockstate/stock/responder"
)

// StatsFunc returns a responder's counters, or false while there is no
// responder to read (the collector then reports nothing). It is called once
// per scrape, possibly from several scrapes at once, so it must be safe for
// concurrent use, as responder.Server.Stats is.
type StatsFunc func() (responder.Stats, bool)

// scalar is one metric without labels, read from Stats.
type scalar struct {
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	value func(*responder.Stats) float64
}

// collector is a prometheus.Collector of a responder's Stats. It keeps no
// state of its own: every scrape reads the counters afresh, so it never
// disagrees with /debug/stats and costs nothing between scrapes.
type collector struct {
	stats StatsFunc

	requests       *prometheus.Desc // by endpoint
	requestErrors  *prometheus.Desc // by endpoint
	requestSeconds *prometheus.Desc // by endpoint
	errors         *prometheus.Desc // by kind
	scalars        []scalar
}

func newCollector(stats StatsFunc) *collector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
	}
	counter := func(name, help string, v func(*responder.Stats) float64) scalar {
		return scalar{desc(name, help), prometheus.CounterValue, v}
	}
	gauge := func(name, help string, v func(*responder.Stats) float64) scalar {
		return scalar{desc(name, help), prometheus.GaugeValue, v}
	}
	return &collector{
		stats:          stats,
		requests:       desc("requests_total", "Requests answered, by endpoint.", "endpoint"),
		requestErrors:  desc("request_errors_total", "Requests answered with an error, by endpoint.", "endpoint"),
		requestSeconds: desc("request_processing_seconds_total", "Time spent answering requests, by endpoint (estimated from a sample of requests).", "endpoint"),
		errors:         desc("errors_total", "Error replies, by kind (bad_request, unknown_sku, sold_out, insufficient, unavailable, internal, unknown_hold, expired).", "kind"),
		scalars: []scalar{
			counter("units_granted_total", "Units granted by acquires.",
				func(s *responder.Stats) float64 { return float64(s.Units) }),
			counter("refill_stalls_total", "Acquires that had to wait for a raised cap.",
				func(s *responder.Stats) float64 { return float64(s.Stalls) }),
			counter("wait_timeouts_total", "Waits for a raised cap that ended unavailable.",
				func(s *responder.Stats) float64 { return float64(s.WaitTimeouts) }),
			counter("refills_total", "Store writes that raised caps.",
				func(s *responder.Stats) float64 { return float64(s.Refills) }),
			counter("refill_keys_total", "SKU records carried by the store writes that raised caps.",
				func(s *responder.Stats) float64 { return float64(s.RefillKeys) }),
			counter("refill_seconds_total", "Time spent in store writes that raised caps.",
				func(s *responder.Stats) float64 { return s.RefillTime.Seconds() }),
			counter("fenced_writes_total", "Store writes the leadership fence refused (leadership lost).",
				func(s *responder.Stats) float64 { return float64(s.Fenced) }),
			counter("unknown_writes_total", "Store writes whose outcome was unknown (timed out).",
				func(s *responder.Stats) float64 { return float64(s.Unknown) }),
			counter("terms_total", "Leadership terms served.",
				func(s *responder.Stats) float64 { return float64(s.Terms) }),
			gauge("leading", "1 while this node serves a term, else 0.",
				func(s *responder.Stats) float64 {
					if s.Leading {
						return 1
					}
					return 0
				}),
			gauge("partitions_leading", "Partitions whose terms this node serves now (of stock_partitions).",
				func(s *responder.Stats) float64 { return float64(len(s.LeadingParts)) }),
			gauge("partitions", "Partitions of the cluster's SKUs.",
				func(s *responder.Stats) float64 { return float64(s.Partitions) }),
			gauge("skus", "SKUs the current terms have read or created (0 when standing by).",
				func(s *responder.Stats) float64 { return float64(s.SKUs) }),
			counter("holds_expired_total", "Holds whose units came back by expiry.",
				func(s *responder.Stats) float64 { return float64(s.HoldsExpired) }),
			gauge("held_units", "Units in live holds of the current term's SKUs (0 when standing by).",
				func(s *responder.Stats) float64 { return float64(s.HeldUnits) }),
			gauge("window_units", "Units in the in-memory windows of the current term: what a crash now would leave unsold.",
				func(s *responder.Stats) float64 { return float64(s.WindowUnits) }),
		},
	}
}

// Describe sends every metric's description; the set is fixed.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.requests
	ch <- c.requestErrors
	ch <- c.requestSeconds
	ch <- c.errors
	for _, s := range c.scalars {
		ch <- s.desc
	}
}

// Collect reads the counters once and sends them.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st, ok := c.stats()
	if !ok {
		return
	}
	for _, e := range st.Endpoints {
		if e.Name == "" {
			continue // a slot the server does not use
		}
		ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(e.Requests), e.Name)
		ch <- prometheus.MustNewConstMetric(c.requestErrors, prometheus.CounterValue, float64(e.Errors), e.Name)
		ch <- prometheus.MustNewConstMetric(c.requestSeconds, prometheus.CounterValue, e.ProcessingTime.Seconds(), e.Name)
	}
	kinds := make([]string, 0, len(st.Errors))
	for k := range st.Errors {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(st.Errors[k]), k)
	}
	for _, s := range c.scalars {
		ch <- prometheus.MustNewConstMetric(s.desc, s.typ, s.value(&st))
	}
}
