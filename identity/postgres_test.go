package identity

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/internal/testenv"
)

var errConnLost = errors.New("connection lost during COMMIT")

// TestPostgresCommitOutcome: a commit whose connection failed is
// resolved by asking the server how its transaction ended.
func TestPostgresCommitOutcome(t *testing.T) {
	st, _ := sqlStore(t, "postgres")
	ctx := context.Background()
	for _, commit := range []bool{true, false} {
		tx, err := st.w.BeginTx(ctx, nil)
		noErr(t, err)
		xid, err := st.txID(ctx, tx)
		noErr(t, err)
		if xid == 0 {
			t.Fatal("no transaction id")
		}
		seqs, err := st.insertAudit(ctx, tx, []AuditEntry{{Actor: "x", Action: fmt.Sprint("outcome.", commit)}})
		noErr(t, err)
		if commit {
			noErr(t, tx.Commit())
		} else {
			noErr(t, tx.Rollback())
		}
		err = st.commitOutcome(ctx, xid, errConnLost)
		switch {
		case commit && err != nil:
			t.Fatalf("committed transaction %d (audit seq %d): %v", xid, seqs[0], err)
		case !commit && !errors.Is(err, errConnLost):
			t.Fatalf("rolled back transaction: %v, want the commit's error", err)
		case !commit && errors.Is(err, ErrCommitUnknown):
			t.Fatalf("rolled back transaction reported unknown: %v", err)
		}
	}
}

// TestPostgresCommitOutcomeUnknown: with the server gone, the outcome of
// a commit is unknown, and State refuses changes until opened again; the
// server back, what the store holds is what a new State shows.
func TestPostgresCommitOutcomeUnknown(t *testing.T) {
	p := testenv.StartPostgres(t)
	url := p.NewDatabase(t)
	ctx := context.Background()
	st, err := OpenPostgres(ctx, url)
	noErr(t, err)
	t.Cleanup(func() { st.Close() })
	st.outcomeWait = 300 * time.Millisecond
	tx, err := st.w.BeginTx(ctx, nil)
	noErr(t, err)
	xid, err := st.txID(ctx, tx)
	noErr(t, err)
	p.Crash(t)
	tx.Rollback() //nolint:errcheck // the connection is gone
	start := time.Now()
	err = st.commitOutcome(ctx, xid, errConnLost)
	if !errors.Is(err, ErrCommitUnknown) || !errors.Is(err, errConnLost) {
		t.Fatalf("server down: %v, want ErrCommitUnknown wrapping the commit's error", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("gave up after %v, want about outcomeWait", d)
	}
	p.Start(t)
	// Back up, the server knows: the transaction died with the crash.
	st.outcomeWait = 10 * time.Second
	if err := st.commitOutcome(ctx, xid, errConnLost); !errors.Is(err, errConnLost) || errors.Is(err, ErrCommitUnknown) {
		t.Fatalf("after restart: %v, want the commit's error (aborted)", err)
	}

	// State stops at an unknown outcome.
	fs := &unknownStore{Store: st}
	f := newFixtureWith(t, fs)
	fs.unknown = true
	err = f.s.UpsertEmployee(f.ctx, "a", "r", Employee{ID: "zoe", Name: "Z", InsideAddrs: []Address{{"corp", "z@corp.test"}}})
	if !errors.Is(err, ErrCommitUnknown) {
		t.Fatalf("mutation: %v, want ErrCommitUnknown", err)
	}
	fs.unknown = false
	err = f.s.UpsertEmployee(f.ctx, "a", "r", Employee{ID: "yan", Name: "Y", InsideAddrs: []Address{{"corp", "y@corp.test"}}})
	if !errors.Is(err, ErrCommitUnknown) || !strings.Contains(err.Error(), "open the state again") {
		t.Fatalf("mutation after an unknown outcome: %v, want the State broken", err)
	}
	// The store committed the first change in fact: a new State has it.
	s2 := openState(t, st)
	if _, ok := s2.Snapshot().Employee("zoe"); !ok {
		t.Fatal("a State opened again lacks what the store committed")
	}
}

// unknownStore commits, then reports the outcome unknown, while unknown
// is set: what a connection lost just after the server committed looks
// like once the server stays out of reach.
type unknownStore struct {
	Store
	unknown bool
}

func (s *unknownStore) Commit(ctx context.Context, c *Changeset) error {
	if err := s.Store.Commit(ctx, c); err != nil {
		return err
	}
	if s.unknown {
		return fmt.Errorf("%w (test)", ErrCommitUnknown)
	}
	return nil
}

// TestPostgresRestartKeepsCommitted: changes committed before the server
// crashes are there after it recovers, for the store that stayed open
// (its pool reconnects) and for a State opened anew.
func TestPostgresRestartKeepsCommitted(t *testing.T) {
	p := testenv.StartPostgres(t)
	url := p.NewDatabase(t)
	ctx := context.Background()
	st, err := OpenPostgres(ctx, url)
	noErr(t, err)
	t.Cleanup(func() { st.Close() })
	f := newFixtureWith(t, st)
	f.ensure("a@ext.test", "p-alice", "alice")
	_, err = f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "r", From: "alice", To: "bob"})
	f.must(err)
	_, _, _, want := snapshotRecords(f.s.Snapshot())
	wantAudit := f.audit(AuditQuery{Limit: MaxAuditLimit})
	p.Crash(t)
	p.Start(t)
	// The pool's connections died with the server; a mutation may fail
	// once on one of them (nothing stored: the server said so, or the
	// connection broke before COMMIT), then goes through.
	var ensureErr error
	for range 3 {
		if _, _, _, ensureErr = f.s.EnsureRelationship(f.ctx, NewRelationship{Contact: Address{"public-xmpp", "b@ext.test"},
			PersonaID: "p-bob", OwnerID: "bob", Source: "test"}); ensureErr == nil {
			break
		}
	}
	f.must(ensureErr)
	st2, err := OpenPostgres(ctx, url)
	noErr(t, err)
	t.Cleanup(func() { st2.Close() })
	s2 := openState(t, st2)
	_, _, _, got := snapshotRecords(s2.Snapshot())
	if len(got) != len(want)+1 {
		t.Fatalf("%d relationships after the restart, want %d", len(got), len(want)+1)
	}
	byID := map[string]Relationship{}
	for _, r := range got {
		byID[r.ID] = r
	}
	for _, w := range want {
		if !reflect.DeepEqual(byID[w.ID], w) {
			t.Fatalf("relationship %s after the restart:\n got %+v\nwant %+v", w.ID, byID[w.ID], w)
		}
	}
	audit, err := s2.Audit(ctx, AuditQuery{Limit: MaxAuditLimit})
	noErr(t, err)
	if !reflect.DeepEqual(audit[:len(wantAudit)], wantAudit) {
		t.Fatal("audit log after the restart differs")
	}
}

// TestPostgresTwoStoresAdmins: two processes on one database (two
// stores) add and revoke admins at once: each name once, each revocation
// once.
func TestPostgresTwoStoresAdmins(t *testing.T) {
	_, reopen := sqlStore(t, "postgres")
	ctx := context.Background()
	var stores [2]*SQLStore
	for i := range stores {
		st, err := reopen(ctx)
		noErr(t, err)
		stores[i] = st
	}
	at := time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)
	const names = 20
	var wg sync.WaitGroup
	var mu sync.Mutex
	added, conflicts := map[string]int{}, 0
	for i, st := range stores {
		wg.Go(func() {
			for n := range names {
				// The same names, in another case on the second store.
				name := fmt.Sprintf("admin%02d", n)
				if i == 1 {
					name = strings.ToUpper(name)
				}
				var h [32]byte
				copy(h[:], fmt.Sprintf("%d-%d", i, n))
				err := st.AddAdmin(ctx, &Admin{Name: name, Role: RoleAdmin, CreatedAt: at, CreatedBy: "t"}, h, "",
					[]*AuditEntry{{At: at, Actor: "t", Action: ActionAdminAdd, Subject: AdminActor(name)}})
				mu.Lock()
				switch {
				case err == nil:
					added[strings.ToLower(name)]++
				case errors.Is(err, ErrConflict):
					conflicts++
				default:
					t.Errorf("add %s: %v", name, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(added) != names || conflicts != names {
		t.Fatalf("%d names added, %d conflicts; want %d and %d", len(added), conflicts, names, names)
	}
	for name, n := range added {
		if n != 1 {
			t.Fatalf("%s added %d times", name, n)
		}
	}
	revoked, already := 0, 0
	for _, st := range stores {
		wg.Go(func() {
			for n := range names {
				err := st.RevokeAdmin(ctx, fmt.Sprintf("Admin%02d", n), at, "t",
					&AuditEntry{At: at, Actor: "t", Action: ActionAdminRevoke})
				mu.Lock()
				switch {
				case err == nil:
					revoked++
				case errors.Is(err, ErrConflict):
					already++
				default:
					t.Errorf("revoke: %v", err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if revoked != names || already != names {
		t.Fatalf("%d revoked, %d already revoked; want %d and %d", revoked, already, names, names)
	}
	l, err := stores[0].Audit(ctx, AuditQuery{Limit: MaxAuditLimit})
	noErr(t, err)
	if len(l) != 2*names {
		t.Fatalf("%d audit entries, want %d (one per act that happened)", len(l), 2*names)
	}
}

// TestPostgresTwoStoresAuditOrder: audit entries committed by two stores
// at once get sequence numbers in commit order, so a reader paging by
// AfterSeq while they commit misses none.
func TestPostgresTwoStoresAuditOrder(t *testing.T) {
	_, reopen := sqlStore(t, "postgres")
	ctx := context.Background()
	const writers, each = 2, 100
	var wg sync.WaitGroup
	for w := range writers {
		st, err := reopen(ctx)
		noErr(t, err)
		wg.Go(func() {
			for i := range each {
				cs := &Changeset{Audit: []AuditEntry{{Actor: fmt.Sprint("w", w), Action: "test.order", Subject: fmt.Sprint(i)}}}
				if err := st.Commit(ctx, cs); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	reader, err := reopen(ctx)
	noErr(t, err)
	seen := map[uint64]bool{}
	var after uint64
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for finished := false; !finished; {
		select {
		case <-done:
			finished = true
		default:
		}
		l, err := reader.Audit(ctx, AuditQuery{AfterSeq: after, Limit: 7})
		noErr(t, err)
		for _, e := range l {
			seen[e.Seq] = true
			after = e.Seq
		}
	}
	for {
		l, err := reader.Audit(ctx, AuditQuery{AfterSeq: after, Limit: MaxAuditLimit})
		noErr(t, err)
		if len(l) == 0 {
			break
		}
		for _, e := range l {
			seen[e.Seq] = true
			after = e.Seq
		}
	}
	all, err := reader.Audit(ctx, AuditQuery{Limit: MaxAuditLimit})
	noErr(t, err)
	if len(all) != writers*each || len(seen) != len(all) {
		t.Fatalf("paging saw %d of %d entries (want %d)", len(seen), len(all), writers*each)
	}
}

// TestPostgresTwoFolders: two stores fold one relationship log at once
// (each process runs a folder) while one of them writes: the table ends
// as the newest writes left it.
func TestPostgresTwoFolders(t *testing.T) {
	st, reopen := sqlStore(t, "postgres")
	holdFolder(st)
	ctx := context.Background()
	ds, rels := bulkDataset(3 * relChunkSize)
	noErr(t, st.Commit(ctx, &Changeset{Employees: ds.Employees, Personas: ds.Personas, Contacts: ds.Contacts, Relationships: rels}))
	other, err := reopen(ctx)
	noErr(t, err)
	holdFolder(other)
	want := map[string]Relationship{}
	for _, r := range rels {
		want[r.ID] = *r
	}
	var wg sync.WaitGroup
	for _, s := range []*SQLStore{st, other} {
		wg.Go(func() {
			if err := s.Flush(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	// Newer versions written meanwhile, some of them to the log.
	for i := 0; i < len(rels); i += 97 {
		r := *rels[i]
		r.OwnerID, r.Version = "emp-0002", r.Version+1
		noErr(t, st.Commit(ctx, &Changeset{Relationships: []*Relationship{&r}}))
		want[r.ID] = r
	}
	wg.Wait()
	noErr(t, st.Flush(ctx))
	noErr(t, other.Flush(ctx))
	var logRows int
	noErr(t, st.r.QueryRow(`SELECT count(*) FROM relationship_log`).Scan(&logRows))
	if logRows != 0 {
		t.Fatalf("%d log rows after both flushed", logRows)
	}
	for _, s := range []*SQLStore{st, other} {
		if got := loadRels(t, s); !reflect.DeepEqual(got, want) {
			t.Fatal("the table after two folders differs from the newest writes")
		}
	}
}

func TestOpenStoreChoosesByURL(t *testing.T) {
	ctx := context.Background()
	path := t.TempDir() + "/identity.db"
	for _, u := range []string{path, "sqlite:" + path} {
		st, err := OpenStore(ctx, u)
		noErr(t, err)
		if st.Dialect().String() != "sqlite" || st.Path() != path {
			t.Fatalf("%s: %s store at %q", u, st.Dialect(), st.Path())
		}
		noErr(t, st.Close())
	}
	url := testenv.SharedPostgres(t).NewSchema(t)
	st, err := OpenStore(ctx, url)
	noErr(t, err)
	defer st.Close()
	if st.Dialect().String() != "postgres" {
		t.Fatalf("%s: %s store", url, st.Dialect())
	}
	if _, err := OpenStore(ctx, "mysql://x/y"); err == nil {
		t.Fatal("mysql:// accepted")
	}
	if _, err := OpenStore(ctx, "postgres://u:secret@127.0.0.1:1/x?sslmode=disable&connect_timeout=2"); err == nil ||
		strings.Contains(err.Error(), "secret") {
		t.Fatalf("unreachable server: %v (and never the password)", err)
	}
}

// TestPostgresLoadSharesOneSnapshot: every read of a Load sees the
// database as it was when the Load began, whatever another process
// commits meanwhile.
func TestPostgresLoadSharesOneSnapshot(t *testing.T) {
	st, reopen := sqlStore(t, "postgres")
	ctx := context.Background()
	ds := GenerateDataset(10, 2)
	noErr(t, st.Commit(ctx, &Changeset{Employees: ds.Employees[:1]}))
	anchor, begin, _, err := st.sharedSnapshot(ctx)
	noErr(t, err)
	defer anchor.Rollback() //nolint:errcheck // read-only
	other, err := reopen(ctx)
	noErr(t, err)
	noErr(t, other.Commit(ctx, &Changeset{Employees: ds.Employees[1:2]}))
	tx, err := begin(ctx)
	noErr(t, err)
	defer tx.Rollback() //nolint:errcheck // read-only
	es, err := loadDocs[Employee]("employees")(ctx, tx)
	noErr(t, err)
	if len(es) != 1 || es[0].ID != ds.Employees[0].ID {
		t.Fatalf("a read begun after another commit saw %d employees, want the 1 of the snapshot", len(es))
	}
	if l, err := other.Load(ctx); err != nil || len(l.Employees) != 2 {
		t.Fatalf("a new Load: %v, %v; want both employees", l, err)
	}
}

// TestPostgresBulkCommitFailsWhole: a bulk commit (its log chunks and audit
// entries in one pipeline, pgWriteBulk) that the server refuses halfway
// stores nothing, and the store commits again afterwards, each entry
// with its own sequence number.
func TestPostgresBulkCommitFailsWhole(t *testing.T) {
	st, _ := sqlStore(t, "postgres")
	holdFolder(st)
	ctx := context.Background()
	ds, rels := bulkDataset(relLogThreshold + relChunkSize/2)
	noErr(t, st.Commit(ctx, &Changeset{Employees: ds.Employees, Personas: ds.Personas, Contacts: ds.Contacts}))
	at := time.Date(2025, 4, 1, 9, 0, 0, 0, time.UTC)
	entries := func(details string) []AuditEntry {
		return []AuditEntry{
			{At: at, Actor: "a", Action: "test.first", Reason: "r", Subject: "s"},
			{At: at, Actor: "a", Action: "test.second", Reason: "r", Subject: "s", Details: []byte(details)},
		}
	}
	// Not UTF-8: the server refuses the second entry, after the chunks.
	if err := st.Commit(ctx, &Changeset{Relationships: rels, Audit: entries("{\"x\":\"\xff\"}")}); err == nil {
		t.Fatal("invalid UTF-8 accepted into the audit")
	}
	var logRows, auditRows int
	noErr(t, st.r.QueryRow(`SELECT count(*) FROM relationship_log`).Scan(&logRows))
	noErr(t, st.r.QueryRow(`SELECT count(*) FROM audit`).Scan(&auditRows))
	if n, _ := st.PendingChunks(); n != 0 || logRows != 0 || auditRows != 0 {
		t.Fatalf("a failed commit left %d pending, %d log rows, %d audit rows", n, logRows, auditRows)
	}
	for range 2 {
		c := &Changeset{Relationships: rels, Audit: entries(`{"x":"日本"}`)}
		noErr(t, st.Commit(ctx, c))
		got, err := st.Audit(ctx, AuditQuery{AfterSeq: c.Audit[0].Seq - 1})
		noErr(t, err)
		if len(got) != 2 || got[0].Seq != c.Audit[0].Seq || got[1].Seq != c.Audit[1].Seq ||
			got[0].Action != "test.first" || got[0].Details != nil || string(got[1].Details) != `{"x":"日本"}` || !got[1].At.Equal(at) {
			t.Fatalf("committed %+v, read back %+v", c.Audit, got)
		}
	}
	if n, _ := st.PendingChunks(); n != 4 {
		t.Fatalf("%d chunks pending, want 4", n)
	}
	want := map[string]Relationship{}
	for _, r := range rels {
		want[r.ID] = *r
	}
	if got := loadRels(t, st); !reflect.DeepEqual(got, want) {
		t.Fatal("relationships read back differ")
	}
}
