package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/stockstate/stock/internal/svg"
)

// chart geometry, in pixels: each row is its title over its bar.
const (
	chartWidth = 960
	chartLeft  = 10
	chartRow   = 38
	chartTop   = 36
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
	barW := float64(chartWidth - chartLeft - 200)
	x := func(v float64) float64 { return chartLeft + barW*v/peak }
	h := chartTop + chartRow*len(rows) + 24
	d := svg.New(chartWidth, h)
	d.Text(chartLeft, 20, fmt.Sprintf("throughput / the null responder's in the same run (medians of %d runs of %v)", o.runs, o.duration), `font-size="14"`)
	for i, r := range rows {
		_, real, ratio, _, _, _, _ := r.medians()
		y := float64(chartTop + chartRow*i)
		d.Text(chartLeft, y+11, r.title, `fill="#333"`)
		d.Group(fmt.Sprintf("%s: %.3f of the null responder, %s/s", r.title, ratio, thousands(real)), `class="bar"`)
		d.Rect(chartLeft, y+16, max(1, x(ratio)-chartLeft), 16, "#4c78a8")
		d.End()
		d.Text(x(ratio)+6, y+29, fmt.Sprintf("%.3f · %s/s", ratio, thousands(real)))
	}
	bottom := float64(chartTop + chartRow*len(rows))
	d.Line(x(1), chartTop+12, x(1), bottom, "#d62728", `stroke-dasharray="4 3"`)
	d.Text(x(1)-34, bottom+16, "null = 1.0", `fill="#d62728"`)
	_, err := d.WriteTo(w)
	return err
}

// thousands writes v rounded, with commas between groups of three digits.
func thousands(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
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
