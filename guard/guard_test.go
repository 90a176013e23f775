package guard

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

// testRules is the company of the tests: two ASCII inside domains, an IDN
// one written in Unicode, one written in punycode (社内.test), a
// single-label one, and terms in Latin, several words and Japanese.
var testRules = Rules{
	InsideDomains: []string{"corp.test", "acme.internal", "bücher.test", "xn--v6q418g.test", "intra"},
	Terms:         []string{"Phoenix", "Project Blue Sky", "鳳凰", "Kestrel"},
}

// hana is the sender of most cases: her persona is "ACME Sales · Hana".
var hana = Person{
	Name:      "Hana Tanaka",
	Addresses: []string{"hana@corp.test", "htanaka@acme.example"},
	Allowed:   []string{"ACME Sales · Hana"},
}

var hanako = Person{Name: "田中 花子", Addresses: []string{"hanako@corp.test"}}

func mustNew(t testing.TB, r Rules) *Guard {
	t.Helper()
	g, err := New(r)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// short names the kinds in the want column.
var short = map[Why]string{RealName: "name", InsideAddress: "addr", InsideHost: "host", Configured: "term"}

// render writes hits as "term=kind; …" for comparison.
func render(hits []Hit) string {
	var b []string
	for _, h := range hits {
		b = append(b, h.Term+"="+short[h.Why])
	}
	return strings.Join(b, "; ")
}

// checkInvariants holds for every result: offsets inside the text, in
// order, not overlapping, and Term as found (or as configured).
func checkInvariants(t *testing.T, g *Guard, text string, hits []Hit) {
	t.Helper()
	if hits != nil && len(hits) == 0 {
		t.Errorf("Check(%q) = empty non-nil slice; want nil", text)
	}
	// Offsets fall between runes as decoding sees them (an invalid byte
	// counts as one).
	boundary := make([]bool, len(text)+1)
	for i := range text {
		boundary[i] = true
	}
	boundary[len(text)] = true
	end := 0
	for _, h := range hits {
		if h.Start < end || h.End <= h.Start || h.End > len(text) {
			t.Fatalf("Check(%q): bad offsets %+v after end %d", text, h, end)
		}
		end = h.End
		if h.Term == "" {
			t.Errorf("Check(%q): empty Term in %+v", text, h)
		}
		if !boundary[h.Start] || !boundary[h.End] {
			t.Errorf("Check(%q): %+v splits a rune", text, h)
		}
		if h.Why != Configured && text[h.Start:h.End] != h.Term {
			t.Errorf("Check(%q): Term %q but text[%d:%d] = %q", text, h.Term, h.Start, h.End, text[h.Start:h.End])
		}
	}
}

func TestCheck(t *testing.T) {
	g := mustNew(t, testRules)
	noAllowed := hana
	noAllowed.Allowed = nil
	for _, tt := range []struct {
		name string
		p    Person
		text string
		want string
	}{
		// The real name, Latin.
		{"full name", hana, "Regards, Hana Tanaka", "Hana Tanaka=name"},
		{"family first", hana, "Tanaka Hana here", "Tanaka Hana=name"},
		{"comma form", hana, "TANAKA, Hana", "TANAKA, Hana=name"},
		{"comma no space", hana, "Tanaka,Hana", "Tanaka,Hana=name"},
		{"dotted", hana, "hana.tanaka", "hana.tanaka=name"},
		{"underscore", hana, "hana_tanaka", "hana_tanaka=name"},
		{"hyphen", hana, "hana-tanaka", "hana-tanaka=name"},
		{"written together", hana, "HanaTanaka", "HanaTanaka=name"},
		{"tab", hana, "Hana\tTanaka", "Hana\tTanaka=name"},
		{"line break", hana, "Hana\r\nTanaka", "Hana\r\nTanaka=name"},
		{"ideographic space", hana, "Hana\u3000Tanaka", "Hana\u3000Tanaka=name"},
		{"no-break space", hana, "Hana\u00a0Tanaka", "Hana\u00a0Tanaka=name"},
		{"full-width", hana, "ＨＡＮＡ　ＴＡＮＡＫＡ", "ＨＡＮＡ　ＴＡＮＡＫＡ=name"},
		{"full-width family", hana, "from Ｔａｎａｋａ.", "Ｔａｎａｋａ=name"},
		{"mixed case", hana, "tAnAkA", "tAnAkA=name"},
		{"accent precomposed", hana, "Tánaka", "Tánaka=name"},
		{"accent combining", hana, "Tana\u0301ka", "Tana\u0301ka=name"},
		{"accent upper", hana, "TÁNAKA", "TÁNAKA=name"},
		{"soft hyphen", hana, "Tan\u00adaka", "Tan\u00adaka=name"},
		{"zero-width space", hana, "Tana\u200bka", "Tana\u200bka=name"},
		{"family alone", hana, "Best, Tanaka", "Tanaka=name"},
		{"honorific", hana, "Tanaka-san", "Tanaka=name"},
		{"possessive", hana, "Tanaka's offer", "Tanaka=name"},
		{"plural", hana, "the Tanakas", "Tanaka=name"},
		{"Japanese suffix", hana, "Tanakaさん", "Tanaka=name"},
		{"in parentheses", hana, "(Tanaka)", "Tanaka=name"},
		{"sentence between", hana, "I'm Hana. Tanaka will call", "Tanaka=name"},
		{"name in URL path", hana, "https://example.com/team/hana-tanaka/", "hana-tanaka=name"},
		{"family in URL path", hana, "https://example.com/users/tanaka?x=1", "tanaka=name"},
		{"name in outside address", hana, "write to hana.tanaka@gmail.example", "hana.tanaka=name"},
		{"given name not allowed", noAllowed, "Hana here", "Hana=name"},
		{"given name in persona", hana, "ACME Sales · Hana", ""},
		{"given name allowed", hana, "Thanks, Hana", ""},
		{"allowed upper", hana, "HANA", ""},
		{"several hits", hana, "Tanaka, see upload.corp.test", "Tanaka=name; upload.corp.test=host"},

		// What must not hit as a name.
		{"hanami", noAllowed, "Let's go hanami", ""},
		{"Hanako", noAllowed, "Hanako called", ""},
		{"Tanakaya", hana, "Dinner at Tanakaya", ""},
		{"plural es", hana, "Tanakases", ""},
		{"digit joined", hana, "tanaka2", ""},
		{"inside word", hana, "Mountanaka", ""},
		{"letters apart", hana, "T a n a k a", ""},

		// The real name, Japanese.
		{"kanji together", hanako, "田中花子です", "田中花子=name"},
		{"kanji space", hanako, "田中 花子", "田中 花子=name"},
		{"kanji ideographic space", hanako, "田中　花子", "田中　花子=name"},
		{"kanji reversed", hanako, "花子田中", "花子田中=name"},
		{"kanji family", hanako, "田中さんへ", "田中=name"},
		{"kanji given", hanako, "花子より", "花子=name"},
		{"kanji in a longer word", hanako, "田中屋で", "田中=name"}, // no word boundaries in CJK
		{"kanji next to Latin", hanako, "Mr.田中", "田中=name"},
		{"kanji given allowed", Person{Name: "田中 花子", Allowed: []string{"ACME営業・花子"}}, "花子です、田中花子", "田中花子=name"},
		{"kanji other", hanako, "中花", ""},
		{"kanji no reading", hanako, "たなか Tanaka", ""},
		{"one-character family", Person{Name: "王 小明"}, "王さん、小明さん、王小明", "小明=name; 王小明=name"},
		{"katakana dot", Person{Name: "タナカ ハナ"}, "タナカ・ハナ", "タナカ・ハナ=name"},
		{"half-width katakana", Person{Name: "タナカ ハナ"}, "ﾀﾅｶ ﾊﾅ", "ﾀﾅｶ ﾊﾅ=name"},
		{"voiced kana differ", Person{Name: "タナカ ハナ"}, "バナナ", ""},
		{"name without space", Person{Name: "田中花子"}, "田中さん 田中花子", "田中花子=name"},

		// Names of other shapes.
		{"middle name", Person{Name: "Mary Ann Smith"}, "Mary Ann Smith; Smith, Mary Ann; Mary Smith; Smith", "Mary Ann Smith=name; Smith, Mary Ann=name; Mary Smith=name; Smith=name"},
		{"middle alone", Person{Name: "Mary Ann Smith"}, "Ann", ""},
		{"short given", Person{Name: "Al Jones"}, "al fresco, Al", ""},
		{"short family", Person{Name: "Wei Li"}, "Li Wei; li; Wei", "Li Wei=name; Wei=name"},
		{"comma in Name", Person{Name: "de la Cruz, Juan"}, "Juan de la Cruz; De La Cruz", "Juan de la Cruz=name; De La Cruz=name"},
		{"accented Name", Person{Name: "Nguyễn Văn An"}, "Nguyen", "Nguyen=name"},
		{"apostrophe Name", Person{Name: "Sean O'Brien"}, "O’Brien and O'BRIEN", "O’Brien=name; O'BRIEN=name"},
		{"curly apostrophe Name", Person{Name: "Sean O’Brien"}, "O'Brien", "O'Brien=name"},
		{"apostrophe allowed", Person{Name: "Sean O'Brien", Allowed: []string{"Support · O’Brien"}}, "O'Brien", ""},
		{"hyphen allowed", Person{Name: "Jean-Luc Picard", Allowed: []string{"Jean-Luc"}}, "Jean-Luc; Picard", "Picard=name"},
		{"quoted", hana, "‘Tanaka’", "Tanaka=name"},
		{"empty Name", Person{}, "Hana Tanaka", ""},
		{"punctuation Name", Person{Name: " , ・ "}, "Hana , ・", ""},

		// Addresses.
		{"own address", hana, "mail hana@corp.test", "hana@corp.test=addr"},
		{"own address upper", hana, "HANA@CORP.TEST", "HANA@CORP.TEST=addr"},
		{"own address outside domain", hana, "htanaka@acme.example", "htanaka@acme.example=addr"},
		{"own address in a longer one", hana, "xhtanaka@acme.example", ""},
		{"colleague in brackets", hana, "Ken <ken@corp.test>", "ken@corp.test=addr"},
		{"mailto", hana, "<a href=\"mailto:ken@corp.test\">", "ken@corp.test=addr"},
		{"xmpp URI", hana, "xmpp:ken@corp.test?message", "ken@corp.test=addr"},
		{"XMPP resource", hana, "ken@corp.test/phone", "ken@corp.test=addr"},
		{"subdomain address", hana, "ops@mail.corp.test.", "ops@mail.corp.test=addr"},
		{"plus address", hana, "hana+x@corp.test", "hana+x@corp.test=addr"},
		{"full-width at", hana, "ken＠corp.test", "ken＠corp.test=addr"},
		{"address beats name", hana, "hana.tanaka@corp.test", "hana.tanaka@corp.test=addr"},
		{"address in sentence", hana, "Write to ken@acme.internal, please.", "ken@acme.internal=addr"},
		{"Japanese around", hana, "連絡先はken@corp.testです", "ken@corp.test=addr"},
		{"no local part", hana, "@corp.test", "corp.test=host"},
		{"outside address", hana, "bob@ext.test", ""},
		{"lookalike domain", hana, "ken@notcorp.test", ""},
		{"longer domain", hana, "ken@corp.test.example.com", ""},
		{"single-label address", hana, "ken@intra", "ken@intra=addr"},
		{"proxy address", hana, `write to bob\40ext.test@gw.corp.test`, `bob\40ext.test@gw.corp.test=addr`},
		{"person address URI form", Person{Addresses: []string{" xmpp:Hana@Corp.Example/phone "}}, "hana@corp.example", "hana@corp.example=addr"},
		{"person address IDN", Person{Addresses: []string{"hana@bücher.example"}}, "hana@xn--bcher-kva.example, HANA@BÜCHER.EXAMPLE", "hana@xn--bcher-kva.example=addr; HANA@BÜCHER.EXAMPLE=addr"},
		{"person address without @", Person{Addresses: []string{"hana", "@x", "x@"}}, "hana @x x@", ""},
		{"kanji person address", hanako, "hanako@corp.test", "hanako@corp.test=addr"},

		// Hosts.
		{"https URL", hana, "https://upload.corp.test/file?id=1", "upload.corp.test=host"},
		{"bare with port", hana, "wiki.acme.internal:8443", "wiki.acme.internal=host"},
		{"URL with port", hana, "http://wiki.acme.internal:8443/x", "wiki.acme.internal=host"},
		{"trailing dot", hana, "see upload.corp.test.", "upload.corp.test=host"},
		{"trailing comma", hana, "upload.corp.test, then", "upload.corp.test=host"},
		{"in parentheses host", hana, "(wiki.acme.internal)", "wiki.acme.internal=host"},
		{"domain itself", hana, "CORP.TEST", "CORP.TEST=host"},
		{"ftp", hana, "ftp://files.corp.test/pub", "files.corp.test=host"},
		{"other scheme", hana, "ssh://git.corp.test", "git.corp.test=host"},
		{"xmpp host", hana, "xmpp:gw.corp.test", "gw.corp.test=host"},
		{"userinfo", hana, "https://hana@wiki.corp.test/", "wiki.corp.test=host"},
		{"userinfo password", hana, "https://bob:secret@wiki.corp.test/x", "wiki.corp.test=host"},
		{"userinfo public", noAllowed, "https://hana:pw@example.com/", "hana=name"},
		{"host in query", hana, "https://example.com/?next=https://wiki.corp.test", "wiki.corp.test=host"},
		{"deep subdomain", hana, "a.b-c.d1.corp.test", "a.b-c.d1.corp.test=host"},
		{"full-width host", hana, "ｗｉｋｉ．ｃｏｒｐ．ｔｅｓｔ", "ｗｉｋｉ．ｃｏｒｐ．ｔｅｓｔ=host"},
		{"Japanese after host", hana, "wiki.corp.testにあります", "wiki.corp.test=host"},
		{"Japanese label", hana, "資料.corp.test", "corp.test=host"},
		{"punycode text", hana, "https://wiki.xn--bcher-kva.test/", "wiki.xn--bcher-kva.test=host"},
		{"unicode text", hana, "wiki.bücher.test", "wiki.bücher.test=host"},
		{"IDN without diacritics", hana, "bucher.test", "bucher.test=host"}, // folded alike: held, documented
		{"unicode upper", hana, "WIKI.BÜCHER.TEST", "WIKI.BÜCHER.TEST=host"},
		{"punycode rule unicode text", hana, "http://ファイル.社内.test/", "社内.test=host"},
		{"punycode rule punycode text", hana, "files.xn--v6q418g.test", "files.xn--v6q418g.test=host"},
		{"single-label subdomain", hana, "http://wiki.intra/", "wiki.intra=host"},
		{"single-label bare", hana, "our intra net", ""},
		{"notcorp", hana, "notcorp.test", ""},
		{"corp.testing", hana, "corp.testing", ""},
		{"suffix of another host", hana, "corp.test.example.com", ""},
		{"hyphen before", hana, "my-corp.test", ""},
		{"underscore after", hana, "corp.test_old", ""},
		{"public URL", noAllowed, "https://www.example.com/products?id=42#top", ""},
		{"words", hana, "corp test corporate", ""},

		// Configured terms.
		{"term", hana, "Phoenix ships", "Phoenix=term"},
		{"term upper", hana, "PHOENIX", "Phoenix=term"},
		{"term full-width", hana, "Ｐｈｏｅｎｉｘ", "Phoenix=term"},
		{"term accented", hana, "Késtrel", "Kestrel=term"},
		{"term plural", hana, "Phoenixs", "Phoenix=term"},
		{"term in a word", hana, "phoenixville Phoenix2", ""},
		{"term words", hana, "about project  blue\nSKY.", "Project Blue Sky=term"},
		{"term words joined", hana, "ProjectBlueSky", ""},
		{"term kanji", hana, "鳳凰計画について", "鳳凰=term"},
		{"term allowed", Person{Allowed: []string{"Phoenix"}}, "Phoenix", ""},

		// Overlaps.
		{"longest wins", Person{Name: "Hana Tanaka"}, "Hana Tanaka@corp.test", "Hana=name; Tanaka@corp.test=addr"},
		{"host beats name", Person{Name: "Ken Upload"}, "upload.corp.test", "upload.corp.test=host"},

		// Clean.
		{"empty", hana, "", ""},
		{"clean", hana, "Thank you for your order. — ACME Sales · Hana", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			hits := g.Check(tt.text, tt.p)
			checkInvariants(t, g, tt.text, hits)
			if got := render(hits); got != tt.want {
				t.Errorf("Check(%q) = %s; want %s", tt.text, got, tt.want)
			}
		})
	}
}

func TestCheckOffsets(t *testing.T) {
	g := mustNew(t, testRules)
	text := "Ｔａｎａｋａ（田中）: see https://upload.corp.test/ 鳳凰"
	hits := g.Check(text, hanako)
	want := []Hit{
		{Term: "田中", Why: RealName, Start: strings.Index(text, "田中"), End: strings.Index(text, "田中") + len("田中")},
		{Term: "upload.corp.test", Why: InsideHost, Start: strings.Index(text, "upload"), End: strings.Index(text, "upload") + len("upload.corp.test")},
		{Term: "鳳凰", Why: Configured, Start: strings.Index(text, "鳳凰"), End: len(text)},
	}
	if fmt.Sprint(hits) != fmt.Sprint(want) || len(hits) != len(want) {
		t.Fatalf("Check = %+v\nwant %+v", hits, want)
	}
	for i := range want {
		if hits[i] != want[i] {
			t.Errorf("hit %d = %+v; want %+v", i, hits[i], want[i])
		}
	}
}

// A configured term that is also the family name is reported as the name:
// equal spans go to the lower Why.
func TestEqualSpans(t *testing.T) {
	g := mustNew(t, Rules{Terms: []string{"Tanaka"}})
	hits := g.Check("Tanaka", hana)
	if len(hits) != 1 || hits[0].Why != RealName {
		t.Fatalf("Check = %+v; want one RealName hit", hits)
	}
}

func TestNilGuard(t *testing.T) {
	var g *Guard
	if got := render(g.Check("Tanaka at upload.corp.test", hana)); got != "Tanaka=name" {
		t.Errorf("nil Guard: %s", got)
	}
	g = mustNew(t, Rules{})
	if hits := g.Check("Phoenix at upload.corp.test", Person{}); hits != nil {
		t.Errorf("empty rules: %+v", hits)
	}
}

func TestNew(t *testing.T) {
	for _, tt := range []struct {
		name string
		r    Rules
		want string // substring of the error; "" for none
	}{
		{"ok", testRules, ""},
		{"trailing dot and case", Rules{InsideDomains: []string{"CORP.TEST.", " corp.test "}}, ""},
		{"empty domain", Rules{InsideDomains: []string{" "}}, `InsideDomains[0] " ": empty domain`},
		{"scheme", Rules{InsideDomains: []string{"https://corp.test"}}, "without a scheme"},
		{"space", Rules{InsideDomains: []string{"corp .test"}}, "no spaces"},
		{"wildcard", Rules{InsideDomains: []string{"*.corp.test"}}, "no wildcard"},
		{"leading dot", Rules{InsideDomains: []string{".corp.test"}}, "leading dot"},
		{"address", Rules{InsideDomains: []string{"hana@corp.test"}}, "not an address"},
		{"port", Rules{InsideDomains: []string{"corp.test:8443"}}, "without port"},
		{"path", Rules{InsideDomains: []string{"corp.test/wiki"}}, "without port or path"},
		{"IPv4", Rules{InsideDomains: []string{"10.0.0.1"}}, "IP address"},
		{"IPv6", Rules{InsideDomains: []string{"fd00::1"}}, "without port"},
		{"empty label", Rules{InsideDomains: []string{"corp..test"}}, "empty label"},
		{"bad label", Rules{InsideDomains: []string{"-corp.test"}}, "not a valid domain name"},
		{"empty term", Rules{Terms: []string{""}}, `Terms[0] "": empty term`},
		{"blank term", Rules{Terms: []string{"Phoenix", " \t"}}, `Terms[1]`},
		{"letterless term", Rules{Terms: []string{"---"}}, "no letter or digit"},
		{"control term", Rules{Terms: []string{"a\x00b"}}, "control character"},
		{"invalid term", Rules{Terms: []string{"a\xffb"}}, "not valid UTF-8"},
		{"all reported", Rules{InsideDomains: []string{"ok.test", "bad test"}, Terms: []string{"", "ok"}}, "InsideDomains[1]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g, err := New(tt.r)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.want == "" && g == nil:
				t.Fatal("New returned nil Guard and no error")
			case tt.want != "" && err == nil:
				t.Fatalf("New accepted %+v", tt.r)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("New: %v; want it to mention %q", err, tt.want)
			case tt.want != "" && g != nil:
				t.Fatal("New returned a Guard with an error")
			}
		})
	}
	_, err := New(Rules{InsideDomains: []string{"ok.test", "bad test"}, Terms: []string{"", "ok"}})
	if msg := err.Error(); !strings.Contains(msg, "Terms[0]") || !strings.Contains(msg, "InsideDomains[1]") {
		t.Errorf("not every bad rule reported: %v", err)
	}
}

// Duplicates that fold alike are kept once and report the first spelling.
func TestNewDeduplicates(t *testing.T) {
	g := mustNew(t, Rules{InsideDomains: []string{"corp.test", "CORP.test."}, Terms: []string{"Phoenix", "PHOENIX", "ｐｈｏｅｎｉｘ"}})
	if len(g.domains) != 1 || len(g.terms) != 1 {
		t.Fatalf("domains %d, terms %d; want 1 and 1", len(g.domains), len(g.terms))
	}
	if got := render(g.Check("phoenix", Person{})); got != "Phoenix=term" {
		t.Errorf("got %s", got)
	}
}

func TestWhyString(t *testing.T) {
	for w, want := range map[Why]string{
		RealName:      "your real name",
		InsideAddress: "an inside address",
		InsideHost:    "an inside host name",
		Configured:    "a term your company keeps inside",
		0:             "Why(0)",
		9:             "Why(9)",
	} {
		if got := w.String(); got != want {
			t.Errorf("Why(%d).String() = %q; want %q", w, got, want)
		}
	}
}

func TestDescribe(t *testing.T) {
	name := Hit{Term: "Tanaka", Why: RealName}
	host := Hit{Term: "upload.corp.test", Why: InsideHost}
	term := Hit{Term: "Phoenix", Why: Configured}
	for _, tt := range []struct {
		hits []Hit
		want string
	}{
		{nil, ""},
		{[]Hit{name}, `held: it contains "Tanaka" (your real name)`},
		{[]Hit{name, host}, `held: it contains "Tanaka" (your real name) and "upload.corp.test" (an inside host name)`},
		{[]Hit{name, host, term}, `held: it contains "Tanaka" (your real name), "upload.corp.test" (an inside host name) and "Phoenix" (a term your company keeps inside)`},
		{[]Hit{name, {Term: "TANAKA", Why: RealName}, host, name}, `held: it contains "Tanaka" (your real name) and "upload.corp.test" (an inside host name)`},
		{[]Hit{{Term: "田中\n", Why: RealName}}, `held: it contains "田中\n" (your real name)`},
	} {
		if got := Describe(tt.hits); got != tt.want {
			t.Errorf("Describe(%v) = %s\nwant %s", tt.hits, got, tt.want)
		}
	}
	if got := (Hit{Term: "Tanaka", Why: RealName}).String(); got != `"Tanaka" (your real name)` {
		t.Errorf("Hit.String() = %s", got)
	}
}

// Describe on what Check returns, end to end.
func TestDescribeCheck(t *testing.T) {
	g := mustNew(t, testRules)
	got := Describe(g.Check("Tanaka here; TANAKA again, files on https://upload.corp.test/x", hana))
	want := `held: it contains "Tanaka" (your real name) and "upload.corp.test" (an inside host name)`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// One Guard serves many goroutines (run with -race).
func TestConcurrent(t *testing.T) {
	g := mustNew(t, testRules)
	text := "Hana Tanaka <hana@corp.test> https://wiki.bücher.test 鳳凰 Ｐｈｏｅｎｉｘ"
	want := render(g.Check(text, hana))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if got := render(g.Check(text, hana)); got != want {
					t.Errorf("concurrent Check = %s; want %s", got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func ExampleGuard_Check() {
	g, err := New(Rules{
		InsideDomains: []string{"corp.test"},
		Terms:         []string{"Phoenix"},
	})
	if err != nil {
		panic(err)
	}
	sender := Person{
		Name:      "Hana Tanaka",
		Addresses: []string{"hana@corp.test"},
		Allowed:   []string{"ACME Sales · Hana"}, // the persona's display name
	}
	text := "Hi, this is Hana. Mr. Tanaka uploaded the Phoenix specs to https://upload.corp.test/x"
	hits := g.Check(text, sender)
	for _, h := range hits {
		fmt.Printf("%d-%d %s\n", h.Start, h.End, h)
	}
	fmt.Println(Describe(hits))
	// Output:
	// 22-28 "Tanaka" (your real name)
	// 42-49 "Phoenix" (a term your company keeps inside)
	// 67-83 "upload.corp.test" (an inside host name)
	// held: it contains "Tanaka" (your real name), "Phoenix" (a term your company keeps inside) and "upload.corp.test" (an inside host name)
}

// What Check compiles from a Person is remembered per person: one
// Guard checking for several people, alternately and from many
// goroutines, finds for each exactly what a Guard that has seen no one
// else finds, down to persons who differ only in their allowed words or
// addresses.
func TestPeopleKeptApart(t *testing.T) {
	people := []Person{
		{Name: "Hana Tanaka", Addresses: []string{"hana@home.example"}},
		{Name: "Hana Tanaka", Addresses: []string{"hana@other.example"}},
		{Name: "Hana Tanaka", Addresses: []string{"hana@home.example"}, Allowed: []string{"ACME Sales · Hana"}},
		{Name: "Ken Sato", Addresses: []string{"hana@home.example"}},
		{Name: "Hana Tanaka", Addresses: []string{"hana@home.example", "hana@other.example"}},
	}
	text := "Hana says: write to hana@home.example or hana@other.example, or to Ken Sato"
	var want []string
	for _, p := range people {
		want = append(want, render(mustNew(t, testRules).Check(text, p)))
	}
	for i := range want {
		for j := range i {
			if want[i] == want[j] {
				t.Fatalf("persons %d and %d hit the same (%s): the test cannot tell them apart", j, i, want[i])
			}
		}
	}
	g := mustNew(t, testRules)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 60 {
				k := (i + w) % len(people)
				if got := render(g.Check(text, people[k])); got != want[k] {
					t.Errorf("person %d: Check = %s; want %s", k, got, want[k])
					return
				}
			}
		})
	}
	wg.Wait()
}
