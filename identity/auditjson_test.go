package identity

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
)

// sampleTransfers are transfers exercising every field of the audit JSON.
func sampleTransfers(t testing.TB) []*Transfer {
	at := mustTime(t, "2025-04-01T09:00:01.123456789Z")
	return []*Transfer{
		{ID: "t-1", At: at, Actor: "a", Reason: "r", From: "alice"},
		{ID: "t-2", At: at, Actor: "admin:<root>", Reason: "line\nbreak \"quoted\" & tab\t ü \u2028 \x01", To: "bob",
			Filter: RelationshipFilter{Unassigned: true, PersonaID: "p", Tag: "日本", Source: "s'q", Network: "mail",
				ContactIDs: []string{"c-1"}, RelationshipIDs: []string{"r-1", "r-2"}},
			Targets: []string{"x", "y<z"}, Strategy: LeastLoaded, RevertOf: "t-0",
			Counts: TransferCounts{Matched: 3, Unchanged: 1, Moved: 2, Rehomed: 1, Merged: 1, ByTarget: map[string]int{"y<z": 1, "x": 2}},
			Moves: []Move{
				{RelationshipID: "r-1", ContactID: "c-1", FromOwner: "alice", ToOwner: "bob", FromPersona: "p-a", ToPersona: "p-b",
					FromFormerPersonas: []string{"p-x"}, ToFormerPersonas: []string{"p-x", "p-a"}, PrevVersion: 3, Version: 4, OwnerVersion: 2},
				{RelationshipID: "r-2", ContactID: "c-2", FromPersona: "p-a", ToPersona: "p-b", Version: 1, FromMergedInto: "r-9", MergedInto: "r-1"},
			}},
		{ID: "t-3", Moves: []Move{}},
	}
}

func TestTransferJSONMatchesEncodingJSON(t *testing.T) {
	// Moves spanning several segments, the last one short.
	long := &Transfer{ID: "t-long", Moves: make([]Move, 2*movesPerSegment+3)}
	for i := range long.Moves {
		long.Moves[i] = Move{RelationshipID: fmt.Sprintf("r-%d", i), ContactID: "c", FromPersona: "p<1>", ToPersona: "p", Version: uint64(i)}
	}
	for _, tr := range append(sampleTransfers(t), long) {
		want, err := json.Marshal(tr)
		if err != nil {
			t.Fatal(err)
		}
		got, err := transferJSON(tr)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("transferJSON:\n got %s\nwant %s", got, want)
		}
		dec, ok := decodeTransfer(got)
		if !ok || !reflect.DeepEqual(dec, tr) {
			t.Fatalf("decodeTransfer(%s) = %+v, %v", got, dec, ok)
		}
	}
	if _, err := transferJSON(&Transfer{At: mustTime(t, "2025-01-01T00:00:00Z").AddDate(10000, 0, 0)}); err == nil {
		t.Fatal("a time JSON cannot hold was encoded")
	}
}

func TestDecodeTransferGivesUp(t *testing.T) {
	for _, doc := range []string{
		``, `null`, `{"id":"a","ID":"b"}`, `{"id":"a","id":"b"}`, `{"moves":[{"version":-1}]}`,
		`{"moves":[{"version":1.5}]}`, `{"moves":[{"version":01}]}`, `{"counts":{"matched":null}}`,
		`{"id":"a"} x`, `{"id":"a",}`, `{"filter":{"unassigned":1}}`, `{"future":1}`, `{"id":"a\u00"}`,
	} {
		if tr, ok := decodeTransfer([]byte(doc)); ok {
			t.Errorf("decodeTransfer(%s) = %+v", doc, tr)
		}
	}
	// Formatting encoding/json would accept is fine.
	tr, ok := decodeTransfer([]byte(" {\n\t\"id\" : \"t-\\u0041\", \"moves\" : null , \"counts\":{\"by_target\":{}}}\n"))
	if !ok || tr.ID != "t-A" || tr.Moves != nil || tr.Counts.ByTarget == nil {
		t.Fatalf("decodeTransfer = %+v, %v", tr, ok)
	}
}

// FuzzDecodeTransfer checks that decodeTransfer, when it decodes a
// document, decodes it exactly as encoding/json does.
func FuzzDecodeTransfer(f *testing.F) {
	for _, tr := range sampleTransfers(f) {
		b, err := transferJSON(tr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := decodeTransfer(b)
		if !ok {
			return
		}
		var want Transfer
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("decoded %q, which encoding/json refuses: %v", b, err)
		}
		if !reflect.DeepEqual(got, &want) {
			t.Fatalf("%q:\n got %+v\nwant %+v", b, got, want)
		}
	})
}
