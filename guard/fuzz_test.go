package guard

import (
	"strings"
	"testing"
	"unicode"
)

// FuzzCheck: Check never panics, and its offsets are always valid, for any
// bytes as text, name, address and allowed word.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		"", "Hana Tanaka", "TANAKA, Hana <hana@corp.test>", "田中　花子さん",
		"https://bob:pw@wiki.corp.test:8443/x?y=ken@acme.internal#z",
		"ＨＡＮＡ ＴＡＮＡＫＡ ｗｉｋｉ．ｃｏｒｐ．ｔｅｓｔ", "wiki.xn--bcher-kva.test",
		"\xff\xfe\xfd", "a\u0301\u0301\u0301", "㍻ ﾊﾟ", "@@..@corp.test.", ".corp.test",
		"Phoenixs project\u3000blue sky", "\u200b\u00ad", "ǅ ß İ ﷺ",
	} {
		f.Add(s, "Hana Tanaka", "hana@corp.test", "Hana")
	}
	f.Add("田中花子", "田中 花子", "xmpp:hanako@bücher.test/phone", "花子")
	f.Add("x", ",", "@", ",")
	f.Add("a", "a , b", "a@", "\xff")
	g, err := New(testRules)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, text, name, addr, allowed string) {
		p := Person{Name: name, Addresses: []string{addr}, Allowed: []string{allowed}}
		hits := g.Check(text, p)
		checkInvariants(t, g, text, hits)
		_ = Describe(hits)

		// A name of letters in single-space-separated words always hits
		// itself, unless folding leaves a word without letters (as it does
		// "ͺ", a Greek iota subscript that is only a diacritic).
		if isPlainName(name) {
			if hits := g.Check(name, Person{Name: name}); len(hits) == 0 || hits[0].Why != RealName {
				t.Errorf("Check(%q) as its own name = %+v", name, hits)
			}
		}
	})
}

func isPlainName(s string) bool {
	if s == "" || strings.HasPrefix(s, " ") || strings.HasSuffix(s, " ") || strings.Contains(s, "  ") {
		return false
	}
	for _, r := range s {
		if r != ' ' && !unicode.IsLetter(r) {
			return false
		}
	}
	words := strings.Fields(foldString(s))
	if len(words) != len(strings.Fields(s)) {
		return false
	}
	for _, w := range words {
		if strings.IndexFunc(w, unicode.IsLetter) < 0 {
			return false
		}
	}
	return true
}
