package main

import (
	"bytes"
	"context"
	"flag"
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
