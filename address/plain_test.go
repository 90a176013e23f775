package address

import (
	"math/rand/v2"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"
)

// plainCases are spellings at the edges of what plain takes: each must
// get the same answer from Canonical as from the full check.
var plainCases = []string{
	"bob@ext.test", "Bob@Ext.Test", "BOB@EXT.TEST", "a.b+c_d-e@x.test",
	"bob@ext.test.", "bob@-ext.test", "bob@ext-.test", "bob@ab--c.test", "bob@xn--bcher-kva.test",
	"bob@XN--BCHER-KVA.TEST", "bob@1.2.3.4", "bob@1.2.3", "bob@a.b.123", "bob@123.test",
	"bob@localhost", "bob@LocalHost", "bob@x.localhost", "bob@x.invalid", "bob@x.INVALID", "bob@invalid.test",
	".bob@x.test", "bob.@x.test", "bo..b@x.test", "+bob@x.test", "-@x.test", "_@x.test", "bob@x_y.test",
	"bob@x+y.test", "@x.test", "bob@", "bob", "bob@@x.test", "a@b@x.test", "bob@x..test", "bob@.x.test",
	"bob@x", "bob@" + strings.Repeat("a", 63) + ".test", "bob@" + strings.Repeat("a", 64) + ".test",
	strings.Repeat("b", 64) + "@x.test", strings.Repeat("b", 65) + "@x.test",
	"bob@" + strings.Repeat("abcdefghi.", 25) + "test", "bob@" + strings.Repeat("abcdefghi.", 24) + "tests",
	" bob@x.test", "bob@x.test ", "bob@x.test/res", "<bob@x.test>", `"bob"@x.test`, "bob@bücher.test",
}

// TestPlainAgreesWithFull holds the shortcut to the full check: for every
// spelling it takes, on both kinds and under both policies, it must give
// exactly the full check's answer, and the full check must accept it.
func TestPlainAgreesWithFull(t *testing.T) {
	check := func(s string) {
		t.Helper()
		for _, k := range []Kind{XMPP, Mail} {
			for _, p := range []Policy{{}, {AllowSpecial: true}} {
				got, ok := plain(k, s, p)
				if !ok {
					continue
				}
				want, err := full(k, s, p)
				if err != nil || got != want {
					t.Errorf("%s %+v: plain(%q) = %q, the full check: %q, %v", k, p, s, got, want, err)
				}
			}
		}
	}
	for _, s := range plainCases {
		check(s)
	}
	// Random spellings over an alphabet of the characters the shortcut
	// treats specially, so most of them fall near its edges.
	const alphabet = "abAB09.-_+@xn--"
	rng := rand.New(rand.NewPCG(1, 2))
	taken := 0
	for range 200_000 {
		b := make([]byte, 3+rng.IntN(14))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		s := string(b)
		check(s)
		if _, ok := plain(XMPP, s, Policy{}); ok {
			taken++
		}
	}
	if taken < 1000 {
		t.Errorf("only %d random spellings took the shortcut: the test no longer reaches it", taken)
	}
}

// TestPlainTakesTheCommonSpellings pins that the everyday spellings go
// the fast way, and that a lower-case one comes back as the same string.
func TestPlainTakesTheCommonSpellings(t *testing.T) {
	for _, s := range []string{"bob@ext.test", "hana.sato+work@mail.example.co.jp", "Bob@Ext.Test"} {
		for _, k := range []Kind{XMPP, Mail} {
			c, ok := plain(k, s, Policy{})
			if !ok || c != strings.ToLower(s) {
				t.Errorf("%s: plain(%q) = %q, %v", k, s, c, ok)
			}
		}
	}
	if got := testing.AllocsPerRun(100, func() { _, _ = Canonical(XMPP, "bob@ext.test", Policy{}) }); got != 0 {
		t.Errorf("a canonical spelling allocates %v times", got)
	}
}

func FuzzPlainAgreesWithFull(f *testing.F) {
	for _, s := range plainCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, k := range []Kind{XMPP, Mail} {
			for _, p := range []Policy{{}, {AllowSpecial: true}} {
				if got, ok := plain(k, s, p); ok {
					if want, err := full(k, s, p); err != nil || got != want {
						t.Fatalf("%s %+v: plain(%q) = %q, the full check: %q, %v", k, p, s, got, want, err)
					}
				}
			}
		}
	})
}

func BenchmarkCanonical(b *testing.B) {
	for _, s := range []string{"bob@ext.test", "Bob@Ext.Test", "bob@bücher.test"} {
		b.Run(s, func(b *testing.B) {
			for b.Loop() {
				if _, err := Canonical(XMPP, s, Policy{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestPlainJIDAgreesWithParse: whatever PlainJID accepts, jid.Parse
// accepts, so a caller that asks jid.Parse only when PlainJID says no
// gets jid.Parse's verdict on every address. Spellings are drawn near the
// shortcut's edges: upper case, A-labels, hyphens and dots at label ends,
// long parts, spaces, @ and / twice, non-ASCII, and fixed cases that must
// take the shortcut and ones that must not.
func TestPlainJIDAgreesWithParse(t *testing.T) {
	check := func(s string) {
		t.Helper()
		if _, err := jid.Parse(s); PlainJID(s) && err != nil {
			t.Errorf("PlainJID(%q) = true, but jid.Parse refuses it: %v", s, err)
		}
	}
	for _, s := range []string{
		"hana@corp.test", "Bob.Smith+shop@contact.acme.test/Conversations.AbCd", "bob@Example.COM",
		"bob@example.com/gajim.XYZ12", "a@b", "a_b-c@x-y.z", "bob@example.com/res/with/slashes",
		"bob@localhost/x", "bob@example.com/r=+AB/==", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + ".test",
		"bob@example.com/" + strings.Repeat("r", MaxJIDPart),
	} {
		if !PlainJID(s) {
			t.Errorf("PlainJID(%q) = false, want the shortcut", s)
		}
		check(s)
	}
	for _, s := range []string{
		"", "contact.acme.test", "127.0.0.1", "@example.com", "bob@", "bob@example.com/", "bob@@example.com", "a@b@c",
		"bob@xn--bcher-kva.example", "bob@xn--zz.example", "bob@-a.example", "bob@a-.example",
		"bob@a..example", "bob@.example", "bob@example.", "bob smith@example.com", "bob@example.com/a b",
		"bob@example.com/ lead", "bjørn@example.com", "bob@bücher.example", "bob@example.com/ü",
		"bob\"@example.com", "bob&x@example.com", "bob'@example.com", "bob:x@example.com", "bob<@example.com",
		strings.Repeat("a", 65) + "@example.com", "bob@" + strings.Repeat("b", 64) + ".test",
		"bob@" + strings.Repeat("abcdefghi.", 26) + "test", "bob@example.com/" + strings.Repeat("r", MaxJIDPart+1),
		"[::1]", "bob@[::1]", "bob@例え.テスト", "ＢＯＢ@example.com",
	} {
		if PlainJID(s) {
			t.Errorf("PlainJID(%q) = true, want the full check", s)
		}
		check(s)
	}
	alphabet := []string{"a", "Z", "0", "9", ".", "-", "_", "+", "@", "/", " ", "xn--", "--", "é", "ß", "ｆ", "\u200d", "\t", "\"", "&", "'", ":", "<", ">", "=", "~", "\x7f"}
	rng := rand.New(rand.NewPCG(7, 622))
	for range 100_000 {
		var b strings.Builder
		for range rng.IntN(24) {
			if rng.IntN(3) == 0 {
				b.WriteString(alphabet[rng.IntN(len(alphabet))])
			} else {
				b.WriteByte("abcdefghijklmnopqrstuvwxyz"[rng.IntN(26)])
			}
		}
		check(b.String())
	}
}

func FuzzPlainJID(f *testing.F) {
	for _, s := range []string{"hana@corp.test", "bob@example.com/r", "a@xn--b.c", "a@b@c/d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if PlainJID(s) {
			if _, err := jid.Parse(s); err != nil {
				t.Errorf("PlainJID(%q) = true, but jid.Parse refuses it: %v", s, err)
			}
		}
	})
}
