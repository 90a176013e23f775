package chart

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// parsed is a rendered chart, read back as a browser would.
type parsed struct {
	root   *html.Node
	marks  []map[string]string // attributes of each <rect class="mark">
	table  [][]string          // the table's rows: header cells then data cells (data-value where given)
	header []string
	text   string // all the SVG's text
}

func attrs(n *html.Node) map[string]string {
	m := map[string]string{}
	for _, a := range n.Attr {
		m[a.Key] = a.Val
	}
	return m
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

func parse(t *testing.T, h template.HTML) parsed {
	t.Helper()
	nodes, err := html.ParseFragment(strings.NewReader(string(h)), &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 || nodes[0].Data != "figure" {
		t.Fatalf("not one figure: %d nodes", len(nodes))
	}
	p := parsed{root: nodes[0]}
	var walk func(*html.Node, bool)
	walk = func(n *html.Node, inSVG bool) {
		if n.Type == html.ElementNode {
			a := attrs(n)
			switch {
			case n.Data == "svg":
				inSVG = true
				if a["role"] != "img" || a["aria-labelledby"] == "" {
					t.Errorf("svg attributes %v", a)
				}
			case n.Data == "script" || strings.HasPrefix(n.Data, "on"):
				t.Errorf("element %s", n.Data)
			case n.Data == "rect" && a["class"] == "mark":
				p.marks = append(p.marks, a)
			case n.Data == "tr":
				var row []string
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					if c.Type != html.ElementNode {
						continue
					}
					if v, ok := attrs(c)["data-value"]; ok {
						row = append(row, v)
					} else {
						row = append(row, textOf(c))
					}
				}
				if n.Parent.Data == "thead" {
					p.header = row
				} else {
					p.table = append(p.table, row)
				}
			}
			for k := range a {
				if strings.HasPrefix(k, "on") || k == "style" {
					t.Errorf("attribute %s on %s", k, n.Data)
				}
			}
			if inSVG && n.Data == "text" {
				p.text += textOf(n) + "\n"
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inSVG)
		}
	}
	walk(p.root, false)
	if strings.Contains(string(h), "NaN") || strings.Contains(string(h), "Inf") {
		t.Errorf("non-finite number in %s", h)
	}
	// The svg is labelled by the figure's caption.
	id := attrs(p.root)["id"]
	if id == "" || !strings.Contains(string(h), `<figcaption id="`+html.EscapeString(id)+`-title">`) || !strings.Contains(string(h), `aria-labelledby="`+html.EscapeString(id)+`-title"`) {
		t.Errorf("caption and label do not match: %.300s", h)
	}
	return p
}

var days = []string{"2026-11-27", "2026-11-28", "2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02", "2026-12-03"}

func checkMarks(t *testing.T, p parsed, labels []string, series []Series) {
	t.Helper()
	want := 0
	for _, s := range series {
		want += min(len(s.Points), len(labels))
	}
	if len(p.marks) != want {
		t.Fatalf("%d marks, want %d", len(p.marks), want)
	}
	got := map[string]string{}
	for _, m := range p.marks {
		got[m["data-series"]+"|"+m["data-label"]] = m["data-value"]
	}
	for _, s := range series {
		for i, v := range s.Points {
			if i >= len(labels) {
				continue
			}
			if g := got[s.Name+"|"+labels[i]]; g != strconv.FormatFloat(v, 'f', -1, 64) {
				t.Errorf("%s %s: data-value %q, want %v", s.Name, labels[i], g, v)
			}
		}
	}
	// The table says the same.
	if len(p.header) != len(series)+1 {
		t.Fatalf("header %q", p.header)
	}
	for j, s := range series {
		if p.header[j+1] != s.Name {
			t.Errorf("column %d is %q, want %q", j, p.header[j+1], s.Name)
		}
	}
	if len(labels) > 0 && len(p.table) != len(labels) {
		t.Fatalf("%d rows, want %d", len(p.table), len(labels))
	}
	for i, l := range labels {
		row := p.table[i]
		if row[0] != l {
			t.Errorf("row %d: %q, want %q", i, row[0], l)
		}
		for j, s := range series {
			want := ""
			if i < len(s.Points) {
				want = strconv.FormatFloat(s.Points[i], 'f', -1, 64)
			}
			if row[j+1] != want {
				t.Errorf("row %s column %s: %q, want %q", l, s.Name, row[j+1], want)
			}
		}
	}
}

func TestBarsGrouped(t *testing.T) {
	series := []Series{
		{Name: "Received", Points: []float64{3, 0, 12, 7, 1, 0, 25}},
		{Name: "Sent", Points: []float64{2, 1, 9, 7, 0, 0, 20}},
	}
	h := Bars("Messages per day", days, series, Options{ID: "messages"})
	p := parse(t, h)
	checkMarks(t, p, days, series)
	if attrs(p.root)["id"] != "messages" {
		t.Error("id")
	}
	// Side by side: the two series' bars of a day do not overlap, and
	// the taller value draws the taller bar.
	byKey := map[string]map[string]string{}
	for _, m := range p.marks {
		byKey[m["data-series"]+m["data-label"]] = m
	}
	r, s := byKey["Received2026-11-29"], byKey["Sent2026-11-29"]
	rx, _ := strconv.ParseFloat(r["x"], 64)
	rw, _ := strconv.ParseFloat(r["width"], 64)
	sx, _ := strconv.ParseFloat(s["x"], 64)
	rh, _ := strconv.ParseFloat(r["height"], 64)
	sh, _ := strconv.ParseFloat(s["height"], 64)
	if sx < rx+rw-0.2 || rh <= sh {
		t.Errorf("received %v, sent %v", r, s)
	}
	for _, name := range []string{"Received", "Sent"} {
		if !strings.Contains(p.text, name) {
			t.Errorf("legend lacks %s", name)
		}
	}
	if strings.Contains(p.text, "No data") {
		t.Error("no data shown for data")
	}
	if p.marks[0]["fill"] != Palette[0] || byKey["Sent2026-11-27"]["fill"] != Palette[1] {
		t.Error("colours")
	}
}

func TestBarsStacked(t *testing.T) {
	series := []Series{
		{Name: "expo2026", Points: []float64{1, 2, 3}},
		{Name: "web", Points: []float64{4, 0, 1}},
		{Name: "inbound", Points: []float64{0, 5}}, // short: no mark for the third day
	}
	p := parse(t, Bars("New contacts by source", days[:3], series, Options{Stacked: true}))
	checkMarks(t, p, days[:3], series)
	// A day's marks share x and touch: each starts where the one below
	// ends.
	for _, day := range days[:3] {
		var xs []string
		bottom := math.NaN()
		for _, m := range p.marks {
			if m["data-label"] != day {
				continue
			}
			xs = append(xs, m["x"])
			y, _ := strconv.ParseFloat(m["y"], 64)
			h, _ := strconv.ParseFloat(m["height"], 64)
			if !math.IsNaN(bottom) && math.Abs(y+h-bottom) > 0.2 {
				t.Errorf("%s %s: ends at %v, the one below at %v", day, m["data-series"], y+h, bottom)
			}
			bottom = y
		}
		for _, x := range xs {
			if x != xs[0] {
				t.Errorf("%s: x %v", day, xs)
			}
		}
	}
	// The table has an empty cell where a series has no value.
	if p.table[2][3] != "" {
		t.Errorf("row %q", p.table[2])
	}
}

func TestLine(t *testing.T) {
	series := []Series{{Name: "Reply rate", Points: []float64{0.5, 0.75, 1, 0.25}}}
	h := Line("Reply rate", days[:4], series, Options{})
	p := parse(t, h)
	checkMarks(t, p, days[:4], series)
	if !strings.Contains(string(h), `<polyline class="line"`) {
		t.Error("no line")
	}
	if !strings.Contains(p.text, "\n0\n") || !strings.Contains(p.text, "0.5") || !strings.Contains(p.text, "1.0") {
		t.Errorf("ticks %q", p.text)
	}
}

func TestEscaping(t *testing.T) {
	hostile := `<script>alert("x")</script>`
	label := `"><img src=x onerror=alert(1)>`
	id := `x" onmouseover="alert(1)`
	h := Bars(hostile, []string{label, "d&2"}, []Series{{Name: hostile, Points: []float64{1, 2}}}, Options{ID: id, NoData: hostile, LabelHeader: hostile})
	if strings.Contains(string(h), "<script") || strings.Contains(string(h), "<img") {
		t.Fatalf("unescaped: %s", h)
	}
	p := parse(t, h)
	checkMarks(t, p, []string{label, "d&2"}, []Series{{Name: hostile, Points: []float64{1, 2}}})
	if attrs(p.root)["id"] != id {
		t.Errorf("id %q", attrs(p.root)["id"])
	}
	if !strings.Contains(textOf(p.root), hostile) {
		t.Error("the title does not read back as written")
	}
	d := Distribution(hostile, []string{label}, []int{1}, Options{ValueHeader: hostile})
	if strings.Contains(string(d), "<script") || strings.Contains(string(d), "<img") {
		t.Fatalf("unescaped: %s", d)
	}
	parse(t, d)
}

func TestNoData(t *testing.T) {
	for name, h := range map[string]template.HTML{
		"no labels":      Bars("Empty", nil, nil, Options{}),
		"no series":      Bars("Empty", days, nil, Options{}),
		"empty series":   Bars("Empty", days, []Series{{Name: "a"}}, Options{}),
		"zeros":          Bars("Zeros", days[:2], []Series{{Name: "a", Points: []float64{0, 0}}}, Options{Stacked: true}),
		"line zeros":     Line("Zeros", days[:2], []Series{{Name: "a", Points: []float64{0, 0}}}, Options{}),
		"no buckets":     Distribution("Empty", nil, nil),
		"zero buckets":   Distribution("Empty", []string{"<1h", ">24h"}, []int{0, 0}),
		"missing counts": Distribution("Empty", []string{"<1h", ">24h"}, nil),
	} {
		t.Run(name, func(t *testing.T) {
			p := parse(t, h)
			if !strings.Contains(p.text, "No data") {
				t.Errorf("no 'No data': %s", h)
			}
			for _, m := range p.marks {
				if m["data-value"] != "0" || m["height"] != "0" && m["width"] != "0" && !strings.HasPrefix(name, "line") {
					t.Errorf("mark %v", m)
				}
			}
		})
	}
	p := parse(t, Bars("Leer", nil, nil, Options{NoData: "データがありません"}))
	if !strings.Contains(p.text, "データがありません") {
		t.Error("NoData text")
	}
}

func TestOnePoint(t *testing.T) {
	series := []Series{{Name: "in", Points: []float64{42}}}
	p := parse(t, Bars("One", days[:1], series, Options{}))
	checkMarks(t, p, days[:1], series)
	h, _ := strconv.ParseFloat(p.marks[0]["height"], 64)
	if h <= 0 {
		t.Errorf("height %v", h)
	}
	p = parse(t, Line("One", days[:1], series, Options{}))
	checkMarks(t, p, days[:1], series)
}

func TestLargeValuesAndManyDays(t *testing.T) {
	var labels []string
	var pts []float64
	for i := range 90 {
		labels = append(labels, fmt.Sprintf("2026-%02d-%02d", 9+i/30, 1+i%30))
		pts = append(pts, float64(1_000_000+i*13_337))
	}
	series := []Series{{Name: "in", Points: pts}}
	h := Bars("Big", labels, series, Options{})
	p := parse(t, h)
	checkMarks(t, p, labels, series)
	// A few ticks with short labels; few day labels, not 90 on top of
	// each other.
	if !strings.Contains(p.text, "\n0\n") || !strings.Contains(p.text, "1M") || !strings.Contains(p.text, "3M") {
		t.Errorf("ticks: %q", p.text)
	}
	if n := strings.Count(p.text, "2026-"); n < 3 || n > 12 {
		t.Errorf("%d day labels", n)
	}
	// The table has the full numbers.
	if !strings.Contains(textOf(p.root), "1,000,000") {
		t.Error("grouped digits")
	}
}

func TestTicks(t *testing.T) {
	for _, tt := range []struct {
		top       float64
		ints      bool
		step, end float64
	}{
		{0, true, 1, 1},
		{-3, true, 1, 1},
		{math.NaN(), true, 1, 1},
		{math.Inf(1), true, 1, 1},
		{1, true, 1, 1},
		{3, true, 1, 3},
		{7, true, 2, 8},
		{10, true, 5, 10},
		{42, true, 20, 60},
		{100, true, 50, 100},
		{1234567, true, 500000, 1500000},
		{0.73, false, 0.2, 0.8},
		{0.73, true, 1, 1},
		{1e12, true, 5e11, 1e12},
	} {
		step, end := Ticks(tt.top, 4, tt.ints)
		if math.Abs(step-tt.step) > 1e-9*tt.step || math.Abs(end-tt.end) > 1e-9*tt.end {
			t.Errorf("Ticks(%v) = %v, %v; want %v, %v", tt.top, step, end, tt.step, tt.end)
		}
	}
	// Any top: the step is 1, 2 or 5 × 10^n, the end covers the top, and
	// there are a few ticks.
	for _, top := range []float64{0.001, 0.07, 1.5, 9, 11, 99, 101, 999, 1001, 31415, 2.5e8} {
		step, end := Ticks(top, 4, false)
		m := step / math.Pow(10, math.Floor(math.Log10(step)+1e-9))
		if math.Abs(m-1) > 1e-6 && math.Abs(m-2) > 1e-6 && math.Abs(m-5) > 1e-6 {
			t.Errorf("Ticks(%v): step %v", top, step)
		}
		if n := end / step; end < top || n < 2 || n > 8 {
			t.Errorf("Ticks(%v): %v ticks of %v to %v", top, n, step, end)
		}
	}
}

func TestDistribution(t *testing.T) {
	buckets := []string{"under 1 h", "1–4 h", "4–8 h", "8–24 h", "over 24 h"}
	counts := []int{40, 25, 20, 10, 5}
	h := Distribution("Time to first answer", buckets, counts, Options{ID: "first", ValueHeader: "Answers", LabelHeader: "Waited"})
	p := parse(t, h)
	series := []Series{{Name: "Answers", Points: []float64{40, 25, 20, 10, 5}}}
	checkMarks(t, p, buckets, series)
	if p.header[0] != "Waited" {
		t.Errorf("header %q", p.header)
	}
	for _, want := range []string{"40 (40%)", "5 (5%)", "under 1 h", "over 24 h"} {
		if !strings.Contains(p.text, want) {
			t.Errorf("no %q in %q", want, p.text)
		}
	}
	// Longer bars for larger counts.
	w0, _ := strconv.ParseFloat(p.marks[0]["width"], 64)
	w4, _ := strconv.ParseFloat(p.marks[4]["width"], 64)
	if w0 <= w4 || w4 <= 0 {
		t.Errorf("widths %v %v", w0, w4)
	}
	// Default value header.
	p = parse(t, Distribution("d", buckets[:1], []int{3}))
	if p.marks[0]["data-series"] != "Count" {
		t.Error(p.marks[0])
	}
}

func TestIDs(t *testing.T) {
	a := parse(t, Bars("Messages", days, nil, Options{}))
	b := parse(t, Bars("New contacts", days, nil, Options{}))
	c := parse(t, Bars("Messages", days, nil, Options{}))
	ia, ib, ic := attrs(a.root)["id"], attrs(b.root)["id"], attrs(c.root)["id"]
	if ia == ib || ia != ic || !strings.HasPrefix(ia, "chart-") {
		t.Errorf("ids %q %q %q", ia, ib, ic)
	}
}

func TestGroup(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 1234567: "1,234,567", -12345.5: "-12,345.5", 0.25: "0.25"} {
		if got := group(in); got != want {
			t.Errorf("group(%v) = %q, want %q", in, got, want)
		}
	}
}
