package metrics

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stockstate/stock/responder"
)

const namespace = "stock"

// Store write outcomes, as responder.Observer reports them; any other value
// is counted as "other" so that the label stays bounded.
var outcomes = [...]string{"committed", "fenced", "unknown", "other"}

// Metrics are one responder's Prometheus metrics. It is the responder's
// Observer (set it as responder.Config.Observer): its methods only update
// histograms and counters, never block, and are safe for concurrent use.
type Metrics struct {
	writeSeconds map[string]prometheus.Observer // by outcome
	writeRecords prometheus.Observer
	leading      prometheus.Counter
	standby      prometheus.Counter
}

var _ responder.Observer = (*Metrics)(nil)

// New registers a responder's metrics with reg: the counters stats returns,
// read at each scrape, and the histograms and counters of the returned
// Metrics, which the responder must be given as its Observer. stats may be
// nil (no counters). On error nothing stays registered.
func New(reg prometheus.Registerer, stats StatsFunc) (*Metrics, error) {
	writeSeconds := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      "store_write_duration_seconds",
		Help:      "Duration of store (etcd) writes, by outcome: committed, fenced (leadership lost) or unknown (timed out).",
		// 0.5 ms to 4 s: a write is bounded by the responder's write timeout (2 s).
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
	}, []string{"outcome"})
	writeRecords := prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: namespace,
		Name:      "store_write_records",
		Help:      "SKU records carried by one store write.",
		Buckets:   prometheus.ExponentialBuckets(1, 2, 11), // 1 to 1024
	})
	changes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace,
		Name:      "leadership_changes_total",
		Help:      "Changes of leadership of this node, by the state entered: leading or standby.",
	}, []string{"state"})

	m := &Metrics{
		writeSeconds: make(map[string]prometheus.Observer, len(outcomes)),
		writeRecords: writeRecords,
		leading:      changes.WithLabelValues("leading"),
		standby:      changes.WithLabelValues("standby"),
	}
	for _, o := range outcomes {
		m.writeSeconds[o] = writeSeconds.WithLabelValues(o)
	}
	cs := []prometheus.Collector{writeSeconds, writeRecords, changes}
	if stats != nil {
		cs = append(cs, newCollector(stats))
	}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, r := range cs[:i] {
				reg.Unregister(r)
			}
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	return m, nil
}

// StoreWrite records one store write's duration by outcome, and the SKU
// records it carried.
func (m *Metrics) StoreWrite(d time.Duration, records int, outcome string) {
	o, ok := m.writeSeconds[outcome]
	if !ok {
		o = m.writeSeconds["other"]
	}
	o.Observe(d.Seconds())
	m.writeRecords.Observe(float64(records))
}

// Leading counts a change of leadership.
func (m *Metrics) Leading(leading bool) {
	if leading {
		m.leading.Inc()
	} else {
		m.standby.Inc()
	}
}
