package guard

import (
	"strings"
	"testing"
)

// Large and repetitive texts keep the invariants; each of these once took
// quadratic time (the URL user-information walk, the overlap resolution)
// and must stay well under a second.
func TestLargeInputs(t *testing.T) {
	g := mustNew(t, testRules)
	p := Person{Name: "a a", Addresses: []string{"a@a"}}
	for _, text := range []string{
		strings.Repeat("a ", 50000),
		strings.Repeat("x.", 50000) + "corp.test",
		strings.Repeat("corp.test.", 10000),
		strings.Repeat("corp.test@", 10000),
		strings.Repeat("a@corp.test ", 10000),
		strings.Repeat("\u0301", 100000),
		strings.Repeat("田中", 30000),
		strings.Repeat("a.a@", 30000) + "corp.test",
		strings.Repeat("https://a:", 10000) + "b@wiki.corp.test",
	} {
		checkInvariants(t, g, text, g.Check(text, p))
	}
}
