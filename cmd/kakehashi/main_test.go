package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigCheck(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"config", "check", "../../examples/kakehashi.yaml"}, &out, &errOut); err != nil {
		t.Fatalf("example config: %v", err)
	}
	if !strings.Contains(out.String(), "OK (1 inside, 2 outside networks)") {
		t.Fatalf("output: %q", out.String())
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	data, err := os.ReadFile("../../examples/kakehashi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, bytes.Replace(data, []byte("home_domains:"), []byte("home_domain:"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), []string{"config", "check", bad}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "networks.corp.xmpp.home_domain") || !strings.Contains(err.Error(), "did you mean networks.corp.xmpp.home_domains") {
		t.Fatalf("bad key: %v", err)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Setenv("KAKEHASHI_ADMIN_TOKEN", "")
	cases := map[string][]string{
		"no command given":                   nil,
		"unknown command":                    {"frobnicate"},
		"no admin token":                     {"employees", "list"},
		"--reason is required":               {"contacts", "transfer", "--from", "hana", "--token", "t-0123456789abcdef"},
		"usage: kakehashi contacts transfer": {"contacts", "transfer", "--token", "t-0123456789abcdef"},
	}
	for want, args := range cases {
		var out, errOut bytes.Buffer
		err := run(context.Background(), args, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want an error mentioning %q", args, err, want)
		}
	}
}

func TestParseInterleaved(t *testing.T) {
	var cf commonFlags
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	cf.register(fs)
	succ := fs.String("successor", "", "")
	pos, err := parseInterleaved(fs, []string{"hana", "--successor", "ken", "--json"})
	if err != nil || len(pos) != 1 || pos[0] != "hana" || *succ != "ken" || !cf.json {
		t.Fatalf("pos=%v successor=%q json=%v err=%v", pos, *succ, cf.json, err)
	}
}

// TestAdminRequests checks what the admin commands send: the token and
// nothing naming an actor (the API takes the actor from the token), and
// the bodies of the admins commands and of revert's --notify.
func TestAdminRequests(t *testing.T) {
	type seen struct {
		method, path, body string
		header             http.Header
	}
	var got []seen
	reply := map[string]string{
		"POST /v1/admins":               `{"admin":{"name":"ana","role":"auditor","created_at":"2026-12-02T12:00:00Z","created_by":"admin:bootstrap"},"token":"kkh_secret"}`,
		"GET /v1/admins":                `[{"name":"ana","role":"auditor","created_at":"2026-12-02T12:00:00Z","created_by":"admin:bootstrap","revoked_at":"2026-12-02T13:00:00Z","revoked_by":"admin:bob"}]`,
		"POST /v1/admins/ana/revoke":    `{"name":"ana","role":"auditor"}`,
		"POST /v1/transfers/t-1/revert": `{"id":"t-2","revert_of":"t-1","moves":[],"told_at_transfer":true,"notified_at_transfer":3,"notified":true,"notices":3}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, seen{r.Method, r.URL.Path, string(b), r.Header.Clone()})
		_, _ = io.WriteString(w, reply[r.Method+" "+r.URL.Path])
	}))
	defer srv.Close()
	common := []string{"--admin", srv.URL, "--token", "boot-0123456789abcdef"}
	// Naming an actor is refused: it would never be recorded.
	var errOut bytes.Buffer
	if err := run(context.Background(), append([]string{"employees", "list", "--actor", "mallory"}, common...), io.Discard, &errOut); err == nil || !strings.Contains(err.Error(), "admins add") {
		t.Fatalf("--actor: %v", err)
	}
	runOK := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := run(context.Background(), append(args, common...), &out, &errOut); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return out.String()
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
	runOK("transfers", "revert", "t-1", "--reason", "undo", "--notify")
	want := []struct{ method, path, body string }{
		{"POST", "/v1/admins", `{"name":"ana","role":"auditor","reason":"external audit"}`},
		{"GET", "/v1/admins", ``},
		{"POST", "/v1/admins/ana/revoke", `{"reason":"done"}`},
		{"POST", "/v1/transfers/t-1/revert", `{"reason":"undo"}`},
		{"POST", "/v1/transfers/t-1/revert", `{"reason":"undo","notify":false}`},
		{"POST", "/v1/transfers/t-1/revert", `{"reason":"undo","notify":true}`},
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
	for _, args := range [][]string{
		{"admins", "add"}, {"admins", "add", "a", "b"}, {"admins", "revoke", "ana"}, {"admins", "list", "extra"},
		{"transfers", "revert", "t-1", "--reason", "x", "--notify=maybe"},
	} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), append(args, common...), &out, &errOut); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
