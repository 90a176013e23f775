package identity

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/internal/sqldb"
	"github.com/kakehashi/kakehashi/internal/testenv"
)

// benchDB returns the path of a SQLite store holding
// GenerateDataset(n, employees), cached in the system temp directory
// (CachedDataset).
func benchDB(b *testing.B, n, employees int) string {
	b.Helper()
	start := time.Now()
	path, err := CachedDataset(context.Background(), os.TempDir(), n, employees)
	if err != nil {
		b.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		b.Logf("built %s in %v", path, d)
	}
	return path
}

// fillBench commits GenerateDataset(n, employees) to the empty store st
// and folds its relationship log.
func fillBench(b *testing.B, st *SQLStore, n, employees int) {
	b.Helper()
	if err := WriteDataset(context.Background(), st, GenerateDataset(n, employees)); err != nil {
		b.Fatal(err)
	}
}

// copyFile copies a closed SQLite database to dir and returns the copy.
func copyFile(b *testing.B, src, dir string) string {
	b.Helper()
	dst := filepath.Join(dir, filepath.Base(src))
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		b.Fatal(err)
	}
	if err := out.Close(); err != nil {
		b.Fatal(err)
	}
	return dst
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// residentBytes returns the process's resident set size (VmRSS of
// /proc/self/status), or 0 where that cannot be read.
func residentBytes() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kib uint64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kib); err != nil {
				return 0
			}
			return kib << 10
		}
	}
	return 0
}

// BenchmarkColdStart1M opens a State from a SQLite file of a million
// contacts and relationships (300 employees) and reports the time to open
// (s/open), the heap the open State holds per relationship (B/rel,
// contacts included) and, with the State open and after a collection, the
// process's resident memory (RSS-MiB: the most of any iteration, so the
// garbage of one open that the next reuses is not hidden) and the heap in
// use (heap-MiB).
func BenchmarkColdStart1M(b *testing.B) {
	if testing.Short() {
		b.Skip("a million relationships: not in -short mode")
	}
	const n = 1_000_000
	path := benchDB(b, n, 300)
	coldStart(b, n, func(ctx context.Context) (*SQLStore, error) { return OpenSQLite(ctx, path) })
}

// BenchmarkColdStart1MPostgres is BenchmarkColdStart1M on PostgreSQL
// (see benchPostgres for where its database is).
func BenchmarkColdStart1MPostgres(b *testing.B) {
	if testing.Short() {
		b.Skip("a million relationships: not in -short mode")
	}
	const n = 1_000_000
	u := benchPostgres(b, n, 300, false)
	coldStart(b, n, func(ctx context.Context) (*SQLStore, error) { return OpenPostgres(ctx, u) })
}

// benchPostgres returns the URL of a PostgreSQL database holding
// GenerateDataset(n, employees), folded and analysed. It is built once
// per server as a template database named after the schema and generator
// versions, on the server of KAKEHASHI_BENCH_POSTGRES (the URL of any of
// its databases, as a user who may create databases: the template is kept
// there for later runs) or else in the test cluster (built on every run:
// minutes). With fresh, the benchmark gets a copy of its own, dropped at
// its end, to change; otherwise the template itself, to read.
func benchPostgres(b *testing.B, n, employees int, fresh bool) string {
	b.Helper()
	ctx := context.Background()
	server := os.Getenv("KAKEHASHI_BENCH_POSTGRES")
	if server == "" {
		server = testenv.SharedPostgres(b).URL
	}
	admin, err := sqldb.OpenPostgres(ctx, server)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	withDB := func(name string) string {
		u, err := url.Parse(server)
		if err != nil {
			b.Fatal(err)
		}
		u.Path = "/" + name
		return u.String()
	}
	exec := func(stmt string) {
		b.Helper()
		if _, err := admin.ExecContext(ctx, stmt); err != nil {
			b.Fatalf("%s: %v", stmt, err)
		}
	}
	tmpl := fmt.Sprintf("kakehashi_bench_p%d_g%d_%d_%d", PostgresSchemaVersion, generatorVersion, n, employees)
	var have int
	if err := admin.QueryRowContext(ctx, `SELECT count(*) FROM pg_database WHERE datname = $1`, tmpl).Scan(&have); err != nil {
		b.Fatal(err)
	}
	if have == 0 {
		building := tmpl + "_building"
		exec(`DROP DATABASE IF EXISTS ` + building + ` WITH (FORCE)`)
		exec(`CREATE DATABASE ` + building)
		b.Logf("building %s (once per server)", tmpl)
		start := time.Now()
		st, err := OpenPostgres(ctx, withDB(building))
		if err != nil {
			b.Fatal(err)
		}
		fillBench(b, st, n, employees)
		if _, err := st.w.ExecContext(ctx, `VACUUM ANALYZE`); err != nil {
			b.Fatal(err)
		}
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		exec(`ALTER DATABASE ` + building + ` RENAME TO ` + tmpl)
		b.Logf("built %s in %v", tmpl, time.Since(start))
	}
	if !fresh {
		return withDB(tmpl)
	}
	copyName := fmt.Sprintf("kakehashi_bench_copy_%d", time.Now().UnixNano())
	start := time.Now()
	exec(`CREATE DATABASE ` + copyName + ` TEMPLATE ` + tmpl + ` STRATEGY FILE_COPY`)
	b.Logf("copied %s in %v", tmpl, time.Since(start))
	b.Cleanup(func() {
		ctx := context.Background()
		admin, err := sqldb.OpenPostgres(ctx, server)
		if err == nil {
			defer admin.Close()
			_, err = admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+copyName+` WITH (FORCE)`)
		}
		if err != nil {
			b.Errorf("drop %s: %v", copyName, err)
		}
	})
	return withDB(copyName)
}

// coldStart measures opening a State on the store that open opens,
// holding n relationships.
func coldStart(b *testing.B, n int, open func(context.Context) (*SQLStore, error)) {
	b.Helper()
	ctx := context.Background()
	var total time.Duration
	var perRel, heap float64
	var rss uint64
	for b.Loop() {
		base := heapInUse()
		start := time.Now()
		st, err := open(ctx)
		if err != nil {
			b.Fatal(err)
		}
		s, err := Open(ctx, st, nil)
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		inUse := heapInUse()
		perRel = float64(inUse-base) / float64(n)
		heap = float64(inUse) / (1 << 20)
		rss = max(rss, residentBytes())
		if got := s.Snapshot().RelationshipCount(); got != n {
			b.Fatalf("loaded %d relationships, want %d", got, n)
		}
		runtime.KeepAlive(s)
		st.Close()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/open")
	b.ReportMetric(perRel, "B/rel")
	b.ReportMetric(heap, "heap-MiB")
	b.ReportMetric(float64(rss)/(1<<20), "RSS-MiB")
}

// benchState opens a State on a million relationships among 10
// employees ("memory": a MemoryStore; "sqlite": a copy of the cached
// SQLite file; "postgres": a copy of the template database, see
// benchPostgres), with spare employees spare-0… that own nothing, each with
// a personal default persona.
func benchState(b *testing.B, kind string, spares int) (*State, *SQLiteStore) {
	b.Helper()
	const n, employees = 1_000_000, 10
	ctx := context.Background()
	var (
		store Store
		st    *SQLiteStore
	)
	switch kind {
	case "memory":
		m := NewMemoryStore()
		m.Seed(GenerateDataset(n, employees))
		store = m
	case "postgres", "postgres+fold":
		var err error
		if st, err = OpenPostgres(ctx, benchPostgres(b, n, employees, true)); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		store = st
	default:
		path := copyFile(b, benchDB(b, n, employees), b.TempDir())
		var err error
		if st, err = OpenSQLite(ctx, path); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		store = st
	}
	s, err := Open(ctx, store, nil)
	if err != nil {
		b.Fatal(err)
	}
	for i := range spares {
		id := fmt.Sprintf("spare-%d", i)
		if err := s.UpsertEmployee(ctx, "bench", "", Employee{ID: id, Name: "Spare",
			InsideAddrs: []Address{{Network: "corp", Addr: id + "@corp.example"}}, DefaultPersona: "p-" + id}); err != nil {
			b.Fatal(err)
		}
		if err := s.UpsertPersona(ctx, "bench", "", Persona{ID: "p-" + id, DisplayName: "Spare", Kind: Personal,
			EmployeeID: id, Addresses: []Address{{Network: "mail", Addr: id + "@acme.example"}}}); err != nil {
			b.Fatal(err)
		}
	}
	return s, st
}

// settle does, untimed, the work that the untimed part of a benchmark
// iteration left behind: folding the relationship log (st may be nil) and
// collecting its garbage, which the timed part would otherwise pay for.
func settle(b *testing.B, st *SQLiteStore) {
	b.Helper()
	if st != nil {
		if err := st.Flush(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
}

// BenchmarkTransfer100k transfers all 100,000 relationships of one
// employee (1,000,000 relationships among 10 employees), back and forth
// between two employees so every iteration moves the same number (80% of
// them re-homed between personal personas). "sqlite" and "postgres" are
// the transfer as the admin waits for it (durable, visible); "+fold" also
// waits for the relationship log to be folded into the table, the work
// the store otherwise does in the background while idle.
func BenchmarkTransfer100k(b *testing.B) {
	if testing.Short() {
		b.Skip("a million relationships: not in -short mode")
	}
	ctx := context.Background()
	for _, kind := range []string{"memory", "sqlite", "sqlite+fold", "postgres", "postgres+fold"} {
		b.Run(kind, func(b *testing.B) {
			s, st := benchState(b, kind, 1)
			from, to := "emp-0000", "spare-0"
			want := s.Snapshot().OwnedCount(from)
			for b.Loop() {
				t, err := s.Transfer(ctx, TransferRequest{Actor: "bench", Reason: "bench", From: from, To: to})
				if err != nil {
					b.Fatal(err)
				}
				if len(t.Moves) != want {
					b.Fatalf("moved %d, want %d", len(t.Moves), want)
				}
				if strings.HasSuffix(kind, "+fold") {
					if err := st.Flush(ctx); err != nil {
						b.Fatal(err)
					}
				}
				from, to = to, from
			}
			b.ReportMetric(float64(want), "rels/op")
		})
	}
}

// BenchmarkTransferSpread100k spreads the 100,000 relationships of one
// employee over four (least loaded first); each spread is reverted,
// untimed, before the next.
func BenchmarkTransferSpread100k(b *testing.B) {
	if testing.Short() {
		b.Skip("a million relationships: not in -short mode")
	}
	ctx := context.Background()
	for _, kind := range []string{"memory", "sqlite", "postgres"} {
		b.Run(kind, func(b *testing.B) {
			s, st := benchState(b, kind, 4)
			want := s.Snapshot().OwnedCount("emp-0000")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t, err := s.Transfer(ctx, TransferRequest{Actor: "bench", Reason: "bench", From: "emp-0000",
					Targets: []string{"spare-0", "spare-1", "spare-2", "spare-3"}, Strategy: LeastLoaded})
				if err != nil {
					b.Fatal(err)
				}
				if len(t.Moves) != want {
					b.Fatalf("moved %d, want %d", len(t.Moves), want)
				}
				b.StopTimer()
				if _, err := s.RevertTransfer(ctx, "bench", "bench", t.ID); err != nil {
					b.Fatal(err)
				}
				settle(b, st)
				b.StartTimer()
			}
			b.ReportMetric(float64(want), "rels/op")
		})
	}
}

// BenchmarkRevert100k reverts a transfer of 100,000 relationships (made,
// untimed, before each revert): reading and decoding the transfer from
// the audit log, checking and moving every relationship back.
func BenchmarkRevert100k(b *testing.B) {
	if testing.Short() {
		b.Skip("a million relationships: not in -short mode")
	}
	ctx := context.Background()
	for _, kind := range []string{"memory", "sqlite", "postgres"} {
		b.Run(kind, func(b *testing.B) {
			s, st := benchState(b, kind, 1)
			want := s.Snapshot().OwnedCount("emp-0000")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				t, err := s.Transfer(ctx, TransferRequest{Actor: "bench", Reason: "bench", From: "emp-0000", To: "spare-0"})
				if err != nil {
					b.Fatal(err)
				}
				settle(b, st)
				b.StartTimer()
				r, err := s.RevertTransfer(ctx, "bench", "bench", t.ID)
				if err != nil {
					b.Fatal(err)
				}
				if len(r.Moves) != want {
					b.Fatalf("moved back %d, want %d", len(r.Moves), want)
				}
			}
			b.ReportMetric(float64(want), "rels/op")
		})
	}
}

// BenchmarkRoute measures the lookups routing does for one inbound message
// on a state of a million relationships: contact by address, persona by
// address, then the relationship.
func BenchmarkRoute(b *testing.B) {
	if testing.Short() {
		b.Skip("a million relationships: not in -short mode")
	}
	ds := GenerateDataset(1_000_000, 300)
	m := NewMemoryStore()
	m.Seed(ds)
	s, err := Open(context.Background(), m, nil)
	if err != nil {
		b.Fatal(err)
	}
	personaAddr := map[string]Address{}
	for _, p := range ds.Personas {
		personaAddr[p.ID] = p.Addresses[0]
	}
	type probe struct{ contact, persona Address }
	probes := make([]probe, 1024)
	for i := range probes {
		k := i * 977 % len(ds.Relationships)
		probes[i] = probe{ds.Contacts[k].Address, personaAddr[ds.Relationships[k].PersonaID]}
	}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		p := probes[i%len(probes)]
		i++
		sn := s.Snapshot()
		c, ok := sn.ContactByAddr(p.contact)
		if !ok {
			b.Fatal("contact not found")
		}
		per, ok := sn.PersonaByAddr(p.persona)
		if !ok {
			b.Fatal("persona not found")
		}
		if _, ok := sn.RelationshipFor(c.ID, per.ID); !ok {
			b.Fatal("relationship not found")
		}
	}
}

// BenchmarkEnsureRelationship creates one new contact and relationship per
// operation on a state of a million relationships (in-memory store, so the
// figure is the State's own cost, without SQLite's commit and fsync).
func BenchmarkEnsureRelationship(b *testing.B) {
	if testing.Short() {
		b.Skip("a million relationships: not in -short mode")
	}
	m := NewMemoryStore()
	m.Seed(GenerateDataset(1_000_000, 300))
	s, err := Open(context.Background(), m, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		_, _, created, err := s.EnsureRelationship(ctx, NewRelationship{
			Contact:   Address{Network: "mail", Addr: fmt.Sprintf("bench%d@new.example", i)},
			PersonaID: "p-emp-0001", OwnerID: "emp-0001",
		})
		if err != nil || !created {
			b.Fatal(created, err)
		}
	}
}

// consoleDataset is GenerateDataset(n, employees) (the console's:
// 1,000,000 and 2,000) dressed as the
// console's data set (issue 13): contacts by three sources (inbound,
// outreach, expo2026: i mod 3), one relationship in ten tagged "vip" and
// one in seven "expo", and nine in ten active at a time spread over the
// 90 days before consoleNow (the others never).
func consoleDataset(n, employees int) *Dataset {
	ds := GenerateDataset(n, employees)
	sources := [...]string{"inbound", "outreach", "expo2026"}
	for i := range ds.Relationships {
		ds.Contacts[i].Source = sources[i%3]
		r := &ds.Relationships[i]
		switch {
		case i%10 == 0:
			r.Tags = []string{"vip"}
		case i%7 == 0:
			r.Tags = []string{"expo"}
		}
		if i%10 != 9 {
			r.LastActivity = consoleNow.Add(-time.Duration(uint64(i)*0x9e3779b97f4a7c15%(90*86400)) * time.Second)
		}
	}
	return ds
}

// consoleNow is the console data set's clock.
var consoleNow = time.Date(2026, 10, 30, 0, 0, 0, 0, time.UTC)

// consoleSearches are the console's contact searches: the first page of
// 50 (with the total) by owner, tag, source, persona (a personal and a
// team one), network and a week of last activity.
var consoleSearches = []struct {
	name string
	q    RelationshipQuery
}{
	{"owner", RelationshipQuery{OwnerID: "emp-0123"}},
	{"tag", RelationshipQuery{Filter: RelationshipFilter{Tag: "vip"}}},
	{"source", RelationshipQuery{Filter: RelationshipFilter{Source: "expo2026"}}},
	{"persona", RelationshipQuery{Filter: RelationshipFilter{PersonaID: "p-emp-0123"}}},
	{"team-persona", RelationshipQuery{Filter: RelationshipFilter{PersonaID: "p-team-07"}}},
	{"network", RelationshipQuery{Filter: RelationshipFilter{Network: "mail"}}},
	{"active-week", RelationshipQuery{ActiveAfter: consoleNow.AddDate(0, 0, -7), ActiveBefore: consoleNow}},
	{"active-week-by-activity", RelationshipQuery{ActiveAfter: consoleNow.AddDate(0, 0, -7), Order: ByLastActivity}},
	{"tag-page-100", RelationshipQuery{Filter: RelationshipFilter{Tag: "vip"}, Offset: 5000}},
}

// BenchmarkConsoleSearch1M runs the console's contact searches
// (consoleSearches, GET /v1/contacts) on a million relationships among
// 2,000 employees and reports the latencies' p50, p95 and max.
func BenchmarkConsoleSearch1M(b *testing.B) {
	if testing.Short() {
		b.Skip("a million relationships: not in -short mode")
	}
	m := NewMemoryStore()
	m.Seed(consoleDataset(1_000_000, 2000))
	s, err := Open(context.Background(), m, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range consoleSearches {
		b.Run(c.name, func(b *testing.B) {
			q := c.q
			q.Limit = 50
			var ds []time.Duration
			for b.Loop() {
				start := time.Now()
				res, err := s.Snapshot().SearchRelationships(q)
				if err != nil {
					b.Fatal(err)
				}
				ds = append(ds, time.Since(start))
				if len(res.Items) == 0 || res.Total < len(res.Items) {
					b.Fatalf("%d of %d", len(res.Items), res.Total)
				}
			}
			slices.Sort(ds)
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(ds[len(ds)/2]), "p50-ms")
			b.ReportMetric(ms(ds[min(len(ds)-1, (len(ds)*95+99)/100-1)]), "p95-ms")
			b.ReportMetric(ms(ds[len(ds)-1]), "max-ms")
		})
	}
}

// TestSearchPages checks the pages of searches that keep only the first
// matches (offset+limit up to maxTopK) and of those that sort them all
// against a brute-force filter and sort of every relationship.
func TestSearchPages(t *testing.T) {
	ds := consoleDataset(30_000, 40)
	m := NewMemoryStore()
	m.Seed(ds)
	s, err := Open(context.Background(), m, nil)
	if err != nil {
		t.Fatal(err)
	}
	sn := s.Snapshot()
	contacts := map[string]*Contact{}
	for i := range ds.Contacts {
		contacts[ds.Contacts[i].ID] = &ds.Contacts[i]
	}
	for _, c := range consoleSearches {
		for _, order := range []SearchOrder{ByID, ByLastActivity} {
			q := c.q
			q.Order = order
			q.OwnerID = strings.Replace(q.OwnerID, "0123", "0012", 1)
			q.Filter.PersonaID = strings.Replace(q.Filter.PersonaID, "0123", "0012", 1)
			q.Filter.PersonaID = strings.Replace(q.Filter.PersonaID, "team-07", "team-01", 1)
			var want []*Relationship
			for i := range ds.Relationships {
				r := &ds.Relationships[i]
				ct := contacts[r.ContactID]
				if (q.OwnerID == "" || r.OwnerID == q.OwnerID) && (q.Filter.Tag == "" || slices.Contains(r.Tags, q.Filter.Tag)) &&
					(q.Filter.Source == "" || ct.Source == q.Filter.Source) && (q.Filter.PersonaID == "" || r.PersonaID == q.Filter.PersonaID) &&
					(q.Filter.Network == "" || ct.Address.Network == q.Filter.Network) &&
					(q.ActiveAfter.IsZero() || !r.LastActivity.Before(q.ActiveAfter)) &&
					(q.ActiveBefore.IsZero() || r.LastActivity.Before(q.ActiveBefore)) {
					want = append(want, r)
				}
			}
			if order == ByLastActivity {
				slices.SortFunc(want, byLastActivity)
			} else {
				slices.SortFunc(want, byRelID)
			}
			if len(want) < 10 {
				t.Fatalf("%s: %d matches", c.name, len(want))
			}
			for _, page := range [][2]int{{0, 50}, {0, 1}, {7, 13}, {maxTopK - 100, 100}, {maxTopK - 100, 101}, {maxTopK + 1, 50},
				{len(want) - 5, 50}, {len(want), 5}, {0, MaxSearchLimit}} {
				q.Offset, q.Limit = page[0], page[1]
				res, err := sn.SearchRelationships(q)
				if err != nil {
					t.Fatal(err)
				}
				lo, hi := min(q.Offset, len(want)), min(q.Offset+q.Limit, len(want))
				if res.Total != len(want) || len(res.Items) != hi-lo {
					t.Fatalf("%s %q page %v: %d items of %d, want %d of %d", c.name, order, page, len(res.Items), res.Total, hi-lo, len(want))
				}
				for i, it := range res.Items {
					if it.Relationship.ID != want[lo+i].ID || it.Contact == nil || it.Contact.ID != it.Relationship.ContactID {
						t.Fatalf("%s %q page %v: item %d is %s, want %s", c.name, order, page, i, it.Relationship.ID, want[lo+i].ID)
					}
				}
			}
		}
	}
}
