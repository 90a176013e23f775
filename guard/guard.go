// Package guard decides whether a message about to leave for an outside
// customer carries something that would unmask the employee behind the
// persona: their real name, an inside address, an inside host name, or a
// term the company keeps inside (project code names and the like). The
// gateway holds a message with hits; the employee sees which words and why
// (Describe), and may release it deliberately. The guard only protects
// against slips, not against an employee who means to leak: anything can
// be spelled to get past it.
//
// Only the text a customer reads is checked: body and subject. File names
// are the employee's own choice and are not passed in.
//
// Pure logic: no I/O, no state between calls. A Guard is compiled once
// from the company's Rules (New) and is immutable, so one value serves
// every message concurrently.
//
// # How text is compared
//
// Text and needles are folded alike: NFKC, full Unicode case folding, and
// Latin/Greek/Cyrillic diacritics removed ("ＴＡＮＡＫＡ", "Tánaka" and
// "tanaka" are equal), with format characters (soft hyphen, zero-width
// space) ignored. Offsets in a Hit always refer to the original text.
//
// Words in scripts written with spaces (Latin, Greek, Cyrillic, …) match
// whole: a letter, digit or mark on either side means a different word,
// so "Hana" does not hit "Hanako" or "hanami", "Tanaka" does not hit
// "Tanakaya" (a shop name, 田中屋) or "tanaka2", and "corp" is no hit in
// "corporate". One exception: a single trailing "s" after a word ending in
// a Latin letter is still the word ("the Tanakas", "two Phoenixs"), since
// a family name in the plural names the family. Scripts written without
// spaces (Han, kana, Hangul, Thai, …) have no word boundaries, so their
// words match as substrings: "田中" hits "田中さん" and "田中屋".
//
// # Real names
//
// Person.Name is split at white space (and at a comma or ・). The full name
// hits in either order and with any separation: "Hana Tanaka", "Tanaka
// Hana", "TANAKA, Hana", "hana.tanaka", "hanatanaka", "田中 花子", "田中花子",
// "花子田中"; with middle names, also first and family name alone together
// ("Mary Smith" for "Mary Ann Smith"). The family name is the part before
// a comma if there is one, else the first part of a CJK name and the last
// of any other. The family name and the first given name also hit alone
// when they have at least 3 letters (alphabetic scripts) or 2 characters
// (CJK): one CJK character or two Latin letters ("Li", "王") would hit half
// the messages. Both are lifted by Person.Allowed, the family name too:
// which part is which cannot be told reliably from the string ("Tanaka
// Hana" is common), and a persona that shows a name has made it public.
// Middle names never hit alone. A name written without a space ("田中花子")
// can only hit whole. Readings are not derived: "田中" does not hit "たなか"
// or "Tanaka".
//
// # Addresses and hosts
//
// An inside address is one of Person.Addresses anywhere, or any address
// whose domain is equal to or under an inside domain: another employee's
// address leaks as much, and so does a gateway proxy address
// ("bob\40ext.test@gw.corp.test"). It is found bare, in angle brackets,
// and in mailto: and xmpp: URIs.
//
// An inside host is any host name equal to or under an inside domain, in
// a URL of any scheme or bare, with or without a port or trailing
// punctuation. With inside domain "corp.test", "upload.corp.test",
// "CORP.TEST" and "https://wiki.corp.test:8443/x" hit; "notcorp.test",
// "corp.testing" and "corp.test.example.com" do not. In a URL with user
// information ("https://hana@wiki.corp.test/") the hit is the host name.
// Internationalised domains are compared both in A-labels (punycode) and
// in folded U-labels, so "wiki.xn--bcher-kva.test" and "WIKI.BÜCHER.TEST"
// both hit inside domain "bücher.test"; folding means the diacritic-free
// "bucher.test" hits too (held rather than leaked).
//
// # Hits
//
// Hits come in text order and never overlap: where candidates overlap the
// longest wins (an address beats the name inside it), and between equal
// spans the earlier Why constant.
package guard

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Rules is what the company configures once; New compiles it.
type Rules struct {
	// InsideDomains are the company's own DNS domains ("corp.test",
	// "acme.internal"). Any host name equal to or under one of them, in a
	// URL or bare (upload.corp.test, wiki.acme.internal:8443), and any
	// address at one of them, is a hit. Subdomains are always included, so
	// no wildcard is needed. A single-label domain ("corp") hits only with
	// a label in front ("wiki.corp") or after an "@", never as a bare word.
	InsideDomains []string
	// Terms are words the company keeps inside (project code names,
	// inside team names…), matched as words, case-insensitively, after
	// Unicode folding. A term of several words matches across any white
	// space between them.
	Terms []string
}

// Person is what is known about the sending employee; it changes with
// every message, so it is an argument to Check rather than part of Rules.
type Person struct {
	// Name is the real name, e.g. "Hana Tanaka", "TANAKA, Hana" or
	// "田中 花子". Write CJK names with a space between family and given
	// name so that each can also hit alone.
	Name string
	// Addresses are the employee's inside addresses ("hana@corp.test"),
	// hits wherever they appear even when their domain is not among
	// Rules.InsideDomains. Entries without "@" are ignored; "xmpp:" and
	// "mailto:" prefixes and an XMPP resource are dropped.
	Addresses []string
	// Allowed are words this employee may use although they match: the
	// persona's display name is public, so when the persona is "ACME Sales
	// · Hana" the caller passes it (or its words) here and "Hana" alone is
	// no hit. Entries are split into words at anything that is not a
	// letter, digit or mark, and also the way names are split (at white
	// space, commas and ・), so "O'Brien" and "Jean-Luc" are words too. Allowed lifts single words only (a name
	// part alone, a one-word term); the full name, addresses and hosts
	// always hit.
	Allowed []string
}

// Why says what kind of inside identifier a hit is, so the employee knows
// what to change.
type Why uint8

// The kinds of hit. The zero value is none of them, so a zero Hit is not
// mistaken for a real one.
const (
	RealName      Why = iota + 1 // the sender's real name, or part of it
	InsideAddress                // an employee's inside address
	InsideHost                   // a host name under an inside domain
	Configured                   // a term from Rules.Terms
)

// String gives the short English phrase shown to the employee.
func (w Why) String() string {
	switch w {
	case RealName:
		return "your real name"
	case InsideAddress:
		return "an inside address"
	case InsideHost:
		return "an inside host name"
	case Configured:
		return "a term your company keeps inside"
	}
	return "Why(" + strconv.Itoa(int(w)) + ")"
}

// Hit is one inside identifier found in a text.
type Hit struct {
	// Term is what matched: a configured term as the company spelled it,
	// everything else as it is written in the text.
	Term string
	// Why says what kind of identifier it is.
	Why Why
	// Start and End are byte offsets in the checked text: text[Start:End]
	// is the matched passage, so a client can highlight it.
	Start, End int
}

// String words one hit for the employee: `"Tanaka" (your real name)`.
func (h Hit) String() string {
	return strconv.Quote(h.Term) + " (" + h.Why.String() + ")"
}

// Describe words a list of hits for the employee, each term quoted once:
//
//	held: it contains "Tanaka" (your real name) and "upload.corp.test" (an inside host name)
//
// It returns "" for no hits. Terms that fold alike ("Tanaka", "TANAKA")
// are quoted once, as first found.
func Describe(hits []Hit) string {
	if len(hits) == 0 {
		return ""
	}
	seen := make(map[string]bool, len(hits))
	var items []string
	for _, h := range hits {
		key := foldString(h.Term)
		if seen[key] {
			continue
		}
		seen[key] = true
		items = append(items, h.String())
	}
	list := items[0]
	if n := len(items); n > 1 {
		list = strings.Join(items[:n-1], ", ") + " and " + items[n-1]
	}
	return "held: it contains " + list
}

// Guard is compiled from Rules. It is immutable and safe for concurrent
// use. A nil *Guard checks the person only.
type Guard struct {
	domains []domain
	terms   []pattern

	// people remembers what Check compiles from a Person (allowed words,
	// name patterns, address forms), which is the same for every message
	// the person writes; at most maxPeople, then it starts over.
	peopleMu sync.Mutex
	people   map[string]*personRules
}

// personRules is what Check compiles from one Person. It is read only.
type personRules struct {
	allowed   map[string]bool
	names     []pattern
	addresses []string
}

// maxPeople bounds Guard.people.
const maxPeople = 4096

// rulesFor returns p's compiled rules, compiling them the first time.
func (g *Guard) rulesFor(p Person) *personRules {
	var k strings.Builder
	k.WriteString(p.Name)
	for _, list := range [][]string{p.Allowed, p.Addresses} {
		k.WriteByte(0)
		for _, s := range list {
			k.WriteString(s)
			k.WriteByte(1)
		}
	}
	key := k.String()
	g.peopleMu.Lock()
	r, ok := g.people[key]
	g.peopleMu.Unlock()
	if ok {
		return r
	}
	allowed := allowedWords(p.Allowed)
	r = &personRules{allowed: allowed, names: namePatterns(p.Name, allowed), addresses: personAddresses(p.Addresses)}
	g.peopleMu.Lock()
	if g.people == nil || len(g.people) >= maxPeople {
		g.people = make(map[string]*personRules)
	}
	g.people[key] = r
	g.peopleMu.Unlock()
	return r
}

// New compiles r, refusing rules that could never work as meant: an empty
// or letterless term, and a domain written as a URL, address, wildcard,
// IP address or with spaces. It reports every bad entry at once. Terms or
// domains that fold alike are kept once.
func New(r Rules) (*Guard, error) {
	g := &Guard{}
	var errs []error
	seen := make(map[string]bool)
	for i, raw := range r.InsideDomains {
		d, err := compileDomain(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("guard: InsideDomains[%d] %q: %w", i, raw, err))
			continue
		}
		if !seen["d:"+d.ascii] {
			seen["d:"+d.ascii] = true
			g.domains = append(g.domains, d)
		}
	}
	for i, raw := range r.Terms {
		p, err := compileTerm(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("guard: Terms[%d] %q: %w", i, raw, err))
			continue
		}
		if key := "t:" + strings.Join(p.parts, " "); !seen[key] {
			seen[key] = true
			g.terms = append(g.terms, p)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return g, nil
}

func compileTerm(raw string) (pattern, error) {
	t := strings.TrimSpace(raw)
	if t == "" {
		return pattern{}, errors.New("empty term")
	}
	for _, r := range t {
		if unicode.IsControl(r) && !unicode.IsSpace(r) {
			return pattern{}, errors.New("contains a control character")
		}
		if r == utf8.RuneError {
			return pattern{}, errors.New("is not valid UTF-8")
		}
	}
	parts := strings.FieldsFunc(foldString(t), unicode.IsSpace)
	hasWord := false
	for _, p := range parts {
		for _, r := range p {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				hasWord = true
			}
		}
	}
	if !hasWord {
		return pattern{}, errors.New("has no letter or digit to match")
	}
	return newPattern(parts, sepSpace, Configured, t), nil
}

func compileDomain(raw string) (domain, error) {
	s := strings.TrimSpace(raw)
	switch {
	case s == "":
		return domain{}, errors.New("empty domain")
	case strings.Contains(s, "://"):
		return domain{}, errors.New("write the domain alone, without a scheme")
	case strings.IndexFunc(s, unicode.IsSpace) >= 0:
		return domain{}, errors.New("a domain has no spaces")
	case strings.HasPrefix(s, "*."):
		return domain{}, errors.New("no wildcard needed: subdomains are always included")
	case strings.HasPrefix(s, "."):
		return domain{}, errors.New("write it without the leading dot: subdomains are always included")
	case strings.ContainsAny(s, "@"):
		return domain{}, errors.New("write the domain alone, not an address")
	case strings.ContainsAny(s, ":/?#[]"):
		return domain{}, errors.New("write the domain alone, without port or path")
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return domain{}, errors.New("an IP address is not a domain")
	}
	s = strings.TrimSuffix(s, ".")
	if strings.Contains(s, "..") || strings.HasPrefix(s, ".") {
		return domain{}, errors.New("empty label")
	}
	ascii, err := idna.Lookup.ToASCII(s)
	if err != nil {
		return domain{}, fmt.Errorf("not a valid domain name: %w", err)
	}
	ascii = strings.ToLower(ascii)
	d := domain{ascii: ascii, needles: []string{ascii}, dotted: strings.Contains(ascii, ".")}
	if uni, err := idna.Lookup.ToUnicode(ascii); err == nil {
		if u := foldString(uni); u != ascii {
			d.needles = append(d.needles, u)
		}
	}
	return d, nil
}

// newCandidate is a possible hit at the folded range [i, j), mapped back
// to text; overlaps are resolved later.
func newCandidate(f *folded, text string, i, j int, why Why, term string) Hit {
	s, e := f.orig(i, j)
	if term == "" {
		term = text[s:e]
	}
	return Hit{Term: term, Why: why, Start: s, End: e}
}

// Check returns the inside identifiers in text, sent by p: nil when the
// text is clean, else the hits in text order, not overlapping.
func (g *Guard) Check(text string, p Person) []Hit {
	if g == nil {
		g = &Guard{}
	}
	f := foldText(text)
	pr := g.rulesFor(p)
	var cands []Hit
	for i := range g.terms {
		t := &g.terms[i]
		if len(t.parts) == 1 && pr.allowed[t.parts[0]] {
			continue
		}
		cands = t.find(&f, text, cands)
	}
	for i := range pr.names {
		cands = pr.names[i].find(&f, text, cands)
	}
	cands = findAddresses(&f, text, pr.addresses, cands)
	cands = findHosts(&f, text, g.domains, cands)
	return resolve(cands, len(text))
}

// resolve keeps the longest of overlapping candidates (then the earliest,
// then the lowest Why) and returns them in text order.
func resolve(cands []Hit, textLen int) []Hit {
	switch len(cands) {
	case 0:
		return nil
	case 1:
		return cands
	}
	slices.SortFunc(cands, func(a, b Hit) int {
		if d := (b.End - b.Start) - (a.End - a.Start); d != 0 {
			return d
		}
		if d := a.Start - b.Start; d != 0 {
			return d
		}
		return int(a.Why) - int(b.Why)
	})
	// Every hit kept so far is at least as long as c, so if one overlaps c
	// it covers c's first or last byte: it cannot fit strictly inside c.
	// Checking those two bytes is enough, and marking costs at most the
	// text's length in all.
	taken := make([]bool, textLen)
	hits := cands[:0]
	for _, c := range cands {
		if taken[c.Start] || taken[c.End-1] {
			continue
		}
		for i := c.Start; i < c.End; i++ {
			taken[i] = true
		}
		hits = append(hits, c)
	}
	slices.SortFunc(hits, func(a, b Hit) int { return a.Start - b.Start })
	return slices.Clip(hits)
}

// allowedWords folds and splits Person.Allowed into single words: at
// anything that is not a letter, digit or mark ("ACME Sales · Hana" gives
// acme, sales, hana), and also as names are split, so that a word with an
// apostrophe or hyphen ("O'Brien", "Jean-Luc") is kept whole as well.
func allowedWords(list []string) map[string]bool {
	if len(list) == 0 {
		return nil
	}
	m := make(map[string]bool)
	for _, a := range list {
		fa := foldString(a)
		for _, w := range strings.FieldsFunc(fa, notWordChar) {
			m[w] = true
		}
		for _, w := range splitName(fa) {
			m[w] = true
		}
	}
	return m
}

// splitName splits a folded name into its parts: at white space, commas
// and ・, leaving out parts without a letter, digit or mark.
func splitName(s string) []string {
	parts := strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == ',' || r == '・'
	})
	return slices.DeleteFunc(parts, func(p string) bool {
		return strings.IndexFunc(p, func(r rune) bool { return !notWordChar(r) }) < 0
	})
}

func notWordChar(r rune) bool {
	return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r)
}

// namePatterns builds the patterns for a real name: the full name as
// written and with family and given names swapped, and, when the given
// names are several, the first given name with the family name in either
// order; then the family name and the first given name alone, when long
// enough and not allowed. The family name is the part before a comma if
// there is one, else the first part of a name in a script written without
// spaces (CJK order) and the last part of any other.
func namePatterns(name string, allowed map[string]bool) []pattern {
	fn := foldString(name)
	var family, given, written []string
	if before, after, ok := strings.Cut(fn, ","); ok && len(splitName(before)) > 0 && len(splitName(after)) > 0 {
		family, given = splitName(before), splitName(after)
		written = append(slices.Clip(family), given...)
	} else {
		written = splitName(fn)
		if len(written) == 0 {
			return nil
		}
		if r, _ := utf8.DecodeRuneInString(written[0]); unspaced(r) {
			family, given = written[:1], written[1:]
		} else {
			family, given = written[len(written)-1:], written[:len(written)-1]
		}
	}
	var out []pattern
	add := func(parts ...string) {
		for _, o := range out {
			if slices.Equal(o.parts, parts) {
				return
			}
		}
		out = append(out, newPattern(parts, sepName, RealName, ""))
	}
	cat := func(a, b []string) []string { return append(slices.Clip(a), b...) }
	add(written...)
	if len(given) == 0 {
		return out // one part: it is the whole name
	}
	add(cat(given, family)...)
	add(cat(family, given)...)
	if len(given) > 1 {
		add(cat(given[:1], family)...)
		add(cat(family, given[:1])...)
	}
	if (len(family) > 1 || !allowed[family[0]]) && longEnough(strings.Join(family, "")) {
		add(family...)
	}
	if !allowed[given[0]] && longEnough(given[0]) {
		add(given[0])
	}
	return out
}

// longEnough reports whether a name part may hit alone: 2 characters in a
// script written without spaces, else 3 letters.
func longEnough(part string) bool {
	r, _ := utf8.DecodeRuneInString(part)
	if unspaced(r) {
		return utf8.RuneCountInString(part) >= 2
	}
	n := 0
	for _, r := range part {
		if unicode.IsLetter(r) {
			n++
		}
	}
	return n >= 3
}

// personAddresses folds the person's addresses into needles, adding the
// A-label or U-label form of the domain when it differs.
func personAddresses(list []string) []string {
	var out []string
	for _, a := range list {
		a = strings.TrimSpace(a)
		for _, prefix := range []string{"mailto:", "xmpp:"} {
			if len(a) > len(prefix) && strings.EqualFold(a[:len(prefix)], prefix) {
				a = a[len(prefix):]
			}
		}
		if k := strings.IndexByte(a, '/'); k >= 0 {
			a = a[:k]
		}
		at := strings.LastIndexByte(a, '@')
		if at <= 0 || at == len(a)-1 {
			continue
		}
		local, dom := a[:at], strings.TrimSuffix(a[at+1:], ".")
		forms := []string{dom}
		if asc, err := idna.Lookup.ToASCII(dom); err == nil {
			forms = append(forms, asc)
			if uni, err := idna.Lookup.ToUnicode(asc); err == nil {
				forms = append(forms, uni)
			}
		}
		for _, d := range forms {
			if n := foldString(local + "@" + d); !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}
