package identity

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRelChunkRoundTrip(t *testing.T) {
	at := time.Date(2025, 2, 3, 4, 5, 6, 789, time.UTC)
	rels := []Relationship{
		{ID: "r-1", ContactID: "c-1", PersonaID: "p", CreatedAt: at, Version: 1},
		{ID: "r-2", ContactID: "c-2", PersonaID: "p", OwnerID: "alice", FormerPersonaIDs: []string{"p-x", "p-y"},
			Tags: []string{"vip", "日本"}, Remark: "line\nbreak 'q'", CreatedAt: at, UpdatedAt: at.Add(time.Hour),
			LastActivity: at.Add(2 * time.Hour), Version: 1 << 40, OwnerVersion: 7, LastTransferID: "t-1", MergedInto: "r-1"},
	}
	b := appendRelChunk(nil, relPtrs(rels))
	got, err := decodeRelChunk(b, func(s string) string { return s })
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, rels) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, rels)
	}
	for _, bad := range [][]byte{nil, {9}, b[:len(b)-1], append(slices.Clone(b), 0)} {
		if _, err := decodeRelChunk(bad, func(s string) string { return s }); err == nil {
			t.Fatalf("corrupt chunk %x decoded", bad)
		}
	}
}

// bulkRels returns n relationships of the dataset's contacts, as a State
// would hand a Store, and the dataset.
func bulkDataset(n int) (*Dataset, []*Relationship) {
	ds := GenerateDataset(n, 4)
	return ds, relPtrs(ds.Relationships)
}

func loadRels(t *testing.T, st Store) map[string]Relationship {
	t.Helper()
	ds, err := st.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]Relationship{}
	for _, r := range ds.Relationships {
		if _, dup := m[r.ID]; dup {
			t.Fatalf("relationship %s loaded twice", r.ID)
		}
		m[r.ID] = r
	}
	return m
}

// holdFolder stops st's background folder, so that tests see the log as
// they left it.
func holdFolder(st *SQLiteStore) {
	st.stopFolder()
	<-st.folderDone
}

func TestSQLStoreRelationshipLog(t *testing.T) {
	forEachStore(t, sqlKinds(), func(t *testing.T, kind string) {
		st, reopen := sqlStore(t, kind)
		holdFolder(st)
		ctx := context.Background()
		ds, rels := bulkDataset(relLogThreshold + relChunkSize/2)
		chunks := (len(rels) + relChunkSize - 1) / relChunkSize
		noErr(t, st.Commit(ctx, &Changeset{Employees: ds.Employees, Personas: ds.Personas, Contacts: ds.Contacts, Relationships: rels}))
		if n, _ := st.PendingChunks(); n != chunks {
			t.Fatalf("%d chunks pending, want %d", n, chunks)
		}
		want := map[string]Relationship{}
		for _, r := range rels {
			want[r.ID] = *r
		}
		if got := loadRels(t, st); !reflect.DeepEqual(got, want) {
			t.Fatal("Load with pending chunks differs")
		}
		// A small write now goes to the log too, after the chunks, and wins.
		changed := *rels[7]
		changed.OwnerID, changed.Version, changed.Tags, changed.Remark = "emp-0003", 9, []string{"vip"}, "later"
		noErr(t, st.Commit(ctx, &Changeset{Relationships: []*Relationship{&changed}}))
		want[changed.ID] = changed
		if n, _ := st.PendingChunks(); n != chunks+1 {
			t.Fatalf("%d chunks pending, want %d", n, chunks+1)
		}
		if got := loadRels(t, st); !reflect.DeepEqual(got, want) {
			t.Fatal("Load after a small logged write differs")
		}
		// Closed with chunks pending, reopened: Load applies them.
		noErr(t, st.Close())
		st2, err := reopen(ctx)
		noErr(t, err)
		defer st2.Close()
		holdFolder(st2)
		if got := loadRels(t, st2); !reflect.DeepEqual(got, want) {
			t.Fatal("Load after reopening differs")
		}
		noErr(t, st2.Flush(ctx))
		if n, err := st2.PendingChunks(); n != 0 || err != nil {
			t.Fatalf("after Flush: %d pending, %v", n, err)
		}
		if got := loadRels(t, st2); !reflect.DeepEqual(got, want) {
			t.Fatal("Load after folding differs")
		}
		var logRows int
		noErr(t, st2.r.QueryRow(`SELECT count(*) FROM relationship_log`).Scan(&logRows))
		if logRows != 0 {
			t.Fatalf("%d log rows after Flush", logRows)
		}
		// With the log empty, small writes go to the table directly.
		changed.Version = 10
		noErr(t, st2.Commit(ctx, &Changeset{Relationships: []*Relationship{&changed}}))
		if n, _ := st2.PendingChunks(); n != 0 {
			t.Fatal("a small write was logged with the log empty")
		}
	})
}

func TestSQLStoreFolderDrainsLog(t *testing.T) {
	forEachStore(t, sqlKinds(), func(t *testing.T, kind string) {
		st, _ := sqlStore(t, kind)
		ctx := context.Background()
		ds, rels := bulkDataset(relLogThreshold)
		noErr(t, st.Commit(ctx, &Changeset{Employees: ds.Employees, Personas: ds.Personas, Contacts: ds.Contacts, Relationships: rels}))
		deadline := time.Now().Add(10 * time.Second)
		for {
			n, err := st.PendingChunks()
			noErr(t, err)
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d chunks still pending", n)
			}
			time.Sleep(20 * time.Millisecond)
		}
		var n int
		noErr(t, st.r.QueryRow(`SELECT count(*) FROM relationships`).Scan(&n))
		if n != len(rels) {
			t.Fatalf("%d rows folded, want %d", n, len(rels))
		}
	})
}

func TestSQLStoreLogRefusesNUL(t *testing.T) {
	forEachStore(t, sqlKinds(), func(t *testing.T, kind string) {
		st, _ := sqlStore(t, kind)
		_, rels := bulkDataset(relLogThreshold)
		rels[5].Remark = "a\x00b"
		if err := st.Commit(context.Background(), &Changeset{Relationships: rels}); err == nil {
			t.Fatal("NUL accepted into the log")
		}
		if n, _ := st.PendingChunks(); n != 0 {
			t.Fatal("a failed commit left chunks")
		}
	})
}

// TestSQLiteMigratesVersion1 opens a database as version 1 of the schema
// left it: the new columns are added, old rows read with their defaults.
func TestSQLiteMigratesVersion1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := sql.Open("sqlite", path)
	noErr(t, err)
	for _, stmt := range []string{
		`CREATE TABLE employees (id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL) WITHOUT ROWID`,
		`CREATE TABLE personas (id TEXT PRIMARY KEY NOT NULL, doc TEXT NOT NULL) WITHOUT ROWID`,
		`CREATE TABLE contacts (id TEXT PRIMARY KEY NOT NULL, network TEXT NOT NULL, addr TEXT NOT NULL,
			display_name TEXT NOT NULL DEFAULT '', source TEXT NOT NULL DEFAULT '', tags TEXT,
			created_at INTEGER NOT NULL, UNIQUE (network, addr)) WITHOUT ROWID`,
		`CREATE TABLE relationships (id TEXT PRIMARY KEY NOT NULL, contact_id TEXT NOT NULL, persona_id TEXT NOT NULL,
			owner_id TEXT NOT NULL DEFAULT '', former_persona_ids TEXT, merged_into TEXT NOT NULL DEFAULT '',
			created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID`,
		`CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL,
			action TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '', subject TEXT NOT NULL DEFAULT '', details TEXT)`,
		`INSERT INTO contacts VALUES ('c-1', 'mail', 'a@ext.test', 'A', 'inbound', NULL, 1000)`,
		`INSERT INTO relationships VALUES ('r-1', 'c-1', 'p-a', 'alice', '["p-old"]', '', 1000, 2000, 3)`,
		`PRAGMA user_version = 1`,
	} {
		_, err := db.Exec(stmt)
		noErr(t, err)
	}
	noErr(t, db.Close())

	st, err := OpenSQLite(context.Background(), path)
	noErr(t, err)
	defer st.Close()
	var v int
	noErr(t, st.w.QueryRow(`PRAGMA user_version`).Scan(&v))
	if v != SQLiteSchemaVersion {
		t.Fatalf("schema version %d after migration", v)
	}
	got := loadRels(t, st)["r-1"]
	want := Relationship{ID: "r-1", ContactID: "c-1", PersonaID: "p-a", OwnerID: "alice", FormerPersonaIDs: []string{"p-old"},
		CreatedAt: fromUnixNano(1000), UpdatedAt: fromUnixNano(2000), Version: 3}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("migrated row:\n got %+v\nwant %+v", got, want)
	}
	// The new columns work, and migrating again changes nothing.
	got.Tags, got.Remark, got.OwnerVersion, got.LastActivity = []string{"vip"}, "note", 4, fromUnixNano(5000)
	noErr(t, st.Commit(context.Background(), &Changeset{Relationships: []*Relationship{&got}}))
	noErr(t, st.Close())
	st2, err := OpenSQLite(context.Background(), path)
	noErr(t, err)
	defer st2.Close()
	if again := loadRels(t, st2)["r-1"]; !reflect.DeepEqual(again, got) {
		t.Fatalf("after reopening:\n got %+v\nwant %+v", again, got)
	}
}

// TestBulkTransferThroughLogPersists moves enough relationships for the
// log, then reopens before and after folding.
func TestBulkTransferThroughLogPersists(t *testing.T) {
	forEachStore(t, sqlKinds(), func(t *testing.T, kind string) {
		st, reopen := sqlStore(t, kind)
		holdFolder(st)
		ctx := context.Background()
		ds := GenerateDataset(5*relLogThreshold, 3)
		noErr(t, st.Commit(ctx, &Changeset{Employees: ds.Employees, Personas: ds.Personas, Contacts: ds.Contacts,
			Relationships: relPtrs(ds.Relationships)}))
		noErr(t, st.Flush(ctx))
		s := openState(t, st)
		tr, err := s.Transfer(ctx, TransferRequest{Actor: "a", Reason: "r", From: "emp-0000", Targets: []string{"emp-0001", "emp-0002"}, Strategy: LeastLoaded})
		noErr(t, err)
		if len(tr.Moves) < relLogThreshold {
			t.Fatalf("only %d moved", len(tr.Moves))
		}
		if n, _ := st.PendingChunks(); n == 0 {
			t.Fatal("the transfer did not go through the log")
		}
		_, _, _, want := snapshotRecords(s.Snapshot())
		noErr(t, st.Close())
		for _, flush := range []bool{false, true} {
			st2, err := reopen(ctx)
			noErr(t, err)
			holdFolder(st2)
			if flush {
				noErr(t, st2.Flush(ctx))
			}
			s2 := openState(t, st2)
			if _, _, _, got := snapshotRecords(s2.Snapshot()); !reflect.DeepEqual(got, want) {
				t.Fatalf("flushed %v: state after reopening differs", flush)
			}
			if flush {
				if _, err := s2.RevertTransfer(ctx, "a", "r", tr.ID); err != nil {
					t.Fatal(err)
				}
			}
			noErr(t, st2.Close())
		}
	})
}

// TestSpreadAndRevertAtomicForReaders checks, under -race, that readers
// of snapshots never see a spread transfer or its revert half done.
func TestSpreadAndRevertAtomicForReaders(t *testing.T) {
	f := newFixtureWith(t, NewMemoryStore())
	n := parallelStage + 200 // big enough to stage beside the store commit
	var ids []string
	for i := range n {
		persona := []string{"p-alice", "p-support"}[i%2]
		ids = append(ids, f.ensure(fmt.Sprintf("c%05d@ext.test", i), persona, "alice").ID)
	}
	var (
		stop    atomic.Bool
		wg      sync.WaitGroup
		checked atomic.Int64
	)
	for range 3 {
		wg.Go(func() {
			for !stop.Load() {
				sn := f.s.Snapshot()
				owners := map[string]int{}
				for _, id := range ids {
					r, _ := sn.Relationship(id)
					owners[r.OwnerID]++
				}
				// All with alice, or none with alice and all with the team.
				if !(owners["alice"] == n) && !(owners["alice"] == 0 && owners["bob"]+owners["erin"]+owners["dave"] == n) {
					t.Errorf("snapshot shows a transfer half done: %v", owners)
					return
				}
				if got := sn.OwnedCount("alice"); got != owners["alice"] {
					t.Errorf("owner index says alice owns %d, records %d", got, owners["alice"])
					return
				}
				checked.Add(1)
			}
		})
	}
	for i := 0; i < 6 || checked.Load() < 10; i++ {
		tr, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "a", Reason: "r", From: "alice",
			Targets: []string{"bob", "erin", "dave"}, Strategy: []SpreadStrategy{RoundRobin, LeastLoaded}[i%2]})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.RevertTransfer(f.ctx, "a", "r", tr.ID); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	checkIndexes(t, f.s.Snapshot())
}

// TestSQLStoreFoldRoundKeepsNewerWrites writes a newer version of a
// relationship while a fold round that holds an older one is half done.
func TestSQLStoreFoldRoundKeepsNewerWrites(t *testing.T) {
	forEachStore(t, sqlKinds(), func(t *testing.T, kind string) {
		st, _ := sqlStore(t, kind)
		holdFolder(st)
		ctx := context.Background()
		ds, rels := bulkDataset(3 * relChunkSize)
		noErr(t, st.Commit(ctx, &Changeset{Employees: ds.Employees, Personas: ds.Personas, Contacts: ds.Contacts, Relationships: rels}))
		more, err := st.foldStep(ctx) // reads the round, writes its first range
		noErr(t, err)
		if !more || st.round == nil || st.round.done != relChunkSize {
			t.Fatalf("after one step: more=%v round=%+v", more, st.round)
		}
		// The last relationship by ID is in a range the round has yet to write.
		last := slices.MaxFunc(rels, byRelID)
		newer := *last
		newer.OwnerID, newer.Version = "emp-0002", last.Version+1
		noErr(t, st.Commit(ctx, &Changeset{Relationships: []*Relationship{&newer}}))
		if got := loadRels(t, st)[newer.ID]; !reflect.DeepEqual(got, newer) {
			t.Fatalf("mid-round Load: %+v", got)
		}
		noErr(t, st.Flush(ctx))
		if got := loadRels(t, st)[newer.ID]; !reflect.DeepEqual(got, newer) {
			t.Fatalf("after Flush: %+v", got)
		}
		var owner string
		noErr(t, st.r.QueryRow(st.q(`SELECT owner_id FROM relationships WHERE id = ?`), newer.ID).Scan(&owner))
		if owner != "emp-0002" {
			t.Fatalf("table holds owner %q", owner)
		}
		if n, _ := st.PendingChunks(); n != 0 {
			t.Fatalf("%d chunks pending after Flush", n)
		}
	})
}

// TestSQLStoreLoadLargeWithLog loads a large table with pending log chunks
// that change relationships all over it and add new ones, while the
// folder may run.
func TestSQLStoreLoadLargeWithLog(t *testing.T) {
	forEachStore(t, sqlKinds(), func(t *testing.T, kind string) {
		if testing.Short() {
			t.Skip("tens of thousands of relationships")
		}
		st, _ := sqlStore(t, kind)
		ctx := context.Background()
		ds, rels := bulkDataset(20_000)
		noErr(t, st.Commit(ctx, &Changeset{Employees: ds.Employees, Personas: ds.Personas, Contacts: ds.Contacts, Relationships: rels}))
		noErr(t, st.Flush(ctx))
		want := map[string]Relationship{}
		for _, r := range rels {
			want[r.ID] = *r
		}
		if got := loadRels(t, st); !reflect.DeepEqual(got, want) {
			t.Fatal("Load of the table alone differs")
		}
		// A bulk change through the log: every seventh relationship changes
		// owner and tags, and as many new ones are added.
		var changes []*Relationship
		for i := 0; i < len(rels); i += 7 {
			c := *rels[i]
			c.OwnerID, c.Version, c.Tags = "emp-0002", c.Version+1, []string{"moved"}
			changes = append(changes, &c)
			n := c
			n.ID, n.Tags, n.Version = fmt.Sprintf("r-new-%06d", i), nil, 1
			changes = append(changes, &n)
		}
		noErr(t, st.Commit(ctx, &Changeset{Relationships: changes}))
		if n, _ := st.PendingChunks(); n == 0 {
			t.Fatal("the bulk change was not logged")
		}
		for _, r := range changes {
			want[r.ID] = *r
		}
		for range 2 {
			if got := loadRels(t, st); !reflect.DeepEqual(got, want) {
				t.Fatalf("Load with pending chunks differs: %d relationships, want %d", len(got), len(want))
			}
		}
	})
}

// TestSQLStoreTableRoundTrip stores relationships in the table (not the
// log), one with every field set and one with every optional field zero,
// and loads them back unchanged.
func TestSQLStoreTableRoundTrip(t *testing.T) {
	forEachStore(t, sqlKinds(), func(t *testing.T, kind string) {
		st, _ := sqlStore(t, kind)
		ctx := context.Background()
		at := time.Date(2025, 2, 3, 4, 5, 6, 789, time.UTC)
		rels := []Relationship{
			{ID: "r-1", ContactID: "c-1", PersonaID: "p", CreatedAt: at, UpdatedAt: at, Version: 1},
			{ID: "r-2", ContactID: "c-2", PersonaID: "p", OwnerID: "alice", FormerPersonaIDs: []string{"p-x", "p-y"},
				Tags: []string{"vip", "日本"}, Remark: "line\nbreak 'q'", Gone: "bounced", GoneAt: at.Add(3 * time.Hour),
				CreatedAt: at, UpdatedAt: at.Add(time.Hour), LastActivity: at.Add(2 * time.Hour), Version: 1 << 40,
				OwnerVersion: 7, LastTransferID: "t-1", MergedInto: "r-1"},
		}
		noErr(t, st.Commit(ctx, &Changeset{Relationships: relPtrs(rels)}))
		if n, _ := st.PendingChunks(); n != 0 {
			t.Fatal("a small write was logged")
		}
		want := map[string]Relationship{}
		for _, r := range rels {
			want[r.ID] = r
		}
		if got := loadRels(t, st); !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
		}
	})
}
