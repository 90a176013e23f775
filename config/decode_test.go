package config

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestDecodeUnknownKeys: an unknown key is reported at its full path at any
// depth, with the known key it most likely stands for, or the keys known
// there.
func TestDecodeUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		yaml func(t *testing.T) string
		want KeyError
	}{
		{"top level", func(t *testing.T) string { return apply(t, edit{"routing:", "colour: blue\nrouting:"}) },
			KeyError{"colour", "unknown key", "remove it; known keys here: admin, console, data_dir, files, guard, ha, limits, log, networks, routing, signals, store"}},
		{"a section", func(t *testing.T) string { return apply(t, edit{"  format: json", "  format: json\n  colour: blue"}) },
			KeyError{"log.colour", "unknown key", "remove it; known keys here: format, level"}},
		{"a network", func(t *testing.T) string {
			return apply(t, edit{"    side: inside", "    side: inside\n    colour: blue"})
		},
			KeyError{"networks.corp.colour", "unknown key", "remove it; known keys here: kind, mail, side, xmpp"}},
		{"a network's block", func(t *testing.T) string {
			return apply(t, edit{"      server: 127.0.0.1:5347", "      sever: 127.0.0.1:5347"})
		}, KeyError{"networks.corp.xmpp.sever", "unknown key", "did you mean networks.corp.xmpp.server?"}},
		{"a block of a block", func(t *testing.T) string {
			return withMail(t, edit{"        server: imap.acme.test:993", "        sever: imap.acme.test:993"})
		}, KeyError{"networks.mail.mail.imap.sever", "unknown key", "did you mean networks.mail.mail.imap.server?"}},
		{"a key of another block", func(t *testing.T) string {
			return apply(t, edit{"      secret: public-secret", "      secret: public-secret\n      tls: none"})
		}, KeyError{"networks.public-xmpp.xmpp.tls", "unknown key", "did you mean networks.public-xmpp.mail.imap.tls?"}},
		{"a block one level too high", func(t *testing.T) string {
			return withMail(t, edit{"    mail:\n      domain: contact.acme.test", "    imap:\n      server: imap.acme.test:993\n    mail:\n      domain: contact.acme.test"})
		}, KeyError{"networks.mail.imap", "unknown key", "did you mean networks.mail.mail.imap?"}},
		{"a network key at the top", func(t *testing.T) string { return apply(t, edit{"routing:", "secret: x\nrouting:"}) },
			KeyError{"secret", "unknown key", "did you mean networks.<name>.xmpp.secret?"}},
		{"Name is not a key", func(t *testing.T) string {
			return apply(t, edit{"    side: inside", "    side: inside\n    name: corp"})
		},
			KeyError{"networks.corp.name", "unknown key", "remove it; known keys here: kind, mail, side, xmpp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			_, err := load(t, tt.yaml(t))
			if !slices.Contains(keyErrors(err), tt.want) {
				t.Errorf("no %q in:\n%v", tt.want.Error(), err)
			}
		})
	}
}

// TestDecodeWrongTypes: a value of the wrong type names the key, what was
// given, and a valid value; from the file or from the environment.
func TestDecodeWrongTypes(t *testing.T) {
	limit := func(line string) edit { return edit{"  max_body_bytes: 4096", "  max_body_bytes: 4096\n  " + line} }
	tests := []struct {
		name string
		yaml func(t *testing.T) string
		env  map[string]string
		want string
	}{
		{"string for an int", func(t *testing.T) string { return apply(t, edit{"max_body_bytes: 4096", "max_body_bytes: four"}) }, nil,
			`limits.max_body_bytes: "four" is not a whole number; set it to a whole number, e.g. 65536`},
		{"string for an int, from the environment", func(t *testing.T) string { return base }, map[string]string{"KAKEHASHI_LIMITS_BROADCASTS_PER_DAY": "1.5"},
			`limits.broadcasts_per_day: "1.5" is not a whole number; set it to a whole number, e.g. 1`},
		{"fraction for an int", func(t *testing.T) string { return apply(t, limit("broadcasts_per_month: 2.5")) }, nil,
			`limits.broadcasts_per_month: a number (2.5) is not a whole number; set it to a whole number, e.g. 4`},
		{"list for a string", func(t *testing.T) string {
			return apply(t, edit{"  fallback_employee: ken", "  fallback_employee: ken\n  fallback_address: [desk@corp.test]"})
		}, nil,
			`routing.fallback_address: expected a string, got a list; give it a single value, e.g. "desk@corp.test"`},
		{"number for a string", func(t *testing.T) string { return apply(t, edit{"domain: gw.corp.test", "domain: 12"}) }, nil,
			`networks.corp.xmpp.domain: expected a string, got a number (12); quote the value, e.g. "gw.corp.test"`},
		{"bad duration", func(t *testing.T) string { return apply(t, limit("message_retention: 2 days")) }, nil,
			`limits.message_retention: "2 days" is not a duration; write a number with a unit, e.g. 720h, 2m or 1m30s`},
		{"bad duration from the environment", func(t *testing.T) string { return withMail(t) },
			map[string]string{"KAKEHASHI_NETWORKS_MAIL_MAIL_IMAP_POLL_INTERVAL": "45"},
			`networks.mail.mail.imap.poll_interval: "45" is not a duration; write a number with a unit, e.g. 30s, 2m or 1m30s (a bare number has no unit)`},
		{"mapping for a list", func(t *testing.T) string {
			return apply(t, edit{"home_domains: [corp.test]", "home_domains: {corp: test}"})
		}, nil,
			`networks.corp.xmpp.home_domains: expected a list of strings, got a mapping; write a list, e.g. [corp.test]`},
		{"number in a list", func(t *testing.T) string {
			return apply(t, edit{"home_domains: [corp.test]", "home_domains: [corp.test, 7]"})
		}, nil,
			`networks.corp.xmpp.home_domains[1]: expected a string, got a number (7); quote the value, e.g. "corp.test"`},
		{"word for a bool", func(t *testing.T) string {
			return apply(t, edit{"  fallback_employee: ken", "  fallback_employee: ken\n  allow_special_addresses: sure"})
		}, nil, `routing.allow_special_addresses: "sure" is not true or false; set it to true or false`},
		{"scalar for a block", func(t *testing.T) string {
			return apply(t, edit{"limits:\n  max_body_bytes: 4096", "limits: 4096"})
		}, nil, `limits: expected a mapping of keys, got a number (4096); write its keys on the lines below it, indented: broadcasts_per_day, broadcasts_per_month, max_body_bytes, message_retention`},
		{"scalar for a map of entries", func(t *testing.T) string {
			return withMail(t, edit{"proxy_domains:\n        mail: mail.gw.corp.test", "proxy_domains: mail.gw.corp.test"})
		}, nil, `networks.corp.xmpp.proxy_domains: expected a mapping of keys, got "mail.gw.corp.test"; write its keys on the lines below it, indented, e.g. mail: mail.gw.corp.test`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := load(t, tt.yaml(t))
			var got []string
			for _, ke := range keyErrors(err) {
				got = append(got, ke.Error())
			}
			if !slices.Equal(got, []string{tt.want}) {
				t.Errorf("errors:\n%s\nwant only:\n%s", strings.Join(got, "\n"), tt.want)
			}
		})
	}
}

// TestDecodeNoFollowOn: a bad value deep in a network is reported alone.
// mapstructure drops the whole network holding it, so this checks that the
// rest of the network is still decoded and validated.
func TestDecodeNoFollowOn(t *testing.T) {
	tests := []struct {
		name string
		edit edit
		keys []string
	}{
		{"bad secret", edit{"      secret: corp-secret", "      secret: 4711"}, []string{"networks.corp.xmpp.secret"}},
		{"bad list element", edit{"home_domains: [corp.test]", "home_domains: [7]"}, []string{"networks.corp.xmpp.home_domains[0]"}},
		{"bad block", edit{"    xmpp:\n      domain: contact.acme.test\n      server: 127.0.0.1:5348\n      secret: public-secret", "    xmpp: [a]"},
			[]string{"networks.public-xmpp.xmpp"}},
		{"bad and unknown keys together", edit{"      server: 127.0.0.1:5347", "      server: 127.0.0.1:5347\n      proxy_for: [a]\n      colour: blue"},
			[]string{"networks.corp.xmpp.colour", "networks.corp.xmpp.proxy_for"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			_, err := load(t, apply(t, tt.edit))
			var got []string
			for _, ke := range keyErrors(err) {
				got = append(got, ke.Key)
			}
			if !slices.Equal(got, tt.keys) {
				t.Errorf("errors for %v, want only %v:\n%v", got, tt.keys, err)
			}
		})
	}
}

// TestDecodeSecretOfWrongType: a secret of the wrong type is reported
// without its value.
func TestDecodeSecretOfWrongType(t *testing.T) {
	const secret = "8675309112358"
	tests := []struct {
		name, key string
		yaml      func(t *testing.T) string
	}{
		{"number", "networks.corp.xmpp.secret", func(t *testing.T) string {
			return apply(t, edit{"      secret: corp-secret", "      secret: " + secret})
		}},
		{"list", "admin.token", func(t *testing.T) string {
			return apply(t, edit{"  token: test-token-0123456789abcdef", "  token: [" + secret + "]"})
		}},
		{"mapping", "networks.mail.mail.imap.password", func(t *testing.T) string {
			return withMail(t, edit{"        password: " + imapPassword, "        password: {" + secret + ": x}"})
		}},
		{"float", "networks.mail.mail.smtp.password", func(t *testing.T) string {
			return withMail(t, edit{"smtp.acme.test:587", "smtp.acme.test:587\n        username: relay\n        password: " + secret + ".5"})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			_, err := load(t, tt.yaml(t))
			wantKeyError(t, err, tt.key, "expected a string, got a ", `e.g. "<secret>"`)
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "8.675309112358") {
				t.Errorf("error shows the secret:\n%v", err)
			}
		})
	}
}

// TestEnvNamesFromTags: the environment variables are derived from the
// struct tags, with the names the README and the example document, for
// every network and proxy domain the file names.
func TestEnvNamesFromTags(t *testing.T) {
	var env []string
	for _, k := range keys(reflect.TypeFor[Config](), "", []string{"corp", "public-xmpp"}) {
		env = append(env, EnvName(k))
	}
	for _, want := range []string{
		"KAKEHASHI_DATA_DIR", "KAKEHASHI_ADMIN_TOKEN", "KAKEHASHI_LIMITS_MESSAGE_RETENTION",
		"KAKEHASHI_NETWORKS_CORP_XMPP_SECRET", "KAKEHASHI_NETWORKS_PUBLIC_XMPP_XMPP_SECRET",
		"KAKEHASHI_NETWORKS_CORP_XMPP_PROXY_DOMAINS_PUBLIC_XMPP", "KAKEHASHI_NETWORKS_PUBLIC_XMPP_MAIL_IMAP_PASSWORD",
		"KAKEHASHI_NETWORKS_CORP_MAIL_DKIM_KEY_FILE", "KAKEHASHI_NETWORKS_CORP_MAIL_TRUSTED_AUTHSERV_IDS",
	} {
		if !slices.Contains(env, want) {
			t.Errorf("no %s among %v", want, env)
		}
	}
	if slices.Contains(env, "KAKEHASHI_NETWORKS_CORP_NAME") {
		t.Error("Name, set from the network's key, has a variable")
	}
	if sorted := slices.Sorted(slices.Values(env)); len(slices.Compact(sorted)) != len(env) {
		t.Errorf("two keys share a variable: %v", env)
	}
}

// TestEnvOverridesNested: a nested key absent from the file and per-network
// keys are set from the environment.
func TestEnvOverridesNested(t *testing.T) {
	cleanEnv(t)
	t.Setenv("KAKEHASHI_LIMITS_MESSAGE_RETENTION", "48h")
	t.Setenv("KAKEHASHI_NETWORKS_MAIL_MAIL_IMAP_IDLE_INTERVAL", "2m")
	t.Setenv("KAKEHASHI_NETWORKS_CORP_XMPP_PROXY_DOMAINS_MAIL", "m.gw.corp.test")
	c := mustLoad(t, withMail(t))
	imap := c.Networks["mail"].Mail.IMAP
	got := []any{c.Limits.MessageRetention.String(), imap.IdleInterval.String(), c.Networks["corp"].XMPP.ProxyDomains["mail"]}
	if want := []any{"48h0m0s", "2m0s", "m.gw.corp.test"}; !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
