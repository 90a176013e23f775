package xmpp

import (
	"math/rand/v2"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"
)

// TestPlainJIDAgreesWithParse: whatever plainJID accepts, jid.Parse
// accepts, so validJID's verdict is always jid.Parse's. Spellings are
// drawn near the edges of the shortcut: upper case, A-labels, hyphens
// and dots at label ends, long parts, spaces, @ and / twice, non-ASCII,
// and a list of fixed cases that must take the shortcut.
func TestPlainJIDAgreesWithParse(t *testing.T) {
	check := func(s string) {
		t.Helper()
		_, perr := jid.Parse(s)
		if plainJID(s) && perr != nil {
			t.Errorf("plainJID(%q) = true, but jid.Parse refuses it: %v", s, perr)
		}
		if verr := validJID(s); (verr == nil) != (perr == nil) {
			t.Errorf("validJID(%q) = %v, jid.Parse says %v", s, verr, perr)
		}
	}
	for _, s := range []string{
		"hana@corp.test", "Bob.Smith+shop@contact.acme.test/Conversations.AbCd",
		"bob@example.com/gajim.XYZ12", "contact.acme.test", "gw.corp.test/x",
		"a@b", "127.0.0.1", "a_b-c@x-y.z", "bob@example.com/res/with/slashes",
		"bob@example.com/r=+AB/==", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + ".test",
	} {
		if !plainJID(s) {
			t.Errorf("plainJID(%q) = false, want the shortcut", s)
		}
		check(s)
	}
	for _, s := range []string{
		"", "@example.com", "bob@", "bob@example.com/", "bob@@example.com", "a@b@c",
		"bob@Example.com", "bob@xn--bcher-kva.example", "bob@xn--zz.example", "bob@-a.example", "bob@a-.example",
		"bob@a..example", "bob@.example", "bob@example.", "bob smith@example.com", "bob@example.com/a b",
		"bob@example.com/ lead", "bjørn@example.com", "bob@bücher.example", "bob@example.com/ü",
		"bob\"@example.com", "bob&x@example.com", "bob'@example.com", "bob:x@example.com", "bob<@example.com",
		strings.Repeat("a", 65) + "@example.com", "bob@" + strings.Repeat("b", 64) + ".test",
		"bob@" + strings.Repeat("abcdefghi.", 26) + "test", "bob@example.com/" + strings.Repeat("r", 257),
		"[::1]", "bob@[::1]", "bob@例え.テスト", "ＢＯＢ@example.com",
	} {
		if plainJID(s) {
			t.Errorf("plainJID(%q) = true, want the full check", s)
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
		if plainJID(s) {
			if _, err := jid.Parse(s); err != nil {
				t.Errorf("plainJID(%q) = true, but jid.Parse refuses it: %v", s, err)
			}
		}
	})
}
