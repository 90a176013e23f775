package routing_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

func makeContactPoint(t *testing.T, st *identity.State, how identity.AssignStrategy) {
	t.Helper()
	p, _ := st.Snapshot().Persona("support")
	q := *p
	q.Assign = how
	if err := st.UpsertPersona(context.Background(), "test", "contact point", q); err != nil {
		t.Fatal(err)
	}
}

// TestContactPointAssignsInTurnAndSticks: new contacts writing to a
// contact point are spread over its members in turn; a contact who writes
// again stays with their owner.
func TestContactPointAssignsInTurnAndSticks(t *testing.T) {
	st := world(t)
	makeContactPoint(t, st, identity.AssignRoundRobin)
	got := map[string]int{}
	first := map[string]string{}
	for i := range 6 {
		from := fmt.Sprintf("c%d@ext.test", i)
		d := settle(t, st, pub, from, "support@contact.acme.test")
		if d.Kind != routing.Deliver {
			t.Fatalf("%s: %+v", from, d)
		}
		got[d.OwnerID]++
		first[from] = d.OwnerID
	}
	if got["hana"] != 3 || got["ken"] != 3 {
		t.Fatalf("round robin gave %v", got)
	}
	for from, owner := range first {
		if d := settle(t, st, pub, from, "support@contact.acme.test"); d.OwnerID != owner {
			t.Fatalf("%s moved from %s to %s", from, owner, d.OwnerID)
		}
	}
}

func TestContactPointLeastLoadedSkipsDeparted(t *testing.T) {
	st := world(t)
	makeContactPoint(t, st, identity.AssignLeastLoaded)
	// hana already owns two contacts on her own persona.
	settle(t, st, pub, "x1@ext.test", "hana.sales@contact.acme.test")
	settle(t, st, pub, "x2@ext.test", "hana.sales@contact.acme.test")
	if d := settle(t, st, pub, "n1@ext.test", "support@contact.acme.test"); d.OwnerID != "ken" {
		t.Fatalf("least loaded picked %s", d.OwnerID)
	}
	if _, err := st.Depart(context.Background(), "test", "left", "ken", ""); err != nil {
		t.Fatal(err)
	}
	if d := settle(t, st, pub, "n2@ext.test", "support@contact.acme.test"); d.OwnerID != "hana" {
		t.Fatalf("a departed member was picked: %+v", d)
	}
}

// TestSourceTagIsRecorded: sales+expo2026@ is the persona at sales@, and
// the tag becomes the new contact's source.
func TestSourceTagIsRecorded(t *testing.T) {
	st := world(t)
	d := settle(t, st, pub, "visitor@ext.test", "support+expo2026@contact.acme.test")
	if d.Kind != routing.Deliver || d.PersonaID != "support" {
		t.Fatalf("%+v", d)
	}
	c, _ := st.Snapshot().Contact(d.ContactID)
	if c.Source != "expo2026" {
		t.Fatalf("source %q", c.Source)
	}
	for _, bad := range []string{"support+@contact.acme.test", "support+Bad Tag@contact.acme.test", "nobody+x@contact.acme.test"} {
		if d := decide(st, pub, "v2@ext.test", bad, 5); d.Kind != routing.Refuse {
			t.Errorf("%s: %+v", bad, d)
		}
	}
}

func TestSplitSource(t *testing.T) {
	for _, tt := range []struct {
		addr, base, tag string
		found           bool
	}{
		{"sales+expo2026@contact.acme.test", "sales@contact.acme.test", "expo2026", true},
		{"sales@contact.acme.test", "sales@contact.acme.test", "", false},
		{"sales+@contact.acme.test", "sales+@contact.acme.test", "", false},
		{"+expo@contact.acme.test", "+expo@contact.acme.test", "", false},
		{"sales+Expo!@contact.acme.test", "sales+Expo!@contact.acme.test", "", false},
	} {
		base, tag, found := routing.SplitSource(tt.addr)
		if base != tt.base || tag != tt.tag || found != tt.found {
			t.Errorf("SplitSource(%q) = %q, %q, %v; want %q, %q, %v", tt.addr, base, tag, found, tt.base, tt.tag, tt.found)
		}
	}
}
