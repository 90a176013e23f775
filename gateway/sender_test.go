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
	rec := func(id string, k Kind) *Record { return &Record{Out: Outgoing{ID: id, Kind: k}} }
	for _, id := range []string{"b1", "b2", "b3"} {
		s.push(rec(id, KindBroadcast), true)
	}
	s.push(rec("hana-to-bob", KindRelayed), true)
	s.push(rec("welcome", KindWelcome), true)
	s.push(rec("b4", KindBroadcast), true)
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

// TestSenderPacesBroadcasts: copies go out at most one per bulkGap; a
// person's message in between is not held back by the pace.
func TestSenderPacesBroadcasts(t *testing.T) {
	s := newSender(nil, nil)
	s.bulkGap = 10 * time.Millisecond
	for _, id := range []string{"b1", "b2"} {
		s.push(&Record{Out: Outgoing{ID: id, Kind: KindBroadcast}}, true)
	}
	t0 := time.Unix(1_800_000_000, 0)
	if it, _, ok := s.pop(t0); !ok || it.rec.Out.ID != "b1" {
		t.Fatalf("first copy: %v %v", ok, it.rec)
	}
	if _, wait, ok := s.pop(t0.Add(4 * time.Millisecond)); ok || wait != 6*time.Millisecond {
		t.Fatalf("second copy too soon: ok %v, wait %v (want 6ms)", ok, wait)
	}
	s.push(&Record{Out: Outgoing{ID: "ken-to-alice"}}, true)
	if it, _, ok := s.pop(t0.Add(5 * time.Millisecond)); !ok || it.rec.Out.ID != "ken-to-alice" {
		t.Fatalf("a person's message waited for the pace: %v %v", ok, it.rec)
	}
	if it, _, ok := s.pop(t0.Add(10 * time.Millisecond)); !ok || it.rec.Out.ID != "b2" {
		t.Fatalf("second copy on time: %v %v", ok, it.rec)
	}
}
