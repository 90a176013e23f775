package gateway

import (
	"testing"
	"time"
)

// TestSenderPutsPeopleBeforeBroadcasts: a broadcast queues thousands of
// copies on one network's sender; a message someone writes meanwhile
// goes out before the copies still waiting, and the copies keep their
// own order.
func TestSenderPutsPeopleBeforeBroadcasts(t *testing.T) {
	s := newSender(nil, nil)
	rec := func(id, auto string) *Record { return &Record{Out: Outgoing{ID: id, Auto: auto}} }
	for _, id := range []string{"b1", "b2", "b3"} {
		s.push(rec(id, autoBroadcast), true)
	}
	s.push(rec("hana-to-bob", ""), true)
	s.push(rec("welcome", "welcome"), true)
	s.push(rec("b4", autoBroadcast), true)
	var got []string
	for {
		it, _, ok := s.pop(time.Now())
		if !ok {
			break
		}
		got = append(got, it.rec.Out.ID)
	}
	want := []string{"hana-to-bob", "welcome", "b1", "b2", "b3", "b4"}
	if len(got) != len(want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order %v, want %v", got, want)
		}
	}
}
