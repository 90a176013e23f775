package parse

import (
	"strings"
)

// dmarcResult reads Authentication-Results headers (RFC 8601), topmost
// first, and returns the dmarc result of the first one that a trusted
// authserv-id wrote about the From domain. Headers from other authserv-ids
// are ignored entirely: the sender can write whatever it likes into them,
// including "dmarc=pass".
func dmarcResult(values, trusted []string, fromDomain string) string {
	return authResult(values, trusted, "dmarc", "header.from", fromDomain)
}

// spfResult is dmarcResult for the spf method: the result a trusted
// authserv-id gave for the envelope sender's domain (smtp.mailfrom, RFC
// 8601 §2.7.2), which is what vouches for the Return-Path.
func spfResult(values, trusted []string, mailFromDomain string) string {
	return authResult(values, trusted, "spf", "smtp.mailfrom", mailFromDomain)
}

// authResult returns the result of method in the topmost
// Authentication-Results header written by a trusted authserv-id whose
// property prop names domain (as a domain or as an address at it); ""
// when there is none.
func authResult(values, trusted []string, method, prop, domain string) string {
	if len(trusted) == 0 || domain == "" {
		return ""
	}
	for _, v := range values {
		fields := splitOutsideQuotes(stripComments(v), ';')
		if len(fields) == 0 {
			continue
		}
		id := strings.Fields(fields[0])
		if len(id) == 0 || !isTrusted(id[0], trusted) {
			continue
		}
		for _, res := range fields[1:] {
			m, result, props := parseResinfo(res)
			if m != method {
				continue
			}
			d := props[prop]
			if i := strings.LastIndexByte(d, '@'); i >= 0 {
				d = d[i+1:] // some verifiers log the whole address
			}
			if strings.TrimSuffix(strings.ToLower(d), ".") == domain {
				return result
			}
		}
	}
	return ""
}

func isTrusted(id string, trusted []string) bool {
	id = strings.TrimSuffix(strings.ToLower(strings.Trim(id, `"`)), ".")
	for _, t := range trusted {
		if id == strings.TrimSuffix(strings.ToLower(strings.TrimSpace(t)), ".") {
			return true
		}
	}
	return false
}

// parseResinfo parses "method[/version]=result prop=value ..." with the
// CFWS around "=" that RFC 8601 allows.
func parseResinfo(s string) (method, result string, props map[string]string) {
	props = map[string]string{}
	toks := resinfoTokens(s)
	if len(toks) == 0 {
		return "", "", props
	}
	m, r, ok := strings.Cut(toks[0], "=")
	if !ok {
		return "", "", props
	}
	if i := strings.IndexByte(m, '/'); i >= 0 {
		m = m[:i]
	}
	method, result = strings.ToLower(m), strings.ToLower(strings.Trim(r, `"`))
	for _, t := range toks[1:] {
		if k, v, ok := strings.Cut(t, "="); ok {
			k = strings.ToLower(k)
			if _, dup := props[k]; !dup {
				props[k] = strings.Trim(v, `"`)
			}
		}
	}
	return method, result, props
}

// resinfoTokens splits on whitespace outside quotes after gluing "a = b"
// into "a=b".
func resinfoTokens(s string) []string {
	var toks []string
	var cur strings.Builder
	inQuote := false
	glue := false // the last significant byte was '=': the next token continues it
	flush := func() {
		if cur.Len() > 0 {
			toks = append(toks, cur.String())
			cur.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote:
			cur.WriteByte(c)
			if c == '\\' && i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			} else if c == '"' {
				inQuote = false
			}
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			if glue {
				continue
			}
			// Look ahead: "a =b" glues too.
			j := i
			for j < len(s) && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n') {
				j++
			}
			i = j - 1
			if j < len(s) && s[j] == '=' {
				continue
			}
			flush()
		default:
			if c == '"' {
				inQuote = true
			}
			cur.WriteByte(c)
			glue = c == '='
			continue
		}
		if !inQuote {
			glue = false
		}
	}
	flush()
	return toks
}

// splitOutsideQuotes splits s at sep where it is not inside a
// quoted-string.
func splitOutsideQuotes(s string, sep byte) []string {
	var out []string
	start, inQuote := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote && c == '\\':
			i++
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
