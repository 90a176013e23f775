package analytics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/analytics"
	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/internal/sqldb"
	"github.com/kakehashi/kakehashi/internal/testenv"
	"github.com/kakehashi/kakehashi/storecopy"
)

// The console's data set (issue 13): a million relationships owned by
// 2,000 employees in 20 teams, with about ten million messages over 90
// days, 100,000 of them left waiting for an answer.
const (
	consoleRels      = 1_000_000
	consoleEmployees = 2000
	consoleTeams     = 20
	consoleDays      = 90
	// consoleConvs is how many conversations each relationship has: a
	// contact's message and the owner's answer, one in each 18 days.
	consoleConvs = 5
	// One relationship in consoleWaitEvery is left waiting: its last
	// message is unanswered. One in consoleGoneEvery is marked gone after
	// its last answer.
	consoleWaitEvery = 10
	consoleGoneEvery = 100
)

// consoleDay0 is the first day of the console's data set; its last is
// consoleDay0 + consoleDays - 1.
var consoleDay0 = time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)

// consoleEnd is the console's clock: the end of the data set's last day.
var consoleEnd = consoleDay0.AddDate(0, 0, consoleDays).Add(-time.Second)

// splitmix is a stateless hash of i and k, for a data set that is the
// same on every run.
func splitmix(i, k uint64) uint64 {
	x := i*0x9e3779b97f4a7c15 + k*0xbf58476d1ce4e5b9 + 0x94d049bb133111eb
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// consoleData generates the console's events for relationships 0 to
// rels-1 (out of consoleRels' shape: each relationship's events are the
// same whatever rels is) and hands them to record a UTC day at a time,
// in time order. It returns how many events it generated.
//
// Relationship i ("r-%07d") is owned by a hashed employee emp-%04d of
// team team-%02d (employee number mod 20), on network public-xmpp or
// mail (i mod 2), came by source inbound, outreach or expo2026 (i mod
// 3) and, one in five, through its team's contact point. It starts with
// a new-contact event, then has consoleConvs conversations: a contact's
// message at a random time of an 18-day stretch, answered after 10 s to
// 36 h (log-uniform); the last one is left unanswered one time in
// consoleWaitEvery, and one in consoleGoneEvery is marked gone.
func consoleData(rels int, record func(day []gateway.Event) error) (int, error) {
	const (
		kNew = iota
		kIn
		kOut
		kGone
	)
	// An event is its second in the period, its kind and its relationship
	// packed in a uint64 that sorts by time.
	keys := make([]uint64, 0, rels*(2*consoleConvs+1))
	pack := func(sec int64, kind, rel int) uint64 { return uint64(sec)<<24 | uint64(kind)<<20 | uint64(rel) }
	const stretch = consoleDays / consoleConvs * 86400
	minWait, maxWait := math.Log(10), math.Log(36*3600)
	for i := range rels {
		for k := range consoleConvs {
			h := splitmix(uint64(i), uint64(k))
			in := int64(k*stretch) + int64(h%uint64(stretch-2*86400))
			if k == 0 {
				keys = append(keys, pack(in, kNew, i))
			}
			keys = append(keys, pack(in, kIn, i))
			if k == consoleConvs-1 && i%consoleWaitEvery == 0 {
				continue
			}
			u := float64(h>>40) / (1 << 24)
			out := in + int64(math.Exp(minWait+u*(maxWait-minWait)))
			keys = append(keys, pack(out, kOut, i))
			if k == consoleConvs-1 && i%consoleGoneEvery == 1 {
				keys = append(keys, pack(out+60, kGone, i))
			}
		}
	}
	slices.Sort(keys)
	employees := make([]string, consoleEmployees)
	for e := range employees {
		employees[e] = fmt.Sprintf("emp-%04d", e)
	}
	teams, points := make([]string, consoleTeams), make([]string, consoleTeams)
	for t := range teams {
		teams[t], points[t] = fmt.Sprintf("team-%02d", t), fmt.Sprintf("p-team-%02d", t)
	}
	relIDs := make([]string, rels)
	for i := range relIDs {
		relIDs[i] = fmt.Sprintf("r-%07d", i)
	}
	networks := [...]string{"public-xmpp", "mail"}
	sources := [...]string{"inbound", "outreach", "expo2026"}
	kinds := [...]gateway.EventKind{kNew: gateway.EventNew, kIn: gateway.EventIn, kOut: gateway.EventOut, kGone: gateway.EventGone}
	var day []gateway.Event
	curDay := int64(-1)
	for _, key := range keys {
		sec, kind, i := int64(key>>24), int(key>>20&15), int(key&(1<<20-1))
		if d := sec / 86400; d != curDay {
			if len(day) > 0 {
				if err := record(day); err != nil {
					return 0, err
				}
			}
			day, curDay = day[:0], d
		}
		emp := int(splitmix(uint64(i), 99) % consoleEmployees)
		team := emp % consoleTeams
		e := gateway.Event{At: consoleDay0.Add(time.Duration(sec) * time.Second), Kind: kinds[kind], RelationshipID: relIDs[i],
			OwnerID: employees[emp], Team: teams[team], Network: networks[i%2], Source: sources[i%3]}
		if i%5 == 0 {
			e.ContactPoint = points[team]
		}
		day = append(day, e)
	}
	if len(day) > 0 {
		if err := record(day); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// consoleStores caches the console's stores by dialect for the process:
// they take minutes to fill, and the benchmarks only read them.
var consoleStores = map[string]*analytics.Store{}

// consoleDirs are the directories of the SQLite stores, removed by
// TestMain.
var consoleDirs []string

func TestMain(m *testing.M) {
	code := m.Run()
	for _, s := range consoleStores {
		s.Close()
	}
	for _, d := range consoleDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// consoleStore returns the analytics store of dialect ("sqlite" or
// "postgres") holding the console's data set.
//
// SQLite's is recorded through Record a day at a time (a batch of about
// 110,000 events: far bigger than the gateway's batches of a second, but
// Record carries each relationship's state from batch to batch, so the
// rows are the same; see TestConsoleBatchesAgree): some minutes.
//
// PostgreSQL's is that SQLite store copied by storecopy (`kakehashi store
// copy`, which checks every table's rows by count and checksum), then
// analysed: Record on PostgreSQL, a round trip per row, takes far longer
// (it had not finished the 10 million events after 9 minutes on the
// machine of the figures in BENCHMARKS.md, where SQLite took about 4),
// and writes the same rows.
func consoleStore(b *testing.B, dialect string) *analytics.Store {
	b.Helper()
	if testing.Short() {
		b.Skip("ten million events: not in -short mode")
	}
	if s := consoleStores[dialect]; s != nil {
		return s
	}
	ctx := context.Background()
	var where string
	switch dialect {
	case "postgres":
		consoleStore(b, "sqlite")
		p := testenv.SharedPostgres(b)
		admin, err := sqldb.OpenPostgres(ctx, p.URL)
		if err != nil {
			b.Fatal(err)
		}
		name := fmt.Sprintf("console_bench_%d", time.Now().UnixNano())
		_, err = admin.ExecContext(ctx, `CREATE DATABASE `+name)
		admin.Close()
		if err != nil {
			b.Fatal(err)
		}
		u, err := url.Parse(p.URL)
		if err != nil {
			b.Fatal(err)
		}
		u.Path = "/" + name
		start := time.Now()
		rep, err := storecopy.Copy(ctx, storecopy.Options{From: consoleSQLiteDir, To: u.String(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		if !rep.OK() {
			b.Fatal("the copy to PostgreSQL does not hold what SQLite does")
		}
		if where, err = sqldb.InSchema(ctx, u.String(), analytics.SchemaName); err != nil {
			b.Fatal(err)
		}
		db, err := sqldb.OpenPostgres(ctx, where)
		if err == nil {
			_, err = db.ExecContext(ctx, `ANALYZE`)
			db.Close()
		}
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("postgres: copied and analysed in %v", time.Since(start).Round(time.Second))
	default:
		dir, err := os.MkdirTemp("", "kakehashi-console-bench-")
		if err != nil {
			b.Fatal(err)
		}
		consoleDirs = append(consoleDirs, dir)
		consoleSQLiteDir = dir
		where = filepath.Join(dir, analytics.FileName)
	}
	s, err := analytics.Open(ctx, where)
	if err != nil {
		b.Fatal(err)
	}
	if dialect != "postgres" {
		start := time.Now()
		n, err := consoleData(consoleRels, func(day []gateway.Event) error { return s.Record(ctx, day) })
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("%s: recorded %d events of %d relationships in %v (%.0f events/s)", dialect, n, consoleRels,
			time.Since(start).Round(time.Second), float64(n)/time.Since(start).Seconds())
	}
	consoleStores[dialect] = s
	return s
}

// consoleSQLiteDir is the directory of the SQLite store, which the
// PostgreSQL one is copied from.
var consoleSQLiteDir string

// measure runs fn in a benchmark loop and reports its latencies' p50,
// p95 and max in milliseconds.
func measure(b *testing.B, fn func() error) {
	b.Helper()
	var ds []time.Duration
	for b.Loop() {
		start := time.Now()
		if err := fn(); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	reportLatencies(b, ds)
}

func reportLatencies(b *testing.B, ds []time.Duration) {
	b.Helper()
	slices.Sort(ds)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	pct := func(p float64) time.Duration { return ds[min(len(ds)-1, int(math.Ceil(p*float64(len(ds))))-1)] }
	b.ReportMetric(ms(pct(0.50)), "p50-ms")
	b.ReportMetric(ms(pct(0.95)), "p95-ms")
	b.ReportMetric(ms(ds[len(ds)-1]), "max-ms")
}

var consoleDialects = []string{"sqlite", "postgres"}

// BenchmarkConsoleOverview1M reads the overview (GET /v1/stats/overview)
// of the console's data set: the last 30 and 90 days, of everyone, of a
// team and of an employee.
func BenchmarkConsoleOverview1M(b *testing.B) {
	ctx := context.Background()
	to := consoleEnd
	for _, dialect := range consoleDialects {
		b.Run(dialect, func(b *testing.B) {
			s := consoleStore(b, dialect)
			for _, days := range []int{30, 90} {
				for _, f := range []struct {
					name string
					f    analytics.Filter
				}{{"all", analytics.Filter{}}, {"team", analytics.Filter{Team: "team-07"}}, {"employee", analytics.Filter{Employee: "emp-0123"}}} {
					b.Run(fmt.Sprintf("%dd/%s", days, f.name), func(b *testing.B) {
						from := to.AddDate(0, 0, -(days - 1))
						measure(b, func() error {
							o, err := s.Overview(ctx, from, to, f.f)
							if err == nil && o.Total.In == 0 {
								err = fmt.Errorf("no messages in %+v", o.Total)
							}
							return err
						})
					})
				}
			}
		})
	}
}

// BenchmarkConsoleWaiting1M reads the first page of the waiting list
// (GET /v1/waiting?limit=50: the 50 oldest) of the console's data set,
// of everyone and of a team.
func BenchmarkConsoleWaiting1M(b *testing.B) {
	ctx := context.Background()
	for _, dialect := range consoleDialects {
		b.Run(dialect, func(b *testing.B) {
			s := consoleStore(b, dialect)
			for _, f := range []struct {
				name string
				f    analytics.Filter
			}{{"all", analytics.Filter{}}, {"team", analytics.Filter{Team: "team-07"}}, {"employee", analytics.Filter{Employee: "emp-0123"}}} {
				b.Run(f.name, func(b *testing.B) {
					measure(b, func() error {
						l, err := s.Waiting(ctx, analytics.WaitingQuery{Now: consoleEnd, Filter: f.f, Limit: 50})
						if err == nil && len(l) == 0 {
							err = fmt.Errorf("nobody waits")
						}
						return err
					})
				})
			}
		})
	}
}

// TestConsoleBatchesAgree checks that recording the console's events a
// day at a time (as consoleStore does) leaves the numbers and the
// waiting list that the gateway's batches of a thousand events do.
func TestConsoleBatchesAgree(t *testing.T) {
	ctx := context.Background()
	var got []string
	for _, batch := range []int{1000, 0} {
		s, err := analytics.Open(ctx, filepath.Join(t.TempDir(), analytics.FileName))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		n, err := consoleData(3000, func(day []gateway.Event) error {
			if batch == 0 {
				return s.Record(ctx, day)
			}
			for c := range slices.Chunk(day, batch) {
				if err := s.Record(ctx, c); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n < 30000 {
			t.Fatalf("%d events", n)
		}
		var all []any
		for _, f := range []analytics.Filter{{}, {Team: "team-07"}, {Employee: "emp-0123"}} {
			o, err := s.Overview(ctx, consoleDay0, consoleEnd, f)
			if err != nil {
				t.Fatal(err)
			}
			w, err := s.Waiting(ctx, analytics.WaitingQuery{Now: consoleEnd, Filter: f, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, o, w)
		}
		b, err := json.Marshal(all)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(b))
	}
	if got[0] != got[1] {
		t.Errorf("a day at a time:\n%.2000s\nbatches of 1,000:\n%.2000s", got[1], got[0])
	}
}

// TestRollupsAgree checks that the overviews of everyone and of a team,
// read from the rollups by team and day, are those read from daily and
// response_hist themselves, whether Record filled the rollups or
// migration 0003 did from counters already there.
func TestRollupsAgree(t *testing.T) {
	ctx := context.Background()
	for _, st := range stores() {
		t.Run(st.name, func(t *testing.T) {
			s := st.open(t)
			if _, err := consoleData(2000, func(day []gateway.Event) error { return s.Record(ctx, day) }); err != nil {
				t.Fatal(err)
			}
			check := func(how string) {
				t.Helper()
				for _, f := range []analytics.Filter{{}, {Team: "team-07"}, {Team: "team-07", Employee: "emp-0127"}, {Team: "nobody"}} {
					for _, days := range []int{1, 30, consoleDays} {
						from := consoleEnd.AddDate(0, 0, 1-days)
						got, err := s.Overview(ctx, from, consoleEnd, f)
						if err != nil {
							t.Fatal(err)
						}
						want, err := s.OverviewRaw(ctx, from, consoleEnd, f)
						if err != nil {
							t.Fatal(err)
						}
						g, _ := json.Marshal(got)
						w, _ := json.Marshal(want)
						if string(g) != string(w) {
							t.Errorf("%s, %+v, %d days:\nrollups %.1500s\nraw     %.1500s", how, f, days, g, w)
						}
						if f.Team == "team-07" && days == consoleDays && got.Total.In == 0 {
							t.Errorf("%s: no traffic in %+v", how, f)
						}
					}
				}
			}
			check("recorded")
			if err := s.RebuildRollups(ctx); err != nil {
				t.Fatal(err)
			}
			check("migrated")
		})
	}
}
