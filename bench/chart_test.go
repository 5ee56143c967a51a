package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stockstate/stock/loadgen"
)

// summary is one run of a row with the given throughputs.
func summary(null, real float64) *loadgen.Summary {
	return &loadgen.Summary{
		Null:  &loadgen.PhaseSummary{Throughput: null},
		Real:  &loadgen.PhaseSummary{Throughput: real},
		Ratio: &loadgen.Ratio{Throughput: real / null},
	}
}

// TestChart: one bar per row, each as long as its median ratio, labelled
// with it, in a well-formed SVG.
func TestChart(t *testing.T) {
	rows := []row{
		{title: "single SKU", runs: []*loadgen.Summary{summary(100, 80), summary(100, 90), summary(100, 85)}},
		{title: "holds <one SKU>", runs: []*loadgen.Summary{summary(100, 10)}},
	}
	var b bytes.Buffer
	if err := writeChart(&b, options{runs: 3, duration: time.Second}, rows); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(b.Bytes()))
	var widths []float64
	inBar := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, b.Bytes())
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		for _, a := range se.Attr {
			switch {
			case se.Name.Local == "g" && a.Name.Local == "class":
				inBar = a.Value == "bar"
			case se.Name.Local == "rect" && inBar && a.Name.Local == "width":
				w, _ := strconv.ParseFloat(a.Value, 64)
				widths = append(widths, w)
				inBar = false
			}
		}
	}
	if len(widths) != 2 {
		t.Fatalf("%d bars, want 2", len(widths))
	}
	if got := widths[0] / widths[1]; got < 8.4 || got > 8.6 { // medians 0.85 and 0.10
		t.Errorf("bars %v: ratio %.2f, want 8.5", widths, got)
	}
	if got := thousands(1234567.4); got != "1,234,567" {
		t.Errorf("thousands(1234567.4) = %q", got)
	}
	for _, label := range []string{"0.850", "0.100", "holds &lt;one SKU&gt;"} {
		if !strings.Contains(b.String(), label) {
			t.Errorf("no label %q", label)
		}
	}
}
