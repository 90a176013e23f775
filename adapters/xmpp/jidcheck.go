package xmpp

import (
	"strings"

	"mellium.im/xmpp/jid"
)

// validJID is jid.Parse's verdict on addr, without the parsed JID: nil
// when addr is a valid address (RFC 7622). The spelling nearly every
// address arrives in (see plainJID) is valid without running PRECIS and
// IDNA, which were 6 % of the gateway's CPU in a burst of messages;
// anything else goes through jid.Parse.
func validJID(addr string) error {
	if plainJID(addr) {
		return nil
	}
	_, err := jid.Parse(addr)
	return err
}

// plainJID reports whether s is [local@]domain[/resource] with a local
// part of ASCII letters, digits and ._+- (1–64 bytes), a domain of
// lower-case LDH labels (1–63 bytes, no hyphen at either end, no "--"
// in the third and fourth place as in A-labels, 253 bytes in all) and a
// resource of printable ASCII without spaces (1–256 bytes). Every such
// address is valid under RFC 7622, whose profiles map none of these
// bytes; TestPlainJIDAgreesWithParse holds plainJID to jid.Parse. False
// says nothing: the address may still be valid.
func plainJID(s string) bool {
	rest, res, hasRes := strings.Cut(s, "/")
	if hasRes {
		if len(res) == 0 || len(res) > 256 {
			return false
		}
		for i := 0; i < len(res); i++ {
			if c := res[i]; c <= ' ' || c > '~' {
				return false
			}
		}
	}
	domain := rest
	if local, d, ok := strings.Cut(rest, "@"); ok {
		if len(local) == 0 || len(local) > 64 {
			return false
		}
		for i := 0; i < len(local); i++ {
			switch c := local[i]; {
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '+', c == '-':
			default:
				return false
			}
		}
		domain = d
	}
	if len(domain) == 0 || len(domain) > 253 {
		return false
	}
	for label := range strings.SplitSeq(domain, ".") {
		n := len(label)
		if n == 0 || n > 63 || label[0] == '-' || label[n-1] == '-' || n >= 4 && label[2:4] == "--" {
			return false
		}
		for i := 0; i < n; i++ {
			if c := label[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
