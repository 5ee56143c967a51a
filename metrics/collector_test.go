package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stockstate/stock/metrics"
	"github.com/stockstate/stock/responder"
	"github.com/stockstate/stock/wire"
)

func fixedStats() responder.Stats {
	st := responder.Stats{
		Errors: map[string]uint64{
			wire.ErrBadRequest: 1, wire.ErrUnknownSKU: 2, wire.ErrSoldOut: 3,
			wire.ErrInsufficient: 4, wire.ErrUnavailable: 5, wire.ErrInternal: 0,
		},
		Units: 120, Stalls: 2, WaitTimeouts: 1, Refills: 7, RefillKeys: 9,
		RefillTime: 1500 * time.Millisecond, Fenced: 1, Unknown: 2, Terms: 3,
		Leading: true, Partitions: 4, LeadingParts: []int{1, 3}, SKUs: 4, WindowUnits: 40, HeldUnits: 6, HoldsExpired: 11,
	}
	// Endpoints the server may add later stay unnamed here, and unreported.
	for i, name := range []string{"acquire", "release", "query", "admin_set", "admin_delete"} {
		st.Endpoints[i] = responder.EndpointStats{
			Name: name, Requests: uint64(10 * (i + 1)), Errors: uint64(i), ProcessingTime: time.Duration(i+1) * time.Second,
		}
	}
	return st
}

// TestCollectorReadsStats checks every counter of Stats against the metric
// it becomes, through a registry as a scrape reads it.
func TestCollectorReadsStats(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	if _, err := metrics.New(reg, func() (responder.Stats, bool) { return fixedStats(), true }); err != nil {
		t.Fatal(err)
	}
	want := `
# HELP stock_errors_total Error replies, by kind (bad_request, unknown_sku, sold_out, insufficient, unavailable, internal, unknown_hold, expired).
# TYPE stock_errors_total counter
stock_errors_total{kind="bad_request"} 1
stock_errors_total{kind="insufficient"} 4
stock_errors_total{kind="internal"} 0
stock_errors_total{kind="sold_out"} 3
stock_errors_total{kind="unavailable"} 5
stock_errors_total{kind="unknown_sku"} 2
# HELP stock_fenced_writes_total Store writes the leadership fence refused (leadership lost).
# TYPE stock_fenced_writes_total counter
stock_fenced_writes_total 1
# HELP stock_held_units Units in live holds of the current term's SKUs (0 when standing by).
# TYPE stock_held_units gauge
stock_held_units 6
# HELP stock_holds_expired_total Holds whose units came back by expiry.
# TYPE stock_holds_expired_total counter
stock_holds_expired_total 11
# HELP stock_leading 1 while this node serves a term, else 0.
# TYPE stock_leading gauge
stock_leading 1
# HELP stock_partitions Partitions of the cluster's SKUs.
# TYPE stock_partitions gauge
stock_partitions 4
# HELP stock_partitions_leading Partitions whose terms this node serves now (of stock_partitions).
# TYPE stock_partitions_leading gauge
stock_partitions_leading 2
# HELP stock_refill_keys_total SKU records carried by the store writes that raised caps.
# TYPE stock_refill_keys_total counter
stock_refill_keys_total 9
# HELP stock_refill_seconds_total Time spent in store writes that raised caps.
# TYPE stock_refill_seconds_total counter
stock_refill_seconds_total 1.5
# HELP stock_refill_stalls_total Acquires that had to wait for a raised cap.
# TYPE stock_refill_stalls_total counter
stock_refill_stalls_total 2
# HELP stock_refills_total Store writes that raised caps.
# TYPE stock_refills_total counter
stock_refills_total 7
# HELP stock_request_errors_total Requests answered with an error, by endpoint.
# TYPE stock_request_errors_total counter
stock_request_errors_total{endpoint="acquire"} 0
stock_request_errors_total{endpoint="admin_delete"} 4
stock_request_errors_total{endpoint="admin_set"} 3
stock_request_errors_total{endpoint="query"} 2
stock_request_errors_total{endpoint="release"} 1
# HELP stock_request_processing_seconds_total Time spent answering requests, by endpoint (estimated from a sample of requests).
# TYPE stock_request_processing_seconds_total counter
stock_request_processing_seconds_total{endpoint="acquire"} 1
stock_request_processing_seconds_total{endpoint="admin_delete"} 5
stock_request_processing_seconds_total{endpoint="admin_set"} 4
stock_request_processing_seconds_total{endpoint="query"} 3
stock_request_processing_seconds_total{endpoint="release"} 2
# HELP stock_requests_total Requests answered, by endpoint.
# TYPE stock_requests_total counter
stock_requests_total{endpoint="acquire"} 10
stock_requests_total{endpoint="admin_delete"} 50
stock_requests_total{endpoint="admin_set"} 40
stock_requests_total{endpoint="query"} 30
stock_requests_total{endpoint="release"} 20
# HELP stock_skus SKUs the current terms have read or created (0 when standing by).
# TYPE stock_skus gauge
stock_skus 4
# HELP stock_terms_total Leadership terms served.
# TYPE stock_terms_total counter
stock_terms_total 3
# HELP stock_units_granted_total Units granted by acquires.
# TYPE stock_units_granted_total counter
stock_units_granted_total 120
# HELP stock_unknown_writes_total Store writes whose outcome was unknown (timed out).
# TYPE stock_unknown_writes_total counter
stock_unknown_writes_total 2
# HELP stock_wait_timeouts_total Waits for a raised cap that ended unavailable.
# TYPE stock_wait_timeouts_total counter
stock_wait_timeouts_total 1
# HELP stock_window_units Units in the in-memory windows of the current term: what a crash now would leave unsold.
# TYPE stock_window_units gauge
stock_window_units 40
`
	names := []string{
		"stock_errors_total", "stock_fenced_writes_total", "stock_held_units", "stock_holds_expired_total", "stock_leading", "stock_partitions", "stock_partitions_leading", "stock_refill_keys_total",
		"stock_refill_seconds_total", "stock_refill_stalls_total", "stock_refills_total",
		"stock_request_errors_total", "stock_request_processing_seconds_total", "stock_requests_total",
		"stock_skus", "stock_terms_total", "stock_units_granted_total", "stock_unknown_writes_total",
		"stock_wait_timeouts_total", "stock_window_units",
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Fatal(err)
	}
	// The pedantic registry also checks that Collect sends only what
	// Describe announced, and that no two metrics collide.
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
}

// TestCollectorWithoutServer: before the responder exists a scrape shows
// none of its counters, and does not fail.
func TestCollectorWithoutServer(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	if _, err := metrics.New(reg, func() (responder.Stats, bool) { return responder.Stats{}, false }); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "stock_store_write_duration_seconds", "stock_store_write_records", "stock_leadership_changes_total":
		default:
			t.Errorf("unexpected metric %s before the server exists", mf.GetName())
		}
	}
}
