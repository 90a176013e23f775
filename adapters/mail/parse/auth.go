package parse

import (
	"strings"

	"github.com/emersion/go-msgauth/authres"
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
		id, results := parseAuthResults(v)
		if !isTrusted(id, trusted) {
			continue
		}
		for _, r := range results {
			if r.method != method {
				continue
			}
			d := strings.Trim(r.props[prop], `"`)
			if i := strings.LastIndexByte(d, '@'); i >= 0 {
				d = d[i+1:] // some verifiers log the whole address
			}
			if strings.TrimSuffix(strings.ToLower(d), ".") == domain {
				return r.result
			}
		}
	}
	return ""
}

// resinfo is one method's result in an Authentication-Results header:
// the method without its version, the lower-cased result and the
// properties (lower-cased names) that authResult compares.
type resinfo struct {
	method, result string
	props          map[string]string
}

// parseAuthResults reads one Authentication-Results value with go-msgauth's
// authres, after removing comments, which it does not understand (a ";" in
// "(1024-bit key; secure)", as OpenDKIM writes, would split a result in
// two). authres refuses a whole header over what RFC 8601 allows and some
// verifiers write: white space around "=" ("dmarc = pass"), a ";" inside a
// quoted reason, an authserv-id version other than 1; such headers are
// read by the hand-written parseResinfo instead, which keeps every result
// it can make sense of.
func parseAuthResults(v string) (id string, results []resinfo) {
	v = stripComments(v)
	id, rs, err := authres.Parse(v)
	if err != nil {
		return lenientAuthResults(v)
	}
	for _, r := range rs {
		switch r := r.(type) {
		case *authres.DMARCResult:
			results = append(results, resinfo{"dmarc", unquote(r.Value), map[string]string{"header.from": r.From}})
		case *authres.SPFResult:
			results = append(results, resinfo{"spf", unquote(r.Value), map[string]string{"smtp.mailfrom": r.From, "smtp.helo": r.Helo}})
		case *authres.GenericResult:
			// authres types only versionless method names: "dmarc/1=pass"
			// (RFC 8601 §2.2) arrives here with its properties untyped.
			m, _, _ := strings.Cut(r.Method, "/")
			results = append(results, resinfo{m, unquote(r.Value), r.Params})
		}
	}
	return id, results
}

// unquote drops the quotes authres leaves around a quoted result value.
func unquote(v authres.ResultValue) string {
	return strings.Trim(string(v), `"`)
}

// lenientAuthResults is the fallback for what authres refuses; see
// parseAuthResults. v has no comments left.
func lenientAuthResults(v string) (id string, results []resinfo) {
	fields := splitOutsideQuotes(v, ';')
	if f := strings.Fields(fields[0]); len(f) > 0 {
		id = f[0]
	}
	for _, res := range fields[1:] {
		if m, result, props := parseResinfo(res); m != "" {
			results = append(results, resinfo{m, result, props})
		}
	}
	return id, results
}

func isTrusted(id string, trusted []string) bool {
	id = strings.TrimSuffix(strings.ToLower(strings.Trim(id, `"`)), ".")
	if id == "" {
		return false // a blank entry in the configuration trusts no header
	}
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
