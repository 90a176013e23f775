// Package hostname checks host names the mail packages write into
// addresses, Message-IDs, DKIM records and return paths.
package hostname

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Problem says what is wrong with s as an RFC 1123 host name in ASCII
// (A-labels), or "" when nothing is: a phrase to follow the name, e.g.
// "is empty", "has an empty label".
func Problem(s string) string {
	if s == "" {
		return "is empty"
	}
	if len(s) > 253 {
		return "is longer than 253 octets"
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" {
			return "has an empty label"
		}
		if len(label) > 63 {
			return "has a label longer than 63 octets"
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "has a label starting or ending with '-'"
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if c >= utf8.RuneSelf {
				return "is not ASCII (use the A-label form)"
			}
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Sprintf("has forbidden character %q", rune(c))
			}
		}
	}
	return ""
}
