package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/adminapi/apitest"
)

// cli runs the command line args and returns its output and error.
func cli(args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestConfigCheck(t *testing.T) {
	out, _, err := cli("config", "check", "../../examples/kakehashi.yaml")
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	if !strings.Contains(out, "OK (1 inside, 2 outside networks)") {
		t.Fatalf("output: %q", out)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	data, err := os.ReadFile("../../examples/kakehashi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, bytes.Replace(data, []byte("home_domains:"), []byte("home_domain:"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = cli("config", "check", bad)
	if err == nil || !strings.Contains(err.Error(), "networks.corp.xmpp.home_domain") || !strings.Contains(err.Error(), "did you mean networks.corp.xmpp.home_domains") {
		t.Fatalf("bad key: %v", err)
	}
}

// TestUsageErrors: a command line that cannot be what was meant fails
// before any request, saying what is wrong.
func TestUsageErrors(t *testing.T) {
	dead := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		t.Error("a request was sent")
	}))
	defer dead.Close()
	t.Setenv("KAKEHASHI_ADMIN_URL", dead.URL)
	t.Setenv("KAKEHASHI_ADMIN_TOKEN", "")
	tok := []string{"--token", "t-0123456789abcdef"}
	cases := []struct {
		args []string
		want string
	}{
		{nil, "no command given"},
		{[]string{"frobnicate"}, `unknown command "frobnicate" for "kakehashi"`},
		{[]string{"contact"}, "did you mean contacts?"},
		{[]string{"transfers"}, "kakehashi transfers needs a command: revert, show"},
		{[]string{"transfers", "shwo", "t-1"}, `unknown command "shwo" for "kakehashi transfers"; did you mean show?`},
		{[]string{"help", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"employees", "list", "--frob"}, "unknown flag: --frob (see kakehashi employees list --help)"},
		{[]string{"employees", "list", "-json"}, "unknown shorthand flag"},
		{[]string{"employees", "list", "extra"}, `unexpected argument "extra"`},
		{[]string{"employees", "list"}, "no admin token"},
		{append([]string{"employees", "list", "--actor", "mallory"}, tok...), "kakehashi admins add NAME"},
		{append([]string{"employees", "depart"}, tok...), "usage: kakehashi employees depart ID [flags] (0 argument(s) given, 1 wanted)"},
		{append([]string{"employees", "depart", "hana", "--successor", "ken", "--team", "a,b"}, tok...), "[successor team] were all set"},
		{append([]string{"employees", "reactivate", "hana"}, tok...), "--reason is required"},
		{append([]string{"contacts", "list", "--owner", "hana", "--unassigned"}, tok...), "[owner unassigned] were all set"},
		{append([]string{"contacts", "list", "--idle-for", "a month"}, tok...), `invalid argument "a month" for "--idle-for"`},
		{append([]string{"contacts", "transfer", "--from", "hana"}, tok...), "--reason is required"},
		{append([]string{"contacts", "transfer", "--reason", "x"}, tok...), "usage: kakehashi contacts transfer [flags]: select with at least one of --from"},
		{append([]string{"contacts", "transfer", "--from", "hana", "--to", "ken", "--team", "a", "--reason", "x"}, tok...), "none of the others can be; [team to] were all set"},
		{append([]string{"contacts", "tag", "r-1"}, tok...), "give --add, --remove or both"},
		{append([]string{"contacts", "remark", "r-1"}, tok...), "usage: kakehashi contacts remark RELATIONSHIP TEXT"},
		{append([]string{"transfers", "revert", "t-1", "--reason", "x", "--notify=maybe"}, tok...), `invalid argument "maybe" for "--notify"`},
		{append([]string{"transfers", "revert", "t-1"}, tok...), "--reason is required"},
		{append([]string{"broadcasts", "prepare", "--tag", "vip", "--reason", "x", "hi"}, tok...), "--team and --tag are required"},
		{append([]string{"directory", "import", "/nonexistent/dir.yaml"}, tok...), "no such file"},
		{append([]string{"audit", "--limit", "many"}, tok...), `invalid argument "many" for "--limit"`},
		{append([]string{"admins", "add"}, tok...), "usage: kakehashi admins add NAME"},
		{append([]string{"admins", "add", "a", "b"}, tok...), "usage: kakehashi admins add NAME"},
		{append([]string{"admins", "revoke", "ana"}, tok...), "--reason is required"},
		{append([]string{"admins", "list", "extra"}, tok...), `unexpected argument "extra"`},
		{append([]string{"serve", "--config", "x.yaml"}, tok...), "--token is for the admin commands, not kakehashi serve"},
		{[]string{"config", "check", "--config", "x.yaml"}, "usage: kakehashi config check FILE"},
		{[]string{"config", "check", "x.yaml", "--json"}, "--json is for the admin commands, not kakehashi config check"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			out, _, err := cli(tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v, want an error with %q", err, tc.want)
			}
			if out != "" {
				t.Errorf("printed %q", out)
			}
		})
	}
}

// table lays tab-separated cells out as the commands do.
func table(s string) string {
	var b bytes.Buffer
	w := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
	_, _ = io.WriteString(w, s)
	_ = w.Flush()
	return b.String()
}

// commands returns every command under cmd, cmd included.
func commands(cmd *cobra.Command) []*cobra.Command {
	all := []*cobra.Command{cmd}
	for _, c := range cmd.Commands() {
		all = append(all, commands(c)...)
	}
	return all
}

// TestHelp: each command says what it does, with its flags, in its own
// help; groups list their commands one line each.
func TestHelp(t *testing.T) {
	out, _, err := cli("transfers", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"show", "revert"} {
		re := regexp.MustCompile(`(?m)^  ` + sub + ` +\S.*$`)
		if n := len(re.FindAllString(out, -1)); n != 1 {
			t.Errorf("transfers --help lists %s %d times:\n%s", sub, n, out)
		}
	}
	if again, _, err := cli("help", "transfers"); err != nil || again != out {
		t.Errorf("help transfers: %v\n%s", err, again)
	}

	top, _, err := cli("--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"serve", "config", "employees", "personas", "contacts", "transfers", "broadcasts", "directory", "audit", "queue", "admins"} {
		if !regexp.MustCompile(`(?m)^  ` + name + ` +\S`).MatchString(top) {
			t.Errorf("kakehashi --help does not list %s:\n%s", name, top)
		}
	}
	for _, env := range []string{"KAKEHASHI_ADMIN_URL", "KAKEHASHI_ADMIN_TOKEN", "--json", "admin:bootstrap"} {
		if !strings.Contains(top, env) {
			t.Errorf("kakehashi --help does not mention %s", env)
		}
	}

	root := newRoot(io.Discard, io.Discard)
	root.InitDefaultHelpCmd()
	for _, cmd := range commands(root) {
		path := strings.Fields(cmd.CommandPath())[1:]
		if cmd.Hidden || slices.Contains(path, "completion") {
			continue
		}
		t.Run(strings.Join(path, " "), func(t *testing.T) {
			if cmd.Short == "" {
				t.Error("no Short")
			}
			help, _, err := cli(append(path, "--help")...)
			if err != nil {
				t.Fatal(err)
			}
			cmd.LocalFlags().VisitAll(func(f *pflag.Flag) {
				if f.Hidden {
					return
				}
				if f.Usage == "" || !strings.Contains(help, "--"+f.Name+" ") {
					t.Errorf("--%s is not explained:\n%s", f.Name, help)
				}
			})
			if cmd.Annotations[localOnly] != "" && strings.Contains(help, "--token") {
				t.Errorf("lists the admin commands' flags:\n%s", help)
			}
		})
	}
}

// TestAdminRequests checks what the admin commands send: the token and
// nothing naming an actor (the API takes the actor from the token), the
// bodies of the admins commands and of revert's --notify, and flags
// given before, between or after the arguments.
func TestAdminRequests(t *testing.T) {
	type seen struct {
		method, path, body string
		header             http.Header
	}
	var got []seen
	reply := map[string]string{
		"POST /v1/admins":                `{"admin":{"name":"ana","role":"auditor","created_at":"2026-12-02T12:00:00Z","created_by":"admin:bootstrap"},"token":"kkh_secret"}`,
		"GET /v1/admins":                 `[{"name":"ana","role":"auditor","created_at":"2026-12-02T12:00:00Z","created_by":"admin:bootstrap","revoked_at":"2026-12-02T13:00:00Z","revoked_by":"admin:bob"}]`,
		"POST /v1/admins/ana/revoke":     `{"name":"ana","role":"auditor"}`,
		"POST /v1/transfers/t-1/revert":  `{"id":"t-2","revert_of":"t-1","moves":[],"told_at_transfer":true,"notified_at_transfer":3,"notified":true,"notices":3}`,
		"POST /v1/employees/hana/depart": `{"id":"t-3","from":"hana","to":"ken","moves":[]}`,
		"GET /v1/contacts":               `[]`,
		"GET /v1/audit":                  `[]`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, seen{r.Method, r.URL.RequestURI(), string(b), r.Header.Clone()})
		_, _ = io.WriteString(w, reply[r.Method+" "+r.URL.Path])
	}))
	defer srv.Close()
	common := []string{"--admin", srv.URL, "--token", "boot-0123456789abcdef"}
	runOK := func(args ...string) string {
		t.Helper()
		out, _, err := cli(append(args, common...)...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out
	}
	out := runOK("admins", "add", "ana", "--role", "auditor", "--reason", "external audit")
	if strings.Count(out, "kkh_secret") != 1 || !strings.Contains(out, "shown only this once") || !strings.Contains(out, "admin:ana") {
		t.Fatalf("admins add output: %s", out)
	}
	out = runOK("admins", "list")
	if !strings.Contains(out, "ana") || !strings.Contains(out, "auditor") || !strings.Contains(out, "by admin:bob") {
		t.Fatalf("admins list output: %s", out)
	}
	runOK("admins", "revoke", "ana", "--reason", "done")
	out = runOK("transfers", "revert", "t-1", "--reason", "undo")
	if !strings.Contains(out, "told at transfer t-1 (3 notice(s)); 3 told again") {
		t.Fatalf("revert output: %s", out)
	}
	runOK("transfers", "revert", "t-1", "--reason", "undo", "--notify=false")
	runOK("transfers", "revert", "--notify", "t-1", "--reason", "undo")
	runOK("--json", "employees", "depart", "--successor", "ken", "hana")
	runOK("contacts", "unassigned", "--tag", "vip", "--idle-for", "720h")
	runOK("audit", "--action", "employee.depart", "--after", "7")
	want := []struct{ method, path, body string }{
		{"POST", "/v1/admins", `{"name":"ana","role":"auditor","reason":"external audit"}`},
		{"GET", "/v1/admins", ``},
		{"POST", "/v1/admins/ana/revoke", `{"reason":"done"}`},
		{"POST", "/v1/transfers/t-1/revert", `{"reason":"undo"}`},
		{"POST", "/v1/transfers/t-1/revert", `{"reason":"undo","notify":false}`},
		{"POST", "/v1/transfers/t-1/revert", `{"reason":"undo","notify":true}`},
		{"POST", "/v1/employees/hana/depart", `{"successor":"ken","reason":"departure"}`},
		{"GET", "/v1/contacts?idle_for=720h0m0s&tag=vip&unassigned=true", ``},
		{"GET", "/v1/audit?action=employee.depart&after=7&limit=100", ``},
	}
	if len(got) != len(want) {
		t.Fatalf("%d requests, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.method != w.method || g.path != w.path || g.body != w.body {
			t.Errorf("request %d: %s %s %s, want %s %s %s", i, g.method, g.path, g.body, w.method, w.path, w.body)
		}
		if g.header.Get("Authorization") != "Bearer boot-0123456789abcdef" {
			t.Errorf("request %d: Authorization %q", i, g.header.Get("Authorization"))
		}
		for k := range g.header {
			if strings.EqualFold(k, "X-Kakehashi-Actor") {
				t.Errorf("request %d sent %s", i, k)
			}
		}
	}
}

// TestAgainstServer runs commands against a real admin API: tables are
// as the e2e tests read them, --json is the server's answer unchanged,
// and the server's refusals are the command's errors.
func TestAgainstServer(t *testing.T) {
	srv := apitest.Start(t)
	t.Setenv("KAKEHASHI_ADMIN_URL", srv.URL)
	t.Setenv("KAKEHASHI_ADMIN_TOKEN", apitest.Token)
	runOK := func(args ...string) string {
		t.Helper()
		out, _, err := cli(args...)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out
	}
	out := runOK("directory", "import", "../../examples/directory.yaml")
	if out != "imported 2 employees and 3 personas from ../../examples/directory.yaml\n" {
		t.Errorf("directory import: %q", out)
	}
	out = runOK("employees", "list")
	want := "ID    NAME       STATUS  PERSONA     INSIDE ADDRESS  SUCCESSOR\n" +
		"hana  Hana Sato  active  hana.sales  hana@corp.test  \n" +
		"ken   Ken Ito    active  ken.sales   ken@corp.test   \n"
	if out != want {
		t.Errorf("employees list:\n%q\nwant\n%q", out, want)
	}
	// --json is the server's answer, byte for byte.
	for _, path := range []string{"employees", "personas"} {
		resp, err := http.DefaultClient.Do(func() *http.Request {
			r, _ := http.NewRequest("GET", srv.URL+"/v1/"+path, nil)
			r.Header.Set("Authorization", "Bearer "+apitest.Token)
			return r
		}())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if out := runOK(path, "list", "--json"); out != string(body) {
			t.Errorf("%s list --json:\n%s\nwant\n%s", path, out, body)
		}
	}

	bob := srv.Relationship(t, apitest.OutsideIM, "bob@ext.test", "hana.sales", "hana")
	srv.Relationship(t, apitest.OutsideMail, "alice@ext.test", "hana.sales", "hana")
	var rows []adminapi.ContactView
	if err := json.Unmarshal([]byte(runOK("contacts", "list", "--owner", "hana", "--json")), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("contacts list --json: %v %+v", err, rows)
	}
	if out := runOK("contacts", "tag", bob.ID, "--add", "vip,expo", "--reason", "fair"); out != bob.ID+"  tags: expo,vip  remark: \n" {
		t.Errorf("contacts tag: %q", out)
	}
	var res adminapi.TransferResult
	if err := json.Unmarshal([]byte(runOK("contacts", "transfer", "--from", "hana", "--tag", "vip", "--to", "ken", "--reason", "key accounts", "--json")), &res); err != nil || len(res.Moves) != 1 {
		t.Fatalf("transfer --json: %v %+v", err, res)
	}
	out = runOK("transfers", "show", res.ID)
	want = "transfer " + res.ID + ": 1 relationship(s) moved from hana to ken\n" +
		"  RELATIONSHIP\tCONTACT\tOWNER\tPERSONA\n" +
		"  " + bob.ID + "\t" + bob.ContactID + "\thana → ken\thana.sales → ken.sales\n" +
		"undo with: kakehashi transfers revert " + res.ID + " --reason TEXT\n"
	if out != table(want) {
		t.Errorf("transfers show:\n%s\nwant\n%s", out, table(want))
	}
	out = runOK("transfers", "revert", res.ID, "--reason", "wrong tag")
	if !strings.HasPrefix(out, "revert ") || !strings.Contains(out, ": reverts "+res.ID+", 1 relationship(s) moved back\n") {
		t.Errorf("transfers revert:\n%s", out)
	}
	out = runOK("audit", "--action", "contacts.transfer")
	if !strings.HasPrefix(out, "SEQ  WHEN") || !strings.Contains(out, "admin:bootstrap  contacts.transfer  "+res.ID+"  key accounts\n") {
		t.Errorf("audit:\n%s", out)
	}
	if out := runOK("queue"); !strings.HasPrefix(out, "STATE    MESSAGES\npending  ") || !strings.Contains(out, "\nfailed   0\n") {
		t.Errorf("queue:\n%s", out)
	}
	out = runOK("employees", "depart", "ken", "--successor", "hana", "--reason", "left")
	if !strings.HasPrefix(out, "ken departed t-") || !strings.Contains(out, " moved from ken to hana\n") {
		t.Errorf("depart:\n%s", out)
	}
	// The server's refusals, in its words.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"employees", "depart", "nobody"}, "nobody"},
		{[]string{"transfers", "show", "t-nope"}, "t-nope"},
		{[]string{"admins", "add", "ana", "--role", "superuser"}, "superuser"},
		{[]string{"queue", "--token", "wrong-token-0123456789"}, "wrong admin token"},
	} {
		_, _, err := cli(tc.args...)
		var e *adminapi.Error
		if !errors.As(err, &e) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want the server's error with %q", tc.args, err, tc.want)
		}
	}
	if out := runOK("admins", "list"); !strings.Contains(out, "(no named admins") {
		t.Errorf("admins list: %s", out)
	}
}
