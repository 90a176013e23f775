package address

import "strings"

// plain is Canonical's answer for the spelling nearly every address
// arrives in: ASCII letters, digits and ._+- in the user part, LDH labels
// in the domain, one @, nothing to trim. Such an address means the same
// under PRECIS, IDNA and RFC 5321 as it does byte for byte, so its
// canonical form is its lower-case form, and working that out needs none
// of them: in routing's hot path the full check was a third of a
// decision. ok is false for everything else, which the full check then
// reads; TestPlainAgreesWithFull holds the two to the same answers.
func plain(k Kind, s string, p Policy) (string, bool) {
	at := -1
	upper := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '.':
		case 'A' <= c && c <= 'Z':
			upper = true
		case c == '_' || c == '+':
			if at >= 0 { // not in a domain
				return "", false
			}
		case c == '@':
			if at >= 0 {
				return "", false
			}
			at = i
		default:
			return "", false
		}
	}
	if at < 1 || at > 64 {
		return "", false
	}
	local, domain := s[:at], s[at+1:]
	if k == Mail && (local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..")) {
		return "", false // not a dot-atom
	}
	if k != Mail && k != XMPP {
		return "", false
	}
	if !plainDomain(domain, p) {
		return "", false
	}
	if !upper {
		return s, true
	}
	return asciiLower(s), true
}

// plainDomain reports whether d is a domain the full check surely
// accepts as it is: LDH labels of 1 to 63 characters, none starting or
// ending with a hyphen or with one in its third and fourth places (which
// IDNA reserves, xn-- among them), a last label with a letter (so not an
// IP address), 253 characters at most, no trailing dot, and none of the
// special domains p refuses.
func plainDomain(d string, p Policy) bool {
	if d == "" || len(d) > MaxDomain {
		return false
	}
	start := 0
	lastHasLetter := false
	for i := 0; i <= len(d); i++ {
		if i < len(d) && d[i] != '.' {
			continue
		}
		label := d[start:i]
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' ||
			len(label) >= 4 && label[2] == '-' && label[3] == '-' {
			return false
		}
		lastHasLetter = false
		for j := 0; j < len(label); j++ {
			if c := label[j] | 0x20; 'a' <= c && c <= 'z' {
				lastHasLetter = true
				break
			}
		}
		start = i + 1
	}
	if !lastHasLetter {
		return false
	}
	if !p.AllowSpecial {
		tld := d[strings.LastIndexByte(d, '.')+1:]
		if equalFoldASCII(tld, "localhost") || equalFoldASCII(tld, "invalid") {
			return false
		}
	}
	return true
}

// equalFoldASCII compares an ASCII string with a lower-case one, ignoring
// the case of ASCII letters.
func equalFoldASCII(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// PlainJID reports whether s, an XMPP address that may carry a resource,
// is in the plain spelling RFC 7622 surely accepts as it is: a bare
// address Canonical takes without its full check (see plain; special
// domains are valid addresses too) and, after the first /, a resource of
// 1 to MaxJIDPart bytes of printable ASCII without spaces, which PRECIS's
// OpaqueString maps to itself. It saves a stanza's validity check the
// cost of PRECIS and IDNA (6 % of the gateway's CPU in a burst of
// messages). False says nothing: the address may still be valid, and the
// caller then asks jid.Parse.
func PlainJID(s string) bool {
	bare, res, hasRes := strings.Cut(s, "/")
	if hasRes {
		if len(res) == 0 || len(res) > MaxJIDPart {
			return false
		}
		for i := 0; i < len(res); i++ {
			if c := res[i]; c <= ' ' || c > '~' {
				return false
			}
		}
	}
	_, ok := plain(XMPP, bare, Policy{AllowSpecial: true})
	return ok
}
