package gateway

import (
	"path/filepath"
	"testing"

	"github.com/kakehashi/kakehashi/internal/testenv"
)

// testStore is a kind of database the queue's tests run on: new gives a
// test a store of its own (an OpenQueue argument) in dir, which outlives
// a reopen of the queue within the test.
type testStore struct {
	name string
	new  func(t testing.TB, dir string) string
}

// testStores are SQLite (a file in dir) and PostgreSQL (a database of
// its own on the test binary's shared server: skipped when there is no
// server locally, failed under CI=true; see testenv.RequirePostgres).
var testStores = []testStore{
	{"sqlite", func(_ testing.TB, dir string) string { return filepath.Join(dir, "queue.db") }},
	{"postgres", func(t testing.TB, _ string) string { return testenv.SharedPostgres(t).NewDatabase(t) }},
}

// forEachStore runs f as a subtest on each of testStores, with a store of
// its own and a temporary directory for the rest of its state.
func forEachStore(t *testing.T, f func(t *testing.T, dir, store string)) {
	for _, s := range testStores {
		t.Run(s.name, func(t *testing.T) {
			dir := t.TempDir()
			f(t, dir, s.new(t, dir))
		})
	}
}
