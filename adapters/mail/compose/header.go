package compose

import (
	"bytes"
	"encoding/base64"
	"strings"
	"unicode/utf8"
)

// headerWriter writes header fields folded to maxLine. Values arrive as
// tokens that may be separated by folding white space; a token itself is
// never broken, so callers size tokens that must fit (encoded-words).
type headerWriter struct {
	b *bytes.Buffer
}

// field writes "name: tok tok ..." with one space between tokens, folding
// before a token that would pass maxLine.
func (w headerWriter) field(name string, tokens ...string) {
	w.b.WriteString(name)
	w.b.WriteByte(':')
	n := len(name) + 1
	for i, t := range tokens {
		if n+1+len(t) > maxLine && (i > 0 || 1+len(t) <= maxLine) {
			// The first token moves to its own line only if that helps;
			// an unfoldable long msg-id stays beside its name.
			w.b.WriteString("\r\n")
			n = 0
		}
		w.b.WriteByte(' ')
		w.b.WriteString(t)
		n += 1 + len(t)
	}
	w.b.WriteString("\r\n")
}

// firstRoom is the room for a token on the first line of field name.
func firstRoom(name string) int {
	return maxLine - len(name) - len(": ")
}

// unstructured writes a free-text field such as Subject. Plain printable
// ASCII is sent as is, folded at its spaces; anything else, or ASCII that
// cannot be folded within maxLine, becomes RFC 2047 encoded-words.
func (w headerWriter) unstructured(name, s string) {
	if s == "" {
		w.field(name)
		return
	}
	if toks, ok := plainWords(s, firstRoom(name)); ok {
		w.field(name, toks...)
		return
	}
	w.field(name, encodedWords(s, firstRoom(name))...)
}

// address writes a mailbox field: the addr-spec alone when there is no
// name, otherwise "phrase <addr-spec>".
func (w headerWriter) address(name string, a Address) {
	display := strings.TrimSpace(a.Name)
	angle := "<" + a.Addr + ">"
	if display == "" {
		w.field(name, a.Addr)
		return
	}
	room := firstRoom(name)
	if toks, ok := atomPhrase(display, room); ok {
		w.field(name, append(toks, angle)...)
		return
	}
	if q, ok := quotedString(display); ok && len(q) <= room {
		w.field(name, q, angle)
		return
	}
	w.field(name, append(encodedWords(display, room), angle)...)
}

// isPlainText reports whether s may appear literally in a header: printable
// ASCII and spaces only, and nothing a decoder would take for an
// encoded-word.
func isPlainText(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' {
			return false
		}
	}
	return !strings.Contains(s, "=?")
}

// plainWords splits plain text at single spaces into foldable tokens.
// Words joined by a run of spaces stay one token: many parsers (Go's among
// them) turn the white space at a fold into one space, so folding inside a
// run would shorten it. ok is false when s is not plain or a token is too
// long to fold.
func plainWords(s string, room int) (toks []string, ok bool) {
	if !isPlainText(s) {
		return nil, false
	}
	glue := false
	for _, p := range strings.Split(s, " ") {
		switch {
		case p == "" && len(toks) == 0:
			return nil, false
		case p == "":
			toks[len(toks)-1] += " "
			glue = true
			continue
		case glue:
			toks[len(toks)-1] += " " + p
		default:
			toks = append(toks, p)
		}
		glue = false
		if t := toks[len(toks)-1]; len(toks) == 1 && len(t) > room || 1+len(t) > maxLine {
			return nil, false
		}
	}
	return toks, len(toks) > 0
}

// atomPhrase accepts a display name made of RFC 5322 atoms separated by
// single spaces, which needs no quoting.
func atomPhrase(s string, room int) ([]string, bool) {
	if !isPlainText(s) {
		return nil, false
	}
	toks := strings.Split(s, " ")
	for i, t := range toks {
		if t == "" || i == 0 && len(t) > room || 1+len(t) > maxLine {
			return nil, false
		}
		for j := 0; j < len(t); j++ {
			if !isAtext(t[j]) {
				return nil, false
			}
		}
	}
	return toks, true
}

// quotedString quotes a plain ASCII display name that has specials.
func quotedString(s string) (string, bool) {
	if !isPlainText(s) {
		return "", false
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String(), true
}

const (
	ewPrefix = "=?UTF-8?B?"
	ewSuffix = "?="
	// ewMax is RFC 2047's limit on one encoded-word.
	ewMax = 75
)

// encodedWords encodes s as RFC 2047 B encoded-words in UTF-8. B is what
// Japanese mailers themselves send and read best; Q would triple the size
// of every kana. The first word fits in room, the others on a continuation
// line; words end on character boundaries, as RFC 2047 requires, so each
// decodes on its own.
func encodedWords(s string, room int) []string { return encodedWordsIn(s, room, maxLine-1) }

// encodedWordsIn is encodedWords with the first word at most first
// characters long and the others at most rest.
func encodedWordsIn(s string, first, rest int) []string {
	var words []string
	limit := first
	for s != "" {
		maxBytes := ewBytes(limit)
		if maxBytes < utf8.UTFMax {
			// Too little room on the first line: start on the next.
			maxBytes = ewBytes(ewMax)
		}
		n := 0
		for n < len(s) {
			_, size := utf8.DecodeRuneInString(s[n:])
			if n+size > maxBytes {
				break
			}
			n += size
		}
		words = append(words, ewPrefix+base64.StdEncoding.EncodeToString([]byte(s[:n]))+ewSuffix)
		s = s[n:]
		limit = rest
	}
	return words
}

// ewBytes is how many octets of text fit in an encoded-word of at most
// width characters.
func ewBytes(width int) int {
	width = min(width, ewMax)
	return (width - len(ewPrefix) - len(ewSuffix)) / 4 * 3
}
