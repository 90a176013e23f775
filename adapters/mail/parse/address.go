package parse

import (
	"strings"
)

// addressList parses an address header. It is deliberately more forgiving
// than net/mail: unquoted dots and commas-in-names, raw 8-bit names,
// encoded-words inside quotes, missing angle brackets and groups all occur
// in real mail, and an entry that still makes no sense is skipped rather
// than failing the whole header.
func (d headerDecoder) addressList(v string) []Address {
	v = d.raw(v)
	var out []Address
	for _, el := range splitAddressList(v) {
		if a, ok := parseMailbox(el); ok {
			out = append(out, a)
		}
	}
	return out
}

// splitAddressList splits at top-level commas and semicolons, and drops
// group names ("Team: a@x, b@y;").
func splitAddressList(s string) []string {
	var out []string
	start := 0
	inQuote, angle, comment := false, 0, 0
	addrSeen := false // the current element has an "@" or "<" outside quotes
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (inQuote || comment > 0):
			i++
		case inQuote:
			if c == '"' {
				inQuote = false
			}
		case comment > 0:
			switch c {
			case '(':
				comment++
			case ')':
				comment--
			}
		case c == '"':
			inQuote = true
		case c == '(':
			comment++
		case c == '<':
			angle++
			addrSeen = true
		case c == '>' && angle > 0:
			angle--
		case angle > 0:
		case c == ',' || c == ';':
			out = append(out, s[start:i])
			start, addrSeen = i+1, false
		case c == '@':
			addrSeen = true
		case c == ':':
			if !addrSeen {
				start = i + 1 // group display name
			}
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// parseMailbox reads "Name <addr>", "addr (Name)" or "addr".
func parseMailbox(el string) (Address, bool) {
	el = strings.TrimSpace(el)
	if el == "" {
		return Address{}, false
	}
	var name, addr string
	if lt := lastAngle(el); lt >= 0 {
		name = el[:lt]
		addr = el[lt+1:]
		if gt := strings.IndexByte(addr, '>'); gt >= 0 {
			addr = addr[:gt]
		}
	} else {
		name = firstComment(el)
		addr = stripComments(el)
	}
	addr = cleanAddr(addr)
	if !validAddr(addr) {
		return Address{}, false
	}
	return Address{Name: cleanName(name), Addr: addr}, true
}

// lastAngle finds the '<' that opens the angle-addr, outside quotes and
// comments.
func lastAngle(s string) int {
	pos := -1
	inQuote, comment := false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && (inQuote || comment > 0):
			i++
		case inQuote:
			inQuote = c != '"'
		case comment > 0:
			switch c {
			case '(':
				comment++
			case ')':
				comment--
			}
		case c == '"':
			inQuote = true
		case c == '(':
			comment++
		case c == '<':
			pos = i
		}
	}
	return pos
}

// cleanAddr reduces an address to its bare, lower-cased form.
func cleanAddr(a string) string {
	a = strings.TrimSpace(a)
	if len(a) >= 7 && strings.EqualFold(a[:7], "mailto:") {
		a = a[7:]
	}
	// Obsolete source route "@relay1,@relay2:user@host" (RFC 5322 §4.4).
	if strings.HasPrefix(a, "@") {
		if i := strings.IndexByte(a, ':'); i >= 0 {
			a = a[i+1:]
		}
	}
	if strings.Contains(a, "@") {
		a = unfoldAddr(a)
	}
	return strings.ToLower(cleanText(a))
}

// unfoldAddr drops the white space that folding and the obsolete syntax
// put around the "@" and the dots (RFC 5322 §4.4: "bob . smith @ x").
// White space between two words stays: "bob x@y" is not bobx@y, and
// validAddr refuses it.
func unfoldAddr(a string) string {
	words := strings.Fields(a)
	var b strings.Builder
	for i, w := range words {
		if i > 0 {
			prev := words[i-1]
			if c := prev[len(prev)-1]; c != '.' && c != '@' && w[0] != '.' && w[0] != '@' {
				b.WriteByte(' ')
			}
		}
		b.WriteString(w)
	}
	return b.String()
}

// validAddr rejects what is clearly not an address, e.g. a bare display
// name. Addresses without "@" are allowed because bounces come from
// "MAILER-DAEMON" with no domain.
func validAddr(a string) bool {
	if a == "" || a == "@" || len(a) > 512 {
		return false
	}
	return !strings.ContainsAny(a, " \t\n<>(),;\\")
}

// cleanName unquotes and decodes a display name.
func cleanName(n string) string {
	n = strings.TrimSpace(n)
	var b strings.Builder
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c == '\\' && i+1 < len(n):
			i++
			b.WriteByte(n[i])
		case c == '"':
		default:
			b.WriteByte(c)
		}
	}
	s := collapseSpace(cleanText(decodeWords(b.String())))
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	return s
}

// stripComments replaces RFC 5322 comments (nested, with escapes) outside
// quoted strings by a space.
func stripComments(s string) string {
	if !strings.Contains(s, "(") {
		return s
	}
	var b strings.Builder
	depth, inQuote := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case depth == 0 && inQuote:
			b.WriteByte(c)
			if c == '\\' && i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			} else if c == '"' {
				inQuote = false
			}
		case depth == 0 && c == '"':
			inQuote = true
			b.WriteByte(c)
		case c == '(':
			if depth == 0 {
				b.WriteByte(' ')
			}
			depth++
		case depth > 0 && c == '\\':
			i++
		case depth > 0 && c == ')':
			depth--
		case depth > 0:
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// firstComment returns the text of the first top-level comment, the
// display name in the old "addr (Name)" form.
func firstComment(s string) string {
	start := -1
	depth, inQuote := 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case depth == 0 && inQuote:
			if c == '\\' {
				i++
			} else if c == '"' {
				inQuote = false
			}
		case depth == 0 && c == '"':
			inQuote = true
		case c == '(':
			if depth == 0 {
				start = i + 1
			}
			depth++
		case depth > 0 && c == '\\':
			i++
		case depth > 0 && c == ')':
			depth--
			if depth == 0 {
				return s[start:i]
			}
		}
	}
	return ""
}

// msgIDs extracts message identifiers without angle brackets. Values
// without brackets (some clients, some lists) are split on whitespace.
func msgIDs(v string) []string {
	v = cleanText(stripComments(v))
	var ids []string
	rest := v
	for {
		i := strings.IndexByte(rest, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i+1:], '>')
		if j < 0 {
			break
		}
		if id := strings.Join(strings.Fields(rest[i+1:i+1+j]), ""); id != "" {
			ids = append(ids, id)
		}
		rest = rest[i+1+j+1:]
	}
	if len(ids) > 0 {
		return ids
	}
	for _, f := range strings.Fields(v) {
		if f = strings.Trim(f, "<>,"); f != "" && strings.Contains(f, "@") {
			ids = append(ids, f)
		}
	}
	if len(ids) == 0 {
		if f := strings.Fields(v); len(f) == 1 {
			if id := strings.Trim(f[0], "<>"); id != "" {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// domainOf returns the lower-cased domain of an address.
func domainOf(addr string) string {
	i := strings.LastIndexByte(addr, '@')
	if i < 0 {
		return ""
	}
	return strings.TrimSuffix(strings.ToLower(addr[i+1:]), ".")
}

// localPart returns the lower-cased part before the last "@".
func localPart(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		addr = addr[:i]
	}
	return strings.ToLower(addr)
}
