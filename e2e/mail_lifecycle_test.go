package e2e

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/internal/testenv"
)

// The ownership lifecycle (contact points, handover notices, departures)
// over mail: the same promises as contactpoint_test.go and
// lifecycle_test.go make over XMPP, with the contact on real Postfix and
// Dovecot.

const (
	carolMail      = "carol@mail.test"
	carolMailProxy = `carol\40mail.test@` + mailProxyDomain
	daveMail       = "dave@mail.test"
	daveMailProxy  = `dave\40mail.test@` + mailProxyDomain
	supportWelcome = "Thank you for contacting ACME Support. A member of our team will answer you shortly."
)

// checkAutoMail asserts what every mail the gateway writes by itself on a
// persona's behalf must be: from the persona (display name and address),
// to the contact, marked Auto-Submitted: auto-generated (RFC 3834) so
// robots do not answer it, with only allowed header fields and nothing of
// the inside. It returns the parsed header and the text.
func checkAutoMail(t *testing.T, raw []byte, fromName, fromAddr, to string) (*gomail.Header, string) {
	t.Helper()
	h, body := readMail(t, raw)
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != fromName || from[0].Address != fromAddr {
		t.Errorf("From = %v (%v); want %q <%s>\n%s", from, err, fromName, fromAddr, raw)
	}
	if rcpt, _ := h.AddressList("To"); len(rcpt) != 1 || rcpt[0].Address != to {
		t.Errorf("To = %v, want %s", rcpt, to)
	}
	if as := h.Get("Auto-Submitted"); as != "auto-generated" {
		t.Errorf("Auto-Submitted %q, want auto-generated:\n%s", as, raw)
	}
	if id, _ := h.MessageID(); !strings.HasSuffix(id, "@contact.acme.test") {
		t.Errorf("Message-ID %q is not at the persona's domain", id)
	}
	for _, name := range headerNames(raw) {
		if !allowedHeaders[name] {
			t.Errorf("header %s is not on the allowlist:\n%s", name, raw)
		}
	}
	leakScan(t, raw, "hana", "ken@corp.test", "desk@corp.test")
	return h, body
}

// mailAudit reads the audit log for one action.
func mailAudit(t *testing.T, w *world, action string) []identity.AuditEntry {
	t.Helper()
	var audit []identity.AuditEntry
	w.gw.JSON(&audit, "audit", "--action", action)
	return audit
}

// viewOf returns the contact and relationship of a contact address.
func viewOf(t *testing.T, w *world, addr string) adminapi.ContactView {
	t.Helper()
	var cs []adminapi.ContactView
	w.gw.JSON(&cs, "contacts", "list")
	for _, c := range cs {
		if c.Contact.Address.Addr == addr {
			return c
		}
	}
	t.Fatalf("no relationship with %s in %+v", addr, cs)
	return adminapi.ContactView{}
}

// TestMailLifecycleContactPointWelcomesAssignsAndTracksSource: new mail
// contacts writing to the support contact point are welcomed once, by mail
// from the team persona, assigned to its members in turn and stay with
// them; the source tag in the address is recorded and searchable, with the
// relationship on the mail network.
func TestMailLifecycleContactPointWelcomesAssignsAndTracksSource(t *testing.T) {
	w := newWorld(t, worldOptions{mail: true})
	hana, ken := w.client("hana"), w.client("ken")

	firstID := w.sendMail("Carol Chen <"+carolMail+">", "support+expo2026@contact.acme.test", "Shipping", "Do you ship to Osaka?")
	// Round robin: hana and ken have no support contacts, hana sorts first.
	in := message(t, hana)
	if bare(in.From) != carolMailProxy || in.Body != "Do you ship to Osaka?" {
		t.Fatalf("hana got %s", in.Raw)
	}
	got := w.mail.WaitMail(t, carolMail, password, "INBOX", 1, waitMail)
	h, body := checkAutoMail(t, got[0].Raw, "ACME Support", supportAddr, carolMail)
	if !strings.Contains(body, supportWelcome) {
		t.Errorf("welcome body %q, want the persona's welcome text", body)
	}
	if s, _ := h.Subject(); s == "" {
		t.Errorf("the welcome has no subject:\n%s", got[0].Raw)
	}
	if strings.Contains(strings.ToLower(string(got[0].Raw)), "expo2026") {
		t.Errorf("the welcome shows the source tag of the address carol wrote to:\n%s", got[0].Raw)
	}
	if irt, _ := h.MsgIDList("In-Reply-To"); len(irt) > 0 && irt[0] != firstID {
		t.Errorf("welcome In-Reply-To %v: if threaded, it answers carol's mail %s", irt, firstID)
	}
	// (Whether it is threaded with carol's mail is
	// TestMailLifecycleContactPointSourceTagKeepsTheThread's.)

	// A second new contact goes to the other member, and is welcomed too.
	w.sendMail("Dave <"+daveMail+">", supportAddr, "Hello", "Hello? Is this support?")
	if m := message(t, ken); bare(m.From) != daveMailProxy || m.Body != "Hello? Is this support?" {
		t.Fatalf("ken got %s", m.Raw)
	}
	dgot := w.mail.WaitMail(t, daveMail, password, "INBOX", 1, waitMail)
	dh, dbody := checkAutoMail(t, dgot[0].Raw, "ACME Support", supportAddr, daveMail)
	if !strings.Contains(dbody, supportWelcome) {
		t.Errorf("dave's welcome body %q", dbody)
	}
	if s, _ := dh.Subject(); s != "Re: Hello" {
		t.Errorf("dave's welcome subject %q: it answers his mail", s)
	}
	// ken answers as the team persona, in dave's thread, as a person.
	if err := ken.Send(daveMailProxy, "Yes, this is support. How can we help?"); err != nil {
		t.Fatal(err)
	}
	dgot = w.mail.WaitMail(t, daveMail, password, "INBOX", 2, waitMail)
	ah, abody := readMail(t, dgot[1].Raw)
	if from, _ := ah.AddressList("From"); len(from) != 1 || from[0].Name != "ACME Support" || from[0].Address != supportAddr {
		t.Errorf("ken's answer to dave comes from %v; want ACME Support <%s>", from, supportAddr)
	}
	if s, _ := ah.Subject(); s != "Re: Hello" || ah.Get("Auto-Submitted") != "" || !strings.Contains(abody, "How can we help?") {
		t.Errorf("ken's answer to dave:\n%s", dgot[1].Raw)
	}
	leakScan(t, dgot[1].Raw, "ken", "ken@corp.test")

	// Sticky, and welcomed only once: carol writing again (without the
	// source tag) reaches hana, and gets no second welcome.
	w.sendMail("Carol Chen <"+carolMail+">", supportAddr, "Re: Shipping", "Also Kyoto?")
	if m := message(t, hana); bare(m.From) != carolMailProxy || m.Body != "Also Kyoto?" {
		t.Fatalf("hana got %s", m.Raw)
	}
	silent(t, ken, 500*time.Millisecond)
	time.Sleep(1500 * time.Millisecond) // a second welcome would have arrived by now
	if n := len(w.mail.Fetch(t, carolMail, password, "INBOX")); n != 1 {
		t.Fatalf("carol has %d mails: a contact is welcomed once", n)
	}
	if n := len(w.mail.Fetch(t, daveMail, password, "INBOX")); n != 2 {
		t.Fatalf("dave has %d mails, want the welcome and ken's answer", n)
	}

	var rows []adminapi.ContactView
	w.gw.JSON(&rows, "contacts", "list", "--source", "expo2026")
	if len(rows) != 1 {
		t.Fatalf("by source expo2026: %+v", rows)
	}
	r := rows[0]
	if r.Contact.Address.Addr != carolMail || r.Contact.Address.Network != "mail" || r.Contact.Source != "expo2026" ||
		r.Relationship.OwnerID != "hana" || r.Relationship.PersonaID != "support" {
		t.Fatalf("carol's relationship: %+v", r)
	}
	if d := viewOf(t, w, daveMail); d.Relationship.OwnerID != "ken" || d.Relationship.PersonaID != "support" || d.Contact.Address.Network != "mail" {
		t.Fatalf("dave's relationship: %+v", d)
	}
	// Found by network too, and only the mail contacts.
	var byNet []adminapi.ContactView
	w.gw.JSON(&byNet, "contacts", "list", "--network", "mail")
	if len(byNet) != 2 {
		t.Fatalf("by network mail: %+v", byNet)
	}
	if log := w.gw.log.String(); strings.Contains(log, "automatic message dropped") {
		t.Errorf("a person's mail was taken for a robot's:\n%s", log)
	}
}

// TestMailLifecycleContactPointSourceTagKeepsTheThread: a contact who
// writes to a contact point through a source-tagged address
// (support+expo2026@) is answered in their own mail thread, as one who
// wrote to support@ is: the welcome and then the member's answer are
// replies to their mail ("Re: <their subject>", In-Reply-To/References),
// not new conversations titled after the welcome text.
func TestMailLifecycleContactPointSourceTagKeepsTheThread(t *testing.T) {
	w := newWorld(t, worldOptions{mail: true})
	hana := w.client("hana")
	firstID := w.sendMail("Carol Chen <"+carolMail+">", "support+expo2026@contact.acme.test", "Shipping", "Do you ship to Osaka?")
	if m := message(t, hana); bare(m.From) != carolMailProxy || m.Body != "Do you ship to Osaka?" {
		t.Fatalf("hana got %s", m.Raw)
	}
	got := w.mail.WaitMail(t, carolMail, password, "INBOX", 1, waitMail)
	h, _ := checkAutoMail(t, got[0].Raw, "ACME Support", supportAddr, carolMail)
	if s, _ := h.Subject(); s != "Re: Shipping" {
		t.Errorf("welcome subject %q, want %q: it answers carol's mail", s, "Re: Shipping")
	}
	if irt, _ := h.MsgIDList("In-Reply-To"); len(irt) != 1 || irt[0] != firstID {
		t.Errorf("welcome In-Reply-To %v, want %s", irt, firstID)
	}

	if err := hana.Send(carolMailProxy, "Yes, we ship to Osaka."); err != nil {
		t.Fatal(err)
	}
	got = w.mail.WaitMail(t, carolMail, password, "INBOX", 2, waitMail)
	ah, abody := readMail(t, got[1].Raw)
	if from, _ := ah.AddressList("From"); len(from) != 1 || from[0].Name != "ACME Support" || from[0].Address != supportAddr {
		t.Errorf("hana's answer comes from %v; want ACME Support <%s>", from, supportAddr)
	}
	if !strings.Contains(abody, "Yes, we ship to Osaka.") {
		t.Errorf("hana's answer %q", abody)
	}
	if s, _ := ah.Subject(); s != "Re: Shipping" {
		t.Errorf("hana's answer subject %q, want %q: it continues carol's thread", s, "Re: Shipping")
	}
	if refs, _ := ah.MsgIDList("References"); len(refs) == 0 || refs[0] != firstID {
		t.Errorf("hana's answer References %v, want carol's mail %s first", refs, firstID)
	}
	leakScan(t, got[1].Raw, "hana", "expo2026")
}

// TestMailLifecycleTransferNotifiesByMail: `contacts transfer --notify`
// sends a mail contact a handover notice from the new owner's persona,
// marked automatic and without the inside; the contact's reply, to the
// notice or in the old thread, reaches the new owner only; the transfer is
// audited.
func TestMailLifecycleTransferNotifiesByMail(t *testing.T) {
	w := newWorld(t, worldOptions{mail: true})
	hana, ken := w.client("hana"), w.client("ken")
	if err := hana.Send(bobMailProxy, "Hi Bob, the samples are on their way."); err != nil {
		t.Fatal(err)
	}
	first := w.mail.WaitMail(t, bobMail, password, "INBOX", 1, waitMail)
	fh, _ := readMail(t, first[0].Raw)
	firstSubject, _ := fh.Subject()
	firstID, _ := fh.MessageID()

	var res struct {
		identity.Transfer
		Notices int `json:"notices"`
	}
	w.gw.JSON(&res, "contacts", "transfer", "--from", "hana", "--to", "ken", "--notify", "--reason", "rotation to key accounts")
	if res.Notices != 1 || len(res.Moves) != 1 || res.Moves[0].ToOwner != "ken" {
		t.Fatalf("transfer %+v", res)
	}

	got := w.mail.WaitMail(t, bobMail, password, "INBOX", 2, waitMail)
	raw := got[1].Raw
	h, body := checkAutoMail(t, raw, "ACME Sales · Ken", kenAddr, bobMail)
	if !strings.Contains(body, "ACME Sales · Ken") {
		t.Errorf("handover notice %q does not name the new persona", body)
	}
	if strings.Contains(body, "Ken Ito") || strings.Contains(body, "Hana") {
		t.Errorf("handover notice %q names a person, not the persona", body)
	}
	noticeID, _ := h.MessageID()
	noticeSubject, _ := h.Subject()
	if noticeSubject == "" {
		t.Errorf("the handover notice has no subject:\n%s", raw)
	}

	// bob answers the notice from his mail client: ken gets it, hana not.
	w.sendMail("Bob Brown <"+bobMail+">", kenAddr, "Re: "+noticeSubject, "Nice to meet you, Ken.\n\n> "+strings.TrimSpace(body),
		"In-Reply-To: "+angle(noticeID), "References: "+angle(noticeID))
	in := message(t, ken)
	if bare(in.From) != bobMailProxy || in.Body != "Nice to meet you, Ken." {
		t.Fatalf("ken got %s", in.Raw)
	}
	// And in the old thread, to hana's persona: ken still.
	w.sendMail("Bob Brown <"+bobMail+">", hanaAddr, "Re: "+firstSubject, "When do the samples arrive?",
		"In-Reply-To: "+angle(firstID), "References: "+angle(firstID))
	if in := message(t, ken); bare(in.From) != bobMailProxy || in.BodyWithout(nsReply) != "When do the samples arrive?" || in.ReplyID == "" {
		t.Fatalf("ken got %s", in.Raw)
	}
	silent(t, hana, 500*time.Millisecond)

	// ken answers in the notice's thread, as his persona.
	if err := ken.Send(bobMailProxy, "Next Tuesday."); err != nil {
		t.Fatal(err)
	}
	got = w.mail.WaitMail(t, bobMail, password, "INBOX", 3, waitMail)
	ah, abody := readMail(t, got[2].Raw)
	if from, _ := ah.AddressList("From"); len(from) != 1 || from[0].Address != kenAddr || from[0].Name != "ACME Sales · Ken" {
		t.Fatalf("ken's answer comes from %v", from)
	}
	if ah.Get("Auto-Submitted") != "" {
		t.Errorf("ken's own words are marked automatic:\n%s", got[2].Raw)
	}
	if !strings.Contains(abody, "Next Tuesday.") {
		t.Errorf("ken's answer %q", abody)
	}
	leakScan(t, got[2].Raw)
	if n := len(w.mail.Fetch(t, bobMail, password, "INBOX")); n != 3 {
		t.Errorf("bob has %d mails, want 3 (one notice only)", n)
	}

	audit := mailAudit(t, w, identity.ActionContactsTransfer)
	if len(audit) != 1 {
		t.Fatalf("audit: %+v", audit)
	}
	a := audit[0]
	if a.Actor != "admin:e2e-admin" || a.Reason != "rotation to key accounts" || a.At.IsZero() || a.Subject != res.ID {
		t.Fatalf("audit entry: %+v (transfer %s)", a, res.ID)
	}
	var tr identity.Transfer
	if err := json.Unmarshal(a.Details, &tr); err != nil {
		t.Fatal(err)
	}
	if tr.From != "hana" || tr.To != "ken" || len(tr.Moves) != 1 || tr.Moves[0].FromPersona != "hana.sales" || tr.Moves[0].ToPersona != "ken.sales" {
		t.Fatalf("transfer details: %+v", tr)
	}
	if v := viewOf(t, w, bobMail); v.Relationship.OwnerID != "ken" || v.Relationship.PersonaID != "ken.sales" || v.Contact.Address.Network != "mail" {
		t.Fatalf("bob's relationship after the transfer: %+v", v)
	}
}

// TestMailLifecycleDepartureWithoutSuccessorFallsBack: an employee who
// departs with no successor leaves their mail contacts in the unassigned
// pool; their next mails reach the fallback employee (ken), and once he
// has departed too, the fallback address (desk): never nobody. The
// departed can no longer write out, and both departures are audited.
func TestMailLifecycleDepartureWithoutSuccessorFallsBack(t *testing.T) {
	w := newWorld(t, worldOptions{mail: true}) // fallback_employee: ken, fallback_address: desk@corp.test
	hana, ken, desk := w.client("hana"), w.client("ken"), w.client("desk")
	if err := hana.Send(bobMailProxy, "Hi Bob, your order is confirmed."); err != nil {
		t.Fatal(err)
	}
	if err := ken.Send(carolMailProxy, "Hi Carol, here is the catalogue."); err != nil {
		t.Fatal(err)
	}
	bgot := w.mail.WaitMail(t, bobMail, password, "INBOX", 1, waitMail)
	w.mail.WaitMail(t, carolMail, password, "INBOX", 1, waitMail)
	bh, _ := readMail(t, bgot[0].Raw)
	bobSubject, _ := bh.Subject()
	bobThread, _ := bh.MessageID()

	var hanaOut identity.Transfer
	w.gw.JSON(&hanaOut, "employees", "depart", "hana", "--reason", "left the company")
	if len(hanaOut.Moves) != 1 || hanaOut.Moves[0].FromOwner != "hana" || hanaOut.Moves[0].ToOwner != "" {
		t.Fatalf("hana's departure: %+v", hanaOut)
	}
	if v := viewOf(t, w, bobMail); v.Relationship.OwnerID != "" || v.Contact.Address.Network != "mail" {
		t.Fatalf("bob's relationship after hana left: %+v", v)
	}
	var pool []adminapi.ContactView
	w.gw.JSON(&pool, "contacts", "unassigned")
	if len(pool) != 1 || pool[0].Contact.Address.Addr != bobMail {
		t.Fatalf("pool %+v", pool)
	}

	// hana can no longer write out; bob gets nothing from her.
	if err := hana.SendRaw(`<message to='` + bobMailProxy + `' id='gone-mail-1' type='chat'><body>one more thing</body></message>`); err != nil {
		t.Fatal(err)
	}
	e := hana.Expect(t, waitShort, func(s testenv.Stanza) bool { return s.ID == "gone-mail-1" })
	if e.Type != "error" || e.ErrorCondition != "forbidden" || !strings.Contains(e.ErrorText, "no longer active") {
		t.Fatalf("departed hana: %s", e.Raw)
	}

	// bob's next mail to hana's persona reaches the fallback employee.
	w.sendMail("Bob Brown <"+bobMail+">", hanaAddr, "Re: "+bobSubject, "Can I add two more units?",
		"In-Reply-To: "+angle(bobThread), "References: "+angle(bobThread))
	if m := message(t, ken); bare(m.From) != bobMailProxy || m.BodyWithout(nsReply) != "Can I add two more units?" {
		t.Fatalf("ken (the fallback) got %s", m.Raw)
	}
	silent(t, hana, 500*time.Millisecond)

	// ken departs with no successor: both contacts are in the pool, and
	// the fallback employee being gone, the fallback address gets them.
	var kenOut identity.Transfer
	w.gw.JSON(&kenOut, "employees", "depart", "ken", "--reason", "contract ended")
	if len(kenOut.Moves) != 1 || kenOut.Moves[0].FromOwner != "ken" || kenOut.Moves[0].ToOwner != "" {
		t.Fatalf("ken's departure: %+v", kenOut)
	}
	w.gw.JSON(&pool, "contacts", "unassigned")
	if len(pool) != 2 {
		t.Fatalf("pool %+v", pool)
	}
	w.sendMail("Carol <"+carolMail+">", kenAddr, "Catalogue", "Is the catalogue price final?")
	if m := message(t, desk); bare(m.From) != carolMailProxy || m.Body != "Is the catalogue price final?" {
		t.Fatalf("desk got %s", m.Raw)
	}
	w.sendMail("Bob Brown <"+bobMail+">", hanaAddr, "Re: "+bobSubject, "Hello? Anyone?")
	if m := message(t, desk); bare(m.From) != bobMailProxy || m.Body != "Hello? Anyone?" {
		t.Fatalf("desk got %s", m.Raw)
	}
	silent(t, ken, 500*time.Millisecond)
	silent(t, hana, 200*time.Millisecond)

	// Nothing lost, nothing failed, nothing sent to the contacts meanwhile.
	var st map[string]int64
	w.gw.JSON(&st, "queue")
	if st["failed"] != 0 {
		t.Errorf("queue after the departures: %v", st)
	}
	if n := len(w.mail.Fetch(t, bobMail, password, "INBOX")); n != 1 {
		t.Errorf("bob has %d mails, want 1", n)
	}
	if n := len(w.mail.Fetch(t, w.mail.GatewayUser, w.mail.GatewayPass, "Kakehashi/Processed")); n != 3 {
		t.Errorf("the gateway filed %d mails as processed, want 3", n)
	}

	audit := mailAudit(t, w, identity.ActionEmployeeDepart)
	if len(audit) != 2 || audit[0].Subject != "hana" || audit[0].Reason != "left the company" ||
		audit[1].Subject != "ken" || audit[1].Reason != "contract ended" {
		t.Fatalf("depart audit: %+v", audit)
	}
	for i, want := range []string{hanaOut.ID, kenOut.ID} {
		var d struct {
			SuccessorID string `json:"successor_id"`
			TransferID  string `json:"transfer_id"`
		}
		if err := json.Unmarshal(audit[i].Details, &d); err != nil {
			t.Fatal(err)
		}
		if d.SuccessorID != "" || d.TransferID != want || audit[i].Actor != "admin:e2e-admin" {
			t.Errorf("depart audit %d: %+v, details %+v (transfer %s)", i, audit[i], d, want)
		}
	}
	transfers := mailAudit(t, w, identity.ActionContactsTransfer)
	if len(transfers) != 2 || transfers[0].Subject != hanaOut.ID || transfers[1].Subject != kenOut.ID {
		t.Fatalf("transfer audit: %+v", transfers)
	}
	var tr identity.Transfer
	if err := json.Unmarshal(transfers[0].Details, &tr); err != nil {
		t.Fatal(err)
	}
	if tr.From != "hana" || tr.To != "" || len(tr.Moves) != 1 || tr.Moves[0].ToOwner != "" {
		t.Fatalf("hana's transfer to the pool: %+v", tr)
	}
}
