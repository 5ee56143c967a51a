package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/stockstate/stock/internal/svg"
)

// chart geometry, in pixels.
const (
	chartWidth = 960
	chartLabel = 300 // the scenario titles
	chartRow   = 26
	chartTop   = 40
)

// writeChart draws the table's ratios as bars, one per row: each scenario's
// median throughput against the null responder measured in the same run
// (1.0 is a responder as fast as one that does nothing).
func writeChart(w io.Writer, o options, rows []row) error {
	peak := 1.0
	for _, r := range rows {
		_, _, ratio, _, _, _, _ := r.medians()
		peak = max(peak, ratio)
	}
	barW := float64(chartWidth - chartLabel - 170)
	x := func(v float64) float64 { return chartLabel + barW*v/peak }
	h := chartTop + chartRow*len(rows) + 30
	d := svg.New(chartWidth, h)
	d.Text(10, 20, fmt.Sprintf("throughput / null responder's, same run (medians of %d runs of %v)", o.runs, o.duration), `font-size="14"`)
	for i, r := range rows {
		_, real, ratio, _, _, _, _ := r.medians()
		y := float64(chartTop + chartRow*i)
		d.Text(10, y+15, r.title)
		d.Group(fmt.Sprintf("%s: %.3f of the null responder, %.0f req/s", r.title, ratio, real), `class="bar"`)
		d.Rect(chartLabel, y+2, max(1, x(ratio)-chartLabel), chartRow-6, "#4c78a8")
		d.End()
		d.Text(x(ratio)+6, y+15, fmt.Sprintf("%.3f  (%.0f/s)", ratio, real))
	}
	bottom := float64(chartTop + chartRow*len(rows))
	d.Line(x(1), chartTop-4, x(1), bottom, "#d62728", `stroke-dasharray="4 3"`)
	d.Text(x(1)-30, bottom+18, "null = 1.0", `fill="#d62728"`)
	_, err := d.WriteTo(w)
	return err
}

// saveChart writes the chart to path, making its directory.
func saveChart(path string, o options, rows []row) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := writeChart(f, o, rows); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
