package identity

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestCachedDatasetHoldsTheGeneratedData: the cached store, opened as a
// serve opens it, holds exactly GenerateDataset's records; a second call
// returns the same file without writing it again; and a failed build
// leaves no file under the cached name.
func TestCachedDatasetHoldsTheGeneratedData(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	const n, employees = 2_000, 30
	path, err := CachedDataset(ctx, dir, n, employees)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, st, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	snap := s.Snapshot()
	want := GenerateDataset(n, employees)
	if got := len(snap.Relationships()); got != n {
		t.Fatalf("%d relationships, want %d", got, n)
	}
	for _, r := range want.Relationships {
		got, ok := snap.Relationship(r.ID)
		if !ok || got.ContactID != r.ContactID || got.PersonaID != r.PersonaID || got.OwnerID != r.OwnerID || !got.CreatedAt.Equal(r.CreatedAt) {
			t.Fatalf("relationship %s: got %+v, want %+v", r.ID, got, r)
		}
	}
	for _, c := range want.Contacts {
		got, ok := snap.ContactByAddr(c.Address)
		if !ok || got.ID != c.ID || got.DisplayName != c.DisplayName {
			t.Fatalf("contact at %v: got %+v, want %+v", c.Address, got, c)
		}
	}
	if got := len(snap.Employees()); got != employees {
		t.Errorf("%d employees, want %d", got, employees)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	again, err := CachedDataset(ctx, dir, n, employees)
	if err != nil || again != path {
		t.Fatalf("second call: %q, %v; want %q", again, err, path)
	}
	if info2, err := os.Stat(path); err != nil || !info2.ModTime().Equal(info.ModTime()) || info2.Size() != info.Size() {
		t.Errorf("the second call wrote the file again: %v %v", info2, err)
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range names {
		if strings.Contains(e.Name(), ".building") {
			t.Errorf("a build file is left: %s", e.Name())
		}
	}

	// A directory that cannot be written: an error, and nothing cached.
	bad := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(bad, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if p, err := CachedDataset(ctx, bad, 10, 2); err == nil {
		t.Errorf("CachedDataset in a file's path = %q, want an error", p)
	}
}

// TestWriteDatasetRefusesMismatch: a dataset whose contacts and
// relationships differ in number is refused, not half written.
func TestWriteDatasetRefusesMismatch(t *testing.T) {
	ctx := context.Background()
	st, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "x.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ds := GenerateDataset(10, 2)
	ds.Contacts = slices.Clip(ds.Contacts[:9])
	if err := WriteDataset(ctx, st, ds); err == nil {
		t.Fatal("WriteDataset took 9 contacts for 10 relationships")
	}
	loaded, err := st.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded.Employees)+len(loaded.Contacts)+len(loaded.Relationships) != 0 {
		t.Errorf("the refused dataset left %d employees, %d contacts, %d relationships", len(loaded.Employees), len(loaded.Contacts), len(loaded.Relationships))
	}
}
