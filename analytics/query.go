package analytics

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kakehashi/kakehashi/internal/sqldb"
)

// Filter narrows the numbers to a team (an employee's department) or an
// employee (by ID); empty fields do not filter. They combine with AND.
type Filter struct {
	Team     string `json:"team,omitempty"`
	Employee string `json:"employee,omitempty"`
}

// where returns the filter's SQL conditions (each led by AND) and their
// arguments, for a table whose employee column is named employee.
func (f Filter) where(employee string) (string, []any) {
	var w string
	var args []any
	if f.Team != "" {
		w += " AND team = ?"
		args = append(args, f.Team)
	}
	if f.Employee != "" {
		w += " AND " + employee + " = ?"
		args = append(args, f.Employee)
	}
	return w, args
}

// MaxOverviewDays is the longest period Overview reads.
const MaxOverviewDays = 366

// ErrInvalid is the error of a query that asks for what cannot be given
// (a period that ends before it starts, or longer than MaxOverviewDays).
var ErrInvalid = errors.New("analytics: invalid query")

// Overview is the numbers of a period, day by day and in total.
type Overview struct {
	// From and To are the period's first and last day (UTC, YYYY-MM-DD).
	From string `json:"from"`
	To   string `json:"to"`
	// Filter is what the numbers were narrowed to.
	Filter Filter `json:"filter"`
	// Days has every day of the period, in order, those without traffic
	// too (with zeros).
	Days []Day `json:"days"`
	// Total is the whole period's numbers.
	Total Counts `json:"total"`
}

// Day is one day's numbers.
type Day struct {
	Day string `json:"day"`
	Counts
}

// Counts are the numbers of a day or a period.
type Counts struct {
	// In and Out are the messages relayed from contacts to owners and
	// from owners to contacts.
	In  int64 `json:"in"`
	Out int64 `json:"out"`
	// NewContacts is how many relationships a message started (a contact
	// writing to a persona, an employee writing to a new contact), and
	// NewBySource the same by contact point and source.
	NewContacts int64         `json:"new_contacts"`
	NewBySource []SourceCount `json:"new_by_source"`
	// Gone is how many relationships were marked gone.
	Gone int64 `json:"gone"`
	// Waits is how many contact messages started or resumed a
	// conversation (the owner wrote last, or nobody had); Replied how
	// many of those the owner has answered since; ReplyRate is
	// Replied/Waits, null without waits.
	Waits     int64    `json:"waits"`
	Replied   int64    `json:"replied"`
	ReplyRate *float64 `json:"reply_rate"`
	// FirstResponse is the first answers given, by how long the contact
	// waited.
	FirstResponse FirstResponse `json:"first_response"`
}

// SourceCount is how many new contacts came by a contact point and
// source.
type SourceCount struct {
	// ContactPoint is the contact point's persona ID, "" when the
	// contact wrote to another persona (or was written to first).
	ContactPoint string `json:"contact_point"`
	Source       string `json:"source"`
	Count        int64  `json:"count"`
}

// FirstResponse is how long contacts waited for their first answer.
type FirstResponse struct {
	// Count is how many first answers were given.
	Count int64 `json:"count"`
	// MedianSeconds is the median wait, in seconds, read from a log-scale
	// histogram (within about 2.5 %, see HistogramRatio); null when
	// Count is 0. Of an even count, the lower of the two middle waits.
	MedianSeconds *float64 `json:"median_seconds"`
	// The waits by range: under 1 h, 1 to 4 h, 4 to 8 h, 8 to 24 h,
	// 24 h and over (each range includes its lower bound).
	Under1h   int64 `json:"under_1h"`
	From1to4  int64 `json:"from_1h_to_4h"`
	From4to8  int64 `json:"from_4h_to_8h"`
	From8to24 int64 `json:"from_8h_to_24h"`
	Over24h   int64 `json:"over_24h"`
}

// Overview returns the numbers of the days from, to (UTC days; the
// times' clock is ignored) narrowed by f.
func (s *Store) Overview(ctx context.Context, from, to time.Time, f Filter) (*Overview, error) {
	return s.overview(ctx, from, to, f, false)
}

// overview is Overview, which reads daily and response_hist themselves
// rather than their rollups if raw is set (for tests of the rollups).
func (s *Store) overview(ctx context.Context, from, to time.Time, f Filter, raw bool) (*Overview, error) {
	from = dayStart(from)
	to = dayStart(to)
	n := int(to.Sub(from)/(24*time.Hour)) + 1
	if n < 1 || n > MaxOverviewDays {
		return nil, fmt.Errorf("%w: the period from %s to %s has %d days: give 1 to %d", ErrInvalid, dayOf(from), dayOf(to), n, MaxOverviewDays)
	}
	o := &Overview{From: dayOf(from), To: dayOf(to), Filter: f, Days: make([]Day, n)}
	idx := map[string]*Day{}
	for i := range o.Days {
		o.Days[i] = Day{Day: dayOf(from.AddDate(0, 0, i)), Counts: Counts{NewBySource: []SourceCount{}}}
		idx[o.Days[i].Day] = &o.Days[i]
	}
	o.Total.NewBySource = []SourceCount{}
	// The rows of an employee are few (daily's index by employee and day);
	// those of a team or of everyone are read from the rollups by team
	// (migration 0003), a row per day and team where daily has one per
	// employee, network, contact point and source.
	src := overviewTables{daily: "daily", news: "daily", newCount: "new_contacts", hist: "response_hist"}
	if f.Employee == "" && !raw {
		src = overviewTables{daily: "team_daily", news: "team_new", newCount: "n", hist: "team_response_hist"}
		if f.Team == "" {
			src.hist = "day_response_hist"
		}
	}
	cond, fargs := f.where("employee")
	args := append([]any{o.From, o.To}, fargs...)
	err := s.query(ctx, `SELECT day, CAST(sum(msgs_in) AS BIGINT), CAST(sum(msgs_out) AS BIGINT), CAST(sum(new_contacts) AS BIGINT),
		CAST(sum(gone) AS BIGINT), CAST(sum(waits) AS BIGINT), CAST(sum(replied) AS BIGINT), CAST(sum(resp_1h) AS BIGINT),
		CAST(sum(resp_4h) AS BIGINT), CAST(sum(resp_8h) AS BIGINT), CAST(sum(resp_24h) AS BIGINT), CAST(sum(resp_over) AS BIGINT)
		FROM `+src.daily+` WHERE day >= ? AND day <= ?`+cond+` GROUP BY day`, args, func(rows *sql.Rows) error {
		var day string
		var c Counts
		r := &c.FirstResponse
		if err := rows.Scan(&day, &c.In, &c.Out, &c.NewContacts, &c.Gone, &c.Waits, &c.Replied,
			&r.Under1h, &r.From1to4, &r.From4to8, &r.From8to24, &r.Over24h); err != nil {
			return err
		}
		if d := idx[day]; d != nil {
			c.NewBySource = d.NewBySource
			d.Counts = c
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = s.query(ctx, `SELECT day, contact_point, source, CAST(sum(`+src.newCount+`) AS BIGINT)
		FROM `+src.news+` WHERE day >= ? AND day <= ?`+cond+` AND `+src.newCount+` > 0
		GROUP BY day, contact_point, source ORDER BY day, contact_point, source`, args, func(rows *sql.Rows) error {
		var day string
		var sc SourceCount
		if err := rows.Scan(&day, &sc.ContactPoint, &sc.Source, &sc.Count); err != nil {
			return err
		}
		if d := idx[day]; d != nil {
			d.NewBySource = append(d.NewBySource, sc)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	hists := map[string]map[int]int64{}
	total := map[int]int64{}
	err = s.query(ctx, `SELECT day, bucket, CAST(sum(n) AS BIGINT) FROM `+src.hist+` WHERE day >= ? AND day <= ?`+cond+`
		GROUP BY day, bucket`, args, func(rows *sql.Rows) error {
		var day string
		var b int
		var n int64
		if err := rows.Scan(&day, &b, &n); err != nil {
			return err
		}
		if hists[day] == nil {
			hists[day] = map[int]int64{}
		}
		hists[day][b] += n
		total[b] += n
		return nil
	})
	if err != nil {
		return nil, err
	}
	bySource := map[[2]string]int64{}
	var order [][2]string
	for i := range o.Days {
		d := &o.Days[i]
		d.finish(hists[d.Day])
		t := &o.Total
		t.In += d.In
		t.Out += d.Out
		t.NewContacts += d.NewContacts
		t.Gone += d.Gone
		t.Waits += d.Waits
		t.Replied += d.Replied
		t.FirstResponse.Under1h += d.FirstResponse.Under1h
		t.FirstResponse.From1to4 += d.FirstResponse.From1to4
		t.FirstResponse.From4to8 += d.FirstResponse.From4to8
		t.FirstResponse.From8to24 += d.FirstResponse.From8to24
		t.FirstResponse.Over24h += d.FirstResponse.Over24h
		for _, sc := range d.NewBySource {
			k := [2]string{sc.ContactPoint, sc.Source}
			if _, ok := bySource[k]; !ok {
				order = append(order, k)
			}
			bySource[k] += sc.Count
		}
	}
	for _, k := range order {
		o.Total.NewBySource = append(o.Total.NewBySource, SourceCount{ContactPoint: k[0], Source: k[1], Count: bySource[k]})
	}
	o.Total.finish(total)
	return o, nil
}

// overviewTables are the tables an overview reads: daily counters, new
// contacts by contact point and source (in column newCount) and first
// responses by bucket.
type overviewTables struct{ daily, news, newCount, hist string }

// finish works out what c's counters and the histogram hist of its first
// responses imply: the reply rate, the count and median of first
// responses.
func (c *Counts) finish(hist map[int]int64) {
	if c.Waits > 0 {
		r := float64(c.Replied) / float64(c.Waits)
		c.ReplyRate = &r
	}
	r := &c.FirstResponse
	r.Count = r.Under1h + r.From1to4 + r.From4to8 + r.From8to24 + r.Over24h
	if m, ok := median(hist); ok {
		sec := m.Seconds()
		r.MedianSeconds = &sec
	}
}

// median returns the median of the waits counted in hist (by fine
// bucket), the lower middle one of an even count.
func median(hist map[int]int64) (time.Duration, bool) {
	var n int64
	lo, hi := math32Max, -1
	for b, c := range hist {
		n += c
		lo, hi = min(lo, b), max(hi, b)
	}
	if n == 0 {
		return 0, false
	}
	rank := (n + 1) / 2
	var seen int64
	for b := lo; b <= hi; b++ {
		seen += hist[b]
		if seen >= rank {
			return BucketMiddle(b), true
		}
	}
	return BucketMiddle(hi), true
}

const math32Max = 1<<31 - 1

// dayStart returns the start of t's UTC day.
func dayStart(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// query runs a query on the readers and calls scan for each row.
func (s *Store) query(ctx context.Context, q string, args []any, scan func(*sql.Rows) error) error {
	rows, err := s.r.QueryContext(ctx, sqldb.Rebind(s.dialect, q), args...)
	if err != nil {
		return fmt.Errorf("analytics: query: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return fmt.Errorf("analytics: query: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("analytics: query: %w", err)
	}
	return nil
}

// WaitingQuery selects the conversations waiting for an answer.
type WaitingQuery struct {
	// OlderThan: only conversations whose contact has waited at least
	// this long at Now (0: all that wait).
	OlderThan time.Duration
	// Now is the time waits are measured to (zero: time.Now).
	Now time.Time
	// Filter narrows them by the owner (and their team) as of the
	// relationship's last message.
	Filter Filter
	// Limit is how many at most (0: DefaultWaitingLimit).
	Limit int
}

// DefaultWaitingLimit is how many waiting conversations Waiting returns
// unless told otherwise.
const DefaultWaitingLimit = 100

// Waiting is a conversation where the contact wrote last and nobody has
// answered.
type Waiting struct {
	RelationshipID string `json:"relationship_id"`
	// Owner is the relationship's owner as of its last message ("" for
	// the unassigned pool), Team their department.
	Owner   string `json:"owner"`
	Team    string `json:"team"`
	Network string `json:"network"`
	// Since is when the contact's first unanswered message came, Last
	// when their last did.
	Since time.Time `json:"since"`
	Last  time.Time `json:"last"`
	// WaitingSeconds is how long they have waited, at the query's time.
	WaitingSeconds int64 `json:"waiting_seconds"`
}

// Waiting returns the conversations waiting for an answer for at least
// q.OlderThan, oldest first. It reads the waiting relationships only,
// through an index of them.
func (s *Store) Waiting(ctx context.Context, q WaitingQuery) ([]Waiting, error) {
	now := q.Now
	if now.IsZero() {
		now = time.Now()
	}
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultWaitingLimit
	}
	cond, fargs := q.Filter.where("owner")
	args := append([]any{now.Add(-q.OlderThan).UnixMilli()}, fargs...)
	args = append(args, limit)
	out := []Waiting{}
	err := s.query(ctx, `SELECT relationship_id, owner, team, network, waiting_since, last_at FROM relationships
		WHERE waiting_since IS NOT NULL AND waiting_since <= ?`+cond+` ORDER BY waiting_since, relationship_id LIMIT ?`, args,
		func(rows *sql.Rows) error {
			var w Waiting
			var since, last int64
			if err := rows.Scan(&w.RelationshipID, &w.Owner, &w.Team, &w.Network, &since, &last); err != nil {
				return err
			}
			w.Since, w.Last = time.UnixMilli(since).UTC(), time.UnixMilli(last).UTC()
			w.WaitingSeconds = int64(now.Sub(w.Since) / time.Second)
			out = append(out, w)
			return nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Move is a change of a relationship's owner made by an admin (a
// transfer, a departure, a revert), not by traffic.
type Move struct {
	RelationshipID string
	// Owner is the new owner ("" for the unassigned pool), Team their
	// department.
	Owner, Team string
	// Merged says the relationship was merged into another of its
	// contact's: it carries no conversation any more.
	Merged bool
}

// Reassign records that relationships changed owner between messages, so
// that the waiting list shows each under the owner who should answer now.
// Relationships without traffic yet have no row and are left alone; a
// merged one waits no more (its contact's messages reach the relationship
// it was merged into). The counters are not changed: they say who owned
// the relationship when each message came.
func (s *Store) Reassign(ctx context.Context, moves []Move) error {
	if len(moves) == 0 {
		return nil
	}
	return sqldb.InTx(ctx, s.w, nil, 3, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, sqldb.Rebind(s.dialect,
			`UPDATE relationships SET owner = ?, team = ?, waiting_since = CASE WHEN ? = 1 THEN NULL ELSE waiting_since END
			WHERE relationship_id = ?`))
		if err != nil {
			return fmt.Errorf("analytics: prepare: %w", err)
		}
		defer st.Close()
		for _, m := range moves {
			merged := 0
			if m.Merged {
				merged = 1
			}
			if _, err := st.ExecContext(ctx, m.Owner, m.Team, merged, m.RelationshipID); err != nil {
				return fmt.Errorf("analytics: reassign relationship %s: %w", m.RelationshipID, err)
			}
		}
		return nil
	})
}
