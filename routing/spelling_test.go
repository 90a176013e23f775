package routing_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/kakehashi/kakehashi/address"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

// Every spelling of one contact is that one contact: after a transfer,
// the former owner is refused on all of them (invariant 4). The outside
// test found that bob\40ext.test.@gw.corp.test (a trailing dot) made a
// second contact that still reached bob as the former owner.
func TestOneContactWhateverTheSpelling(t *testing.T) {
	st := world(t)
	d := settle(t, st, corp, "hana@corp.test", bobProxy)
	if d.Kind != routing.Deliver {
		t.Fatalf("first message: %+v", d)
	}
	spellings := []string{
		`bob\40ext.test.@gw.corp.test`,
		`Bob\40Ext.Test@gw.corp.test`,
		`BOB\40EXT.TEST.@gw.corp.test`,
		`bob\40ext.test\2fphone@gw.corp.test`, // a resource inside the escaped address
		`ｂｏｂ\40ext.test@gw.corp.test`,         // full-width letters (PRECIS width mapping)
	}
	for _, sp := range spellings {
		if d := decide(st, corp, "hana@corp.test", sp, 5); d.Kind != routing.Deliver || d.Target.To != "bob@ext.test" {
			t.Errorf("%s before the transfer: %+v, want delivery to bob@ext.test", sp, d)
		}
	}
	if _, err := st.Transfer(context.Background(), identity.TransferRequest{Actor: "admin:test", Reason: "rotation", From: "hana", To: "ken"}); err != nil {
		t.Fatal(err)
	}
	for _, sp := range append([]string{bobProxy}, spellings...) {
		d := decide(st, corp, "hana@corp.test", sp, 5)
		if d.Kind != routing.Refuse || d.Refusal.Reason != routing.NotAllowed || !strings.Contains(d.Refusal.Text, "looked after by") {
			t.Errorf("%s after the transfer: %+v %v, want forbidden: looked after by ken", sp, d.Kind, d.Refusal)
		}
	}
	if n := len(st.Snapshot().RelationshipsOwnedBy("ken")); n != 1 {
		t.Errorf("ken owns %d relationships, want 1", n)
	}
}

// Addresses no one can be reached at are refused as jid-malformed, with
// a text naming what is wrong, and never proposed as new contacts.
func TestUndeliverableContactRefused(t *testing.T) {
	st := world(t)
	long := strings.Repeat("a", 1024)
	for _, tt := range []struct{ proxy, text string }{
		{`bob\40\40ext.test@gw.corp.test`, "more than one @"},
		{`bob\40ext.test\40x@gw.corp.test`, "more than one @"},
		{`bob\20x\40ext.test@gw.corp.test`, "space"},
		{long + `\40ext.test@gw.corp.test`, "1024 bytes"},
		{`bob\40ext.invalid@gw.corp.test`, ".invalid"},
		{`bob\40localhost@gw.corp.test`, "localhost"},
		{`bob\40127.0.0.1@gw.corp.test`, "IP address"},
		{`bob\40ext..test@gw.corp.test`, "not a valid domain"},
		{`\40ext.test@gw.corp.test`, "no user part"},
		{`bob\40@gw.corp.test`, "no domain"},
	} {
		d := decide(st, corp, "hana@corp.test", tt.proxy, 5)
		if d.Kind != routing.Refuse || d.Refusal.Reason != routing.Unreachable || !strings.Contains(d.Refusal.Text, tt.text) {
			t.Errorf("%.60s: %v %v, want jid-malformed naming %q", tt.proxy, d.Kind, d.Refusal, tt.text)
		}
		if d.Refusal != nil && len(d.Refusal.Text) > 400 {
			t.Errorf("%.60s: refusal text is %d bytes; it must stay readable", tt.proxy, len(d.Refusal.Text))
		}
	}
	if n := len(st.Snapshot().RelationshipsOwnedBy("hana")); n != 0 {
		t.Errorf("hana owns %d relationships after only refused messages", n)
	}
	// A config may allow special names for a closed network.
	top := topology()
	top.Addresses.AllowSpecial = true
	d := routing.Decide(top, st.Snapshot(), routing.Envelope{Network: corp, From: "hana@corp.test", To: `bob\40localhost@gw.corp.test`, BodyBytes: 5})
	if d.Kind != routing.Propose || d.Proposal.Contact.Addr != "bob@localhost" {
		t.Errorf("allow_special: %+v", d)
	}
}

func TestTopologyCanonical(t *testing.T) {
	top := topology()
	if got, err := top.Canonical(pub, "Bob@Ext.Test./x"); err != nil || got != "bob@ext.test" {
		t.Errorf("outside: %q, %v", got, err)
	}
	if _, err := top.Canonical(pub, "bob@localhost"); err == nil {
		t.Error("outside localhost accepted")
	}
	// The company's own server vouches for inside addresses.
	if got, err := top.Canonical(corp, "Hana@Corp.Test"); err != nil || got != "hana@corp.test" {
		t.Errorf("inside: %q, %v", got, err)
	}
	if _, err := top.Canonical("nope", "bob@ext.test"); err == nil {
		t.Error("unknown network accepted")
	}
}

// TestInsideDomainsWhateverTheirSpelling: a home domain configured in
// A-labels is still inside when a proxy address names it in Unicode (the
// spelling XMPP addresses take), and the other way round: never relayed
// out as if to a contact.
func TestInsideDomainsWhateverTheirSpelling(t *testing.T) {
	st := world(t)
	for _, tt := range []struct{ home, proxy string }{
		{"xn--bcher-kva.test", `ken\40bücher.test@gw.corp.test`},
		{"bücher.test", `ken\40xn--bcher-kva.test@gw.corp.test`},
		{"BÜCHER.test.", `ken\40Bücher.Test@gw.corp.test`},
	} {
		top := topology()
		n := top.Networks[corp]
		n.HomeDomains = append(n.HomeDomains, tt.home)
		top.Networks[corp] = n
		d := routing.Decide(top, st.Snapshot(), routing.Envelope{Network: corp, From: "hana@corp.test", To: tt.proxy, BodyBytes: 5})
		if d.Kind != routing.Refuse || d.Refusal.Reason != routing.NotAllowed || !strings.Contains(d.Refusal.Text, "inside the company") {
			t.Errorf("home %s, to %s: %+v %v", tt.home, tt.proxy, d.Kind, d.Refusal)
		}
	}
}

// TestOwnDomainsInEverySpelling: a contact writing from one of the
// company's domains is refused, however either side spells it (case,
// trailing dot, U-labels or A-labels, fullwidth letters), and a domain
// that only looks alike is not. Each configured spelling is a home domain
// of a fresh topology; the answer must be DomainKey's.
func TestOwnDomainsInEverySpelling(t *testing.T) {
	st := world(t)
	spellings := []string{"corp2.test", "Corp2.Test.", "CORP2.TEST", "xn--bcher-kva.test", "XN--BCHER-KVA.test",
		"bücher.test", "BÜCHER.test.", "ｃｏｒｐ2.test", "corp2.tesT.", "co.rp2.test", "corp2.tes", "xn--invalid-.test"}
	for _, home := range spellings {
		top := topology()
		n := top.Networks[corp]
		n.HomeDomains = append(n.HomeDomains, home)
		top.Networks[corp] = n
		for _, from := range spellings {
			d := routing.Decide(top, st.Snapshot(), routing.Envelope{Network: pub, From: "x@" + from, To: "hana.sales@contact.acme.test", BodyBytes: 5})
			refused := d.Kind == routing.Refuse && d.Refusal.Reason == routing.NotAllowed
			if want := address.DomainKey(from) == address.DomainKey(home); refused != want {
				t.Errorf("home domain %q, contact at %q: refused %v, want %v (%+v %v)", home, from, refused, want, d.Kind, d.Refusal)
			}
		}
	}
}

// TestTopologyFirstUseConcurrently: many decisions taking a fresh
// topology's derived lookups at once agree (and -race finds no unguarded
// write).
func TestTopologyFirstUseConcurrently(t *testing.T) {
	st := world(t)
	top := topology()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			from := "bob@ext.test"
			if i%2 == 0 {
				from = "eve@GW.corp.test"
			}
			d := routing.Decide(top, st.Snapshot(), routing.Envelope{Network: pub, From: from, To: "hana.sales@contact.acme.test", BodyBytes: 5})
			if refused := d.Kind == routing.Refuse && d.Refusal.Reason == routing.NotAllowed; refused != (i%2 == 0) {
				t.Errorf("from %s: %+v %v", from, d.Kind, d.Refusal)
			}
		})
	}
	wg.Wait()
}
