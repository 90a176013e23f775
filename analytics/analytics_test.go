package analytics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/analytics"
	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/internal/sqldb"
	"github.com/kakehashi/kakehashi/internal/testenv"
)

// stores opens an empty analytics store of each dialect: SQLite in a
// file, PostgreSQL in the schema analytics of a database of its own on
// the test binary's shared server (skipped without one, failed under
// CI=true).
func stores() []struct {
	name string
	open func(t *testing.T) *analytics.Store
} {
	open := func(t *testing.T, store string) *analytics.Store {
		t.Helper()
		s, err := analytics.Open(context.Background(), store)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	return []struct {
		name string
		open func(t *testing.T) *analytics.Store
	}{
		{"sqlite", func(t *testing.T) *analytics.Store {
			return open(t, filepath.Join(t.TempDir(), analytics.FileName))
		}},
		{"postgres", func(t *testing.T) *analytics.Store {
			u, err := sqldb.InSchema(context.Background(), testenv.SharedPostgres(t).NewDatabase(t), analytics.SchemaName)
			if err != nil {
				t.Fatal(err)
			}
			return open(t, u)
		}},
	}
}

var day0 = time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)

// at is day0 plus d days and the clock h:m.
func at(d, h, m int) time.Time {
	return day0.AddDate(0, 0, d).Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

type owner struct{ id, team string }

var (
	ken = owner{"ken", "sales"}
	mei = owner{"mei", "support"}
)

func ev(kind gateway.EventKind, t time.Time, rel string, o owner) gateway.Event {
	return gateway.Event{At: t, Kind: kind, RelationshipID: rel, OwnerID: o.id, Team: o.team, Network: "public-xmpp", Source: "inbound"}
}

// scenario is three days of traffic whose numbers the tests know:
//
//   - r1 (ken), a new contact from the contact point desk, source
//     expo2026: writes at 09:00 and 09:30 (one wait), ken answers at 11:00
//     (2 h) and 11:05 (no second answer); writes again at 23:00 (resumed:
//     a new wait), answered the next day at 01:30 (2.5 h, counted on day
//     1; replied on day 0, the wait's day).
//   - r2 writes to ken at 10:00; transferred, mei answers at 18:00: 8 h,
//     on mei's first responses (the one who answered), replied on ken's
//     day-0 row (whose wait it was).
//   - r3 writes to ken at 12:00 and is never answered.
//   - r4's auto-reply to ken at 08:00 is counted, and starts no wait.
//   - r5 writes to mei at 07:00 and is marked gone at 08:00: not waiting.
//   - day 2: ken writes first to r6 (no inbound that day: no reply
//     rate), and r7 writes to mei at 06:00, unanswered.
func scenario() []gateway.Event {
	newR1 := ev(gateway.EventNew, at(0, 9, 0), "r1", ken)
	newR1.ContactPoint, newR1.Source = "desk", "expo2026"
	r1 := func(kind gateway.EventKind, t time.Time) gateway.Event {
		e := ev(kind, t, "r1", ken)
		e.ContactPoint, e.Source = "desk", "expo2026"
		return e
	}
	auto := ev(gateway.EventIn, at(0, 8, 0), "r4", ken)
	auto.Automatic = true
	return []gateway.Event{
		ev(gateway.EventIn, at(0, 7, 0), "r5", mei),
		auto,
		ev(gateway.EventGone, at(0, 8, 0), "r5", mei),
		newR1,
		r1(gateway.EventIn, at(0, 9, 0)),
		r1(gateway.EventIn, at(0, 9, 30)),
		ev(gateway.EventIn, at(0, 10, 0), "r2", ken),
		r1(gateway.EventOut, at(0, 11, 0)),
		r1(gateway.EventOut, at(0, 11, 5)),
		ev(gateway.EventIn, at(0, 12, 0), "r3", ken),
		ev(gateway.EventOut, at(0, 18, 0), "r2", mei),
		r1(gateway.EventIn, at(0, 23, 0)),
		r1(gateway.EventOut, at(1, 1, 30)),
		ev(gateway.EventOut, at(2, 5, 0), "r6", ken),
		ev(gateway.EventIn, at(2, 6, 0), "r7", mei),
	}
}

// record hands events to s in batches of size n.
func record(t *testing.T, s *analytics.Store, events []gateway.Event, n int) {
	t.Helper()
	for chunk := range slices.Chunk(events, n) {
		if err := s.Record(context.Background(), chunk); err != nil {
			t.Fatal(err)
		}
	}
}

func rate(r float64) *float64 { return &r }

// want is the numbers a test expects of a day or a period; median is
// the true median wait (0: none), which the store gives within 2.5 %.
type want struct {
	in, out, newContacts, gone, waits, replied int64
	rate                                       *float64
	responses                                  [5]int64
	median                                     time.Duration
	bySource                                   []analytics.SourceCount
}

func check(t *testing.T, what string, got analytics.Counts, w want) {
	t.Helper()
	fr := got.FirstResponse
	buckets := [5]int64{fr.Under1h, fr.From1to4, fr.From4to8, fr.From8to24, fr.Over24h}
	var count int64
	for _, n := range w.responses {
		count += n
	}
	if w.bySource == nil {
		w.bySource = []analytics.SourceCount{}
	}
	if got.In != w.in || got.Out != w.out || got.NewContacts != w.newContacts || got.Gone != w.gone ||
		got.Waits != w.waits || got.Replied != w.replied || buckets != w.responses || fr.Count != count ||
		!slices.Equal(got.NewBySource, w.bySource) {
		b, _ := json.Marshal(got)
		t.Errorf("%s: got %s\nwant %+v", what, b, w)
	}
	switch {
	case (got.ReplyRate == nil) != (w.rate == nil):
		t.Errorf("%s: reply rate %v, want %v", what, got.ReplyRate, w.rate)
	case w.rate != nil && math.Abs(*got.ReplyRate-*w.rate) > 1e-9:
		t.Errorf("%s: reply rate %v, want %v", what, *got.ReplyRate, *w.rate)
	}
	switch {
	case (fr.MedianSeconds == nil) != (w.median == 0):
		t.Errorf("%s: median %v, want %v", what, fr.MedianSeconds, w.median)
	case w.median != 0 && math.Abs(*fr.MedianSeconds-w.median.Seconds()) > 0.025*w.median.Seconds():
		t.Errorf("%s: median %vs, want %v within 2.5%%", what, *fr.MedianSeconds, w.median)
	}
}

func TestOverview(t *testing.T) {
	for _, st := range stores() {
		for _, n := range []int{100, 3, 1} {
			t.Run(fmt.Sprintf("%s/batches of %d", st.name, n), func(t *testing.T) {
				s := st.open(t)
				record(t, s, scenario(), n)
				ctx := context.Background()
				o, err := s.Overview(ctx, at(0, 15, 0), at(2, 0, 0), analytics.Filter{})
				if err != nil {
					t.Fatal(err)
				}
				if o.From != "2026-11-02" || o.To != "2026-11-04" || len(o.Days) != 3 {
					t.Fatalf("period %s..%s, %d days", o.From, o.To, len(o.Days))
				}
				desk := []analytics.SourceCount{{ContactPoint: "desk", Source: "expo2026", Count: 1}}
				check(t, "day 0", o.Days[0].Counts, want{in: 7, out: 3, newContacts: 1, gone: 1, waits: 5, replied: 3, rate: rate(0.6),
					responses: [5]int64{0, 1, 0, 1, 0}, median: 2 * time.Hour, bySource: desk})
				check(t, "day 1 (no inbound: no reply rate)", o.Days[1].Counts, want{out: 1, responses: [5]int64{0, 1, 0, 0, 0}, median: 150 * time.Minute})
				check(t, "day 2", o.Days[2].Counts, want{in: 1, out: 1, waits: 1, rate: rate(0)})
				check(t, "total", o.Total, want{in: 8, out: 5, newContacts: 1, gone: 1, waits: 6, replied: 3, rate: rate(0.5),
					responses: [5]int64{0, 2, 0, 1, 0}, median: 150 * time.Minute, bySource: desk})

				o, err = s.Overview(ctx, at(0, 0, 0), at(1, 0, 0), analytics.Filter{Employee: "ken"})
				if err != nil {
					t.Fatal(err)
				}
				check(t, "ken, day 0", o.Days[0].Counts, want{in: 6, out: 2, newContacts: 1, waits: 4, replied: 3, rate: rate(0.75),
					responses: [5]int64{0, 1, 0, 0, 0}, median: 2 * time.Hour, bySource: desk})
				check(t, "ken, day 1", o.Days[1].Counts, want{out: 1, responses: [5]int64{0, 1, 0, 0, 0}, median: 150 * time.Minute})
				o, err = s.Overview(ctx, at(0, 0, 0), at(0, 0, 0), analytics.Filter{Team: "support"})
				if err != nil {
					t.Fatal(err)
				}
				check(t, "support, day 0", o.Days[0].Counts, want{in: 1, out: 1, gone: 1, waits: 1, rate: rate(0),
					responses: [5]int64{0, 0, 0, 1, 0}, median: 8 * time.Hour})
				o, err = s.Overview(ctx, at(0, 0, 0), at(0, 0, 0), analytics.Filter{Team: "support", Employee: "ken"})
				if err != nil {
					t.Fatal(err)
				}
				check(t, "support and ken", o.Days[0].Counts, want{})

				// Day 2 alone: r6's first message answers nothing.
				o, err = s.Overview(ctx, at(2, 0, 0), at(2, 0, 0), analytics.Filter{Employee: "ken"})
				if err != nil {
					t.Fatal(err)
				}
				check(t, "ken, day 2 (no inbound)", o.Days[0].Counts, want{out: 1})
			})
		}
	}
}

func TestWaiting(t *testing.T) {
	for _, st := range stores() {
		t.Run(st.name, func(t *testing.T) {
			s := st.open(t)
			record(t, s, scenario(), 4)
			ctx := context.Background()
			now := at(2, 12, 0)
			cases := []struct {
				q    analytics.WaitingQuery
				want []string
			}{
				{analytics.WaitingQuery{Now: now, OlderThan: 4 * time.Hour}, []string{"r3", "r7"}},
				{analytics.WaitingQuery{Now: now}, []string{"r3", "r7"}},
				{analytics.WaitingQuery{Now: now, OlderThan: 4 * time.Hour, Limit: 1}, []string{"r3"}},
				{analytics.WaitingQuery{Now: now, OlderThan: 6*time.Hour + time.Minute}, []string{"r3"}},
				{analytics.WaitingQuery{Now: now, OlderThan: 48*time.Hour + time.Minute}, nil},
				{analytics.WaitingQuery{Now: now, Filter: analytics.Filter{Employee: "mei"}}, []string{"r7"}},
				{analytics.WaitingQuery{Now: now, Filter: analytics.Filter{Team: "sales"}}, []string{"r3"}},
			}
			for _, c := range cases {
				got, err := s.Waiting(ctx, c.q)
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, w := range got {
					ids = append(ids, w.RelationshipID)
				}
				if !slices.Equal(ids, c.want) {
					t.Errorf("%+v: %v, want %v", c.q, ids, c.want)
				}
			}
			got, err := s.Waiting(ctx, analytics.WaitingQuery{Now: now, Limit: 1})
			if err != nil {
				t.Fatal(err)
			}
			w := analytics.Waiting{RelationshipID: "r3", Owner: "ken", Team: "sales", Network: "public-xmpp",
				Since: at(0, 12, 0), Last: at(0, 12, 0), WaitingSeconds: 48 * 3600}
			if len(got) != 1 || got[0] != w {
				t.Errorf("waiting: %+v, want %+v", got, w)
			}
			// The owner answers: r3 waits no more; writing again starts a new wait.
			record(t, s, []gateway.Event{ev(gateway.EventOut, at(2, 12, 30), "r3", ken), ev(gateway.EventIn, at(2, 13, 0), "r3", ken),
				ev(gateway.EventIn, at(2, 14, 0), "r3", ken)}, 10)
			got, err = s.Waiting(ctx, analytics.WaitingQuery{Now: at(2, 15, 0)})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0].RelationshipID != "r7" || got[1].RelationshipID != "r3" || !got[1].Since.Equal(at(2, 13, 0)) || !got[1].Last.Equal(at(2, 14, 0)) {
				t.Errorf("after an answer and two new messages: %+v", got)
			}
		})
	}
}

func TestOverviewRefusesPeriods(t *testing.T) {
	s := stores()[0].open(t)
	ctx := context.Background()
	for _, p := range [][2]time.Time{{at(1, 0, 0), at(0, 0, 0)}, {at(0, 0, 0), at(analytics.MaxOverviewDays, 0, 0)}} {
		if _, err := s.Overview(ctx, p[0], p[1], analytics.Filter{}); err == nil {
			t.Errorf("%v..%v: no error", p[0], p[1])
		}
	}
	o, err := s.Overview(ctx, at(0, 0, 0), at(analytics.MaxOverviewDays-1, 0, 0), analytics.Filter{})
	if err != nil || len(o.Days) != analytics.MaxOverviewDays {
		t.Fatalf("longest period: %v", err)
	}
}

// TestMedianError: the median read from the histogram is within 2.5 % of
// the true one, from a second to a month.
func TestMedianError(t *testing.T) {
	for w := time.Second; w < 31*24*time.Hour; w = w*11/10 + time.Millisecond {
		got := analytics.BucketMiddle(analytics.FineBucket(w))
		if d := math.Abs(got.Seconds()-w.Seconds()) / w.Seconds(); d > 0.0247 {
			t.Fatalf("wait %v reads as %v: %.2f%% off", w, got, 100*d)
		}
	}
}

// TestReassign: a transfer between messages moves a waiting conversation
// to its new owner's list; a merged relationship waits no more; the
// counters keep who owned it when the messages came.
func TestReassign(t *testing.T) {
	for _, st := range stores() {
		t.Run(st.name, func(t *testing.T) {
			s := st.open(t)
			record(t, s, scenario(), 100)
			ctx := context.Background()
			if err := s.Reassign(ctx, []analytics.Move{{RelationshipID: "r3", Owner: "mei", Team: "support"},
				{RelationshipID: "r7", Owner: "ken", Team: "sales", Merged: true}, {RelationshipID: "r-none", Owner: "ken"}}); err != nil {
				t.Fatal(err)
			}
			now := at(2, 12, 0)
			for _, c := range []struct {
				f    analytics.Filter
				want []string
			}{
				{analytics.Filter{}, []string{"r3"}},
				{analytics.Filter{Employee: "mei"}, []string{"r3"}},
				{analytics.Filter{Team: "support"}, []string{"r3"}},
				{analytics.Filter{Employee: "ken"}, nil},
			} {
				got, err := s.Waiting(ctx, analytics.WaitingQuery{Now: now, Filter: c.f})
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, w := range got {
					ids = append(ids, w.RelationshipID)
					if w.Owner != "mei" || w.Team != "support" {
						t.Errorf("%+v", w)
					}
				}
				if !slices.Equal(ids, c.want) {
					t.Errorf("%+v: %v, want %v", c.f, ids, c.want)
				}
			}
			o, err := s.Overview(ctx, at(0, 0, 0), at(0, 0, 0), analytics.Filter{Employee: "ken"})
			if err != nil {
				t.Fatal(err)
			}
			if o.Days[0].In != 6 || o.Days[0].Waits != 4 {
				t.Errorf("ken's counters changed: %+v", o.Days[0].Counts)
			}
			// mei answers r3: the wait was ken's (replied on his row), the answer mei's.
			record(t, s, []gateway.Event{ev(gateway.EventOut, at(2, 13, 0), "r3", mei)}, 1)
			o, err = s.Overview(ctx, at(0, 0, 0), at(2, 0, 0), analytics.Filter{Employee: "ken"})
			if err != nil {
				t.Fatal(err)
			}
			if o.Days[0].Replied != 4 || o.Days[2].FirstResponse.Count != 0 {
				t.Errorf("ken: day 0 %+v, day 2 %+v", o.Days[0].Counts, o.Days[2].Counts)
			}
		})
	}
}
