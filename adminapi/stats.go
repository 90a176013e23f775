package adminapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/kakehashi/kakehashi/analytics"
	"github.com/kakehashi/kakehashi/identity"
)

// The numbers of the console: the overview of a period and the
// conversations waiting for an answer, read from the analytics store.

// SetAnalytics gives the API the analytics store the gateway feeds
// (gateway.Options.Events), which GET /v1/stats/overview and GET
// /v1/waiting read. Without one they answer 501. Call it before serving.
func (a *Server) SetAnalytics(s *analytics.Store) { a.stats = s }

// DefaultStatsDays is the period GET /v1/stats/overview covers when it is
// given no from: this many days up to to.
const DefaultStatsDays = 30

// MaxWaitingLimit bounds the limit of GET /v1/waiting.
const MaxWaitingLimit = 1000

var (
	statsParams = []param{
		qDate("from", fmt.Sprintf("The period's first day (UTC). Default: %d days up to to.", DefaultStatsDays)),
		qDate("to", "The period's last day (UTC). Default: today, by the gateway's clock."),
		qString("team", "Only the traffic of this team's members (the employee's department when it happened)."),
		qString("employee", "Only the traffic of this employee (by ID) as the owner."),
	}
	waitingLimit  = qInt("limit", 1, MaxWaitingLimit, analytics.DefaultWaitingLimit, "At most this many conversations.")
	waitingParams = []param{
		qDuration("older_than", "Only conversations whose contact has waited at least this long. Default: all that wait."),
		qString("team", "Only conversations owned by a member of this team (as of the last message)."),
		qString("employee", "Only conversations owned by this employee (by ID; as of the last message)."),
		waitingLimit,
	}
)

// errNoAnalytics is the error of the numbers' routes on a server without
// an analytics store.
var errNoAnalytics = fmt.Errorf("this server keeps no analytics: %w", errors.ErrUnsupported)

// day reads a day (YYYY-MM-DD); absent is zero.
func (p params) day(name string) (time.Time, error) {
	if !p.q.Has(name) {
		return time.Time{}, nil
	}
	v := p.q.Get(name)
	t, err := time.Parse(analytics.DayFormat, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: query parameter %s: %q is not a day (YYYY-MM-DD, e.g. 2026-11-01)", errBadRequest, name, v)
	}
	return t, nil
}

// statsQuery reads the query of a request for the analytics store and
// its scoped filter (scopedFilter); without a store, errNoAnalytics.
func (a *Server) statsQuery(r *http.Request, c Caller) (params, analytics.Filter, error) {
	if a.stats == nil {
		return params{}, analytics.Filter{}, errNoAnalytics
	}
	p := queryOf(r)
	f, err := a.scopedFilter(c, p)
	return p, f, err
}

// scopedFilter is the analytics filter of p's team and employee; a lead's
// is forced to their team (another team or an employee outside it: 403).
func (a *Server) scopedFilter(c Caller, p params) (analytics.Filter, error) {
	f := analytics.Filter{Team: p.str("team"), Employee: p.str("employee")}
	if !c.scoped() {
		return f, nil
	}
	if p.has("team") && f.Team != c.Team {
		return f, outsideTeam(c, "team %q is not its team", f.Team)
	}
	f.Team = c.Team
	if f.Employee != "" {
		if err := a.teamOf(c).employee(f.Employee, "employee"); err != nil {
			return f, err
		}
	}
	return f, nil
}

func (a *Server) statsOverview(w http.ResponseWriter, r *http.Request, c Caller) error {
	p, filter, err := a.statsQuery(r, c)
	if err != nil {
		return err
	}
	from, err := p.day("from")
	if err != nil {
		return err
	}
	to, err := p.day("to")
	if err != nil {
		return err
	}
	if to.IsZero() {
		to = a.gw.Now().UTC()
	}
	if from.IsZero() {
		from = to.AddDate(0, 0, -(DefaultStatsDays - 1))
	}
	o, err := a.stats.Overview(r.Context(), from, to, filter)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, o)
	return nil
}

func (a *Server) waiting(w http.ResponseWriter, r *http.Request, c Caller) error {
	p, filter, err := a.statsQuery(r, c)
	if err != nil {
		return err
	}
	older, err := p.duration("older_than")
	if err != nil {
		return err
	}
	limit, err := p.integer(waitingLimit)
	if err != nil {
		return err
	}
	l, err := a.stats.Waiting(r.Context(), analytics.WaitingQuery{OlderThan: older, Now: a.gw.Now(), Limit: limit,
		Filter: filter})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, l)
	return nil
}

// reassigned tells the analytics store, if any, that t moved
// relationships to new owners, so that the waiting list shows them under
// the owner who answers now. The transfer is done whatever happens here:
// a failure is logged, not answered.
func (a *Server) reassigned(ctx context.Context, t *identity.Transfer) {
	if a.stats == nil || t == nil || len(t.Moves) == 0 {
		return
	}
	snap := a.state.Snapshot()
	moves := make([]analytics.Move, len(t.Moves))
	for i, m := range t.Moves {
		moves[i] = analytics.Move{RelationshipID: m.RelationshipID, Owner: m.ToOwner, Merged: m.MergedInto != ""}
		if e, ok := snap.Employee(m.ToOwner); ok {
			moves[i].Team = e.Department
		}
	}
	if err := a.stats.Reassign(context.WithoutCancel(ctx), moves); err != nil {
		a.log.Warn("the waiting list does not show the new owners of a transfer", "transfer", t.ID, "err", err)
	}
}

// StatsQuery selects the numbers of Client.Overview; zero fields take
// the server's defaults.
type StatsQuery struct {
	// From and To are the period's first and last day (UTC; the clock is
	// ignored).
	From, To time.Time
	Team     string
	Employee string
}

// Overview returns the numbers of a period, day by day and in total.
func (c *Client) Overview(ctx context.Context, q StatsQuery) (*analytics.Overview, error) {
	v := url.Values{}
	if !q.From.IsZero() {
		v.Set("from", q.From.UTC().Format(analytics.DayFormat))
	}
	if !q.To.IsZero() {
		v.Set("to", q.To.UTC().Format(analytics.DayFormat))
	}
	if q.Team != "" {
		v.Set("team", q.Team)
	}
	if q.Employee != "" {
		v.Set("employee", q.Employee)
	}
	var o analytics.Overview
	if err := c.do(ctx, http.MethodGet, "/v1/stats/overview", v, nil, &o); err != nil {
		return nil, err
	}
	return &o, nil
}

// WaitingQuery selects the conversations of Client.Waiting; zero fields
// take the server's defaults.
type WaitingQuery struct {
	OlderThan time.Duration
	Team      string
	Employee  string
	Limit     int
}

// Waiting returns the conversations waiting for an answer, oldest first.
func (c *Client) Waiting(ctx context.Context, q WaitingQuery) ([]analytics.Waiting, error) {
	v := url.Values{}
	if q.OlderThan > 0 {
		v.Set("older_than", q.OlderThan.String())
	}
	if q.Team != "" {
		v.Set("team", q.Team)
	}
	if q.Employee != "" {
		v.Set("employee", q.Employee)
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var l []analytics.Waiting
	if err := c.do(ctx, http.MethodGet, "/v1/waiting", v, nil, &l); err != nil {
		return nil, err
	}
	return l, nil
}
