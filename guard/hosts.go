package guard

import (
	"strings"
)

// domain is one inside domain, compiled.
type domain struct {
	ascii string // A-label form, lower case, no trailing dot
	// needles are the folded spellings searched for: the A-label form and,
	// for an IDN, the folded U-label form, so that "wiki.bücher.test" and
	// "wiki.xn--bcher-kva.test" both hit.
	needles []string
	// dotted is false for a single-label domain ("corp", "internal"): the
	// bare word is ordinary prose, so only names under it ("wiki.corp") and
	// addresses at it hit.
	dotted bool
}

// isLabelByte reports the ASCII bytes of a host-name label. Underscore is
// included so "_sip._tcp.corp.test" is one host, and so "corp.test_old" is
// not a mention of corp.test.
func isLabelByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' ||
		'A' <= c && c <= 'Z'
}

// isLocalByte reports the ASCII bytes taken as the local part of an address
// when walking left from its "@": the common dot-atom characters, and the
// backslash of XEP-0106 escapes, so a gateway proxy address
// ("bob\40ext.test@gw.corp.test") is reported whole. The rarer atext
// characters (/ = ? ! …) are left out because they would swallow URL paths
// and queries ("…/?to=hana@corp.test").
func isLocalByte(c byte) bool {
	return isLabelByte(c) || c == '.' || c == '+' || c == '%' || c == '\\'
}

// hostEnds reports whether a host name ends at s[j]: not followed by
// another label character, nor by a dot and one (a trailing dot ends a
// sentence, "corp.test.evil.example" is a different host).
func hostEnds(s string, j int) bool {
	if j >= len(s) {
		return true
	}
	if isLabelByte(s[j]) {
		return false
	}
	if s[j] == '.' && j+1 < len(s) && isLabelByte(s[j+1]) {
		return false
	}
	return true
}

// findHosts appends a candidate for every host name in f equal to or under
// an inside domain, and for every address at one. A host name is the
// domain found with boundaries on both sides, extended left over any
// ASCII labels ("upload." in "upload.corp.test"). Ports, paths, brackets
// and trailing punctuation all end it; "notcorp.test" and "corp.testing"
// are other hosts. Labels in other scripts in front of the domain are not
// taken into the host: "資料.corp.test" reports "corp.test", which is still
// held.
func findHosts(f *folded, text string, domains []domain, out []Hit) []Hit {
	s := f.s
	for di := range domains {
		d := &domains[di]
		for _, needle := range d.needles {
			for from := 0; from < len(s); {
				i := strings.Index(s[from:], needle)
				if i < 0 {
					break
				}
				i += from
				from = i + 1
				j := i + len(needle)
				if !hostEnds(s, j) {
					continue
				}
				h := i
				if h > 0 && s[h-1] == '.' {
					k := h - 1
					for k > 0 && (isLabelByte(s[k-1]) || s[k-1] == '.') {
						k--
					}
					for k < h && s[k] == '.' {
						k++
					}
					h = k
				} else if h > 0 && isLabelByte(s[h-1]) {
					continue // "notcorp.test"
				}
				if h > 0 && s[h-1] == '@' {
					if a := localStart(s, h-1); a < h-1 && !userinfo(s, a) {
						out = append(out, newCandidate(f, text, a, j, InsideAddress, ""))
						continue
					}
				}
				if h == i && !d.dotted {
					continue // the bare word "corp"
				}
				out = append(out, newCandidate(f, text, h, j, InsideHost, ""))
			}
		}
	}
	return out
}

// localStart walks left from the "@" at s[at] over the local part of an
// address and returns where it starts (at itself when there is none).
// Leading dots are sentence punctuation, not part of the address.
func localStart(s string, at int) int {
	k := at
	for k > 0 && isLocalByte(s[k-1]) {
		k--
	}
	for k < at && s[k] == '.' {
		k++
	}
	return k
}

// userinfo reports whether the local part starting at s[a] is the user
// information of a URL ("https://hana:pw@wiki.corp.test/"): then the "@"
// introduces a host, not an address, and the hit is the host name. An
// "xmpp:" or "mailto:" URI has no "//" and is an address.
func userinfo(s string, a int) bool {
	if a > 0 && s[a-1] == ':' { // "user:password": the user is before the colon
		a = localStart(s, a-1)
	}
	return strings.HasSuffix(s[:a], "//")
}

// findAddresses appends a candidate for every occurrence of one of the
// person's own addresses (already folded), wherever its domain is. The
// address must stand alone: not inside a longer local part or host.
func findAddresses(f *folded, text string, addrs []string, out []Hit) []Hit {
	s := f.s
	for _, a := range addrs {
		for from := 0; from < len(s); {
			i := strings.Index(s[from:], a)
			if i < 0 {
				break
			}
			i += from
			from = i + 1
			j := i + len(a)
			if i > 0 && isLocalByte(s[i-1]) || !hostEnds(s, j) {
				continue
			}
			out = append(out, newCandidate(f, text, i, j, InsideAddress, ""))
		}
	}
	return out
}
