// Package textclip shortens text for log lines and notices without
// cutting a UTF-8 character in half.
package textclip

import "unicode/utf8"

// Clip returns s if it is at most n bytes long, and otherwise its longest
// prefix of at most n bytes that ends between characters, followed by "…".
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n < 0 {
		n = 0
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
