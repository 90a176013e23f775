package analytics

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/internal/sqldb"
)

// dimKey is a row of daily: a day and the dimensions.
type dimKey struct {
	day, team, employee, network, point, source string
}

// counts are the increments of one daily row.
type counts struct {
	in, out, newContacts, gone, waits, replied int64
	resp                                       [len(bucketBounds) + 1]int64
}

// add adds o's counts to c's.
func (c *counts) add(o *counts) {
	c.in += o.in
	c.out += o.out
	c.newContacts += o.newContacts
	c.gone += o.gone
	c.waits += o.waits
	c.replied += o.replied
	for i := range o.resp {
		c.resp[i] += o.resp[i]
	}
}

// args are c's counts as statement arguments, in counterColumns' order.
func (c *counts) args() []any {
	out := []any{c.in, c.out, c.newContacts, c.gone, c.waits, c.replied}
	for _, n := range c.resp {
		out = append(out, n)
	}
	return out
}

// histKey is a row of response_hist.
type histKey struct {
	day, team, employee string
	bucket              int
}

// bucketBounds are the upper bounds of the first-response buckets (the
// last one, over 24 h, has none).
var bucketBounds = [...]time.Duration{time.Hour, 4 * time.Hour, 8 * time.Hour, 24 * time.Hour}

// coarseBucket returns the index of the bucket of wait w: 0 (< 1 h) to 4
// (> 24 h). A wait of exactly 1 h is in 1–4 h.
func coarseBucket(w time.Duration) int {
	for i, b := range bucketBounds {
		if w < b {
			return i
		}
	}
	return len(bucketBounds)
}

// HistogramRatio is the width of the fine buckets of first-response
// times: bucket b holds waits from HistogramRatio^b to
// HistogramRatio^(b+1) seconds (bucket 0 also those under a second). A
// median read from them (at the bucket's geometric middle) is within
// sqrt(1.05)-1, about 2.5 %, of the true one for waits of a second or
// more.
const HistogramRatio = 1.05

// fineBucket returns the fine bucket of wait w.
func fineBucket(w time.Duration) int {
	s := w.Seconds()
	if s < 1 {
		return 0
	}
	return int(math.Floor(math.Log(s) / math.Log(HistogramRatio)))
}

// BucketMiddle returns the wait a fine bucket stands for in medians: its
// geometric middle.
func BucketMiddle(bucket int) time.Duration {
	return time.Duration(math.Pow(HistogramRatio, float64(bucket)+0.5) * float64(time.Second))
}

// relState is a relationship's row of relationships.
type relState struct {
	owner, team, network string
	lastKind             string
	lastAt               time.Time
	waiting              bool
	waitingSince         time.Time
	waitKey              dimKey
}

// batch is a batch's increments and the relationships it changed.
type batch struct {
	daily map[dimKey]*counts
	hist  map[histKey]int64
	rels  map[string]*relState
	dirty map[string]bool
}

func (b *batch) row(k dimKey) *counts {
	c := b.daily[k]
	if c == nil {
		c = &counts{}
		b.daily[k] = c
	}
	return c
}

// apply adds event e to the batch; rels holds the state of e's
// relationship, if it has any yet.
func (b *batch) apply(e gateway.Event) {
	k := dimKey{day: dayOf(e.At), team: e.Team, employee: e.OwnerID, network: e.Network, point: e.ContactPoint, source: e.Source}
	switch e.Kind {
	case gateway.EventNew:
		b.row(k).newContacts++
		return
	case gateway.EventGone:
		b.row(k).gone++
		if r := b.rels[e.RelationshipID]; r != nil && r.waiting {
			// Nobody can answer them now: not a conversation waiting.
			r.waiting, r.waitingSince, r.waitKey = false, time.Time{}, dimKey{}
			b.dirty[e.RelationshipID] = true
		}
		return
	case gateway.EventIn, gateway.EventOut:
	default:
		return
	}
	r := b.rels[e.RelationshipID]
	if r == nil {
		r = &relState{}
		b.rels[e.RelationshipID] = r
	}
	b.dirty[e.RelationshipID] = true
	r.owner, r.team, r.network, r.lastKind, r.lastAt = e.OwnerID, e.Team, e.Network, e.Kind.String(), e.At
	if e.Kind == gateway.EventIn {
		b.row(k).in++
		if !r.waiting && !e.Automatic {
			r.waiting, r.waitingSince, r.waitKey = true, e.At, k
			b.row(k).waits++
		}
		return
	}
	b.row(k).out++
	if !r.waiting {
		return
	}
	wait := max(e.At.Sub(r.waitingSince), 0)
	b.row(k).resp[coarseBucket(wait)]++
	b.hist[histKey{day: k.day, team: k.team, employee: k.employee, bucket: fineBucket(wait)}]++
	b.row(r.waitKey).replied++
	r.waiting, r.waitingSince, r.waitKey = false, time.Time{}, dimKey{}
}

// Record implements gateway.Events: it adds a batch of events to the
// counters in one transaction, reading and writing only the rows the
// events touch.
func (s *Store) Record(ctx context.Context, events []gateway.Event) error {
	if len(events) == 0 {
		return nil
	}
	return sqldb.InTx(ctx, s.w, nil, 3, func(tx *sql.Tx) error {
		b := &batch{daily: map[dimKey]*counts{}, hist: map[histKey]int64{}, rels: map[string]*relState{}, dirty: map[string]bool{}}
		var ids []string
		seen := map[string]bool{}
		for _, e := range events {
			if e.Kind != gateway.EventNew && e.RelationshipID != "" && !seen[e.RelationshipID] {
				seen[e.RelationshipID] = true
				ids = append(ids, e.RelationshipID)
			}
		}
		if err := s.loadRels(ctx, tx, ids, b.rels); err != nil {
			return err
		}
		for _, e := range events {
			b.apply(e)
		}
		return s.write(ctx, tx, b)
	})
}

// loadRels reads the rows of relationships ids into rels.
func (s *Store) loadRels(ctx context.Context, tx *sql.Tx, ids []string, rels map[string]*relState) error {
	for chunk := range slices.Chunk(ids, 500) {
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := tx.QueryContext(ctx, sqldb.Rebind(s.dialect, `SELECT relationship_id, owner, team, network, last_kind, last_at, waiting_since,
			wait_day, wait_team, wait_employee, wait_network, wait_point, wait_source
			FROM relationships WHERE relationship_id IN (`+sqldb.Params(len(chunk))+`)`+s.dialect.ForUpdate()), args...)
		if err != nil {
			return fmt.Errorf("analytics: read relationships: %w", err)
		}
		for rows.Next() {
			var id string
			var r relState
			var lastAt int64
			var since sql.NullInt64
			if err := rows.Scan(&id, &r.owner, &r.team, &r.network, &r.lastKind, &lastAt, &since,
				&r.waitKey.day, &r.waitKey.team, &r.waitKey.employee, &r.waitKey.network, &r.waitKey.point, &r.waitKey.source); err != nil {
				rows.Close()
				return fmt.Errorf("analytics: read relationships: %w", err)
			}
			r.lastAt = time.UnixMilli(lastAt).UTC()
			if since.Valid {
				r.waiting, r.waitingSince = true, time.UnixMilli(since.Int64).UTC()
			}
			rels[id] = &r
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return fmt.Errorf("analytics: read relationships: %w", err)
		}
	}
	return nil
}

// counterColumns are the counters of daily and team_daily, in the order
// counts.args gives them.
var counterColumns = []string{"msgs_in", "msgs_out", "new_contacts", "gone", "waits", "replied",
	"resp_1h", "resp_4h", "resp_8h", "resp_24h", "resp_over"}

// The statements that add a batch's increments to a counter table: a
// row per key, its counters added to on conflict.
var (
	upsertDaily     = addTo("daily", []string{"day", "team", "employee", "network", "contact_point", "source"}, counterColumns)
	upsertHist      = addTo("response_hist", []string{"day", "team", "employee", "bucket"}, []string{"n"})
	upsertDailyTeam = addTo("team_daily", []string{"day", "team"}, counterColumns)
	upsertNewTeam   = addTo("team_new", []string{"day", "team", "contact_point", "source"}, []string{"n"})
	upsertHistTeam  = addTo("team_response_hist", []string{"day", "team", "bucket"}, []string{"n"})
	upsertHistDay   = addTo("day_response_hist", []string{"day", "bucket"}, []string{"n"})
)

// addTo is the statement that inserts a row of table with its key
// columns and counters, or adds the counters to the row of that key.
func addTo(table string, keys, counters []string) string {
	cols := append(slices.Clone(keys), counters...)
	sets := make([]string, len(counters))
	for i, c := range counters {
		sets[i] = fmt.Sprintf("%[2]s = %[1]s.%[2]s + excluded.%[2]s", table, c)
	}
	return fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT (%s) DO UPDATE SET %s",
		table, strings.Join(cols, ", "), strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", "),
		strings.Join(keys, ", "), strings.Join(sets, ", "))
}

const upsertRel = `INSERT INTO relationships (relationship_id, owner, team, network, last_kind, last_at, waiting_since,
	wait_day, wait_team, wait_employee, wait_network, wait_point, wait_source)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (relationship_id) DO UPDATE SET owner = excluded.owner, team = excluded.team, network = excluded.network,
	last_kind = excluded.last_kind, last_at = excluded.last_at, waiting_since = excluded.waiting_since,
	wait_day = excluded.wait_day, wait_team = excluded.wait_team, wait_employee = excluded.wait_employee,
	wait_network = excluded.wait_network, wait_point = excluded.wait_point, wait_source = excluded.wait_source`

// write adds the batch's increments to the store and writes the
// relationships it changed.
func (s *Store) write(ctx context.Context, tx *sql.Tx, b *batch) error {
	// Each in key order: two writers on PostgreSQL take row locks in one
	// order.
	err := upsertSorted(ctx, s, tx, upsertDaily, b.daily, func(a, b dimKey) int {
		return cmp.Or(strings.Compare(a.day, b.day), strings.Compare(a.team, b.team), strings.Compare(a.employee, b.employee),
			strings.Compare(a.network, b.network), strings.Compare(a.point, b.point), strings.Compare(a.source, b.source))
	}, func(k dimKey, c *counts) []any {
		return append([]any{k.day, k.team, k.employee, k.network, k.point, k.source}, c.args()...)
	})
	if err != nil {
		return fmt.Errorf("analytics: add to daily counters: %w", err)
	}
	err = upsertSorted(ctx, s, tx, upsertHist, b.hist, func(a, b histKey) int {
		return cmp.Or(strings.Compare(a.day, b.day), strings.Compare(a.team, b.team), strings.Compare(a.employee, b.employee),
			cmp.Compare(a.bucket, b.bucket))
	}, func(k histKey, n int64) []any { return []any{k.day, k.team, k.employee, k.bucket, n} })
	if err != nil {
		return fmt.Errorf("analytics: add to response times: %w", err)
	}
	if err := s.writeRollups(ctx, tx, b); err != nil {
		return err
	}
	if len(b.dirty) > 0 {
		rel, err := tx.PrepareContext(ctx, sqldb.Rebind(s.dialect, upsertRel))
		if err != nil {
			return fmt.Errorf("analytics: prepare: %w", err)
		}
		defer rel.Close()
		for _, id := range slices.Sorted(maps.Keys(b.dirty)) {
			r := b.rels[id]
			var since sql.NullInt64
			if r.waiting {
				since = sql.NullInt64{Int64: r.waitingSince.UnixMilli(), Valid: true}
			}
			w := r.waitKey
			if _, err := rel.ExecContext(ctx, id, r.owner, r.team, r.network, r.lastKind, r.lastAt.UnixMilli(), since,
				w.day, w.team, w.employee, w.network, w.point, w.source); err != nil {
				return fmt.Errorf("analytics: write relationship %s: %w", id, err)
			}
		}
	}
	return nil
}

// writeRollups adds the batch's increments to the rollups of daily and
// response_hist by team and by day (migration 0003), which the overview
// of a team or of everyone reads: a batch's few rows per day and team.
func (s *Store) writeRollups(ctx context.Context, tx *sql.Tx, b *batch) error {
	type teamKey struct{ day, team string }
	type newKey struct{ day, team, point, source string }
	type histTeamKey struct {
		day, team string
		bucket    int
	}
	type histDayKey struct {
		day    string
		bucket int
	}
	teams := map[teamKey]*counts{}
	news := map[newKey]int64{}
	for k, c := range b.daily {
		tk := teamKey{k.day, k.team}
		t := teams[tk]
		if t == nil {
			t = &counts{}
			teams[tk] = t
		}
		t.add(c)
		if c.newContacts != 0 {
			news[newKey{k.day, k.team, k.point, k.source}] += c.newContacts
		}
	}
	histTeam := map[histTeamKey]int64{}
	histDay := map[histDayKey]int64{}
	for k, n := range b.hist {
		histTeam[histTeamKey{k.day, k.team, k.bucket}] += n
		histDay[histDayKey{k.day, k.bucket}] += n
	}
	// Each in key order: two writers on PostgreSQL take row locks in one
	// order.
	err := upsertSorted(ctx, s, tx, upsertDailyTeam, teams, func(a, b teamKey) int {
		return cmp.Or(strings.Compare(a.day, b.day), strings.Compare(a.team, b.team))
	}, func(k teamKey, c *counts) []any {
		return append([]any{k.day, k.team}, c.args()...)
	})
	if err == nil {
		err = upsertSorted(ctx, s, tx, upsertNewTeam, news, func(a, b newKey) int {
			return cmp.Or(strings.Compare(a.day, b.day), strings.Compare(a.team, b.team),
				strings.Compare(a.point, b.point), strings.Compare(a.source, b.source))
		}, func(k newKey, n int64) []any { return []any{k.day, k.team, k.point, k.source, n} })
	}
	if err == nil {
		err = upsertSorted(ctx, s, tx, upsertHistTeam, histTeam, func(a, b histTeamKey) int {
			return cmp.Or(strings.Compare(a.team, b.team), strings.Compare(a.day, b.day), cmp.Compare(a.bucket, b.bucket))
		}, func(k histTeamKey, n int64) []any { return []any{k.day, k.team, k.bucket, n} })
	}
	if err == nil {
		err = upsertSorted(ctx, s, tx, upsertHistDay, histDay, func(a, b histDayKey) int {
			return cmp.Or(strings.Compare(a.day, b.day), cmp.Compare(a.bucket, b.bucket))
		}, func(k histDayKey, n int64) []any { return []any{k.day, k.bucket, n} })
	}
	if err != nil {
		return fmt.Errorf("analytics: add to rollups: %w", err)
	}
	return nil
}

// upsertSorted runs the statement q with the arguments args gives for
// each entry of m, in the key order cmpKeys gives.
func upsertSorted[K comparable, V any](ctx context.Context, s *Store, tx *sql.Tx, q string, m map[K]V,
	cmpKeys func(a, b K) int, args func(K, V) []any) error {
	if len(m) == 0 {
		return nil
	}
	st, err := tx.PrepareContext(ctx, sqldb.Rebind(s.dialect, q))
	if err != nil {
		return err
	}
	defer st.Close()
	for _, k := range slices.SortedFunc(maps.Keys(m), cmpKeys) {
		if _, err := st.ExecContext(ctx, args(k, m[k])...); err != nil {
			return err
		}
	}
	return nil
}
