package identity

import "testing"

func TestPersonaWritableByAndAddressOn(t *testing.T) {
	personal := &Persona{ID: "p", Kind: Personal, EmployeeID: "hana", Members: []string{"ken"},
		Addresses: []Address{{"mail", "hana@x.test"}, {"xmpp", "hana@x.test"}, {"mail", "hana2@x.test"}}}
	team := &Persona{ID: "t", Kind: Team, EmployeeID: "ken", Members: []string{"hana"}}
	for _, tt := range []struct {
		p    *Persona
		who  string
		want bool
	}{
		{personal, "hana", true}, {personal, "ken", false}, // members mean nothing on a personal persona
		{team, "ken", true}, {team, "hana", true}, {team, "mia", false},
	} {
		if got := tt.p.WritableBy(tt.who); got != tt.want {
			t.Errorf("%s.WritableBy(%s) = %v", tt.p.ID, tt.who, got)
		}
	}
	if a, ok := personal.AddressOn("mail"); !ok || a != "hana@x.test" {
		t.Errorf("AddressOn(mail) = %q, %v; want the first", a, ok)
	}
	if _, ok := team.AddressOn("mail"); ok {
		t.Error("a persona without addresses has one")
	}
}
