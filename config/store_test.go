package config

import (
	"strings"
	"testing"
	"time"
)

// TestStore: store takes a PostgreSQL URL (either scheme) and keeps it a
// secret; anything else is refused with the key, what is wrong and the
// fix, and never with the URL's password.
func TestStore(t *testing.T) {
	for _, ok := range []string{
		"postgres://kakehashi:pw@db.corp.test/kakehashi",
		"postgresql://kakehashi:pw@127.0.0.1:5432/kk?sslmode=disable",
		"  postgres://db.corp.test/kakehashi  ",
	} {
		c := mustLoad(t, base+"store: "+ok+"\n")
		if got := c.Store.Reveal(); got != strings.TrimSpace(ok) {
			t.Errorf("store %q read as %q", ok, got)
		}
		if s := c.Store.String(); strings.Contains(s, "pw") {
			t.Errorf("store printed as %q", s)
		}
	}
	for _, tt := range []struct{ store, want string }{
		{"mysql://kakehashi:s3cret@db/kk", "is not a store"},
		{"postgres:db.corp.test", "is not a store"},
		{"sqlite:/var/lib/kakehashi/all.db", "store: only PostgreSQL is configured here"},
		{"/var/lib/kakehashi/all.db", "store: only PostgreSQL is configured here"},
	} {
		_, err := load(t, base+"store: "+tt.store+"\n")
		if err == nil || !strings.Contains(err.Error(), "store:") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("store %q: %v", tt.store, err)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("store %q: the error shows the password: %v", tt.store, err)
		}
		if !strings.Contains(err.Error(), "leave it empty for SQLite") {
			t.Errorf("store %q: no fix in %v", tt.store, err)
		}
	}
}

// TestHA: ha.instance and ha.ttl are read; a TTL out of range is refused.
func TestHA(t *testing.T) {
	c := mustLoad(t, base+"ha:\n  instance: gw-1\n  ttl: 3s\n")
	if c.HA.Instance != "gw-1" || c.HA.TTL != 3*time.Second {
		t.Errorf("ha %+v", c.HA)
	}
	for _, bad := range []string{"10ms", "1h"} {
		_, err := load(t, base+"ha:\n  ttl: "+bad+"\n")
		if err == nil || !strings.Contains(err.Error(), "ha.ttl") {
			t.Errorf("ttl %s: %v", bad, err)
		}
	}
}

// TestHAAdvertise: ha.advertise takes an http or https URL of scheme,
// host and port; anything that could not be a base for the admin API's
// paths, or that would carry a password, is refused naming the key.
func TestHAAdvertise(t *testing.T) {
	remote := strings.Replace(base, "  listen: 127.0.0.1:9000\n", "  listen: 10.0.0.5:8765\n  allow_remote: true\n", 1)
	for _, ok := range []string{"http://gw-1.corp.test:8765", "https://10.0.0.5:8443/", "http://[::1]:8765"} {
		if c := mustLoad(t, remote+"ha:\n  advertise: "+ok+"\n"); c.HA.Advertise != ok {
			t.Errorf("advertise %q read as %q", ok, c.HA.Advertise)
		}
	}
	for _, tt := range []struct{ advertise, want string }{
		{"gw-1.corp.test:8765", "not an http or https URL"},
		{"ftp://gw-1.corp.test", "not an http or https URL"},
		{"http://", "names no host"},
		{"http://:8765", "names no host"},
		{"http://ops:s3cret@gw-1.corp.test:8765", "user name or password"},
		{"http://gw-1.corp.test:8765/admin", "path, query or fragment"},
		{"http://gw-1.corp.test:8765/?x=1", "path, query or fragment"},
		{"'http://gw 1:8765'", "not a URL"},
	} {
		_, err := load(t, base+"ha:\n  advertise: "+tt.advertise+"\n")
		if err == nil || !strings.Contains(err.Error(), "ha.advertise") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("advertise %q: %v", tt.advertise, err)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("advertise %q: the error shows the password: %v", tt.advertise, err)
		}
	}
	// A remote address for a listener that takes only loopback connections.
	_, err := load(t, base+"ha:\n  advertise: http://gw-1.corp.test:8765\n")
	if err == nil || !strings.Contains(err.Error(), "ha.advertise") || !strings.Contains(err.Error(), "admin.listen") {
		t.Errorf("remote advertise, loopback listener: %v", err)
	}
	if c := mustLoad(t, base+"ha:\n  advertise: http://127.0.0.1:9000\n"); c.HA.Advertise == "" {
		t.Error("loopback advertise with a loopback listener refused")
	}
}
