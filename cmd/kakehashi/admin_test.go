package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/adminapi/apitest"
	"github.com/kakehashi/kakehashi/identity"
)

// cliIn runs the command line args with stdin as its standard input.
func cliIn(stdin string, args ...string) (string, error) {
	var out, errOut bytes.Buffer
	root := newRoot(&out, &errOut)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// TestAdminsLeadAndPassword: admins add takes a lead's team and a
// console password from a file, admins password one from standard input
// or a file; the password then signs in, and is never printed.
func TestAdminsLeadAndPassword(t *testing.T) {
	srv := apitest.Start(t)
	t.Setenv("KAKEHASHI_ADMIN_URL", srv.URL)
	t.Setenv("KAKEHASHI_ADMIN_TOKEN", apitest.Token)
	ctx := context.Background()
	const pw, pw2 = "correct horse battery staple", "another fine passphrase"
	file := filepath.Join(t.TempDir(), "lea.pw")
	if err := os.WriteFile(file, []byte(pw+"\r\nsecond line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := cliIn("", "admins", "add", "lea", "--role", "lead", "--team", "sales", "--password-file", file, "--reason", "sales lead")
	if err != nil || !strings.Contains(out, "role lead for team sales") || strings.Contains(out, pw) {
		t.Fatalf("admins add: %v\n%s", err, out)
	}
	if c, err := srv.API.SignIn(ctx, "lea", pw); err != nil || c.Team != "sales" || c.Role != identity.RoleLead {
		t.Fatalf("sign in with the file's first line: %+v %v", c, err)
	}
	if _, err := cliIn("", "admins", "add", "ana", "--reason", "ops"); err != nil {
		t.Fatal(err)
	}
	out, err = cliIn(pw2+"\n", "admins", "password", "ana", "--reason", "console access")
	if err != nil || out != "admin ana: console password set\n" {
		t.Fatalf("admins password from stdin: %v %q", err, out)
	}
	if _, err := srv.API.SignIn(ctx, "ana", pw2); err != nil {
		t.Fatalf("sign in with the password from stdin: %v", err)
	}
	if _, err := cliIn("", "admins", "password", "ana", "--reason", "rotate", "--password-file", file); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.API.SignIn(ctx, "ana", pw); err != nil {
		t.Fatalf("sign in with the password from the file: %v", err)
	}
	out, err = cliIn("", "admins", "list")
	if err != nil || !strings.Contains(out, "TEAM   PASSWORD") || !regexpMatch(`lea +lead +sales +yes`, out) || !regexpMatch(`ana +admin +- +yes`, out) {
		t.Fatalf("admins list: %v\n%s", err, out)
	}
	for _, c := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{pw, []string{"admins", "password", "ana"}, "--reason is required"},
		{"", []string{"admins", "password", "ana", "--reason", "x"}, "no password in standard input"},
		{"\n" + pw, []string{"admins", "password", "ana", "--reason", "x"}, "no password in standard input"},
		{"", []string{"admins", "password", "ana", "--reason", "x", "--password-file", file + ".none"}, "--password-file"},
		{"too short\n", []string{"admins", "password", "ana", "--reason", "x"}, "shorter than 12"},
		{"", []string{"admins", "add", "bo", "--role", "lead"}, "needs a team"},
		{"", []string{"admins", "add", "bo", "--role", "auditor", "--team", "sales"}, "only role lead"},
	} {
		_, err := cliIn(c.stdin, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error saying %q", c.args, err, c.want)
		}
	}
	var e *adminapi.Error
	if _, err := cliIn(pw, "admins", "password", "nobody", "--reason", "x"); !errors.As(err, &e) || e.Status != 404 {
		t.Errorf("password of nobody: %v", err)
	}
}

// regexpMatch reports whether a line of s matches re.
func regexpMatch(re, s string) bool {
	return regexp.MustCompile(`(?m)^` + re).MatchString(s)
}

func TestReadPassword(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"secret passphrase\n", "secret passphrase", ""},
		{"secret passphrase\r\nmore", "secret passphrase", ""},
		{"  spaces kept  ", "  spaces kept  ", ""},
		{"", "", "no password"},
		{strings.Repeat("x", identity.MaxPasswordBytes+1), "", "longer than"},
		{strings.Repeat("x", identity.MaxPasswordBytes) + "\n", strings.Repeat("x", identity.MaxPasswordBytes), ""},
	} {
		got, err := readPassword(strings.NewReader(c.in), "")
		if got != c.want || (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("%.20q: %.20q %v, want %.20q %q", c.in, got, err, c.want, c.err)
		}
	}
}

// TestPreviewFlags: --preview shows what a transfer or a departure would
// move where, and moves nothing.
func TestPreviewFlags(t *testing.T) {
	srv := apitest.Start(t)
	t.Setenv("KAKEHASHI_ADMIN_URL", srv.URL)
	t.Setenv("KAKEHASHI_ADMIN_TOKEN", apitest.Token)
	if _, err := cliIn("", "directory", "import", "../../examples/directory.yaml"); err != nil {
		t.Fatal(err)
	}
	rel := srv.Relationship(t, apitest.OutsideIM, "bob@ext.test", "hana.sales", "hana")
	out, err := cliIn("", "contacts", "transfer", "--from", "hana", "--to", "ken", "--notify", "--preview", "--reason", "r")
	if err != nil || !strings.HasPrefix(out, "preview of the transfer (nothing changed): 1 relationship(s) would move: ken 1; contacts notified: yes\n") ||
		!strings.Contains(out, rel.ID) {
		t.Fatalf("transfer --preview: %v\n%s", err, out)
	}
	out, err = cliIn("", "employees", "depart", "hana", "--preview")
	if err != nil || !strings.HasPrefix(out, "preview of the departure of hana (nothing changed): 1 relationship(s) would move: (pool) 1; contacts notified: no\n") {
		t.Fatalf("depart --preview: %v\n%s", err, out)
	}
	if r, _ := srv.State.Snapshot().Relationship(rel.ID); r.OwnerID != "hana" {
		t.Fatalf("a preview moved %s to %q", rel.ID, r.OwnerID)
	}
	if e, _ := srv.State.Snapshot().Employee("hana"); e.Status != identity.Active {
		t.Fatal("a preview departed hana")
	}
}
