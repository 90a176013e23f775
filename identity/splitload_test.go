package identity

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
)

// A large SQLite table is read in two halves at once when the
// relationship log is empty (and in one scan while it holds chunks,
// which the folder could write into the table between two reads). Either
// way the load must be one scan's, for an even and an odd number of rows.
func TestSplitLoadEqualsOneScan(t *testing.T) {
	for _, n := range []int{5000, 5001} {
		ctx := context.Background()
		st, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "identity.db"))
		noErr(t, err)
		holdFolder(st) // keep what follows in the relationship log
		ds, rels := bulkDataset(n)
		noErr(t, st.Commit(ctx, &Changeset{Employees: ds.Employees, Personas: ds.Personas}))
		noErr(t, st.Commit(ctx, &Changeset{Contacts: ds.Contacts, Relationships: rels}))
		noErr(t, st.Flush(ctx)) // into the table
		// Later changes, in the log (a bulk write goes there), on both
		// sides of the middle ID.
		var moved []*Relationship
		for i := 0; i < n; i += 2 {
			r := *rels[i]
			r.OwnerID, r.Version, r.Tags = ds.Employees[1].ID, r.Version+1, []string{"moved"}
			moved = append(moved, &r)
		}
		noErr(t, st.Commit(ctx, &Changeset{Relationships: moved}))
		if st.pending.Load() == 0 {
			t.Fatal("nothing pending in the relationship log")
		}
		compare := func(when string) {
			t.Helper()
			st.splitLoad = 0
			one := loadRels(t, st)
			st.splitLoad = 10
			split := loadRels(t, st)
			if len(one) != n || !reflect.DeepEqual(one, split) {
				t.Fatalf("n=%d, %s: one scan loaded %d relationships, the other load %d, and they differ", n, when, len(one), len(split))
			}
			if got := split[moved[len(moved)-1].ID]; got.OwnerID != ds.Employees[1].ID || len(got.Tags) != 1 {
				t.Errorf("n=%d, %s: the later change is missing: %+v", n, when, got)
			}
		}
		compare("chunks in the log")
		noErr(t, st.Flush(ctx))
		compare("the log folded")
		noErr(t, st.Close())
	}
}
