package address

import (
	"errors"
	"strings"
	"testing"
)

func TestCanonicalJID(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"bob@ext.test", "bob@ext.test"},
		{"bob@ext.test.", "bob@ext.test"},             // RFC 7622 §3.2: the trailing dot goes
		{"Bob@EXT.Test", "bob@ext.test"},              // case-mapped localpart, lower-case domain
		{"BOB@Ext.Test.", "bob@ext.test"},             // both at once
		{"  bob@ext.test  ", "bob@ext.test"},          // surrounding space
		{"bob@ext.test/phone", "bob@ext.test"},        // resource dropped
		{"bob@ext.test./Gajim.x", "bob@ext.test"},     // both
		{"bob@xn--bcher-kva.test", "bob@bücher.test"}, // A-label to U-label
		{"bob@BÜCHER.test", "bob@bücher.test"},
		{"ＢＯＢ@ext.test", "bob@ext.test"}, // width-mapped (PRECIS)
		{"ﬀ@ext.test", "ﬀ@ext.test"},     // ligature kept: UsernameCaseMapped does not fold compatibility characters
	} {
		got, err := Canonical(XMPP, tt.in, Policy{})
		if tt.in == "ﬀ@ext.test" {
			// PRECIS refuses compatibility characters in usernames; either
			// way the address must not come back unchanged and valid.
			if err == nil && got == tt.in {
				t.Errorf("Canonical(%q) accepted a compatibility character as is", tt.in)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Canonical(XMPP, %q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestCanonicalJIDRefused(t *testing.T) {
	for _, tt := range []struct{ in, problem string }{
		{"", "empty"},
		{"bob", "no user part"},
		{"@ext.test", "no user part"},
		{"bob@", "no domain"},
		{"bob@.", "no domain"},
		{"bob@@ext.test", "more than one @"},
		{"bob@ext.test@x", "more than one @"},
		{"bob x@ext.test", "space"},
		{"bob\tx@ext.test", "space or a control"},
		{"bob\u3000x@ext.test", "space"},
		{strings.Repeat("a", 1024) + "@ext.test", "1024 bytes"},
		{"bob@localhost", "localhost"},
		{"bob@a.localhost", "localhost"},
		{"bob@ext.invalid", ".invalid"},
		{"bob@ext.INVALID.", ".invalid"},
		{"bob@127.0.0.1", "IP address"},
		{"bob@[::1]", "IP address"},
		{"bob@ext..test", "not a valid domain"},
		{"bob@-ext.test", "not a valid domain"},
		{"bo\"b@ext.test", "not a valid XMPP address"},
		{"bob@ext_x.test", "not a valid domain"},
		{"\xff@ext.test", "UTF-8"},
	} {
		got, err := Canonical(XMPP, tt.in, Policy{})
		var e *Error
		if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) {
			t.Errorf("Canonical(XMPP, %q) = %q, %v; want an *Error", tt.in, got, err)
			continue
		}
		if !strings.Contains(e.Problem, tt.problem) {
			t.Errorf("Canonical(XMPP, %q): problem %q does not say %q", tt.in, e.Problem, tt.problem)
		}
		if len(err.Error()) > 400 {
			t.Errorf("Canonical(XMPP, %.20q…): error is %d bytes long; it must stay short", tt.in, len(err.Error()))
		}
	}
}

func TestCanonicalMail(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"bob@mail.test", "bob@mail.test"},
		{"bob@mail.test.", "bob@mail.test"},
		{"Bob@MAIL.Test", "bob@mail.test"},
		{"<bob@mail.test>", "bob@mail.test"},
		{" bob@mail.test ", "bob@mail.test"},
		{"bob.smith+expo@mail.test", "bob.smith+expo@mail.test"}, // no dot or plus rewriting
		{"b.o.b@mail.test", "b.o.b@mail.test"},
		{"bob@bücher.test", "bob@xn--bcher-kva.test"}, // SMTP carries A-labels
		{"bob@BÜCHER.test.", "bob@xn--bcher-kva.test"},
		{"bob@xn--bcher-kva.test", "bob@xn--bcher-kva.test"},
		{`"bob"@mail.test`, "bob@mail.test"}, // needless quotes: one spelling
		{`"Bob.Smith"@mail.test`, "bob.smith@mail.test"},
		{strings.Repeat("a", 64) + "@mail.test", strings.Repeat("a", 64) + "@mail.test"},
		{"o'brien@mail.test", "o'brien@mail.test"},
	} {
		got, err := Canonical(Mail, tt.in, Policy{})
		if err != nil || got != tt.want {
			t.Errorf("Canonical(Mail, %q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestCanonicalMailRefused(t *testing.T) {
	for _, tt := range []struct{ in, problem string }{
		{"", "empty"},
		{"<>", "empty"},
		{"bob", "no user part"},
		{"@mail.test", "no user part"},
		{"bob@", "no domain"},
		{"bob@@mail.test", "more than one @"},
		{"bob@mail.test@x", "more than one @"},
		{"bob x@mail.test", "space"},
		{"bob\r\n@mail.test", "control"},
		{".bob@mail.test", "not a mailbox name"},
		{"bob.@mail.test", "not a mailbox name"},
		{"bo..b@mail.test", "not a mailbox name"},
		{"bo(b)@mail.test", "not a mailbox name"},
		{"bo,b@mail.test", "not a mailbox name"},
		{"日本@mail.test", "not a mailbox name"}, // UTF-8 needs SMTPUTF8, which the gateway does not speak
		{"ÄBC@mail.test", "not a mailbox name"},
		{`"bob smith"@mail.test`, "quoted user part"}, // valid, but the gateway's mail could never write back
		{`"bob@home"@mail.test`, "quoted user part"},
		{strings.Repeat("a", 65) + "@mail.test", "65 octets"},
		{`"bob@mail.test`, "not closed"},
		{`"bob"x@mail.test`, "right after"},
		{"bob@localhost", "localhost"},
		{"bob@mail.invalid", ".invalid"},
		{"bob@[127.0.0.1]", "IP address"},
		{"bob@[IPv6:::1]", "IP address"},
		{"bob@127.0.0.1", "IP address"},
		{"bob@mail..test", "not a valid domain"},
		{"bob@-mail.test", "not a valid domain"},
		{"bob@" + strings.Repeat("a", 64) + ".test", "not a valid domain"},
		{"bob@" + strings.Repeat(strings.Repeat("a", 60)+".", 5) + "test", "not a valid domain"},
		{"bob@" + strings.Repeat("a", 2000) + ".test", "DNS allows"},
	} {
		got, err := Canonical(Mail, tt.in, Policy{})
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("Canonical(Mail, %q) = %q, %v; want an *Error", tt.in, got, err)
			continue
		}
		if !strings.Contains(e.Problem, tt.problem) {
			t.Errorf("Canonical(Mail, %q): problem %q does not say %q", tt.in, e.Problem, tt.problem)
		}
		if len(err.Error()) > 400 {
			t.Errorf("Canonical(Mail, %.20q…): error is %d bytes long; it must stay short", tt.in, len(err.Error()))
		}
	}
}

func TestAllowSpecial(t *testing.T) {
	p := Policy{AllowSpecial: true}
	for _, tt := range []struct {
		k       Kind
		in, out string
	}{
		{XMPP, "bob@localhost", "bob@localhost"},
		{XMPP, "bob@127.0.0.1", "bob@127.0.0.1"},
		{XMPP, "bob@x.invalid.", "bob@x.invalid"},
		{Mail, "bob@[127.0.0.1]", "bob@[127.0.0.1]"},
		{Mail, "bob@[IPv6:0::1]", "bob@[IPv6:::1]"},
		{Mail, "Bob@LOCALHOST", "bob@localhost"},
	} {
		got, err := Canonical(tt.k, tt.in, p)
		if err != nil || got != tt.out {
			t.Errorf("Canonical(%s, %q, AllowSpecial) = %q, %v; want %q", tt.k, tt.in, got, err, tt.out)
		}
	}
	// Malformed stays malformed.
	if _, err := Canonical(Mail, "bob@@localhost", p); err == nil {
		t.Error("AllowSpecial accepted bob@@localhost")
	}
}

// Every canonical spelling is a fixed point: canonicalising it again
// changes nothing, so stored addresses and looked-up ones always agree.
func TestCanonicalIdempotent(t *testing.T) {
	for _, k := range []Kind{XMPP, Mail} {
		for _, in := range []string{"Bob@Ext.Test.", "bob@BÜCHER.test", `"bob"@x.test`, "a.b+c@x.test", "ＢＯＢ@x.test"} {
			c1, err := Canonical(k, in, Policy{})
			if err != nil {
				continue
			}
			c2, err := Canonical(k, c1, Policy{})
			if err != nil || c2 != c1 {
				t.Errorf("%s: Canonical(%q) = %q but Canonical(%q) = %q, %v", k, in, c1, c1, c2, err)
			}
		}
	}
}

func TestUnknownKind(t *testing.T) {
	if _, err := Canonical("fax", "bob@x.test", Policy{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown kind: %v", err)
	}
}

func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"bob@ext.test", "bob@@x", `"a b"@x.test`, "bob@[::1]", "x@bücher.test."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, k := range []Kind{XMPP, Mail} {
			c, err := Canonical(k, s, Policy{})
			if err != nil {
				continue
			}
			if c2, err := Canonical(k, c, Policy{}); err != nil || c2 != c {
				t.Fatalf("%s: %q → %q → %q, %v: not a fixed point", k, s, c, c2, err)
			}
		}
	})
}

func TestDomainKey(t *testing.T) {
	for _, spellings := range [][]string{
		{"bücher.test", "BÜCHER.test.", "xn--bcher-kva.test", "XN--BCHER-KVA.TEST"},
		{"corp.test", "Corp.Test.", "CORP.TEST"},
	} {
		want := DomainKey(spellings[0])
		for _, s := range spellings[1:] {
			if got := DomainKey(s); got != want {
				t.Errorf("DomainKey(%q) = %q, DomainKey(%q) = %q", s, got, spellings[0], want)
			}
		}
	}
	// The XMPP and mail spellings of one IDN contact domain meet.
	x, _ := Canonical(XMPP, "a@BÜCHER.test", Policy{})
	m, _ := Canonical(Mail, "a@BÜCHER.test", Policy{})
	if DomainKey(x[2:]) != DomainKey(m[2:]) {
		t.Errorf("%q and %q do not meet", x, m)
	}
}
