package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/internal/testenv"
)

// TestStoreCopy copies a data_dir named by the configuration (its
// data_dir and store from the environment) into PostgreSQL and prints
// the comparison.
func TestStoreCopy(t *testing.T) {
	pg := testenv.SharedPostgres(t)
	dir := t.TempDir()
	store, err := identity.OpenSQLite(t.Context(), filepath.Join(dir, "identity.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Commit(t.Context(), &identity.Changeset{Employees: []identity.Employee{{ID: "hana", Name: "Hana"}}}); err != nil {
		t.Fatal(err)
	}
	store.Close()
	// A mail network's file the configuration does not name.
	if err := os.WriteFile(filepath.Join(dir, "mail-old.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KAKEHASHI_DATA_DIR", dir)
	t.Setenv("KAKEHASHI_STORE", pg.NewDatabase(t))
	out, _, err := cli("store", "copy", "--config", "../../examples/kakehashi.yaml")
	if err != nil {
		t.Fatalf("store copy: %v\n%s", err, out)
	}
	for _, want := range []string{"identity  employees", "1     ", "OK", "queue: no " + filepath.Join(dir, "queue.db"),
		"mail-mail: no " + filepath.Join(dir, "mail-mail.db") + ": schema mail_mail created",
		"mail-old.db: old is not a mail network of ../../examples/kakehashi.yaml: not copied"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Again: the destination is no longer empty.
	_, _, err = cli("store", "copy", "--config", "../../examples/kakehashi.yaml")
	if err == nil || !strings.Contains(err.Error(), "table identity.employees already holds rows") {
		t.Fatalf("second copy: %v", err)
	}
}

// TestStoreCopyBadDestination: a destination that cannot be reached is
// named without its password, and nothing is read or written.
func TestStoreCopyBadDestination(t *testing.T) {
	dir := t.TempDir()
	out, errOut, err := cli("store", "copy", "--from", "sqlite:"+dir, "--to", "postgres://kakehashi:hunter2@127.0.0.1:1/kakehashi")
	if err == nil || !strings.Contains(err.Error(), "connect to postgres://kakehashi:xxxxx@127.0.0.1:1/kakehashi") {
		t.Fatalf("store copy: %v", err)
	}
	if strings.Contains(err.Error()+out+errOut, "hunter2") {
		t.Errorf("the password is shown: %v\n%s%s", err, out, errOut)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Errorf("files written: %v", m)
	}
	for _, args := range [][]string{
		{"store", "copy", "--to", "postgres://u:hunter2@h/d"},
		{"store", "copy", "--from", dir},
		{"store", "copy", "--from", dir, "--to", "sqlite:" + filepath.Join(dir, "x.db")},
		{"store", "copy", "--from", dir, "--to", "postgres://u:hunter2@h/d", "--token", "x"},
	} {
		if _, _, err := cli(args...); err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%v: %v", args, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.db")); err == nil {
		t.Error("x.db created")
	}
}
