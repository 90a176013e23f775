package textclip

import (
	"testing"
	"unicode/utf8"
)

func TestClip(t *testing.T) {
	for _, tt := range []struct {
		s    string
		n    int
		want string
	}{
		{"hello", 5, "hello"},
		{"hello", 3, "hel…"},
		{"あいう", 4, "あ…"}, // not "あ\xe3…"
		{"あいう", 6, "あい…"},
		{"あいう", 9, "あいう"},
		{"あいう", 0, "…"},
		{"abc", -1, "…"},
	} {
		got := Clip(tt.s, tt.n)
		if got != tt.want || !utf8.ValidString(got) {
			t.Errorf("Clip(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}
