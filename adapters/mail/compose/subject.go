package compose

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/width"
)

// NewMessageID returns a fresh Message-ID (without angle brackets) under
// domain. The local part is 160 random bits in lower-case base32: no time,
// counter, process or host, so the ID tells the outside nothing but the
// domain, which the persona's address shows anyway. 160 bits rather than
// the minimum 128 makes the base32 come out without padding. domain is not
// checked here; Build refuses an ID whose domain is malformed.
func NewMessageID(domain string) string {
	var r [20]byte
	// crypto/rand.Read never fails (it crashes the program instead).
	_, _ = rand.Read(r[:])
	return strings.ToLower(base32.StdEncoding.EncodeToString(r[:])) + "@" + domain
}

// isReplyWord reports the words that mark a reply in a subject prefix, in
// the languages of the mailers customers use; w is already width-folded.
// Forward markers are not among them: a reply to a forward is rightly
// "Re: Fwd: ...".
func isReplyWord(w string) bool {
	switch strings.ToLower(w) {
	case "re", "aw", "sv", "vs", "antw", "réf", "rif", "odp",
		"返信", "回复", "回覆", "답장":
		return true
	}
	return false
}

// ReplySubject is the subject of a reply to a mail titled s: "Re: " + s,
// unless s already starts with a reply prefix in one of the common
// languages (Re:, RE:, Re[2]:, Re(2):, AW:, SV:, VS:, Antw:, Réf :, 返信:,
// full-width Ｒｅ：, ...), in which case s is returned as is so the thread
// keeps one subject. Surrounding white space is dropped. For an empty s it
// returns "": a bare "Re:" tells the customer nothing, so the caller should
// pick a subject itself (SubjectFromText).
func ReplySubject(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	if hasReplyPrefix(s) {
		return s
	}
	return "Re: " + s
}

// BaseSubject is s without its reply prefixes, as ReplySubject recognises
// them ("Re: AW: Quote" → "Quote"), trimmed: what the subjects of one
// conversation have in common.
func BaseSubject(s string) string {
	s = strings.TrimSpace(s)
	for hasReplyPrefix(s) {
		// The prefix is letters, maybe a counter, then the first colon.
		i := strings.IndexAny(s, ":：")
		if i < 0 {
			break
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		s = strings.TrimSpace(s[i+size:])
	}
	return s
}

func hasReplyPrefix(s string) bool {
	// Fold only a short head: full-width letters and colon become ASCII,
	// and nothing past the prefix matters.
	head := s
	if r := []rune(s); len(r) > 16 {
		head = string(r[:16])
	}
	head = width.Fold.String(norm.NFC.String(head))
	i := strings.IndexFunc(head, func(r rune) bool {
		return !unicode.IsLetter(r)
	})
	if i <= 0 || !isReplyWord(head[:i]) {
		return false
	}
	rest := head[i:]
	// A counter: Re[2]:, Re(2):, Re^2:
	if rest != "" && strings.ContainsRune("[(^", rune(rest[0])) {
		j := 1
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			j++
		}
		if j == 1 {
			return false
		}
		if open := rest[0]; open != '^' {
			closing := byte(']')
			if open == '(' {
				closing = ')'
			}
			if j >= len(rest) || rest[j] != closing {
				return false
			}
			j++
		}
		rest = rest[j:]
	}
	// French typography puts a space before the colon ("Réf :"); "Réf." is
	// also seen.
	rest = strings.TrimPrefix(rest, ".")
	rest = strings.TrimLeft(rest, " ")
	return strings.HasPrefix(rest, ":")
}

// SubjectFromText proposes a subject for a new thread: the first line of
// text that has anything but white space, trimmed, with inner white space
// and control characters collapsed to single spaces. If it is longer than
// max runes it is cut to at most max runes, "…" included: at the last word
// boundary, where scripts without spaces (Han, kana) allow a break between
// any two characters; a hard cut is used only when the last boundary would
// throw away more than half. It returns "" for text with nothing in it or a
// max below 1.
func SubjectFromText(text string, max int) string {
	if max < 1 {
		return ""
	}
	var r []rune
	for l := range strings.Lines(strings.ReplaceAll(text, "\r", "\n")) {
		if words := strings.FieldsFunc(l, func(r rune) bool {
			return unicode.IsSpace(r) || unicode.IsControl(r)
		}); len(words) > 0 {
			r = []rune(strings.Join(words, " "))
			break
		}
	}
	return clip(r, max)
}

// MaxSubject is how many runes of a subject UnfoldSubject keeps. Mail
// has no limit, but a subject past a few lines is not read as one, and a
// chat client can send any length.
const MaxSubject = 250

// UnfoldSubject makes one line of a subject written elsewhere (an XMPP
// <subject>, which may hold line breaks): every run of white space and
// control characters (CR, LF, CRLF, tab, NEL, U+2028, U+2029, ...)
// becomes one space (an ideographic space is kept as is, being
// typography in a Japanese subject), the ends are trimmed, and what is longer than
// MaxSubject runes is cut as SubjectFromText cuts. Build applies it to
// Message.Subject, so a line break in a subject can neither fail a mail
// nor inject a header.
func UnfoldSubject(s string) string {
	s = strings.Join(strings.FieldsFunc(s, isFoldable), " ")
	return clip([]rune(strings.TrimFunc(s, unicode.IsSpace)), MaxSubject)
}

// isFoldable is what a one-line subject has no room for: white space
// (line and paragraph separators included) but the ideographic space, and
// control characters.
func isFoldable(r rune) bool {
	return unicode.IsSpace(r) && r != '\u3000' || unicode.IsControl(r)
}

// clip cuts r to at most max runes, "…" included, at the last word
// boundary (scripts without spaces, Han and kana, allow a break between
// any two characters); a hard cut is used only when that boundary would
// throw away more than half.
func clip(r []rune, max int) string {
	if len(r) <= max {
		return string(r)
	}
	limit := max - 1 // room for the ellipsis
	cut, found := limit, false
	for p := limit; p > limit/2; p-- {
		if breakable(r, p) {
			cut, found = p, true
			break
		}
	}
	if !found {
		// No boundary in reach: cut hard, but never inside a character
		// sequence that renders as one (a base and its marks, emoji joins).
		for cut > 0 && !graphemeBoundary(r, cut) {
			cut--
		}
	}
	head := strings.TrimRightFunc(string(r[:cut]), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsPunct(r)
	})
	return head + "…"
}

// breakable reports whether a subject may be cut before r[p].
func breakable(r []rune, p int) bool {
	if r[p] == ' ' || r[p-1] == ' ' {
		return true
	}
	return (isCJK(r[p-1]) || isCJK(r[p])) && graphemeBoundary(r, p)
}

func isCJK(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana) ||
		r >= 0x3000 && r <= 0x303f || // CJK punctuation
		r >= 0xff00 && r <= 0xffef // full-width forms
}

// graphemeBoundary approximates "not inside a user-perceived character",
// which is enough for subjects: no cut before a combining mark, a variation
// selector, a skin-tone modifier or a zero-width joiner, nor after a joiner.
func graphemeBoundary(r []rune, p int) bool {
	if p <= 0 || p >= len(r) {
		return true
	}
	next, prev := r[p], r[p-1]
	switch {
	case unicode.In(next, unicode.Mn, unicode.Me, unicode.Mc):
		return false
	case next == 0x200d || prev == 0x200d:
		return false
	case next >= 0x1f3fb && next <= 0x1f3ff:
		return false
	case next >= 0xe0020 && next <= 0xe007f: // emoji tag sequences
		return false
	}
	return true
}
