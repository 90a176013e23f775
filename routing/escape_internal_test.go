package routing

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// escapeByByte is XEP-0106 escaping written byte by byte, as the
// reference escapeTo is held to.
func escapeByByte(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && !isEscape(s[i:]):
			b.WriteByte(c)
		case strings.IndexByte(escapable, c) >= 0:
			b.WriteByte('\\')
			b.WriteByte("0123456789abcdef"[c>>4])
			b.WriteByte("0123456789abcdef"[c&15])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func TestEscapeToAgreesByteByByte(t *testing.T) {
	const alphabet = ` "&'/:<>@\\abc5c20402ef.é`
	rng := rand.New(rand.NewPCG(3, 4))
	cases := []string{"", "bob@ext.test", `a\5cb`, `\`, `\2`, `\20`, `x\40y@z`, "  ", "日本@例え.jp"}
	for range 50_000 {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		if got, want := EscapeLocal(s), escapeByByte(s); got != want {
			t.Fatalf("EscapeLocal(%q) = %q, byte by byte %q", s, got, want)
		}
		if got := UnescapeLocal(EscapeLocal(s)); got != s {
			t.Fatalf("UnescapeLocal(EscapeLocal(%q)) = %q", s, got)
		}
	}
}
