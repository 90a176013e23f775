package routing

import "strings"

// XEP-0106 (JID Escaping) maps these characters, which may not appear in a
// JID's local part, to \hh sequences.
const escapable = ` "&'/:<>@\`

// EscapeLocal escapes s for use as a JID local part (XEP-0106). A backslash
// is escaped only where it would otherwise start an escape sequence, as the
// XEP requires.
func EscapeLocal(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	escapeTo(&b, s)
	return b.String()
}

// escapeTo writes s escaped to b, copying the runs between escapes whole
// (a proxy address is written for every message from a contact).
func escapeTo(b *strings.Builder, s string) {
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !escapes(c) && (c != '\\' || !isEscape(s[i:])) {
			continue
		}
		b.WriteString(s[start:i])
		b.WriteByte('\\')
		b.WriteByte("0123456789abcdef"[c>>4])
		b.WriteByte("0123456789abcdef"[c&15])
		start = i + 1
	}
	b.WriteString(s[start:])
}

// escapes reports whether c is one of escapable but the backslash, which
// is escaped only before what would read as an escape.
func escapes(c byte) bool {
	switch c {
	case ' ', '"', '&', '\'', '/', ':', '<', '>', '@':
		return true
	}
	return false
}

// UnescapeLocal reverses EscapeLocal: every \hh sequence naming an
// escapable character becomes that character; anything else is kept.
func UnescapeLocal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && isEscape(s[i:]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isEscape reports whether s starts with a \hh sequence of an escapable
// character.
func isEscape(s string) bool {
	if len(s) < 3 || s[0] != '\\' || !ishex(s[1]) || !ishex(s[2]) {
		return false
	}
	return strings.IndexByte(escapable, unhex(s[1])<<4|unhex(s[2])) >= 0
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
