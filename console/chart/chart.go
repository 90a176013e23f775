// Package chart draws the web console's charts on the server, as inline
// SVG that needs no script: grouped or stacked bars and lines per day,
// and horizontal bars for a distribution.
//
// Every chart is a <figure class="chart"> whose caption is its title,
// holding an <svg role="img"> labelled by that caption and a
// <table class="chart-data"> with the same numbers (caption = title,
// rows = labels, columns = series), the chart's text alternative. Each
// data mark is a <rect class="mark" data-series=… data-label=…
// data-value=…>, so that a browser test can count the marks and read
// their values. Text comes from the caller and is escaped everywhere.
//
// The SVG uses presentation attributes only (no style attributes, no
// script), so a Content-Security-Policy without 'unsafe-inline' allows
// it; its size is set by width and height attributes and a viewBox, and
// a page scales it with CSS such as `.chart svg{max-width:100%;height:auto}`.
// Text is drawn in currentColor, so it follows the page's colour.
package chart

import (
	"fmt"
	"hash/fnv"
	"html"
	"html/template"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Series is one named row of values, a value per label.
type Series struct {
	Name   string
	Points []float64
}

// Options shape a chart. The zero value is usable.
type Options struct {
	// ID is the figure's id, and the prefix of the ids inside it. Empty
	// derives one from the title.
	ID string
	// Width and Height are the SVG's size in CSS pixels (defaults 640 by
	// 240; a distribution's height follows its number of buckets).
	Width, Height int
	// Stacked stacks a day's series in one bar instead of side by side.
	Stacked bool
	// NoData is the text of a chart without data (default "No data").
	NoData string
	// LabelHeader heads the table's column of labels (default empty).
	LabelHeader string
	// ValueHeader names a distribution's one series, in its table and its
	// marks' data-series (default "Count").
	ValueHeader string
}

// Palette is the series' colours in order (Okabe and Ito's palette, told
// apart by people with colour-blindness); the nth series gets
// Palette[n % len(Palette)].
var Palette = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000", "#F0E442"}

// Color is the colour of the nth series.
func Color(n int) string { return Palette[n%len(Palette)] }

const (
	fontSize   = 12
	legendRow  = 18
	markInset  = 0.1 // of a band, on each side, in bar charts
	tickWanted = 4
)

func (o Options) withDefaults(title string, w, h int) Options {
	if o.Width <= 0 {
		o.Width = w
	}
	if o.Height <= 0 {
		o.Height = h
	}
	if o.NoData == "" {
		o.NoData = "No data"
	}
	if o.ValueHeader == "" {
		o.ValueHeader = "Count"
	}
	if o.ID == "" {
		h := fnv.New32a()
		h.Write([]byte(title))
		o.ID = fmt.Sprintf("chart-%08x", h.Sum32())
	}
	return o
}

// Bars draws a bar chart with a bar per label (day) and series, grouped
// side by side or, with opts.Stacked, stacked.
func Bars(title string, labels []string, series []Series, opts Options) template.HTML {
	return xy("bars", title, labels, series, opts)
}

// Line draws a line per series over the labels (days), with a square
// mark at each point. opts.Stacked is ignored.
func Line(title string, labels []string, series []Series, opts Options) template.HTML {
	opts.Stacked = false
	return xy("line", title, labels, series, opts)
}

// value is the value of series s at label i, and whether it has one.
func value(s Series, i int) (float64, bool) {
	if i >= len(s.Points) {
		return 0, false
	}
	return s.Points[i], true
}

// drawable is v as drawn: a bar has no negative or non-finite length.
func drawable(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return 0
	}
	return v
}

func xy(kind, title string, labels []string, series []Series, opts Options) template.HTML {
	o := opts.withDefaults(title, 640, 240)
	var b strings.Builder
	openFigure(&b, kind, title, o)

	// The scale: the largest bar, or stack.
	top, allInts, hasData := 0.0, true, false
	for i := range labels {
		sum := 0.0
		for _, s := range series {
			v, ok := value(s, i)
			if !ok {
				continue
			}
			hasData = true
			if v != math.Trunc(v) {
				allInts = false
			}
			if o.Stacked {
				sum += drawable(v)
			} else {
				top = math.Max(top, drawable(v))
			}
		}
		top = math.Max(top, sum)
	}
	step, end := Ticks(top, tickWanted, allInts)

	// The legend on top, then the plot.
	rows := legendLayout(series, float64(o.Width)-16)
	mt := 8.0 + float64(rows.n)*legendRow + 6
	ml := 8 + textWidth(tickLabel(end, step)) + 6
	mr, mb := 12.0, 26.0
	pw, ph := float64(o.Width)-ml-mr, float64(o.Height)-mt-mb
	if pw < 10 || ph < 10 {
		pw, ph = math.Max(pw, 10), math.Max(ph, 10)
	}
	openSVG(&b, o)
	rows.draw(&b, series, 8, 8)
	y := func(v float64) float64 { return mt + ph - v/end*ph }
	axisY(&b, ml, pw, step, end, y, top > 0)

	n := len(labels)
	if n > 0 && hasData {
		band := pw / float64(n)
		// Labels under the axis: as many as fit, evenly.
		widest := 0.0
		for _, l := range labels {
			widest = math.Max(widest, textWidth(l))
		}
		every := int(math.Ceil((widest + 8) / band))
		every = max1(every)
		for i := 0; i < n; i += every {
			fmt.Fprintf(&b, `<text class="tick" x="%s" y="%s" text-anchor="middle" font-size="%d" fill="currentColor">%s</text>`,
				num(ml+band*(float64(i)+0.5)), num(mt+ph+16), fontSize, esc(labels[i]))
		}
		switch kind {
		case "bars":
			bars(&b, labels, series, o, ml, band, y)
		case "line":
			lines(&b, labels, series, ml, band, y)
		}
	}
	if !hasData || top == 0 {
		noData(&b, ml+pw/2, mt+ph/2, o.NoData)
	}
	b.WriteString(`</svg>`)
	table(&b, title, o.LabelHeader, labels, series, o.NoData)
	b.WriteString(`</figure>`)
	return template.HTML(b.String())
}

func bars(b *strings.Builder, labels []string, series []Series, o Options, ml, band float64, y func(float64) float64) {
	inner := band * (1 - 2*markInset)
	w := inner
	if !o.Stacked && len(series) > 0 {
		w = inner / float64(len(series))
	}
	for i, l := range labels {
		x0 := ml + band*float64(i) + band*markInset
		base := 0.0
		for si, s := range series {
			v, ok := value(s, i)
			if !ok {
				continue
			}
			d := drawable(v)
			x, y0, y1 := x0+w*float64(si), y(base), y(base+d)
			if o.Stacked {
				x = x0
				base += d
			}
			mark(b, s.Name, l, v, x, y1, w, y0-y1, Color(si))
		}
	}
}

func lines(b *strings.Builder, labels []string, series []Series, ml, band float64, y func(float64) float64) {
	const side = 6.0
	for si, s := range series {
		var pts []string
		for i := range labels {
			if v, ok := value(s, i); ok {
				pts = append(pts, num(ml+band*(float64(i)+0.5))+","+num(y(drawable(v))))
			}
		}
		if len(pts) > 1 {
			fmt.Fprintf(b, `<polyline class="line" data-series="%s" fill="none" stroke="%s" stroke-width="2" points="%s"/>`,
				esc(s.Name), Color(si), strings.Join(pts, " "))
		}
		for i, l := range labels {
			if v, ok := value(s, i); ok {
				mark(b, s.Name, l, v, ml+band*(float64(i)+0.5)-side/2, y(drawable(v))-side/2, side, side, Color(si))
			}
		}
	}
}

// Distribution draws how counts fall into buckets (such as first answers
// under 1 h, 1–4 h, …) as horizontal bars, each with its count and share.
// opts is optional; its first element is used.
func Distribution(title string, buckets []string, counts []int, opts ...Options) template.HTML {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	const rowH, mt, mb = 26.0, 8.0, 26.0
	o = o.withDefaults(title, 480, int(mt+mb+rowH*float64(max1(len(buckets)))))
	var b strings.Builder
	openFigure(&b, "distribution", title, o)
	openSVG(&b, o)

	total, top := 0, 0
	for i := range buckets {
		if i < len(counts) && counts[i] > 0 {
			total += counts[i]
			top = max(top, counts[i])
		}
	}
	step, end := Ticks(float64(top), tickWanted, true)
	ml := 8.0
	for _, l := range buckets {
		ml = math.Max(ml, 8+textWidth(l)+8)
	}
	share := textWidth("000000 (100%)") + 8
	pw := float64(o.Width) - ml - share
	if pw < 10 {
		pw = 10
	}
	rh := (float64(o.Height) - mt - mb) / float64(max1(len(buckets)))
	x := func(v float64) float64 { return ml + v/end*pw }
	bottom := float64(o.Height) - mb
	// Value ticks along the bottom.
	if top > 0 {
		for v := 0.0; v <= end+step/2; v += step {
			fmt.Fprintf(&b, `<line class="grid" x1="%s" x2="%s" y1="%s" y2="%s" stroke="currentColor" stroke-opacity="0.15"/>`, num(x(v)), num(x(v)), num(mt), num(bottom))
			fmt.Fprintf(&b, `<text class="tick" x="%s" y="%s" text-anchor="middle" font-size="%d" fill="currentColor">%s</text>`, num(x(v)), num(bottom+16), fontSize, esc(tickLabel(v, step)))
		}
	}
	for i, l := range buckets {
		cy := mt + rh*(float64(i)+0.5)
		fmt.Fprintf(&b, `<text class="tick" x="%s" y="%s" text-anchor="end" dominant-baseline="middle" font-size="%d" fill="currentColor">%s</text>`, num(ml-8), num(cy), fontSize, esc(l))
		if i >= len(counts) {
			continue
		}
		c := counts[i]
		v := drawable(float64(c))
		h := math.Min(rh*0.7, 18)
		mark(&b, o.ValueHeader, l, float64(c), ml, cy-h/2, x(v)-ml, h, Color(0))
		pct := 0
		if total > 0 && c > 0 {
			pct = int(math.Round(float64(c) * 100 / float64(total)))
		}
		fmt.Fprintf(&b, `<text class="value" x="%s" y="%s" dominant-baseline="middle" font-size="%d" fill="currentColor">%s (%d%%)</text>`, num(x(v)+4), num(cy), fontSize, esc(group(float64(c))), pct)
	}
	fmt.Fprintf(&b, `<line class="axis" x1="%s" x2="%s" y1="%s" y2="%s" stroke="currentColor"/>`, num(ml), num(ml), num(mt), num(bottom))
	if total == 0 {
		noData(&b, ml+pw/2, mt+(bottom-mt)/2, o.NoData)
	}
	b.WriteString(`</svg>`)
	s := Series{Name: o.ValueHeader}
	for i := range buckets {
		if i < len(counts) {
			s.Points = append(s.Points, float64(counts[i]))
		}
	}
	table(&b, title, o.LabelHeader, buckets, []Series{s}, o.NoData)
	b.WriteString(`</figure>`)
	return template.HTML(b.String())
}

func openFigure(b *strings.Builder, kind, title string, o Options) {
	fmt.Fprintf(b, `<figure class="chart chart-%s" id="%s"><figcaption id="%s-title">%s</figcaption>`, kind, esc(o.ID), esc(o.ID), esc(title))
}

func openSVG(b *strings.Builder, o Options) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="%s-title" width="%d" height="%d" viewBox="0 0 %d %d" font-family="system-ui, sans-serif">`,
		esc(o.ID), o.Width, o.Height, o.Width, o.Height)
}

// mark draws one data mark, with a tooltip.
func mark(b *strings.Builder, series, label string, v, x, y, w, h float64, color string) {
	fmt.Fprintf(b, `<rect class="mark" data-series="%s" data-label="%s" data-value="%s" x="%s" y="%s" width="%s" height="%s" fill="%s"><title>%s</title></rect>`,
		esc(series), esc(label), esc(raw(v)), num(x), num(y), num(math.Max(w, 0)), num(math.Max(h, 0)), color,
		esc(label+" · "+series+": "+group(v)))
}

func axisY(b *strings.Builder, ml, pw, step, end float64, y func(float64) float64, ticks bool) {
	for v := 0.0; ticks && v <= end+step/2; v += step {
		fmt.Fprintf(b, `<line class="grid" x1="%s" x2="%s" y1="%s" y2="%s" stroke="currentColor" stroke-opacity="0.15"/>`, num(ml), num(ml+pw), num(y(v)), num(y(v)))
		fmt.Fprintf(b, `<text class="tick" x="%s" y="%s" text-anchor="end" dominant-baseline="middle" font-size="%d" fill="currentColor">%s</text>`, num(ml-6), num(y(v)), fontSize, esc(tickLabel(v, step)))
	}
	fmt.Fprintf(b, `<line class="axis" x1="%s" x2="%s" y1="%s" y2="%s" stroke="currentColor"/>`, num(ml), num(ml+pw), num(y(0)), num(y(0)))
}

func noData(b *strings.Builder, x, y float64, text string) {
	fmt.Fprintf(b, `<text class="no-data" x="%s" y="%s" text-anchor="middle" dominant-baseline="middle" font-size="%d" fill="currentColor">%s</text>`, num(x), num(y), fontSize+2, esc(text))
}

// legend is where the legend's entries go: n rows, and each entry's row
// and x.
type legend struct {
	n    int
	x    []float64
	rows []int
}

func legendLayout(series []Series, width float64) legend {
	var l legend
	if len(series) == 0 {
		return l
	}
	l.n = 1
	x := 0.0
	for _, s := range series {
		w := 14 + textWidth(s.Name) + 16
		if x > 0 && x+w > width {
			l.n++
			x = 0
		}
		l.x = append(l.x, x)
		l.rows = append(l.rows, l.n-1)
		x += w
	}
	return l
}

func (l legend) draw(b *strings.Builder, series []Series, x0, y0 float64) {
	if l.n == 0 {
		return
	}
	b.WriteString(`<g class="legend" aria-hidden="true">`)
	for i, s := range series {
		x, y := x0+l.x[i], y0+float64(l.rows[i])*legendRow
		fmt.Fprintf(b, `<rect x="%s" y="%s" width="10" height="10" fill="%s"/><text x="%s" y="%s" dominant-baseline="middle" font-size="%d" fill="currentColor">%s</text>`,
			num(x), num(y+1), Color(i), num(x+14), num(y+6), fontSize, esc(s.Name))
	}
	b.WriteString(`</g>`)
}

// table writes the chart's numbers: a row per label, a column per series.
func table(b *strings.Builder, title, labelHeader string, labels []string, series []Series, noData string) {
	fmt.Fprintf(b, `<table class="chart-data"><caption>%s</caption><thead><tr><th scope="col">%s</th>`, esc(title), esc(labelHeader))
	for _, s := range series {
		fmt.Fprintf(b, `<th scope="col">%s</th>`, esc(s.Name))
	}
	b.WriteString(`</tr></thead><tbody>`)
	for i, l := range labels {
		fmt.Fprintf(b, `<tr><th scope="row">%s</th>`, esc(l))
		for _, s := range series {
			if v, ok := value(s, i); ok {
				fmt.Fprintf(b, `<td data-value="%s">%s</td>`, esc(raw(v)), esc(group(v)))
			} else {
				b.WriteString(`<td></td>`)
			}
		}
		b.WriteString(`</tr>`)
	}
	if len(labels) == 0 {
		fmt.Fprintf(b, `<tr><td colspan="%d">%s</td></tr>`, len(series)+1, esc(noData))
	}
	b.WriteString(`</tbody></table>`)
}

// Ticks chooses the step between a value axis's ticks, 1, 2 or 5 × 10^n,
// for about want ticks from 0 to top, and the axis's end, the first
// multiple of step at or above top. With ints (integer data) the step is
// at least 1. A top of 0 or less (or not finite) gives an axis to 1.
func Ticks(top float64, want int, ints bool) (step, end float64) {
	if !(top > 0) || math.IsInf(top, 0) {
		return 1, 1
	}
	if want < 1 {
		want = 1
	}
	raw := top / float64(want)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step = 10 * mag
	for _, m := range []float64{1, 2, 5} {
		if m*mag >= raw*(1-1e-9) {
			step = m * mag
			break
		}
	}
	if ints && step < 1 {
		step = 1
	}
	end = math.Ceil(top/step-1e-9) * step
	return step, end
}

// tickLabel writes an axis value short: 20k, 1.5M.
func tickLabel(v, step float64) string {
	switch {
	case v == 0:
		return "0"
	case step >= 1e9:
		return raw(v/1e9) + "G"
	case step >= 1e6:
		return raw(v/1e6) + "M"
	case step >= 1e3:
		return raw(v/1e3) + "k"
	}
	// Round away the float error of adding steps (0.30000000000000004).
	d := max(0, -int(math.Floor(math.Log10(step))))
	return strconv.FormatFloat(v, 'f', d, 64)
}

// raw is v in full, for data-value attributes.
func raw(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// group writes v for people: 12,345 or 0.25.
func group(v float64) string {
	s := raw(v)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return s
	}
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	var g strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			g.WriteByte(',')
		}
		g.WriteRune(c)
	}
	if hasFrac {
		return sign + g.String() + "." + frac
	}
	return sign + g.String()
}

// num writes an SVG coordinate.
func num(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "0"
	}
	return strconv.FormatFloat(math.Round(f*10)/10, 'f', -1, 64)
}

// textWidth estimates the width of s at fontSize: wide (CJK) characters
// take a full em, others a little over half.
func textWidth(s string) float64 {
	w := 0.0
	for _, r := range s {
		if r >= 0x1100 && utf8.RuneLen(r) >= 3 {
			w += fontSize
		} else {
			w += fontSize * 0.62
		}
	}
	return w
}

func esc(s string) string { return html.EscapeString(s) }

func max1(n int) int {
	if n < 1 {
		return 1
	}
	return n
}
