package verp

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var (
	secret = []byte("0123456789abcdef0123456789abcdef")
	t0     = time.Date(2025, 3, 1, 9, 30, 17, 123, time.UTC)
)

func newCodec(t testing.TB) *Codec {
	t.Helper()
	c, err := NewCodec(secret, "", "contact.acme.test", 0)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustAddress(t testing.TB, c *Codec, id string, now time.Time) string {
	t.Helper()
	a, err := c.Address(id, now)
	if err != nil {
		t.Fatalf("Address(%q): %v", id, err)
	}
	return a
}

func TestNewCodec(t *testing.T) {
	c, err := NewCodec(secret, "", "Contact.ACME.test.", 0)
	if err != nil {
		t.Fatal(err)
	}
	if c.Local != DefaultLocal || c.TTL != DefaultTTL || c.Domain != "contact.acme.test" {
		t.Errorf("defaults not applied: %+v", c)
	}
	s := append([]byte(nil), secret...)
	c, err = NewCodec(s, "VERP", "acme.test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s[0] ^= 1
	if c.Secret[0] == s[0] {
		t.Errorf("NewCodec keeps the caller's secret slice")
	}
	if c.Local != "verp" {
		t.Errorf("Local = %q", c.Local)
	}

	bad := []struct {
		name   string
		secret []byte
		local  string
		domain string
		ttl    time.Duration
	}{
		{"no secret", nil, "", "acme.test", 0},
		{"short secret", secret[:15], "", "acme.test", 0},
		{"prefix too long", secret, "bouncess", "acme.test", 0},
		{"prefix with plus", secret, "b+x", "acme.test", 0},
		{"prefix with dot", secret, "b.x", "acme.test", 0},
		{"prefix with dash", secret, "b-x", "acme.test", 0},
		{"no domain", secret, "", "", 0},
		{"bad domain", secret, "", "acme..test", 0},
		{"domain with at", secret, "", "a@acme.test", 0},
		{"unicode domain", secret, "", "例え.jp", 0},
		{"negative ttl", secret, "", "acme.test", -time.Hour},
		{"ttl under a minute", secret, "", "acme.test", time.Second},
		{"ttl over a year", secret, "", "acme.test", 400 * 24 * time.Hour},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if c, err := NewCodec(tt.secret, tt.local, tt.domain, tt.ttl); !errors.Is(err, ErrInvalid) {
				t.Errorf("NewCodec = %+v, %v; want ErrInvalid", c, err)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	c := newCodec(t)
	for _, id := range []string{"a", "0", "k2m5x9c4h8p1r6t0", strings.Repeat("z", 32), "abcdefghijklmnopqrstuvwxyz234567"} {
		addr := mustAddress(t, c, id, t0)
		got, err := c.Parse(addr, t0)
		if err != nil || got != id {
			t.Errorf("Parse(%q) = %q, %v; want %q", addr, got, err, id)
		}
		local, domain, _ := strings.Cut(addr, "@")
		if domain != "contact.acme.test" || !strings.HasPrefix(local, "bounces+"+id+".") {
			t.Errorf("Address = %q", addr)
		}
		for _, r := range local {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '+' || r == '.') {
				t.Errorf("Address %q has %q", addr, r)
			}
		}
	}
}

func TestAddressDeterministic(t *testing.T) {
	c := newCodec(t)
	a := mustAddress(t, c, "abc", t0)
	if b := mustAddress(t, c, "abc", t0.Add(time.Second)); a != b {
		t.Errorf("same minute, different addresses: %q %q", a, b)
	}
	if b := mustAddress(t, c, "abd", t0); a == b {
		t.Errorf("different IDs, same address")
	}
}

func TestCaseFolding(t *testing.T) {
	c := newCodec(t)
	addr := mustAddress(t, c, "k2m5x9c4", t0)
	for _, variant := range []string{
		strings.ToUpper(addr),
		strings.ToUpper(addr[:10]) + addr[10:],
		"<" + addr + ">",
		"  " + strings.ToUpper(addr) + "\t",
		"<" + strings.ToUpper(addr) + ">",
	} {
		if id, err := c.Parse(variant, t0); err != nil || id != "k2m5x9c4" {
			t.Errorf("Parse(%q) = %q, %v", variant, id, err)
		}
	}
	// Unicode folds a Kelvin sign to 'k'; no MTA does.
	kelvin := strings.Replace(addr, "k", "\u212a", 1)
	if _, err := c.Parse(kelvin, t0); !errors.Is(err, ErrForged) {
		t.Errorf("Parse(%q) = %v, want ErrForged", kelvin, err)
	}
}

func TestTampering(t *testing.T) {
	c := newCodec(t)
	addr := mustAddress(t, c, "k2m5x9c4h8p1", t0)
	plus := strings.IndexByte(addr, '+')
	at := strings.IndexByte(addr, '@')
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789+.@-_=X"
	for i := range addr {
		for _, r := range alphabet {
			if strings.EqualFold(string(r), addr[i:i+1]) {
				continue
			}
			tampered := addr[:i] + string(r) + addr[i+1:]
			want := ErrForged
			if i <= plus || i >= at {
				// The prefix, the '+', the '@' and the domain decide
				// whether the address is ours at all.
				want = ErrNotVERP
			}
			if _, err := c.Parse(tampered, t0); !errors.Is(err, want) {
				t.Errorf("Parse(%q) = %v, want %v", tampered, err, want)
			}
		}
	}
	for i := plus + 1; i < at; i++ {
		deleted := addr[:i] + addr[i+1:]
		if _, err := c.Parse(deleted, t0); !errors.Is(err, ErrForged) {
			t.Errorf("Parse(%q) = %v, want ErrForged", deleted, err)
		}
		inserted := addr[:i] + "a" + addr[i:]
		if _, err := c.Parse(inserted, t0); !errors.Is(err, ErrForged) {
			t.Errorf("Parse(%q) = %v, want ErrForged", inserted, err)
		}
	}
}

func TestExpiry(t *testing.T) {
	c, err := NewCodec(secret, "", "acme.test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	addr := mustAddress(t, c, "abc", t0)
	for _, tt := range []struct {
		at   time.Time
		want error
	}{
		{t0.Add(-24 * time.Hour), nil},
		{t0, nil},
		{t0.Add(time.Hour), nil},
		// The expiry is rounded up to the next whole minute.
		{t0.Add(time.Hour).Truncate(time.Minute).Add(time.Minute), nil},
		{t0.Add(time.Hour).Truncate(time.Minute).Add(time.Minute + time.Nanosecond), ErrExpired},
		{t0.Add(30 * 24 * time.Hour), ErrExpired},
	} {
		if _, err := c.Parse(addr, tt.at); !errors.Is(err, tt.want) {
			t.Errorf("Parse at %v = %v, want %v", tt.at, err, tt.want)
		}
	}
	// Default TTL: fourteen days.
	c = newCodec(t)
	addr = mustAddress(t, c, "abc", t0)
	if _, err := c.Parse(addr, t0.Add(14*24*time.Hour)); err != nil {
		t.Errorf("Parse after 14 days = %v", err)
	}
	if _, err := c.Parse(addr, t0.Add(15*24*time.Hour)); !errors.Is(err, ErrExpired) {
		t.Errorf("Parse after 15 days = %v", err)
	}
	// A forged MAC is reported as such even when the date is past too, so
	// an attacker learns nothing from the difference.
	forged := addr[:strings.IndexByte(addr, '@')-1] + "a" + addr[strings.IndexByte(addr, '@'):]
	if forged == addr {
		forged = addr[:strings.IndexByte(addr, '@')-1] + "b" + addr[strings.IndexByte(addr, '@'):]
	}
	if _, err := c.Parse(forged, t0.Add(100*24*time.Hour)); !errors.Is(err, ErrForged) {
		t.Errorf("forged and expired = %v, want ErrForged", err)
	}
}

func TestOtherCodecs(t *testing.T) {
	c := newCodec(t)
	addr := mustAddress(t, c, "abc", t0)

	other, err := NewCodec(secret, "", "other.test", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Parse(addr, t0); !errors.Is(err, ErrNotVERP) {
		t.Errorf("other domain: %v, want ErrNotVERP", err)
	}
	// The MAC covers the domain: the same tag under another domain of the
	// same secret is forged.
	moved := strings.Replace(addr, "contact.acme.test", "other.test", 1)
	if _, err := other.Parse(moved, t0); !errors.Is(err, ErrForged) {
		t.Errorf("tag moved to another domain: %v, want ErrForged", err)
	}

	rekeyed, err := NewCodec([]byte("another secret of enough length"), "", "contact.acme.test", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rekeyed.Parse(addr, t0); !errors.Is(err, ErrForged) {
		t.Errorf("other secret: %v, want ErrForged", err)
	}

	prefixed, err := NewCodec(secret, "verp", "contact.acme.test", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prefixed.Parse(addr, t0); !errors.Is(err, ErrNotVERP) {
		t.Errorf("other prefix: %v, want ErrNotVERP", err)
	}
}

func TestParseOtherAddresses(t *testing.T) {
	c := newCodec(t)
	notVERP := []string{
		"",
		"@",
		"bounces",
		"postmaster@contact.acme.test",
		"hana.sales@contact.acme.test",
		"bounces@contact.acme.test",
		"bouncesx+abc.1.aaaaaaaaaaaaaaaa@contact.acme.test",
		"bounces+abc.1.aaaaaaaaaaaaaaaa@mail.test",
		"bounces+abc.1.aaaaaaaaaaaaaaaa@contact.acme.test.",
		"bounces+abc.1.aaaaaaaaaaaaaaaa@sub.contact.acme.test",
		"bounces+abc.1.aaaaaaaaaaaaaaaa",
		"\"bounces+abc\"@contact.acme.test",
	}
	for _, a := range notVERP {
		if _, err := c.Parse(a, t0); !errors.Is(err, ErrNotVERP) {
			t.Errorf("Parse(%q) = %v, want ErrNotVERP", a, err)
		}
	}
	forged := []string{
		"bounces+@contact.acme.test",
		"bounces+abc@contact.acme.test",
		"bounces+abc.1@contact.acme.test",
		"bounces+abc..aaaaaaaaaaaaaaaa@contact.acme.test",
		"bounces+.1.aaaaaaaaaaaaaaaa@contact.acme.test",
		"bounces+abc.01.aaaaaaaaaaaaaaaa@contact.acme.test",
		"bounces+abc.-1.aaaaaaaaaaaaaaaa@contact.acme.test",
		"bounces+abc.1.aaaaaaaaaaaaaaaa.x@contact.acme.test",
		"bounces+abc.1.aaaaaaaaaaaaaaa@contact.acme.test",
		"bounces+abc.1234567.aaaaaaaaaaaaaaaa@contact.acme.test",
		"bounces+" + strings.Repeat("a", 33) + ".1.aaaaaaaaaaaaaaaa@contact.acme.test",
		"bounces+" + strings.Repeat("a", 100) + "@contact.acme.test",
		"bounces+ab_c.1.aaaaaaaaaaaaaaaa@contact.acme.test",
		"bounces+abc.1.aaaaaaaaaaaaaaaa@contact.acme.test",
		"bounces+été.1.aaaaaaaaaaaaaaaa@contact.acme.test",
	}
	for _, a := range forged {
		if _, err := c.Parse(a, t0); !errors.Is(err, ErrForged) {
			t.Errorf("Parse(%q) = %v, want ErrForged", a, err)
		}
	}
}

func TestAddressErrors(t *testing.T) {
	c := newCodec(t)
	for _, id := range []string{"", "ABC", "a-b", "a.b", "a+b", "日本", strings.Repeat("a", 33), "a b"} {
		if a, err := c.Address(id, t0); !errors.Is(err, ErrInvalid) {
			t.Errorf("Address(%q) = %q, %v; want ErrInvalid", id, a, err)
		}
	}
	if a, err := c.Address("abc", time.Unix(0, 0).Add(-DefaultTTL-time.Hour)); !errors.Is(err, ErrInvalid) {
		t.Errorf("Address before 1970 = %q, %v", a, err)
	}
	if a, err := c.Address("abc", time.Date(6200, 1, 1, 0, 0, 0, 0, time.UTC)); !errors.Is(err, ErrInvalid) {
		t.Errorf("Address in 6200 = %q, %v", a, err)
	}
	var nilCodec *Codec
	if _, err := nilCodec.Address("abc", t0); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil codec: %v", err)
	}
	hand := &Codec{Secret: []byte("short"), Local: "bounces", Domain: "acme.test", TTL: time.Hour}
	if _, err := hand.Address("abc", t0); !errors.Is(err, ErrInvalid) {
		t.Errorf("hand-made codec with a short secret: %v", err)
	}
	if _, err := hand.Parse("bounces+abc.1.aaaaaaaaaaaaaaaa@acme.test", t0); !errors.Is(err, ErrInvalid) {
		t.Errorf("hand-made codec with a short secret: %v", err)
	}
	upper := &Codec{Secret: secret, Local: "bounces", Domain: "ACME.test", TTL: time.Hour}
	if _, err := upper.Address("abc", t0); !errors.Is(err, ErrInvalid) {
		t.Errorf("hand-made codec with an upper-case domain: %v", err)
	}
}

func TestLengthBound(t *testing.T) {
	for _, prefix := range []string{"b", "bounces", "1234567"} {
		c, err := NewCodec(secret, prefix, "acme.test", maxTTL)
		if err != nil {
			t.Fatal(err)
		}
		// The longest ID at the latest time Address still serves.
		latest := time.Unix((maxExpiry-1)*60, 0).Add(-maxTTL)
		for _, now := range []time.Time{t0, latest} {
			addr := mustAddress(t, c, strings.Repeat("z", maxIDLen), now)
			local, _, _ := strings.Cut(addr, "@")
			if len(local) > 64 {
				t.Errorf("local part of %d octets: %q", len(local), local)
			}
			if id, err := c.Parse(addr, now); err != nil || id != strings.Repeat("z", maxIDLen) {
				t.Errorf("Parse(%q) = %q, %v", addr, id, err)
			}
		}
		if len(mustAddress(t, c, strings.Repeat("z", maxIDLen), latest)) != len(prefix)+1+32+1+6+1+16+len("@acme.test") {
			t.Errorf("latest address is not of the longest form")
		}
	}
}

func FuzzParse(f *testing.F) {
	c := newCodec(f)
	for _, id := range []string{"a", "k2m5x9c4h8p1", strings.Repeat("z", 32)} {
		addr := mustAddress(f, c, id, t0)
		f.Add(addr)
		f.Add(strings.ToUpper(addr))
		f.Add("<" + addr + ">")
		f.Add(addr[:len(addr)-20] + "x" + addr[len(addr)-19:])
	}
	for _, s := range []string{"", "@", "+@", "bounces+", "bounces+@contact.acme.test", "bounces+a.b.c@contact.acme.test",
		"bounces+a.zzzzzzz.aaaaaaaaaaaaaaaa@contact.acme.test", "\x00@\xff", "<>", "bounces+\u212a@contact.acme.test"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		id, err := c.Parse(addr, t0)
		if err != nil {
			if !errors.Is(err, ErrNotVERP) && !errors.Is(err, ErrForged) && !errors.Is(err, ErrExpired) {
				t.Fatalf("Parse(%q) = %v, not one of the sentinels", addr, err)
			}
			if id != "" {
				t.Fatalf("Parse(%q) returned ID %q with error %v", addr, id, err)
			}
			return
		}
		// Accepted: it must be, up to ASCII case, white space and angle
		// brackets, exactly what Address makes for that ID and expiry.
		norm := strings.TrimSpace(addr)
		if strings.HasPrefix(norm, "<") && strings.HasSuffix(norm, ">") {
			norm = norm[1 : len(norm)-1]
		}
		lower := strings.Map(func(r rune) rune {
			if r >= 'A' && r <= 'Z' {
				return r + 'a' - 'A'
			}
			return r
		}, norm)
		local, _, _ := strings.Cut(lower, "@")
		parts := strings.Split(local, ".")
		if len(parts) != 3 {
			t.Fatalf("Parse(%q) accepted %d dot-separated parts", addr, len(parts))
		}
		if want := c.format(id, parts[1]); lower != want {
			t.Fatalf("Parse(%q) accepted something Address would not make (%q)", addr, want)
		}
	})
}
