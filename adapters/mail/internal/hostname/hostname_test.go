package hostname

import (
	"strings"
	"testing"
)

func TestProblem(t *testing.T) {
	for name, want := range map[string]string{
		"contact.acme.test":              "",
		"MX-1.example":                   "",
		"":                               "is empty",
		"a..b":                           "has an empty label",
		"-a.test":                        "starting or ending",
		"a_b.test":                       "forbidden character",
		"bücher.test":                    "not ASCII",
		strings.Repeat("a", 64) + ".t":   "longer than 63",
		strings.Repeat("a.", 127) + "aa": "longer than 253",
	} {
		got := Problem(name)
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("Problem(%q) = %q, want %q", name, got, want)
		}
	}
}
