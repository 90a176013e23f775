package config

import (
	"time"

	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kakehashi/kakehashi/identity"
)

// base is a small valid configuration with every required key, each on a
// line of its own so that tests can edit it.
const base = `data_dir: /var/lib/kakehashi
log:
  level: warn
  format: json
admin:
  listen: 127.0.0.1:9000
  token: test-token-0123456789abcdef
networks:
  corp:
    side: inside
    kind: xmpp
    xmpp:
      domain: gw.corp.test
      server: 127.0.0.1:5347
      secret: corp-secret
      home_domains: [corp.test]
  public-xmpp:
    side: outside
    kind: xmpp
    xmpp:
      domain: contact.acme.test
      server: 127.0.0.1:5348
      secret: public-secret
routing:
  fallback_employee: ken
limits:
  max_body_bytes: 4096
`

// anotherOutside adds a second outside xmpp network when appended to networks.
const anotherOutside = `  partners:
    side: outside
    kind: xmpp
    xmpp:
      domain: partners.acme.test
      server: 127.0.0.1:5349
      secret: partner-secret
routing:`

// publicProxy gives public-xmpp a proxy domain on corp when appended to
// corp's home_domains line, for configurations where proxy_for is another
// outside network.
const publicProxy = "\n      proxy_domains:\n        public-xmpp: public.gw.corp.test"

// edit is a replacement of Old by New in a configuration; Old must occur.
type edit struct{ Old, New string }

// apply applies edits to base, failing the test if an edit does not apply,
// so that a test cannot pass merely because its edit went nowhere.
func apply(t *testing.T, edits ...edit) string {
	t.Helper()
	s := base
	for _, e := range edits {
		if !strings.Contains(s, e.Old) {
			t.Fatalf("edit: %q not in the configuration", e.Old)
		}
		s = strings.Replace(s, e.Old, e.New, 1)
	}
	return s
}

// remove deletes the line holding line.
func remove(line string) edit { return edit{line + "\n", ""} }

// cleanEnv hides any KAKEHASHI_* variables of the caller's environment:
// viper takes empty variables as unset.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, EnvPrefix) {
			t.Setenv(k, "")
		}
	}
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func load(t *testing.T, yaml string) (*Config, error) {
	t.Helper()
	return Load(writeFile(t, "kakehashi.yaml", yaml))
}

func mustLoad(t *testing.T, yaml string) *Config {
	t.Helper()
	c, err := load(t, yaml)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// keyErrors returns every KeyError in err's tree.
func keyErrors(err error) []KeyError {
	var out []KeyError
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case nil:
		case KeyError:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, c := range e.Unwrap() {
				walk(c)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}

// wantKeyError fails unless err holds a KeyError for key whose message
// contains every one of want.
func wantKeyError(t *testing.T, err error, key string, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want one for %s", key)
	}
	kes := keyErrors(err)
	for _, ke := range kes {
		if ke.Key != key {
			continue
		}
		msg := ke.Error()
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(msg, w)
		}
		if ok {
			if !strings.Contains(err.Error(), msg) {
				t.Errorf("error text does not include %q:\n%v", msg, err)
			}
			return
		}
	}
	t.Fatalf("no KeyError for %s containing %q in:\n%v", key, want, err)
}

func TestLoadExample(t *testing.T) {
	cleanEnv(t)
	c, err := Load("../examples/kakehashi.yaml")
	if err != nil {
		t.Fatalf("Load example: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"data_dir", c.DataDir, "./data"},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "text"},
		{"admin.listen", c.Admin.Listen, "127.0.0.1:8765"},
		{"admin.token", c.Admin.Token.Reveal(), "change-me-demo-token-0123456789"},
		{"admin.allow_remote", c.Admin.AllowRemote, false},
		{"routing.allow_special_addresses", c.Routing.AllowSpecialAddresses, false},
		{"networks", strings.Join(sortedKeys(c.Networks), ","), "corp,mail,public-xmpp"},
		{"mail domain", c.Networks["mail"].Mail.Domain, "contact.acme.test"},
		{"mail proxy", c.Networks["corp"].XMPP.Proxies()["mail"], "mail.gw.corp.test"},
		{"corp name", c.Networks["corp"].Name, "corp"},
		{"corp side", c.Networks["corp"].Side, identity.Inside},
		{"corp kind", c.Networks["corp"].Kind, "xmpp"},
		{"corp domain", c.Networks["corp"].XMPP.Domain, "gw.corp.test"},
		{"corp server", c.Networks["corp"].XMPP.Server, "127.0.0.1:5347"},
		{"corp secret", c.Networks["corp"].XMPP.Secret.Reveal(), "demo-component-secret"},
		{"corp home_domains", strings.Join(c.Networks["corp"].XMPP.HomeDomains, ","), "corp.test"},
		{"corp proxy_for", c.Networks["corp"].XMPP.ProxyFor, "public-xmpp"},
		{"public side", c.Networks["public-xmpp"].Side, identity.Outside},
		{"public domain", c.Networks["public-xmpp"].XMPP.Domain, "contact.acme.test"},
		{"public secret", c.Networks["public-xmpp"].XMPP.Secret.Reveal(), "demo-component-secret"},
		{"fallback_employee", c.Routing.FallbackEmployee, "ken"},
		{"max_body_bytes", c.Limits.MaxBodyBytes, 65536},
		{"Inside", names(c.Inside()), "corp"},
		{"Outside", names(c.Outside()), "mail,public-xmpp"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate after Load: %v", err)
	}
}

func names(ns []*Network) string {
	var s []string
	for _, n := range ns {
		s = append(s, n.Name)
	}
	return strings.Join(s, ",")
}

func TestLoadBase(t *testing.T) {
	cleanEnv(t)
	c := mustLoad(t, base)
	if c.DataDir != "/var/lib/kakehashi" || c.Log.Level != "warn" || c.Log.Format != "json" ||
		c.Admin.Listen != "127.0.0.1:9000" || c.Limits.MaxBodyBytes != 4096 {
		t.Errorf("values not taken from the file: %+v", c)
	}
	if got := c.Networks["public-xmpp"].XMPP.Server; got != "127.0.0.1:5348" {
		t.Errorf("public-xmpp server = %q", got)
	}
	if got := c.Log.SlogLevel(); got != slog.LevelWarn {
		t.Errorf("SlogLevel = %v, want WARN", got)
	}
}

func TestDefaults(t *testing.T) {
	cleanEnv(t)
	c := mustLoad(t, apply(t,
		remove("data_dir: /var/lib/kakehashi"),
		edit{"log:\n  level: warn\n  format: json\n", ""},
		remove("  listen: 127.0.0.1:9000"),
		edit{"limits:\n  max_body_bytes: 4096\n", ""},
	))
	tests := []struct {
		key       string
		got, want any
	}{
		{"data_dir", c.DataDir, DefaultDataDir},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "text"},
		{"admin.listen", c.Admin.Listen, "127.0.0.1:8765"},
		{"limits.max_body_bytes", c.Limits.MaxBodyBytes, 65536},
		{"limits.broadcasts_per_day", c.Limits.BroadcastsPerDay, 1},
		{"limits.broadcasts_per_month", c.Limits.BroadcastsPerMonth, 4},
		{"networks.corp.xmpp.proxy_for", c.Networks["corp"].XMPP.ProxyFor, "public-xmpp"},
		{"console.listen", c.Console.Listen, ""},
		{"console.disabled", c.Console.Disabled, false},
	}
	idle, most := c.Console.Sessions()
	tests = append(tests, struct {
		key       string
		got, want any
	}{"console.session_idle", idle, 30 * time.Minute}, struct {
		key       string
		got, want any
	}{"console.session_max", most, 12 * time.Hour})
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want default %v", tt.key, tt.got, tt.want)
		}
	}
}

func TestEnvOverrides(t *testing.T) {
	secretFile := writeFile(t, "secret", "  from-file-secret\n")
	tokenFile := writeFile(t, "token", "\ttoken-from-file-0123456789\n\n")
	tests := []struct {
		name  string
		edits []edit
		env   map[string]string
		check func(c *Config) (got, want any)
	}{
		{"data_dir", nil, map[string]string{"KAKEHASHI_DATA_DIR": "/srv/k"},
			func(c *Config) (any, any) { return c.DataDir, "/srv/k" }},
		{"data_dir absent from file", []edit{remove("data_dir: /var/lib/kakehashi")}, map[string]string{"KAKEHASHI_DATA_DIR": "/srv/k"},
			func(c *Config) (any, any) { return c.DataDir, "/srv/k" }},
		{"log.level", nil, map[string]string{"KAKEHASHI_LOG_LEVEL": "debug"},
			func(c *Config) (any, any) { return c.Log.Level, "debug" }},
		{"log.level and format, no log section", []edit{{"log:\n  level: warn\n  format: json\n", ""}},
			map[string]string{"KAKEHASHI_LOG_LEVEL": "error", "KAKEHASHI_LOG_FORMAT": "json"},
			func(c *Config) (any, any) { return c.Log.Level + "/" + c.Log.Format, "error/json" }},
		{"log.format", nil, map[string]string{"KAKEHASHI_LOG_FORMAT": "text"},
			func(c *Config) (any, any) { return c.Log.Format, "text" }},
		{"admin.listen", nil, map[string]string{"KAKEHASHI_ADMIN_LISTEN": "[::1]:7000"},
			func(c *Config) (any, any) { return c.Admin.Listen, "[::1]:7000" }},
		{"admin.listen absent from file", []edit{remove("  listen: 127.0.0.1:9000")}, map[string]string{"KAKEHASHI_ADMIN_LISTEN": "localhost:7001"},
			func(c *Config) (any, any) { return c.Admin.Listen, "localhost:7001" }},
		{"admin.token", nil, map[string]string{"KAKEHASHI_ADMIN_TOKEN": "env-token-0123456789abcdef"},
			func(c *Config) (any, any) { return c.Admin.Token.Reveal(), "env-token-0123456789abcdef" }},
		{"admin.token absent from file", []edit{remove("  token: test-token-0123456789abcdef")},
			map[string]string{"KAKEHASHI_ADMIN_TOKEN": "env-token-0123456789abcdef"},
			func(c *Config) (any, any) { return c.Admin.Token.Reveal(), "env-token-0123456789abcdef" }},
		{"admin.token_file", []edit{remove("  token: test-token-0123456789abcdef")},
			map[string]string{"KAKEHASHI_ADMIN_TOKEN_FILE": tokenFile},
			func(c *Config) (any, any) {
				return c.Admin.Token.Reveal() + "|" + c.Admin.TokenFile, "token-from-file-0123456789|" + tokenFile
			}},
		{"routing.allow_special_addresses", nil, map[string]string{"KAKEHASHI_ROUTING_ALLOW_SPECIAL_ADDRESSES": "true"},
			func(c *Config) (any, any) { return c.Routing.AllowSpecialAddresses, true }},
		{"admin.allow_remote", []edit{{"127.0.0.1:9000", "0.0.0.0:9000"}}, map[string]string{"KAKEHASHI_ADMIN_ALLOW_REMOTE": "true"},
			func(c *Config) (any, any) { return c.Admin.AllowRemote, true }},
		{"networks.corp.side", nil, map[string]string{"KAKEHASHI_NETWORKS_CORP_SIDE": "outside", "KAKEHASHI_NETWORKS_PUBLIC_XMPP_SIDE": "inside",
			"KAKEHASHI_NETWORKS_CORP_XMPP_HOME_DOMAINS": " ", "KAKEHASHI_NETWORKS_PUBLIC_XMPP_XMPP_HOME_DOMAINS": "acme.test"},
			func(c *Config) (any, any) { return names(c.Inside()) + "/" + names(c.Outside()), "public-xmpp/corp" }},
		{"networks.corp.kind", []edit{{"    kind: xmpp\n", "    kind: mail\n"}}, map[string]string{"KAKEHASHI_NETWORKS_CORP_KIND": "xmpp"},
			func(c *Config) (any, any) { return c.Networks["corp"].Kind, "xmpp" }},
		{"networks.corp.xmpp.domain", nil, map[string]string{"KAKEHASHI_NETWORKS_CORP_XMPP_DOMAIN": "gw2.corp.test"},
			func(c *Config) (any, any) { return c.Networks["corp"].XMPP.Domain, "gw2.corp.test" }},
		{"networks.corp.xmpp.server", nil, map[string]string{"KAKEHASHI_NETWORKS_CORP_XMPP_SERVER": "xmpp.corp.test:5275"},
			func(c *Config) (any, any) { return c.Networks["corp"].XMPP.Server, "xmpp.corp.test:5275" }},
		{"networks.corp.xmpp.secret", nil, map[string]string{"KAKEHASHI_NETWORKS_CORP_XMPP_SECRET": "env-secret"},
			func(c *Config) (any, any) { return c.Networks["corp"].XMPP.Secret.Reveal(), "env-secret" }},
		{"networks.corp.xmpp.secret absent from file", []edit{remove("      secret: corp-secret")},
			map[string]string{"KAKEHASHI_NETWORKS_CORP_XMPP_SECRET": "env-secret"},
			func(c *Config) (any, any) { return c.Networks["corp"].XMPP.Secret.Reveal(), "env-secret" }},
		{"networks.public-xmpp.xmpp.secret (dash to underscore)", nil, map[string]string{"KAKEHASHI_NETWORKS_PUBLIC_XMPP_XMPP_SECRET": "env-public"},
			func(c *Config) (any, any) { return c.Networks["public-xmpp"].XMPP.Secret.Reveal(), "env-public" }},
		{"networks.corp.xmpp.secret_file", []edit{remove("      secret: corp-secret")},
			map[string]string{"KAKEHASHI_NETWORKS_CORP_XMPP_SECRET_FILE": secretFile},
			func(c *Config) (any, any) { return c.Networks["corp"].XMPP.Secret.Reveal(), "from-file-secret" }},
		{"networks.corp.xmpp.home_domains", nil, map[string]string{"KAKEHASHI_NETWORKS_CORP_XMPP_HOME_DOMAINS": "corp.test, corp2.test"},
			func(c *Config) (any, any) {
				return strings.Join(c.Networks["corp"].XMPP.HomeDomains, "|"), "corp.test|corp2.test"
			}},
		{"networks.corp.xmpp.proxy_for", []edit{{"routing:", anotherOutside}}, map[string]string{"KAKEHASHI_NETWORKS_CORP_XMPP_PROXY_FOR": "partners",
			"KAKEHASHI_NETWORKS_CORP_XMPP_PROXY_DOMAINS_PUBLIC_XMPP": "public.gw.corp.test"},
			func(c *Config) (any, any) {
				return c.Networks["corp"].XMPP.ProxyFor + " " + fmt.Sprint(c.Networks["corp"].XMPP.ProxyDomains), "partners map[public-xmpp:public.gw.corp.test]"
			}},
		{"routing.fallback_employee", nil, map[string]string{"KAKEHASHI_ROUTING_FALLBACK_EMPLOYEE": "aiko"},
			func(c *Config) (any, any) { return c.Routing.FallbackEmployee, "aiko" }},
		{"routing.fallback_address absent from file", nil, map[string]string{"KAKEHASHI_ROUTING_FALLBACK_ADDRESS": "desk@corp.test"},
			func(c *Config) (any, any) { return c.Routing.FallbackAddress, "desk@corp.test" }},
		{"limits.max_body_bytes", nil, map[string]string{"KAKEHASHI_LIMITS_MAX_BODY_BYTES": "1024"},
			func(c *Config) (any, any) { return c.Limits.MaxBodyBytes, 1024 }},
		{"limits.max_body_bytes absent from file", []edit{{"limits:\n  max_body_bytes: 4096\n", ""}}, map[string]string{"KAKEHASHI_LIMITS_MAX_BODY_BYTES": "2048"},
			func(c *Config) (any, any) { return c.Limits.MaxBodyBytes, 2048 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c := mustLoad(t, apply(t, tt.edits...))
			if got, want := tt.check(c); got != want {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestEnvBadValues(t *testing.T) {
	tests := []struct {
		env, value, key string
		want            []string
	}{
		{"KAKEHASHI_LIMITS_MAX_BODY_BYTES", "lots", "limits.max_body_bytes", []string{`"lots" is not a whole number`}},
		{"KAKEHASHI_ADMIN_ALLOW_REMOTE", "maybe", "admin.allow_remote", []string{"true or false"}},
		{"KAKEHASHI_LOG_LEVEL", "loud", "log.level", []string{`"loud"`, "debug, info, warn, error"}},
		{"KAKEHASHI_NETWORKS_CORP_SIDE", "middle", "networks.corp.side", []string{`"middle" is not a side`}},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			cleanEnv(t)
			t.Setenv(tt.env, tt.value)
			_, err := load(t, base)
			wantKeyError(t, err, tt.key, tt.want...)
		})
	}
}

func TestUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		edit edit
		key  string
		want string
	}{
		{"typo in xmpp secret", edit{"      secret: corp-secret\n", "      secrte: corp-secret\n"},
			"networks.corp.xmpp.secrte", "did you mean networks.corp.xmpp.secret?"},
		{"typo at top level", edit{"data_dir:", "datadir:"}, "datadir", "did you mean data_dir?"},
		{"typo in log", edit{"  level: warn", "  levle: warn"}, "log.levle", "did you mean log.level?"},
		{"typo in network", edit{"    side: outside", "    sied: outside"}, "networks.public-xmpp.sied", "did you mean networks.public-xmpp.side?"},
		{"key in the wrong place", edit{"    kind: xmpp\n    xmpp:\n      domain: gw.corp.test", "    kind: xmpp\n    domain: gw.corp.test\n    xmpp:\n      domain: gw.corp.test"},
			"networks.corp.domain", "did you mean networks.corp.xmpp.domain?"},
		{"truncated key", edit{"  max_body_bytes: 4096", "  max_body: 4096"}, "limits.max_body", "did you mean limits.max_body_bytes?"},
		{"unrelated key", edit{"routing:", "routing:\n  colour: blue"}, "routing.colour", "known keys here: allow_special_addresses, fallback_address, fallback_employee"},
		{"unknown section", edit{"limits:", "metrics:\n  port: 9100\nlimits:"}, "metrics", "remove it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			_, err := load(t, apply(t, tt.edit))
			wantKeyError(t, err, tt.key, "unknown key", tt.want)
		})
	}
}

func TestMissingRequired(t *testing.T) {
	tests := []struct {
		name  string
		edits []edit
		key   string
		want  []string
	}{
		{"admin token", []edit{remove("  token: test-token-0123456789abcdef")}, "admin.token",
			[]string{"empty", "admin.token_file", "KAKEHASHI_ADMIN_TOKEN"}},
		{"xmpp secret", []edit{remove("      secret: corp-secret")}, "networks.corp.xmpp.secret",
			[]string{"networks.corp.xmpp.secret: empty; set it, or secret_file, or env KAKEHASHI_NETWORKS_CORP_XMPP_SECRET"}},
		{"outside xmpp secret", []edit{remove("      secret: public-secret")}, "networks.public-xmpp.xmpp.secret",
			[]string{"KAKEHASHI_NETWORKS_PUBLIC_XMPP_XMPP_SECRET"}},
		{"xmpp domain", []edit{remove("      domain: gw.corp.test")}, "networks.corp.xmpp.domain", []string{"empty"}},
		{"xmpp server", []edit{remove("      server: 127.0.0.1:5347")}, "networks.corp.xmpp.server", []string{"empty", "host:port"}},
		{"home_domains", []edit{remove("      home_domains: [corp.test]")}, "networks.corp.xmpp.home_domains", []string{"empty"}},
		{"side", []edit{remove("    side: inside")}, "networks.corp.side", []string{"empty value is not a side", "inside", "outside"}},
		{"kind", []edit{{"    side: inside\n    kind: xmpp\n", "    side: inside\n"}}, "networks.corp.kind", []string{"empty", "xmpp"}},
		{"xmpp block", []edit{{"      domain: contact.acme.test\n      server: 127.0.0.1:5348\n      secret: public-secret\n", ""}},
			"networks.public-xmpp.xmpp", []string{"missing"}},
		{"network body", []edit{{"    side: outside\n    kind: xmpp\n    xmpp:\n      domain: contact.acme.test\n      server: 127.0.0.1:5348\n      secret: public-secret\n", ""}},
			"networks.public-xmpp", []string{"empty"}},
		{"outside network", []edit{{"    side: outside", "    side: inside"}}, "networks", []string{"no outside network"}},
		{"inside network", []edit{{"    side: inside", "    side: outside"}}, "networks", []string{"no inside network"}},
		{"networks", []edit{{base[strings.Index(base, "networks:"):strings.Index(base, "routing:")], ""}}, "networks", []string{"no networks"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			_, err := load(t, apply(t, tt.edits...))
			wantKeyError(t, err, tt.key, tt.want...)
		})
	}
}

func TestAllErrorsCollected(t *testing.T) {
	cleanEnv(t)
	_, err := load(t, apply(t,
		remove("  token: test-token-0123456789abcdef"),
		remove("      secret: corp-secret"),
		edit{"  max_body_bytes: 4096", "  max_body_bytes: lots"},
		edit{"  level: warn", "  levle: warn"},
	))
	got := map[string]bool{}
	for _, ke := range keyErrors(err) {
		got[ke.Key] = true
	}
	for _, k := range []string{"admin.token", "networks.corp.xmpp.secret", "limits.max_body_bytes", "log.levle"} {
		if !got[k] {
			t.Errorf("no error for %s in:\n%v", k, err)
		}
	}
	// A wrong type is reported once, not again as out of range.
	if n := strings.Count(err.Error(), "limits.max_body_bytes:"); n != 1 {
		t.Errorf("limits.max_body_bytes reported %d times:\n%v", n, err)
	}
}

func TestWrongTypes(t *testing.T) {
	tests := []struct {
		name string
		edit edit
		key  string
		want []string
	}{
		{"int as word", edit{"  max_body_bytes: 4096", `  max_body_bytes: "lots"`}, "limits.max_body_bytes", []string{`"lots" is not a whole number`}},
		{"int as float", edit{"  max_body_bytes: 4096", "  max_body_bytes: 4096.5"}, "limits.max_body_bytes", []string{"not a whole number"}},
		{"bool as word", edit{"  listen: 127.0.0.1:9000", "  listen: 127.0.0.1:9000\n  allow_remote: sometimes"}, "admin.allow_remote", []string{"true or false"}},
		{"string as list", edit{"data_dir: /var/lib/kakehashi", "data_dir: [a, b]"}, "data_dir", []string{"expected a string, got a list"}},
		{"string as number", edit{"  fallback_employee: ken", "  fallback_employee: 42"}, "routing.fallback_employee", []string{"expected a string", "quote"}},
		{"section as scalar", edit{"log:\n  level: warn\n  format: json", "log: loud"}, "log", []string{"expected a mapping"}},
		{"xmpp as scalar", edit{"    xmpp:\n      domain: contact.acme.test\n      server: 127.0.0.1:5348\n      secret: public-secret", "    xmpp: yes"}, "networks.public-xmpp.xmpp", []string{"expected a mapping"}},
		{"networks as list", edit{base[strings.Index(base, "networks:"):strings.Index(base, "routing:")], "networks: [corp]\n"}, "networks", []string{"expected a mapping"}},
		{"list of numbers", edit{"home_domains: [corp.test]", "home_domains: [7]"}, "networks.corp.xmpp.home_domains[0]", []string{"expected a string"}},
		{"list as mapping", edit{"home_domains: [corp.test]", "home_domains: {a: b}"}, "networks.corp.xmpp.home_domains", []string{"expected a list"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			_, err := load(t, apply(t, tt.edit))
			wantKeyError(t, err, tt.key, tt.want...)
		})
	}
}

func TestSecretNotInTypeErrors(t *testing.T) {
	cleanEnv(t)
	_, err := load(t, apply(t, edit{"      secret: corp-secret", "      secret: 987654321"}))
	wantKeyError(t, err, "networks.corp.xmpp.secret", "expected a string")
	if strings.Contains(err.Error(), "987654321") {
		t.Errorf("error shows the secret: %v", err)
	}
}

func TestBadValues(t *testing.T) {
	tests := []struct {
		name  string
		edits []edit
		key   string
		want  []string
	}{
		{"bad side", []edit{{"    side: inside", "    side: inward"}}, "networks.corp.side", []string{`"inward" is not a side`}},
		{"bad kind", []edit{{"    side: outside\n    kind: xmpp", "    side: outside\n    kind: matrix"}}, "networks.public-xmpp.kind",
			[]string{`"matrix" is not a supported kind`, "one of: mail, xmpp"}},
		{"bad log format", []edit{{"  format: json", "  format: yaml"}}, "log.format", []string{"text or json"}},
		{"body too big", []edit{{"  max_body_bytes: 4096", "  max_body_bytes: 2000000"}}, "limits.max_body_bytes", []string{"out of range", "1048576"}},
		{"body zero", []edit{{"  max_body_bytes: 4096", "  max_body_bytes: 0"}}, "limits.max_body_bytes", []string{"out of range"}},
		{"negative broadcast cap", []edit{{"  max_body_bytes: 4096", "  max_body_bytes: 4096\n  broadcasts_per_day: -1"}}, "limits.broadcasts_per_day", []string{"out of range", "0 turns broadcasts off"}},
		{"month below day", []edit{{"  max_body_bytes: 4096", "  max_body_bytes: 4096\n  broadcasts_per_day: 3\n  broadcasts_per_month: 2"}}, "limits.broadcasts_per_month",
			[]string{"less than limits.broadcasts_per_day", "raise it"}},
		{"short token", []edit{{"  token: test-token-0123456789abcdef", "  token: short"}}, "admin.token", []string{"too short", "16"}},
		{"console on the network", []edit{{"  token: test-token-0123456789abcdef", "  token: test-token-0123456789abcdef\nconsole:\n  listen: 0.0.0.0:8766"}}, "console.listen",
			[]string{"not a loopback address", "console.allow_remote"}},
		{"console not host:port", []edit{{"  token: test-token-0123456789abcdef", "  token: test-token-0123456789abcdef\nconsole:\n  listen: console"}}, "console.listen",
			[]string{"not host:port"}},
		{"console on the admin port", []edit{{"  token: test-token-0123456789abcdef", "  token: test-token-0123456789abcdef\nconsole:\n  listen: 127.0.0.1:9000"}}, "console.listen",
			[]string{"is admin.listen too", "leave console.listen empty"}},
		{"console idle too short", []edit{{"  token: test-token-0123456789abcdef", "  token: test-token-0123456789abcdef\nconsole:\n  session_idle: 10s"}}, "console.session_idle",
			[]string{"out of range", "1m to 24h"}},
		{"console max below idle", []edit{{"  token: test-token-0123456789abcdef", "  token: test-token-0123456789abcdef\nconsole:\n  session_idle: 2h\n  session_max: 1h"}}, "console.session_max",
			[]string{"out of range", "console.session_idle"}},
		{"bad domain", []edit{{"domain: gw.corp.test", "domain: gw_corp..test"}}, "networks.corp.xmpp.domain", []string{"not a valid domain"}},
		{"upper-case domain", []edit{{"domain: gw.corp.test", "domain: GW.corp.test"}}, "networks.corp.xmpp.domain", []string{"lower-case"}},
		{"bad server", []edit{{"server: 127.0.0.1:5347", "server: 127.0.0.1"}}, "networks.corp.xmpp.server", []string{"not host:port"}},
		{"bad server port", []edit{{"server: 127.0.0.1:5347", "server: 127.0.0.1:99999"}}, "networks.corp.xmpp.server", []string{"not host:port"}},
		{"duplicate component domain", []edit{{"domain: contact.acme.test", "domain: gw.corp.test"}}, "networks.public-xmpp.xmpp.domain",
			[]string{"also the domain of network corp"}},
		{"home domain on outside", []edit{{"      secret: public-secret", "      secret: public-secret\n      home_domains: [acme.test]"}},
			"networks.public-xmpp.xmpp.home_domains", []string{"outside network"}},
		{"proxy_for on outside", []edit{{"      secret: public-secret", "      secret: public-secret\n      proxy_for: corp"}},
			"networks.public-xmpp.xmpp.proxy_for", []string{"outside network"}},
		{"home domain is component domain", []edit{{"home_domains: [corp.test]", "home_domains: [contact.acme.test]"}},
			"networks.corp.xmpp.home_domains", []string{"component domain of network public-xmpp"}},
		{"upper-case network name", []edit{{"  corp:", "  Corp:"}}, "networks.Corp", []string{"upper-case", "rename it to corp"}},
		{"underscore in network name", []edit{{"  public-xmpp:", "  public_xmpp:"}}, "networks.public_xmpp", []string{"invalid network name"}},
		{"secret and secret_file", []edit{{"      secret: corp-secret", "      secret: corp-secret\n      secret_file: /nonexistent"}},
			"networks.corp.xmpp.secret_file", []string{"both networks.corp.xmpp.secret and networks.corp.xmpp.secret_file"}},
		{"missing secret_file", []edit{{"      secret: corp-secret", "      secret_file: /nonexistent/secret"}},
			"networks.corp.xmpp.secret_file", []string{"cannot read", "/nonexistent/secret"}},
		{"missing token_file", []edit{{"  token: test-token-0123456789abcdef", "  token_file: /nonexistent/token"}},
			"admin.token_file", []string{"cannot read", "/nonexistent/token"}},
		{"fallback address not an address", []edit{{"  fallback_employee: ken", "  fallback_address: desk"}},
			"routing.fallback_address", []string{"not an address"}},
		{"fallback address outside", []edit{{"  fallback_employee: ken", "  fallback_address: desk@acme.test"}},
			"routing.fallback_address", []string{"not a home domain", "corp.test"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			_, err := load(t, apply(t, tt.edits...))
			wantKeyError(t, err, tt.key, tt.want...)
		})
	}
}

func TestSecretFiles(t *testing.T) {
	cleanEnv(t)
	tok := writeFile(t, "token", "\n  file-token-0123456789abcdef  \n")
	sec := writeFile(t, "secret", "file-secret\n")
	c := mustLoad(t, apply(t,
		edit{"  token: test-token-0123456789abcdef", "  token_file: " + tok},
		edit{"      secret: public-secret", "      secret_file: " + sec},
	))
	if got := c.Admin.Token.Reveal(); got != "file-token-0123456789abcdef" {
		t.Errorf("token = %q, want it read and trimmed", got)
	}
	if got := c.Networks["public-xmpp"].XMPP.Secret.Reveal(); got != "file-secret" {
		t.Errorf("secret = %q, want it read and trimmed", got)
	}

	empty := writeFile(t, "empty", " \n")
	_, err := load(t, apply(t, edit{"  token: test-token-0123456789abcdef", "  token_file: " + empty}))
	wantKeyError(t, err, "admin.token_file", "is empty")
	if strings.Contains(err.Error(), "admin.token: empty") {
		t.Errorf("empty token file also reported as empty token:\n%v", err)
	}
}

func TestProxyFor(t *testing.T) {
	tests := []struct {
		name  string
		edits []edit
		key   string
		want  []string // empty: loads, and ProxyFor is wantProxy
		proxy string
	}{
		{"default to only outside", nil, "", nil, "public-xmpp"},
		{"ambiguous", []edit{{"routing:", anotherOutside}}, "networks.corp.xmpp.proxy_for",
			[]string{"several outside xmpp networks", "partners, public-xmpp"}, ""},
		{"explicit", []edit{{"routing:", anotherOutside}, {"home_domains: [corp.test]", "home_domains: [corp.test]\n      proxy_for: partners" + publicProxy}}, "", nil, "partners"},
		{"unknown network", []edit{{"home_domains: [corp.test]", "home_domains: [corp.test]\n      proxy_for: nowhere"}},
			"networks.corp.xmpp.proxy_for", []string{`no network "nowhere"`, "one of: public-xmpp"}, ""},
		{"inside network", []edit{{"home_domains: [corp.test]", "home_domains: [corp.test]\n      proxy_for: corp"}},
			"networks.corp.xmpp.proxy_for", []string{"corp is not an outside network", "one of: public-xmpp"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			c, err := load(t, apply(t, tt.edits...))
			if tt.key != "" {
				wantKeyError(t, err, tt.key, tt.want...)
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := c.Networks["corp"].XMPP.ProxyFor; got != tt.proxy {
				t.Errorf("proxy_for = %q, want %q", got, tt.proxy)
			}
		})
	}
}

func TestFallback(t *testing.T) {
	tests := []struct {
		name  string
		edit  edit
		fails bool
	}{
		{"none", edit{"  fallback_employee: ken\n", ""}, true},
		{"none, section empty", edit{"routing:\n  fallback_employee: ken\n", "routing: {}\n"}, true},
		{"none, section absent", edit{"routing:\n  fallback_employee: ken\n", ""}, true},
		{"address only", edit{"  fallback_employee: ken", "  fallback_address: desk@corp.test"}, false},
		{"both", edit{"  fallback_employee: ken", "  fallback_employee: ken\n  fallback_address: desk@corp.test"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			_, err := load(t, apply(t, tt.edit))
			if !tt.fails {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			wantKeyError(t, err, "routing", "routed to nobody", "routing.fallback_employee", "routing.fallback_address")
		})
	}
}

func TestAdminListen(t *testing.T) {
	remote := []string{"not a loopback address", "admin.allow_remote: true"}
	tests := []struct {
		listen      string
		allowRemote bool
		want        []string // nil: loads
	}{
		{"127.0.0.1:9000", false, nil},
		{"127.0.0.2:9000", false, nil},
		{"[::1]:9000", false, nil},
		{"localhost:9000", false, nil},
		{"127.0.0.1:0", false, nil},
		{"0.0.0.0:9000", true, nil},
		{"0.0.0.0:9000", false, remote},
		{":9000", false, remote},
		{"[::]:9000", false, remote},
		{"10.1.2.3:9000", false, remote},
		{"admin.corp.test:9000", false, remote},
		{"9000", false, []string{"not host:port"}},
		{"127.0.0.1:http", false, []string{"not a port number"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s remote=%v", tt.listen, tt.allowRemote), func(t *testing.T) {
			cleanEnv(t)
			repl := fmt.Sprintf("  listen: %q\n  allow_remote: %v", tt.listen, tt.allowRemote)
			c, err := load(t, apply(t, edit{"  listen: 127.0.0.1:9000", repl}))
			if tt.want != nil {
				wantKeyError(t, err, "admin.listen", tt.want...)
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.Admin.Listen != tt.listen || c.Admin.AllowRemote != tt.allowRemote {
				t.Errorf("admin = %+v", c.Admin)
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(path)
	if err == nil {
		t.Fatal("no error for a missing file")
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not match fs.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
}

func TestInvalidYAML(t *testing.T) {
	cleanEnv(t)
	for _, y := range []string{"admin: [\n", "- a\n- b\n", "a: 1\na: 2\n"} {
		_, err := load(t, y)
		if err == nil || !strings.Contains(err.Error(), "kakehashi.yaml") {
			t.Errorf("Load(%q) = %v, want an error naming the file", y, err)
		}
	}
}

func TestSecretRedaction(t *testing.T) {
	cleanEnv(t)
	c := mustLoad(t, base)
	secrets := []string{"test-token-0123456789abcdef", "corp-secret", "public-secret"}
	check := func(t *testing.T, what, out string) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s shows secret %q: %s", what, s, out)
			}
		}
		if !strings.Contains(out, "[redacted]") {
			t.Errorf("%s does not say [redacted]: %s", what, out)
		}
	}
	values := map[string]any{
		"*Config":      c,
		"Config":       *c,
		"Admin":        c.Admin,
		"*Admin":       &c.Admin,
		"*XMPP":        c.Networks["corp"].XMPP,
		"XMPP":         *c.Networks["public-xmpp"].XMPP,
		"Secret":       c.Admin.Token,
		"*Secret":      &c.Admin.Token,
		"[]Secret":     []Secret{c.Admin.Token},
		"map of token": map[string]Secret{"t": c.Admin.Token},
	}
	for name, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			if name == "*Config" || name == "Config" {
				// Networks are pointers inside Config, printed as addresses.
				if verb == "%x" || verb == "%q" || verb == "%s" {
					continue
				}
			}
			check(t, name+" "+verb, fmt.Sprintf(verb, v))
		}
	}
	if got := c.Admin.Token.String(); got != "[redacted]" {
		t.Errorf("String() = %q", got)
	}
	if got := c.Admin.Token.Reveal(); got != secrets[0] {
		t.Errorf("Reveal() = %q", got)
	}

	for _, h := range []struct {
		name string
		new  func(*bytes.Buffer) slog.Handler
	}{
		{"json", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
		{"text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
	} {
		var buf bytes.Buffer
		log := slog.New(h.new(&buf))
		log.Info("loaded", "config", c, "admin", c.Admin, "token", c.Admin.Token,
			"corp", c.Networks["corp"], "xmpp", c.Networks["corp"].XMPP, "networks", c.Networks)
		log.Info("attr", slog.Any("secret", c.Networks["public-xmpp"].XMPP.Secret))
		out := buf.String()
		check(t, "slog "+h.name, out)
		if h.name == "json" && !strings.Contains(out, `"token":"[redacted]"`) {
			t.Errorf("slog json: token not logged as [redacted]: %s", out)
		}
	}
}

func TestKeyErrorAs(t *testing.T) {
	cleanEnv(t)
	_, err := load(t, apply(t, remove("  token: test-token-0123456789abcdef")))
	var ke KeyError
	if !errors.As(err, &ke) || ke.Key == "" || ke.Problem == "" || ke.Fix == "" {
		t.Errorf("errors.As(KeyError) = %+v from %v", ke, err)
	}
	var kp *KeyError
	if !errors.As(err, &kp) || kp == nil || kp.Key == "" {
		t.Errorf("errors.As(*KeyError) = %+v from %v", kp, err)
	}
	if got := (KeyError{Key: "a.b", Problem: "empty", Fix: "set it"}).Error(); got != "a.b: empty; set it" {
		t.Errorf("Error() = %q", got)
	}
}

func TestValidateBuiltConfig(t *testing.T) {
	good := func() *Config {
		return &Config{
			DataDir: "./data",
			Log:     Log{Level: "info", Format: "text"},
			Admin:   Admin{Listen: "127.0.0.1:8765", Token: "0123456789abcdef"},
			Networks: map[string]*Network{
				"corp": {Name: "corp", Side: identity.Inside, Kind: KindXMPP, XMPP: &XMPP{
					Domain: "gw.corp.test", Server: "127.0.0.1:5347", Secret: "s",
					HomeDomains: []string{"corp.test"}, ProxyFor: "public-xmpp"}},
				"public-xmpp": {Name: "public-xmpp", Side: identity.Outside, Kind: KindXMPP, XMPP: &XMPP{
					Domain: "contact.acme.test", Server: "127.0.0.1:5347", Secret: "s"}},
			},
			Routing: Routing{FallbackEmployee: "ken"},
			Limits:  Limits{MaxBodyBytes: 1},
		}
	}
	if err := good().Validate(); err != nil {
		t.Fatalf("Validate(good) = %v", err)
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		key    string
	}{
		{"nil network", func(c *Config) { c.Networks["x"] = nil }, "networks.x"},
		{"name mismatch", func(c *Config) { c.Networks["corp"].Name = "other" }, "networks.corp"},
		{"empty proxy_for", func(c *Config) { c.Networks["corp"].XMPP.ProxyFor = "" }, "networks.corp.xmpp.proxy_for"},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "data_dir"},
		{"empty log level", func(c *Config) { c.Log.Level = "" }, "log.level"},
		{"token too short", func(c *Config) { c.Admin.Token = "0123456789abcde" }, "admin.token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := good()
			tt.mutate(c)
			wantKeyError(t, c.Validate(), tt.key)
		})
	}
}

func TestInsideOutsideSorted(t *testing.T) {
	cleanEnv(t)
	c := mustLoad(t, apply(t, edit{"routing:", anotherOutside},
		edit{"home_domains: [corp.test]", "home_domains: [corp.test]\n      proxy_for: partners" + publicProxy}))
	if got := names(c.Outside()); got != "partners,public-xmpp" {
		t.Errorf("Outside() = %s", got)
	}
	if got := names(c.Inside()); got != "corp" {
		t.Errorf("Inside() = %s", got)
	}
}

func TestEnvName(t *testing.T) {
	for key, want := range map[string]string{
		"admin.token":                      "KAKEHASHI_ADMIN_TOKEN",
		"data_dir":                         "KAKEHASHI_DATA_DIR",
		"networks.corp.xmpp.secret":        "KAKEHASHI_NETWORKS_CORP_XMPP_SECRET",
		"networks.public-xmpp.xmpp.secret": "KAKEHASHI_NETWORKS_PUBLIC_XMPP_XMPP_SECRET",
	} {
		if got := EnvName(key); got != want {
			t.Errorf("EnvName(%s) = %s, want %s", key, got, want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"secret", "secret", 0}, {"secrte", "secret", 1}, {"levl", "level", 1}, {"", "abc", 3}, {"kitten", "sitting", 3},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
	if !slices.Contains(SupportedKinds(), KindXMPP) {
		t.Error("SupportedKinds lacks xmpp")
	}
}

// TestRichMessageKeys pins the keys issue 11 added: files, signals,
// guard, the upload service and the mail attachment cap, with their
// defaults and their errors.
func TestRichMessageKeys(t *testing.T) {
	c := mustLoad(t, base)
	if c.Files.MaxFiles != DefaultMaxFiles || c.Files.MaxFileBytes != DefaultMaxFileBytes || c.Files.AllowPrivate ||
		c.Files.MaxFilesPerDay != DefaultMaxFilesPerDay || c.Files.MaxBytesPerDay != DefaultMaxBytesPerDay || c.Signals.Received != nil || c.Signals.Displayed || c.Guard.Off {
		t.Errorf("defaults: files %+v signals %+v guard %+v", c.Files, c.Signals, c.Guard)
	}
	corp := c.Networks["corp"].XMPP
	if corp.ServerDomainOrDefault() != "corp.test" || corp.UploadHostsOrDefault() != nil {
		t.Errorf("corp upload defaults: %q %q", corp.ServerDomainOrDefault(), corp.UploadHostsOrDefault())
	}
	if d := c.Networks["public-xmpp"].XMPP.ServerDomainOrDefault(); d != "" {
		t.Errorf("outside server domain default %q; want empty (the adapter derives it)", d)
	}

	c = mustLoad(t, apply(t,
		edit{"      home_domains: [corp.test]\n", "      home_domains: [corp.test]\n      upload: upload.corp.test\n"},
		edit{"      secret: public-secret\n", "      secret: public-secret\n      upload: upload.acme.test\n      upload_hosts: [files.acme.test]\n      server_domain: acme.test\n"},
		edit{"limits:\n", "files:\n  max_files: 3\n  max_file_bytes: 1048576\n  max_files_per_day: 0\n  max_bytes_per_day: 5368709120\n  allow_private: true\n  pass_through: [video/mp4]\nsignals:\n  received: false\n  displayed: true\n  chat_states: false\nguard:\n  terms: [Project Sakura]\n  inside_domains: [corp.example]\nlimits:\n"}))
	corp, pub := c.Networks["corp"].XMPP, c.Networks["public-xmpp"].XMPP
	if got := corp.UploadHostsOrDefault(); !slices.Equal(got, []string{"upload.corp.test"}) {
		t.Errorf("corp upload hosts %q; want the upload JID's domain", got)
	}
	if got := pub.UploadHostsOrDefault(); !slices.Equal(got, []string{"files.acme.test"}) || pub.ServerDomainOrDefault() != "acme.test" {
		t.Errorf("public upload %q %q", got, pub.ServerDomainOrDefault())
	}
	if c.Files.MaxFiles != 3 || c.Files.MaxFileBytes != 1<<20 || c.Files.MaxFilesPerDay != 0 || c.Files.MaxBytesPerDay != 5<<30 || !c.Files.AllowPrivate || !slices.Equal(c.Files.PassThrough, []string{"video/mp4"}) {
		t.Errorf("files %+v", c.Files)
	}
	if c.Signals.Received == nil || *c.Signals.Received || !c.Signals.Displayed || c.Signals.ChatStates == nil || *c.Signals.ChatStates {
		t.Errorf("signals %+v", c.Signals)
	}
	if !slices.Equal(c.Guard.Terms, []string{"Project Sakura"}) || !slices.Equal(c.Guard.InsideDomains, []string{"corp.example"}) {
		t.Errorf("guard %+v", c.Guard)
	}

	for _, tc := range []struct{ add, key, want string }{
		{"files:\n  max_files: 101\n", "files.max_files", "out of range"},
		{"files:\n  max_files: -1\n", "files.max_files", "out of range"},
		{"files:\n  max_file_bytes: 2147483648\n", "files.max_file_bytes", "out of range"},
		{"files:\n  pass_through: [video]\n", "files.pass_through[0]", "not a media type"},
		{"files:\n  max_files_per_day: -1\n", "files.max_files_per_day", "out of range"},
		{"files:\n  max_bytes_per_day: -5\n", "files.max_bytes_per_day", "out of range"},
		{"guard:\n  terms: [\"\"]\n", "guard.terms[0]", "empty"},
		{"guard:\n  inside_domains: [\"not a domain\"]\n", "guard.inside_domains[0]", "not a domain name"},
	} {
		_, err := load(t, apply(t, edit{"limits:\n", tc.add + "limits:\n"}))
		wantKeyError(t, err, tc.key, tc.want)
	}
}
