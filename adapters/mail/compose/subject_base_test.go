package compose

import "testing"

func TestBaseSubject(t *testing.T) {
	for in, want := range map[string]string{
		"Quote":            "Quote",
		"Re: Quote":        "Quote",
		"RE: AW: Quote":    "Quote",
		"Re[2]: Quote":     "Quote",
		"Réf : Quote":      "Quote",
		"返信：見積もり":          "見積もり",
		"Ｒｅ：見積もり":          "見積もり",
		"Note: price":      "Note: price",
		"Re: Note: price":  "Note: price",
		"Fwd: Quote":       "Fwd: Quote",
		"  Re:   spaced  ": "spaced",
		"Re:":              "",
	} {
		if got := BaseSubject(in); got != want {
			t.Errorf("BaseSubject(%q) = %q, want %q", in, got, want)
		}
	}
}
