package metrics_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/stockstate/stock/metrics"
	"github.com/stockstate/stock/responder"
)

// TestObserver checks that store writes land in the histogram of their
// outcome, that an outcome the responder does not document is counted as
// "other" instead of adding a label value, and that leadership changes count.
func TestObserver(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m, err := metrics.New(reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 { // concurrently, as the writer and term goroutines call it
		wg.Go(func() {
			m.StoreWrite(3*time.Millisecond, 2, "committed")
			m.StoreWrite(2*time.Second, 1, "unknown")
		})
	}
	wg.Wait()
	m.StoreWrite(time.Millisecond, 1, "fenced")
	m.StoreWrite(time.Millisecond, 1, "surprise")
	m.Leading(true)
	m.Leading(false)
	m.Leading(true)

	want := `
# HELP stock_leadership_changes_total Changes of leadership of this node, by the state entered: leading or standby.
# TYPE stock_leadership_changes_total counter
stock_leadership_changes_total{state="leading"} 2
stock_leadership_changes_total{state="standby"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "stock_leadership_changes_total"); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	var records uint64
	var recordSum float64
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			switch mf.GetName() {
			case "stock_store_write_duration_seconds":
				counts[mt.GetLabel()[0].GetValue()] = mt.GetHistogram().GetSampleCount()
			case "stock_store_write_records":
				records, recordSum = mt.GetHistogram().GetSampleCount(), mt.GetHistogram().GetSampleSum()
			}
		}
	}
	wantCounts := map[string]uint64{"committed": 4, "unknown": 4, "fenced": 1, "other": 1}
	for k, v := range wantCounts {
		if counts[k] != v {
			t.Errorf("writes %s: %d, want %d (all: %v)", k, counts[k], v, counts)
		}
	}
	if len(counts) != len(wantCounts) {
		t.Errorf("outcome labels %v, want exactly %v", counts, wantCounts)
	}
	if records != 10 || recordSum != 14 {
		t.Errorf("records histogram: count %d sum %g, want 10 and 14", records, recordSum)
	}
}

// TestNewFailsCleanly: when a name is taken, New fails and leaves nothing of
// its own registered, so the caller may register again once it is free.
func TestNewFailsCleanly(t *testing.T) {
	reg := prometheus.NewRegistry()
	stats := func() (responder.Stats, bool) { return responder.Stats{}, false }
	// The counters' collector is registered last: the histograms before it
	// must be unregistered when it fails.
	taken := prometheus.NewGauge(prometheus.GaugeOpts{Name: "stock_leading", Help: "1 while this node serves a term, else 0."})
	reg.MustRegister(taken)
	if _, err := metrics.New(reg, stats); err == nil {
		t.Fatal("New succeeded with a name taken")
	}
	reg.Unregister(taken)
	if _, err := metrics.New(reg, stats); err != nil {
		t.Fatalf("New after a failed New: %v", err)
	}
	if _, err := metrics.New(reg, stats); err == nil {
		t.Fatal("registering twice succeeded")
	}
}
