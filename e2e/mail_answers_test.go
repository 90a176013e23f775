package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMailSubjectWithLineBreaksIsUnfolded: an employee's XMPP <subject>
// with line breaks of several kinds (and a tab, and a very long one)
// reaches the contact as a one-line mail Subject; the message does not
// fail.
func TestMailSubjectWithLineBreaksIsUnfolded(t *testing.T) {
	w := newWorld(t, worldOptions{mail: true})
	hana := w.client("hana")
	long := strings.Repeat("very long subject line\n", 40)
	cases := []struct{ subject, want string }{
		// XML carries CR as &#13; (a literal CR would be normalised away).
		{"Quote&#13;\nfor May", "Quote for May"},
		{"Invoice\n\n  number\t42  ", "Invoice number 42"},
		{"Delivery&#13;date", "Delivery date"},
		{"Order\u2028status\u0085today", "Order status today"},
		{"お見積もり\nの件", "お見積もり の件"},
	}
	for i, c := range cases {
		// Each on a new thread: a subject of its own starts one.
		stanza := `<message type="chat" to="` + bobMailProxy + `" id="subj` + string(rune('a'+i)) + `"><subject>` + c.subject +
			`</subject><body>Message ` + string(rune('A'+i)) + `</body></message>`
		if err := hana.SendRaw(stanza); err != nil {
			t.Fatal(err)
		}
	}
	if err := hana.SendRaw(`<message type="chat" to="` + bobMailProxy + `" id="subjlong"><subject>` + long + `</subject><body>Long one</body></message>`); err != nil {
		t.Fatal(err)
	}
	got := w.mail.WaitMail(t, bobMail, password, "INBOX", len(cases)+1, waitMail)
	subjects := map[string]string{} // body → subject
	for _, g := range got {
		h, body := readMail(t, g.Raw)
		s, err := h.Subject()
		if err != nil {
			t.Fatalf("subject: %v\n%s", err, g.Raw)
		}
		subjects[strings.TrimSpace(body)] = s
	}
	for i, c := range cases {
		body := "Message " + string(rune('A'+i))
		if s, ok := subjects[body]; !ok || s != c.want {
			t.Errorf("%q arrived with subject %q (present %v), want %q", body, s, ok, c.want)
		}
	}
	s := subjects["Long one"]
	if !strings.HasPrefix(s, "very long subject line very long subject line") || strings.ContainsAny(s, "\r\n") || len([]rune(s)) > 250 {
		t.Errorf("long subject arrived as %q", s)
	}
	// Hana was told of no failure.
	silent(t, hana, time.Second)
}

// rawMail is a mail as a client writes it, with extra header lines.
func rawMail(from, to, subject, msgID, body string, headers ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n",
		from, to, subject, time.Now().Format(time.RFC1123Z), msgID)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n" + body + "\r\n")
	return []byte(b.String())
}

// TestMailRefusalsGoOnlyToTheVouchedEnvelopeSender: the gateway's answer
// to mail it will not relay (here: to an address nobody has) goes to the
// envelope sender, never to the From header; never to a null sender or a
// machine; and not at all unless SPF passed at the trusted receiving
// server (Postfix stamps spf=pass for senders at mail.test), in which case
// the mail is quarantined. Mail to a persona is relayed however it came.
func TestMailRefusalsGoOnlyToTheVouchedEnvelopeSender(t *testing.T) {
	w := newWorld(t, worldOptions{mail: true})
	hana := w.client("hana")
	gwUser, gwPass := w.mail.GatewayUser, w.mail.GatewayPass
	const nobody = "nobody.here@contact.acme.test"

	// Answered at no address: null sender, automatic, no SPF pass, a
	// mail system. dave is named in every From, so any answer to the From
	// would land in his mailbox.
	w.mail.Send(t, "", []string{nobody}, rawMail("Dave <dave@mail.test>", nobody, "Null sender", "null.1@mail.test", "From nobody."))
	w.mail.Send(t, "dave@mail.test", []string{nobody}, rawMail("Dave <dave@mail.test>", nobody, "Away", "auto.1@mail.test", "I am away.", "Auto-Submitted: auto-replied"))
	w.mail.Send(t, "dave@mail.test", []string{nobody}, rawMail("Dave <dave@mail.test>", nobody, "Newsletter", "bulk.1@mail.test", "News.", "Precedence: bulk"))
	w.mail.Send(t, "eve@elsewhere.test", []string{nobody}, rawMail("Dave <dave@mail.test>", nobody, "Forged, no SPF", "nospf.1@elsewhere.test", "Forged."))
	w.mail.Send(t, "MAILER-DAEMON@mail.test", []string{nobody}, rawMail("Mail Delivery System <MAILER-DAEMON@mail.test>", nobody, "Returned", "daemon.1@mail.test", "Returned mail."))
	// Unauthenticated, but to a persona: relayed, keyed on From.
	w.mail.Send(t, "eve@elsewhere.test", []string{hanaAddr}, rawMail("Dave <dave@mail.test>", hanaAddr, "Question", "relay.1@elsewhere.test", "Do you ship to Osaka?"))
	// Answered at the envelope sender: a forged From, SPF passed for the
	// envelope sender (carol); and an honest one (dave).
	w.mail.Send(t, "carol@mail.test", []string{nobody}, rawMail("Dave <dave@mail.test>", nobody, "Forged From", "forged.1@mail.test", "Pretending to be Dave."))
	w.mail.Send(t, "dave@mail.test", []string{nobody}, rawMail("Dave <dave@mail.test>", nobody, "Honest", "honest.1@mail.test", "Is this sales?"))

	in := message(t, hana)
	if bare(in.From) != `dave\40mail.test@`+mailProxyDomain || !strings.Contains(in.Body, "Do you ship to Osaka?") {
		t.Fatalf("Hana got %s", in.Raw)
	}

	carol := w.mail.WaitMail(t, "carol@mail.test", password, "INBOX", 1, waitMail)
	h, body := readMail(t, carol[0].Raw)
	if irt, _ := h.MsgIDList("In-Reply-To"); len(irt) != 1 || irt[0] != "forged.1@mail.test" || !strings.Contains(body, nobody) {
		t.Errorf("carol's refusal is not the answer to her forged mail:\n%s", carol[0].Raw)
	}
	w.mail.WaitMail(t, "dave@mail.test", password, "INBOX", 1, waitMail)
	q := w.mail.WaitMail(t, gwUser, gwPass, "Kakehashi/Quarantine", 2, waitMail)
	// Answers go out in order: whatever else were coming has come.
	time.Sleep(2 * time.Second)
	dave := w.mail.Fetch(t, "dave@mail.test", password, "INBOX")
	if len(dave) != 1 {
		for _, d := range dave {
			t.Logf("dave got:\n%s", d.Raw)
		}
		t.Fatalf("dave got %d answers, want 1 (to his own honest mail)", len(dave))
	}
	h, _ = readMail(t, dave[0].Raw)
	if irt, _ := h.MsgIDList("In-Reply-To"); len(irt) != 1 || irt[0] != "honest.1@mail.test" {
		t.Errorf("dave's one answer is not to his honest mail:\n%s", dave[0].Raw)
	}
	if rp := h.Get("Return-Path"); rp != "<>" {
		t.Errorf("a refusal must have the null return path, got %q", rp)
	}
	if got := len(w.mail.Fetch(t, "carol@mail.test", password, "INBOX")); got != 1 {
		t.Errorf("carol got %d answers, want 1", got)
	}

	// Quarantined, with the reason in the log: the unvouched and the
	// mail system's mail for nobody.
	var all strings.Builder
	for _, m := range w.mail.Fetch(t, gwUser, gwPass, "Kakehashi/Quarantine") {
		all.Write(m.Raw)
	}
	for _, id := range []string{"nospf.1@elsewhere.test", "daemon.1@mail.test"} {
		if !strings.Contains(all.String(), id) {
			t.Errorf("%s is not in quarantine (%d there)", id, len(q))
		}
	}
	log := w.gw.log.String()
	if !strings.Contains(log, "mail quarantined") || !strings.Contains(log, "neither SPF for elsewhere.test") || !strings.Contains(log, "mail system") {
		t.Errorf("the log does not say why mail was quarantined:\n%s", log)
	}
	// Nothing went to the unvouched envelope sender either.
	if pl, _ := os.ReadFile(filepath.Join(w.mail.Dir, "postfix.log")); strings.Contains(string(pl), "to=<eve@elsewhere.test>") ||
		strings.Contains(strings.ToLower(string(pl)), "to=<mailer-daemon@mail.test>") {
		t.Errorf("the gateway wrote to an envelope sender nobody vouched for:\n%s", pl)
	}
}

// TestMailOneSpellingPerAddress: a contact is one contact however their
// mail writes their address; a From that is no deliverable address is
// quarantined, with a log line saying what is wrong, and never becomes a
// contact.
func TestMailOneSpellingPerAddress(t *testing.T) {
	w := newWorld(t, worldOptions{mail: true})
	hana := w.client("hana")
	gwUser, gwPass := w.mail.GatewayUser, w.mail.GatewayPass
	proxy := `bob\40mail.test@` + mailProxyDomain

	// bob, spelled four ways, to Hana's persona spelled two ways.
	spellings := []struct{ from, rcpt string }{
		{"Bob <bob@mail.test>", hanaAddr},
		{"Bob <BOB@Mail.Test.>", hanaAddr},
		{"Bob <Bob@MAIL.TEST>", "Hana.Sales@Contact.Acme.Test"},
		{"bob@mail.test.", hanaAddr},
	}
	for i, s := range spellings {
		w.mail.Send(t, bobMail, []string{s.rcpt}, rawMail(s.from, s.rcpt, "Spelling", fmt.Sprintf("spell.%d@mail.test", i), fmt.Sprintf("spelling %d", i)))
		in := message(t, hana)
		if bare(in.From) != proxy || in.Body != fmt.Sprintf("spelling %d", i) {
			t.Fatalf("%q to %q reached Hana as %s", s.from, s.rcpt, in.Raw)
		}
	}

	bad := []struct{ from, why string }{
		{"bob@@mail.test", "From"},
		{"bob@mail.test@x.test", "From"},
		{"bob x@mail.test", "From"},
		{strings.Repeat("b", 65) + "@mail.test", "64"},
		{"bob@-mail.test", "not a valid domain name"},
		{"bob@mail.invalid", ".invalid"},
		{"bob@localhost", "localhost"},
		{"bob@[127.0.0.1]", "IP address"},
	}
	for i, b := range bad {
		w.mail.Send(t, bobMail, []string{hanaAddr}, rawMail(b.from, hanaAddr, "Bad", fmt.Sprintf("bad.%d@mail.test", i), "from a bad address"))
	}
	q := w.mail.WaitMail(t, gwUser, gwPass, "Kakehashi/Quarantine", len(bad), waitMail)
	silent(t, hana, time.Second)
	var all strings.Builder
	for _, m := range q {
		all.Write(m.Raw)
	}
	log := w.gw.log.String()
	for i, b := range bad {
		if !strings.Contains(all.String(), fmt.Sprintf("bad.%d@mail.test", i)) {
			t.Errorf("mail from %q is not in quarantine", b.from)
		}
		if !strings.Contains(log, b.why) {
			t.Errorf("no log line says what is wrong with %q (%q)", b.from, b.why)
		}
	}
	if !strings.Contains(log, "the sender's address (From) cannot be used") {
		t.Errorf("no quarantine log line names the From:\n%s", log)
	}
	var rows []struct {
		Contact struct {
			Address struct{ Addr string } `json:"address"`
		} `json:"contact"`
	}
	w.gw.JSON(&rows, "contacts", "list")
	if len(rows) != 1 || rows[0].Contact.Address.Addr != bobMail {
		t.Errorf("contacts: %+v; want bob@mail.test alone", rows)
	}
}
