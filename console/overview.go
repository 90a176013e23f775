package console

import (
	"html/template"
	"math"
	"time"

	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/analytics"
)

// overviewDays is the overview's default period: the last 30 days.
const overviewDays = adminapi.DefaultStatsDays

// overviewData is the overview page.
type overviewData struct {
	From, To  string
	Team      string
	TeamFixed bool
	Teams     []choice
	Employee  string
	Employees []choice
	O         *analytics.Overview
	// Median is the period's median first response, "" without one.
	Median  string
	Waiting int
	Charts  []template.HTML
}

func (q *req) overview() error {
	d, err := q.directory(false)
	if err != nil {
		return err
	}
	f := q.r.URL.Query()
	data := &overviewData{From: f.Get("from"), To: f.Get("to"), Team: f.Get("team"), Employee: f.Get("employee")}
	if q.who.Role == roleLead {
		data.Team, data.TeamFixed = q.who.Team, true
	}
	data.Teams = d.teamChoices(data.Team)
	data.Employees = d.all(data.Employee)
	now := q.c.now().UTC()
	to, err := parseDay(data.To)
	if err != nil {
		q.render("overview", data, mistake("form.bad_day"))
		return nil
	}
	from, err := parseDay(data.From)
	if err != nil {
		q.render("overview", data, mistake("form.bad_day"))
		return nil
	}
	if to.IsZero() {
		to = now
	}
	if from.IsZero() {
		from = to.AddDate(0, 0, -(overviewDays - 1))
	}
	data.From, data.To = from.Format(time.DateOnly), to.Format(time.DateOnly)
	o, err := q.api.Overview(q.r.Context(), adminapi.StatsQuery{From: from, To: to, Team: data.Team, Employee: data.Employee})
	if err != nil {
		q.render("overview", data, err)
		return nil
	}
	data.O = o
	if m := o.Total.FirstResponse.MedianSeconds; m != nil {
		data.Median = q.duration(time.Duration(*m * float64(time.Second)))
	}
	if w, err := q.api.Waiting(q.r.Context(), adminapi.WaitingQuery{Team: data.Team, Employee: data.Employee,
		Limit: adminapi.MaxWaitingLimit}); err == nil {
		data.Waiting = len(w)
	}
	data.Charts = q.overviewCharts(o)
	q.render("overview", data)
	return nil
}

// overviewCharts draws the overview's charts, each with its data table.
func (q *req) overviewCharts(o *analytics.Overview) []template.HTML {
	days := make([]string, len(o.Days))
	for i, d := range o.Days {
		days[i] = d.Day
	}
	series := func(name string, f func(analytics.Day) float64) chartSeries {
		s := chartSeries{Key: name, Name: q.T(name), Values: make([]float64, len(o.Days))}
		for i, d := range o.Days {
			s.Values[i] = f(d)
		}
		return s
	}
	var charts []template.HTML
	charts = append(charts, q.bars("messages", q.T("overview.messages.title"), days, []chartSeries{
		series("overview.messages.in", func(d analytics.Day) float64 { return float64(d.In) }),
		series("overview.messages.out", func(d analytics.Day) float64 { return float64(d.Out) }),
	}))
	// New contacts: one series per contact point and source, in the
	// order the period's total has them.
	var bySource []chartSeries
	for _, sc := range o.Total.NewBySource {
		label := sc.Source
		if label == "" {
			label = "—"
		}
		if sc.ContactPoint != "" {
			label = sc.ContactPoint + " · " + label
		}
		s := chartSeries{Key: sc.ContactPoint + "/" + sc.Source, Name: label, Values: make([]float64, len(o.Days))}
		for i, d := range o.Days {
			for _, x := range d.NewBySource {
				if x.ContactPoint == sc.ContactPoint && x.Source == sc.Source {
					s.Values[i] = float64(x.Count)
				}
			}
		}
		bySource = append(bySource, s)
	}
	if len(bySource) == 0 {
		bySource = []chartSeries{series("overview.new_contacts.title", func(d analytics.Day) float64 { return float64(d.NewContacts) })}
	}
	charts = append(charts, q.bars("new-contacts", q.T("overview.new_contacts.by_source"), days, bySource))
	charts = append(charts, q.bars("gone", q.T("overview.contacts_gone.title"), days, []chartSeries{
		series("overview.contacts_gone.title", func(d analytics.Day) float64 { return float64(d.Gone) }),
	}))
	charts = append(charts, q.bars("first-response-median", q.T("overview.first_response.median_per_day"), days, []chartSeries{
		series("overview.first_response.median_minutes", func(d analytics.Day) float64 {
			if d.FirstResponse.MedianSeconds == nil {
				return 0
			}
			return math.Round(*d.FirstResponse.MedianSeconds / 60)
		}),
	}))
	fr := o.Total.FirstResponse
	charts = append(charts, q.distribution("first-response", q.T("overview.first_response.title"), []string{
		q.T("overview.first_response.lt1h"), q.T("overview.first_response.1to4h"), q.T("overview.first_response.4to8h"),
		q.T("overview.first_response.8to24h"), q.T("overview.first_response.gt24h"),
	}, []float64{float64(fr.Under1h), float64(fr.From1to4), float64(fr.From4to8), float64(fr.From8to24), float64(fr.Over24h)}))
	charts = append(charts, q.bars("reply-rate", q.T("overview.reply_rate.title"), days, []chartSeries{
		series("overview.reply_rate.started", func(d analytics.Day) float64 { return float64(d.Waits) }),
		series("overview.reply_rate.answered", func(d analytics.Day) float64 { return float64(d.Replied) }),
	}))
	return charts
}

// chartSeries is one series of a chart: its stable key (the marks'
// data-series), its label, a value per label of the chart.
type chartSeries struct {
	Key, Name string
	Values    []float64
}
