package e2e

import (
	"regexp"
	"strings"
	"testing"

	"github.com/kakehashi/kakehashi/internal/testenv"
)

// command sends an ad-hoc command IQ to the gateway's inside domain and
// returns the reply.
func command(t *testing.T, c *testenv.Client, id, payload string) testenv.Stanza {
	t.Helper()
	if err := c.SendRaw(`<iq type="set" to="gw.corp.test" id="` + id + `">` + payload + `</iq>`); err != nil {
		t.Fatal(err)
	}
	return c.Expect(t, waitShort, func(s testenv.Stanza) bool { return s.Kind == "iq" && s.ID == id })
}

// TestEmployeeTagsAContactByCommand: an employee tags their own contact
// from an ordinary XMPP client through an ad-hoc command (XEP-0050); the
// tag and remark are stored, shown to admins and audited as the employee's.
func TestEmployeeTagsAContactByCommand(t *testing.T) {
	w := newWorld(t, worldOptions{})
	hana, bob := w.client("hana"), w.client("bob")
	if err := hana.Send(bobProxy, "Hello Bob"); err != nil {
		t.Fatal(err)
	}
	message(t, bob)

	form := command(t, hana, "c1", `<command xmlns="http://jabber.org/protocol/commands" node="tag-contact" action="execute"/>`)
	if form.Type != "result" || !strings.Contains(form.Raw, `status="executing"`) && !strings.Contains(form.Raw, `status='executing'`) {
		t.Fatalf("form: %s", form.Raw)
	}
	session := regexp.MustCompile(`sessionid=["']([^"']+)["']`).FindStringSubmatch(form.Raw)
	rel := regexp.MustCompile(`<option label=["']bob@ext\.test[^"']*["']><value>([^<]+)</value>`).FindStringSubmatch(form.Raw)
	if session == nil || rel == nil {
		t.Fatalf("no session or no bob in the form: %s", form.Raw)
	}
	done := command(t, hana, "c2", `<command xmlns="http://jabber.org/protocol/commands" node="tag-contact" sessionid="`+session[1]+`" action="complete">`+
		`<x xmlns="jabber:x:data" type="submit"><field var="relationship"><value>`+rel[1]+`</value></field>`+
		`<field var="add"><value>VIP, expo2026</value></field><field var="remark"><value>Prefers mail in the morning</value></field></x></command>`)
	if !strings.Contains(done.Raw, "completed") || !strings.Contains(done.Raw, "VIP") {
		t.Fatalf("submit: %s", done.Raw)
	}

	var contacts []struct {
		Relationship struct {
			ID     string   `json:"id"`
			Tags   []string `json:"tags"`
			Remark string   `json:"remark"`
		} `json:"relationship"`
	}
	w.gw.JSON(&contacts, "contacts", "list", "--owner", "hana")
	if len(contacts) != 1 || strings.Join(contacts[0].Relationship.Tags, ",") != "expo2026,VIP" || contacts[0].Relationship.Remark != "Prefers mail in the morning" {
		t.Fatalf("contacts: %+v", contacts)
	}
	var audit []struct {
		Actor, Action, Subject string
	}
	w.gw.JSON(&audit, "audit")
	var tagged, remarked bool
	for _, e := range audit {
		if e.Actor == "employee:hana" && e.Subject == rel[1] {
			tagged = tagged || strings.Contains(e.Action, "tags")
			remarked = remarked || strings.Contains(e.Action, "remark")
		}
	}
	if !tagged || !remarked {
		t.Fatalf("audit lacks hana's tag and remark: %+v", audit)
	}

	// bob (outside) sees no commands on the gateway's outside domain, and
	// ken cannot tag hana's contact.
	if err := bob.SendRaw(`<iq type="set" to="contact.acme.test" id="b1"><command xmlns="http://jabber.org/protocol/commands" node="tag-contact" action="execute"/></iq>`); err != nil {
		t.Fatal(err)
	}
	if r := bob.Expect(t, waitShort, func(s testenv.Stanza) bool { return s.Kind == "iq" && s.ID == "b1" }); r.Type != "error" {
		t.Fatalf("outside got %s", r.Raw)
	}
	ken := w.client("ken")
	kform := command(t, ken, "k1", `<command xmlns="http://jabber.org/protocol/commands" node="tag-contact" action="execute"/>`)
	ksession := regexp.MustCompile(`sessionid=["']([^"']+)["']`).FindStringSubmatch(kform.Raw)
	if ksession == nil {
		t.Fatalf("ken's form: %s", kform.Raw)
	}
	kdone := command(t, ken, "k2", `<command xmlns="http://jabber.org/protocol/commands" node="tag-contact" sessionid="`+ksession[1]+`" action="complete">`+
		`<x xmlns="jabber:x:data" type="submit"><field var="relationship"><value>`+rel[1]+`</value></field><field var="add"><value>mine</value></field></x></command>`)
	if !strings.Contains(kdone.Raw, `type="error"`) && !strings.Contains(kdone.Raw, `type='error'`) {
		t.Fatalf("ken tagged hana's contact: %s", kdone.Raw)
	}
}
