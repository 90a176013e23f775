package console

import (
	"html/template"

	"github.com/kakehashi/kakehashi/console/chart"
)

// bars draws a bar chart per day with its data table, as figure
// chart-ID.
func (q *req) bars(id, title string, days []string, series []chartSeries) template.HTML {
	ss := make([]chart.Series, len(series))
	for i, s := range series {
		ss[i] = chart.Series{Name: s.Name, Points: s.Values}
	}
	return chart.Bars(title, days, ss, chart.Options{ID: "chart-" + id, NoData: q.T("chart.no_data"), LabelHeader: q.T("common.day")})
}

// distribution draws counts by bucket with its data table, as figure
// chart-ID.
func (q *req) distribution(id, title string, buckets []string, counts []float64) template.HTML {
	n := make([]int, len(counts))
	for i, c := range counts {
		n[i] = int(c)
	}
	return chart.Distribution(title, buckets, n, chart.Options{ID: "chart-" + id, NoData: q.T("chart.no_data"),
		ValueHeader: q.T("common.count")})
}
