package compose

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// bodyLines splits text at any of "\r\n", "\n" or "\r", which is what chat
// clients on different systems send. A final line end does not start an
// empty last line, so the body ends with exactly one CRLF either way.
func bodyLines(text string) []string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	text = strings.TrimSuffix(text, "\n")
	return strings.Split(text, "\n")
}

// fits7bit reports whether lines can go out unencoded: printable ASCII in
// lines of at most maxLine octets. A line starting with "From " is sent
// quoted-printable instead, because mbox stores rewrite it to ">From " and
// the customer would see that.
func fits7bit(lines []string) bool {
	for _, l := range lines {
		if len(l) > maxLine || strings.HasPrefix(l, "From ") {
			return false
		}
		for i := 0; i < len(l); i++ {
			if c := l[i]; (c < ' ' || c > '~') && c != '\t' {
				return false
			}
		}
	}
	return true
}

// qpMax is RFC 2045's limit on an encoded line, soft-break "=" included.
const qpMax = 76

// writeQP writes lines quoted-printable with CRLF hard breaks. Unlike
// mime/quotedprintable it never puts a soft break inside a multi-byte
// character: decoding would still be exact, but some mailers show a
// line split mid-character as mojibake before joining it.
func writeQP(b *bytes.Buffer, lines []string) {
	const hex = "0123456789ABCDEF"
	var unit [3 * utf8.UTFMax]byte
	for _, l := range lines {
		n := 0
		for i := 0; i < len(l); {
			_, size := utf8.DecodeRuneInString(l[i:])
			c := l[i]
			u := unit[:0]
			literal := size == 1 && c >= '!' && c <= '~' && c != '='
			switch {
			case c == ' ' || c == '\t':
				// White space is literal except at the end of a line, where
				// transports may strip it.
				literal = i+1 < len(l)
			case i == 0 && c == 'F' && strings.HasPrefix(l, "From "):
				literal = false
			}
			if literal {
				u = append(u, c)
			} else {
				for j := i; j < i+size; j++ {
					u = append(u, '=', hex[l[j]>>4], hex[l[j]&0x0f])
				}
			}
			if n+len(u) > qpMax-1 {
				b.WriteString("=\r\n")
				n = 0
			}
			b.Write(u)
			n += len(u)
			i += size
		}
		b.WriteString("\r\n")
	}
}
