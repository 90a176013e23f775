// Package address gives every address that enters Kakehashi its one
// canonical spelling, by the rules of the protocol it belongs to, and
// refuses the ones nobody can ever be reached at. It is the single place
// where addresses are normalised: the gateway for traffic, routing for the
// contact inside a proxy address, identity for what admins and the
// directory write. Pure functions, no I/O.
//
// XMPP addresses follow RFC 7622 through mellium's jid package: the
// localpart case-mapped (PRECIS UsernameCaseMapped), the domain without a
// trailing dot, in U-labels, lower case. Mail addresses follow the
// RFC 5321 mailbox syntax: an ASCII dot-atom local part of at most 64
// octets (quotes that add nothing are dropped; what needs them, or UTF-8,
// is refused, since the gateway's plain SMTP could never write back),
// kept as sent except that ASCII letters are compared in lower case (as
// every large provider does, and as Kakehashi has stored contacts from
// the start), and a domain without a trailing dot, lower case, in
// A-labels (IDNA), since that is what SMTP carries.
package address

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"mellium.im/xmpp/jid"

	"github.com/kakehashi/kakehashi/internal/textclip"
)

// Kind is the protocol family an address belongs to.
type Kind string

// The kinds of address Kakehashi speaks.
const (
	XMPP Kind = "xmpp"
	Mail Kind = "mail"
)

// Limits from the protocols.
const (
	// MaxJIDPart is the longest localpart or domainpart of a JID, in bytes
	// (RFC 7622 §3.2, §3.3).
	MaxJIDPart = 1023
	// MaxMailLocal is the longest local part of a mailbox, in octets
	// (RFC 5321 §4.5.3.1.1).
	MaxMailLocal = 64
	// MaxDomain is the longest domain name in its ASCII form (RFC 1035 §2.3.4
	// less the root label's length octet).
	MaxDomain = 253
)

// Policy says which otherwise refused addresses are accepted.
type Policy struct {
	// AllowSpecial accepts domains that can never be reached on the public
	// network: IP literals, localhost and *.localhost, *.invalid
	// (RFC 6761). For test rigs and closed networks only.
	AllowSpecial bool
}

// dns checks and maps domain names for lookup (RFC 5891 §5), with the
// DNS's label and name lengths (RFC 1035) and LDH labels (STD3). It is
// immutable.
var dns = idna.New(idna.MapForLookup(), idna.StrictDomainName(true), idna.VerifyDNSLength(true), idna.BidiRule())

// ErrInvalid is what every error of this package wraps.
var ErrInvalid = errors.New("invalid address")

// Error says what is wrong with an address, in words its sender can act
// on.
type Error struct {
	// Addr is the address as given.
	Addr string
	// Problem is what is wrong with it.
	Problem string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%q is not an address anyone can be reached at: %s", textclip.Clip(e.Addr, 80), e.Problem)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *Error) Unwrap() error { return ErrInvalid }

// Canonical returns the one spelling of the bare address s on a network of
// kind k, or an *Error saying what is wrong with it. A resource (XMPP) is
// dropped; surrounding space is ignored.
func Canonical(k Kind, s string, p Policy) (string, error) {
	if c, ok := plain(k, s, p); ok {
		return c, nil
	}
	return full(k, s, p)
}

// full is Canonical without the shortcut for plain spellings.
func full(k Kind, s string, p Policy) (string, error) {
	switch k {
	case XMPP:
		return canonicalJID(s, p)
	case Mail:
		return canonicalMailbox(s, p)
	default:
		return "", &Error{Addr: s, Problem: fmt.Sprintf("unknown kind of network %q", k)}
	}
}

// Must is Canonical for addresses known to be valid (constants in tests
// and examples); it panics otherwise.
func Must(k Kind, s string) string {
	c, err := Canonical(k, s, Policy{AllowSpecial: true})
	if err != nil {
		panic(err)
	}
	return c
}

func canonicalJID(s string, p Policy) (string, error) {
	orig := s
	bad := func(format string, a ...any) (string, error) {
		return "", &Error{Addr: orig, Problem: fmt.Sprintf(format, a...)}
	}
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	if !utf8.ValidString(s) {
		return bad("it is not valid UTF-8")
	}
	local, domain, found := strings.Cut(s, "@")
	switch {
	case s == "":
		return bad("it is empty")
	case !found || local == "":
		return bad("there is no user part before the @")
	case strings.Contains(domain, "@"):
		return bad("it has more than one @")
	case domain == "" || domain == ".":
		return bad("there is no domain after the @")
	case len(local) > MaxJIDPart:
		return bad("the user part is %d bytes long; XMPP allows %d", len(local), MaxJIDPart)
	case strings.IndexFunc(local, isSpaceOrControl) >= 0:
		return bad("the user part contains a space or a control character")
	}
	if problem := checkDomain(strings.TrimSuffix(domain, "."), p); problem != "" {
		return bad("%s", problem)
	}
	j, err := jid.New(local, domain, "")
	if err != nil {
		return bad("it is not a valid XMPP address (RFC 7622): %v", err)
	}
	return strings.ToLower(j.Localpart()) + "@" + j.Domainpart(), nil
}

func canonicalMailbox(s string, p Policy) (string, error) {
	orig := s
	bad := func(format string, a ...any) (string, error) {
		return "", &Error{Addr: orig, Problem: fmt.Sprintf(format, a...)}
	}
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">") {
		s = s[1 : len(s)-1]
	}
	if s == "" {
		return bad("it is empty")
	}
	if !utf8.ValidString(s) {
		return bad("it is not valid UTF-8")
	}
	var local, domain string
	if strings.HasPrefix(s, `"`) {
		end := closingQuote(s)
		if end < 0 {
			return bad("its quoted user part is not closed")
		}
		local, domain = s[:end+1], s[end+1:]
		if !strings.HasPrefix(domain, "@") {
			return bad("there must be an @ right after the quoted user part")
		}
		domain = domain[1:]
		inner := local[1 : len(local)-1]
		if strings.IndexFunc(inner, isControl) >= 0 {
			return bad("the user part contains a control character")
		}
		if !dotAtom(inner) {
			// RFC 5321 allows it, but the gateway's mail is plain SMTP
			// without quoting in its headers: a reply could never go out.
			return bad("the quoted user part %q is not one Kakehashi can write to (only letters, digits, dots and !#$%%&'*+-/=?^_`{|}~)", textclip.Clip(inner, 64))
		}
		local = inner // the quotes add nothing: one spelling
	} else {
		var found bool
		local, domain, found = strings.Cut(s, "@")
		switch {
		case !found || local == "":
			return bad("there is no user part before the @")
		case strings.Contains(domain, "@"):
			return bad("it has more than one @")
		case strings.IndexFunc(local, isSpaceOrControl) >= 0:
			return bad("the user part contains a space or a control character")
		case !dotAtom(local):
			return bad("the user part %q is not a mailbox name Kakehashi can write to (RFC 5321: ASCII letters, digits and !#$%%&'*+-/=?^_`{|}~, dots between them)", textclip.Clip(local, 64))
		}
	}
	if len(local) > MaxMailLocal {
		return bad("the user part is %d octets long; mail allows %d", len(local), MaxMailLocal)
	}
	if domain == "" || domain == "." {
		return bad("there is no domain after the @")
	}
	if strings.HasPrefix(domain, "[") {
		if !p.AllowSpecial {
			return bad("it names an IP address instead of a domain")
		}
		lit := strings.TrimSuffix(strings.TrimPrefix(domain, "["), "]")
		lit = strings.TrimPrefix(strings.TrimPrefix(lit, "IPv6:"), "ipv6:")
		ip, err := netip.ParseAddr(lit)
		if err != nil || !strings.HasSuffix(domain, "]") {
			return bad("the address literal %q is not an IP address", domain)
		}
		if ip.Is4() {
			return asciiLower(local) + "@[" + ip.String() + "]", nil
		}
		return asciiLower(local) + "@[IPv6:" + ip.String() + "]", nil
	}
	d := strings.TrimSuffix(domain, ".")
	if problem := checkDomain(d, p); problem != "" {
		return bad("%s", problem)
	}
	ascii, err := dns.ToASCII(d)
	if err != nil { // checkDomain has run the same check
		return bad("the domain %q is not a valid domain name: %s", textclip.Clip(domain, 80), textclip.Clip(err.Error(), 120))
	}
	return asciiLower(local) + "@" + strings.ToLower(ascii), nil
}

// checkDomain refuses domains that are malformed or that no one can be
// reached at. d has no trailing dot. The problem is "" when d is fine.
func checkDomain(d string, p Policy) string {
	if _, err := netip.ParseAddr(strings.Trim(d, "[]")); err == nil {
		if p.AllowSpecial {
			return ""
		}
		return "it names an IP address instead of a domain"
	}
	if len(d) > MaxDomain*4 { // past any IDN that could fit once encoded
		return fmt.Sprintf("the domain is %d bytes long; DNS allows %d characters", len(d), MaxDomain)
	}
	a, err := dns.ToASCII(d)
	if err != nil {
		return fmt.Sprintf("the domain %q is not a valid domain name: %s", textclip.Clip(d, 80), textclip.Clip(err.Error(), 120))
	}
	if len(a) > MaxDomain {
		return fmt.Sprintf("the domain is %d characters long; DNS allows %d", len(a), MaxDomain)
	}
	if p.AllowSpecial {
		return ""
	}
	a = strings.ToLower(a)
	switch a[strings.LastIndexByte(a, '.')+1:] {
	case "localhost":
		return "it names this machine (localhost), not a domain anyone outside can reach"
	case "invalid":
		return "the domain ends in .invalid, which never exists (RFC 6761)"
	}
	return ""
}

// dotAtom reports whether s is an RFC 5321 Dot-string (with RFC 6531's
// UTF-8 allowed): atoms of atext joined by single dots.
func dotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		// ASCII only: a UTF-8 local part (RFC 6531) needs SMTPUTF8 all
		// the way, which the gateway's mail does not speak.
		if !isAtext(s[i]) && s[i] != '.' {
			return false
		}
	}
	return true
}

// asciiLower folds ASCII letters only: a mail local part's case means
// nothing to any server in practice, but other letters are left as sent.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func isAtext(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0
}

// closingQuote returns the index of the quote that closes the quoted
// string s starts with, honouring backslash escapes, or -1.
func closingQuote(s string) int {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

func isSpaceOrControl(r rune) bool {
	return r == ' ' || r == '\u00a0' || r == '\u3000' || isControl(r)
}

func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029'
}

// DomainKey is a domain in the one form that compares equal however it
// was written: lower case, without a trailing dot, in A-labels. XMPP
// spells IDN domains in U-labels and mail in A-labels; a comparison
// across networks (is this contact's domain one of ours?) goes through
// DomainKey. A domain that is not valid is returned lower-cased.
func DomainKey(d string) string {
	d = strings.TrimSuffix(strings.ToLower(d), ".")
	ascii := true
	for i := 0; i < len(d); i++ {
		if d[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii && !strings.Contains(d, "xn--") {
		return d
	}
	if a, err := dns.ToASCII(d); err == nil {
		return strings.ToLower(a)
	}
	return d
}
