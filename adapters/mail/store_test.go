package mail

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/internal/testenv"
)

// testStores are the databases the store's tests run on: a SQLite file,
// and PostgreSQL (a database of its own on the test binary's shared
// server: skipped when there is none locally, failed under CI=true).
// new gives a test a store of its own, an openStore argument.
var testStores = []struct {
	name string
	new  func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "m.db") }},
	{"postgres", func(t *testing.T) string { return testenv.SharedPostgres(t).NewDatabase(t) }},
}

// forEachStore runs f as a subtest on each of testStores.
func forEachStore(t *testing.T, f func(t *testing.T, where string)) {
	for _, s := range testStores {
		t.Run(s.name, func(t *testing.T) { f(t, s.new(t)) })
	}
}

// TestStoreKeepsMailboxAndSecret: where the adapter is in a mailbox and
// its secret survive a reopen; a second store opened on the same state
// (another instance) signs with the same secret.
func TestStoreKeepsMailboxAndSecret(t *testing.T) {
	forEachStore(t, func(t *testing.T, where string) {
		ctx := context.Background()
		st, err := openStore(ctx, where, "mail")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := st.mailbox(ctx, "INBOX"); err != nil || got != (mailboxState{}) {
			t.Fatalf("new mailbox: %+v, %v", got, err)
		}
		want := mailboxState{UIDValidity: 4294967295, LastUID: 4294967000}
		if err := st.setMailbox(ctx, "INBOX", want); err != nil {
			t.Fatal(err)
		}
		secret := st.secret
		st.Close()
		st, err = openStore(ctx, where, "mail")
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if got, err := st.mailbox(ctx, "INBOX"); err != nil || got != want {
			t.Fatalf("after reopen: %+v, %v; want %+v", got, err, want)
		}
		if len(secret) < 32 || !bytes.Equal(st.secret, secret) {
			t.Fatalf("secret changed across a reopen")
		}
	})
}

// TestStoresOfTwoNetworksShareADatabase: on PostgreSQL, the stores of two
// mail networks given the same URL keep their state apart (a schema each,
// mail_<network>), and each finds its own again.
func TestStoresOfTwoNetworksShareADatabase(t *testing.T) {
	ctx := context.Background()
	url := testenv.SharedPostgres(t).NewDatabase(t)
	now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
	for _, network := range []string{"mail", "Mail-Support"} {
		st, err := openStore(ctx, url, network)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := st.begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		th := &thread{ID: "t-" + network, Persona: "p@x.test", Contact: "c@y.test", Subject: network, Updated: now}
		th.add("root@y.test")
		tx.save(th, "root@y.test", refInbound)
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		st.Close()
	}
	for _, network := range []string{"mail", "Mail-Support"} {
		st, err := openStore(ctx, url, network)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := st.begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		th, _, err := tx.byMessageID(ctx, "root@y.test")
		tx.Rollback()
		st.Close()
		if err != nil || th == nil || th.ID != "t-"+network || th.Subject != network {
			t.Fatalf("%s: thread %+v, %v", network, th, err)
		}
	}
}
