package identity

import (
	"slices"
	"testing"
)

// EachContact yields exactly the contacts Contacts lists, once each, and
// stops when asked to.
func TestEachContact(t *testing.T) {
	m := NewMemoryStore()
	m.Seed(GenerateDataset(2000, 7))
	s := openState(t, m)
	snap := s.Snapshot()
	var got []string
	for c := range snap.EachContact() {
		got = append(got, c.ID)
	}
	var want []string
	for _, c := range snap.Contacts() {
		want = append(want, c.ID)
	}
	slices.Sort(got)
	if len(want) != 2000 || !slices.Equal(got, want) {
		t.Fatalf("EachContact yielded %d contacts, Contacts lists %d, and they differ", len(got), len(want))
	}
	n := 0
	for range snap.EachContact() {
		if n++; n == 10 {
			break
		}
	}
	if n != 10 {
		t.Errorf("stopped after %d", n)
	}
}
