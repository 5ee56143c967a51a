// Package svg writes the project's charts as SVG: a few shapes and text on
// a fixed canvas, enough for bars and timelines, with every text escaped.
package svg

import (
	"fmt"
	"html"
	"io"
	"strconv"
	"strings"
)

// Doc is an SVG document being drawn. Shapes are drawn in the order they
// are added; attrs are extra attributes, such as `class="fault"`, written
// as given.
type Doc struct {
	b strings.Builder
}

// New starts a document of w×h pixels on a white background.
func New(w, h int) *Doc {
	d := &Doc{}
	fmt.Fprintf(&d.b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	d.Rect(0, 0, float64(w), float64(h), "#fff")
	return d
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

func join(attrs []string) string {
	if len(attrs) == 0 {
		return ""
	}
	return " " + strings.Join(attrs, " ")
}

// Rect draws a filled rectangle.
func (d *Doc) Rect(x, y, w, h float64, fill string, attrs ...string) {
	fmt.Fprintf(&d.b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"%s/>`+"\n", num(x), num(y), num(w), num(h), fill, join(attrs))
}

// Line draws a line.
func (d *Doc) Line(x1, y1, x2, y2 float64, stroke string, attrs ...string) {
	fmt.Fprintf(&d.b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"%s/>`+"\n", num(x1), num(y1), num(x2), num(y2), stroke, join(attrs))
}

// Polyline draws a line through points, given as x0, y0, x1, y1, ...
func (d *Doc) Polyline(xy []float64, stroke string, attrs ...string) {
	var p strings.Builder
	for i := 0; i+1 < len(xy); i += 2 {
		if i > 0 {
			p.WriteByte(' ')
		}
		p.WriteString(num(xy[i]) + "," + num(xy[i+1]))
	}
	fmt.Fprintf(&d.b, `<polyline points="%s" fill="none" stroke="%s"%s/>`+"\n", p.String(), stroke, join(attrs))
}

// Text writes s at x, y (the baseline).
func (d *Doc) Text(x, y float64, s string, attrs ...string) {
	fmt.Fprintf(&d.b, `<text x="%s" y="%s"%s>%s</text>`+"\n", num(x), num(y), join(attrs), html.EscapeString(s))
}

// Group opens a group of the shapes drawn until End, with a title that
// viewers show on hover ("" for none).
func (d *Doc) Group(title string, attrs ...string) {
	fmt.Fprintf(&d.b, "<g%s>", join(attrs))
	if title != "" {
		fmt.Fprintf(&d.b, "<title>%s</title>", html.EscapeString(title))
	}
	d.b.WriteByte('\n')
}

// End closes the last open Group.
func (d *Doc) End() { d.b.WriteString("</g>\n") }

// WriteTo ends the document and writes it to w. Nothing may be drawn after.
func (d *Doc) WriteTo(w io.Writer) (int64, error) {
	d.b.WriteString("</svg>\n")
	n, err := io.WriteString(w, d.b.String())
	return int64(n), err
}
