package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"github.com/kakehashi/kakehashi/internal/testenv"
)

const (
	mailProxyDomain = "mail.gw.corp.test"
	bobMail         = "bob@mail.test"
	bobMailProxy    = `bob\40mail.test@` + mailProxyDomain
	waitMail        = 20 * time.Second
)

// allowedHeaders are the header fields a mail from the gateway may carry
// in the contact's mailbox: the gateway's allowlist, plus what the relay
// and the receiving server add on the way.
var allowedHeaders = map[string]bool{
	"From": true, "To": true, "Subject": true, "Date": true, "Message-Id": true,
	"In-Reply-To": true, "References": true, "Mime-Version": true,
	"Content-Type": true, "Content-Transfer-Encoding": true, "Auto-Submitted": true, "List-Unsubscribe": true,
	// Added by Postfix and Dovecot, not by the gateway.
	"Received": true, "Return-Path": true, "Delivered-To": true,
}

// readMail parses a raw mail as a mail client would: its header and text.
func readMail(t testing.TB, raw []byte) (*gomail.Header, string) {
	t.Helper()
	h, text, _ := parseMail(t, raw)
	return h, text
}

// headerNames lists the fields of a raw mail's header, canonicalised.
func headerNames(raw []byte) []string {
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	var names []string
	for _, line := range strings.Split(string(head), "\r\n") {
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		name, _, _ := strings.Cut(line, ":")
		names = append(names, canonical(name))
	}
	return names
}

func canonical(s string) string {
	parts := strings.Split(strings.ToLower(s), "-")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToUpper(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, "-")
}

// leakScan fails when raw holds anything of the inside.
func leakScan(t testing.TB, raw []byte, extra ...string) {
	t.Helper()
	host, _ := os.Hostname()
	s := strings.ToLower(string(raw))
	for _, bad := range append([]string{"hana sato", "ken ito", "hana@corp.test", "corp.test", "gw.corp.test", "kakehashi", "go-smtp", "golang", host}, extra...) {
		// As a whole word: a short host name like "vm" turns up inside
		// random Message-IDs.
		word := regexp.MustCompile(`(^|[^a-z0-9])` + regexp.QuoteMeta(strings.ToLower(bad)) + `($|[^a-z0-9])`)
		if bad != "" && word.MatchString(s) {
			t.Errorf("mail to the outside contains %q:\n%s", bad, raw)
		}
	}
}

// sendFromBob sends a mail as bob's mail client would.
func (w *world) sendMail(from, to, subject, body string, headers ...string) string {
	w.t.Helper()
	id := fmt.Sprintf("%d.%s", time.Now().UnixNano(), strings.ReplaceAll(addrOnly(from), "@", "."))
	msgID := id + "@mail.test"
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n",
		from, to, subject, time.Now().Format(time.RFC1123Z), msgID)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n" + strings.ReplaceAll(body, "\n", "\r\n") + "\r\n")
	w.mail.Send(w.t, addrOnly(from), []string{addrOnly(to)}, []byte(b.String()))
	return msgID
}

func addrOnly(s string) string {
	if i := strings.IndexByte(s, '<'); i >= 0 {
		return strings.TrimSuffix(s[i+1:], ">")
	}
	return s
}

func angle(id string) string { return "<" + id + ">" }

func TestMailRelayBothWaysThreaded(t *testing.T) {
	w := newWorld(t, worldOptions{mail: true})
	hana := w.client("hana")

	// Hana writes to a mail contact through the mail proxy domain.
	if err := hana.Send(bobMailProxy, "Hello Bob, here is the quote you asked for.\nTotal: ¥120,000"); err != nil {
		t.Fatal(err)
	}
	got := w.mail.WaitMail(t, bobMail, password, "INBOX", 1, waitMail)
	raw := got[0].Raw
	h, body := readMail(t, raw)
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "ACME Sales · Hana" || from[0].Address != hanaAddr {
		t.Fatalf("From = %v (%v); want ACME Sales · Hana <%s>\n%s", from, err, hanaAddr, raw)
	}
	if to, _ := h.AddressList("To"); len(to) != 1 || to[0].Address != bobMail {
		t.Fatalf("To = %v", to)
	}
	subject, _ := h.Subject()
	if subject != "Hello Bob, here is the quote you asked for." {
		t.Errorf("subject %q: a new thread takes the first line as its subject", subject)
	}
	if !strings.Contains(body, "Total: ¥120,000") {
		t.Errorf("body %q", body)
	}
	firstID, _ := h.MessageID()
	if !strings.HasSuffix(firstID, "@contact.acme.test") {
		t.Errorf("Message-ID %q is not at the persona's domain", firstID)
	}
	for _, name := range headerNames(raw) {
		if !allowedHeaders[name] {
			t.Errorf("header %s is not on the allowlist:\n%s", name, raw)
		}
	}
	if rp := h.Get("Return-Path"); !regexp.MustCompile(`^<bounces\+[a-z0-9.]+@contact\.acme\.test>$`).MatchString(rp) {
		t.Errorf("Return-Path %q is not the gateway's signed bounce address", rp)
	}
	leakScan(t, raw)

	// bob answers from an ordinary mail client, quoting, with a signature.
	reply := "Thanks Hana, that works for us.\nPlease send the contract.\n\n-- \nBob Brown\nBrown Trading\n\nOn Sat, Nov 21, 2026 at 10:00 AM ACME Sales · Hana <hana.sales@contact.acme.test> wrote:\n> Hello Bob, here is the quote you asked for.\n> Total: ¥120,000\n"
	replyID := w.sendMail("Bob Brown <bob@mail.test>", hanaAddr, "Re: "+subject, reply,
		"In-Reply-To: "+angle(firstID), "References: "+angle(firstID))
	in := message(t, hana)
	if bare(in.From) != bobMailProxy {
		t.Fatalf("reply from %s, want %s", in.From, bobMailProxy)
	}
	// bob's quote and signature are gone; his mail answers Hana's, so it
	// is a XEP-0461 reply to her message, with a quote of it rebuilt from
	// the gateway's copy as the fallback.
	if in.BodyWithout(nsReply) != "Thanks Hana, that works for us.\nPlease send the contract." || in.ReplyID == "" {
		t.Fatalf("Hana sees %q: quote and signature should be gone: %s", in.Body, in.Raw)
	}
	if strings.Contains(in.Raw, "<subject>") {
		t.Errorf("a reply in a known thread shows a subject again: %s", in.Raw)
	}

	// Hana's next message continues the thread in bob's mail client.
	if err := hana.Send(bobMailProxy, "Contract attached tomorrow."); err != nil {
		t.Fatal(err)
	}
	got = w.mail.WaitMail(t, bobMail, password, "INBOX", 2, waitMail)
	h2, _ := readMail(t, got[1].Raw)
	if s, _ := h2.Subject(); s != "Re: "+subject {
		t.Errorf("second subject %q, want %q", s, "Re: "+subject)
	}
	if irt, _ := h2.MsgIDList("In-Reply-To"); len(irt) != 1 || irt[0] != replyID {
		t.Errorf("In-Reply-To %v, want %s", irt, replyID)
	}
	refs, _ := h2.MsgIDList("References")
	if len(refs) < 2 || refs[0] != firstID || refs[len(refs)-1] != replyID {
		t.Errorf("References %v, want %s … %s", refs, firstID, replyID)
	}
	leakScan(t, got[1].Raw)
}

func TestMailNewContactStartsAThread(t *testing.T) {
	w := newWorld(t, worldOptions{mail: true})
	hana := w.client("hana")
	w.sendMail("Carol <carol@mail.test>", hanaAddr, "見積もりのお願い", "新製品の見積もりをお願いします。")
	in := message(t, hana)
	if bare(in.From) != `carol\40mail.test@`+mailProxyDomain {
		t.Fatalf("from %s", in.From)
	}
	if in.Body != "新製品の見積もりをお願いします。" || !strings.Contains(in.Raw, "<subject>見積もりのお願い</subject>") {
		t.Fatalf("Hana sees %s", in.Raw)
	}
	if !strings.Contains(in.Raw, "<thread>") {
		t.Errorf("no thread token: %s", in.Raw)
	}
	// Her answer is a reply to carol's mail.
	if err := hana.Send(`carol\40mail.test@`+mailProxyDomain, "承知しました。"); err != nil {
		t.Fatal(err)
	}
	got := w.mail.WaitMail(t, "carol@mail.test", password, "INBOX", 1, waitMail)
	h, body := readMail(t, got[0].Raw)
	if s, _ := h.Subject(); s != "Re: 見積もりのお願い" {
		t.Errorf("subject %q", s)
	}
	if !strings.Contains(body, "承知しました。") {
		t.Errorf("body %q", body)
	}
}

func TestMailRepliesReachTheCurrentOwner(t *testing.T) {
	w := newWorld(t, worldOptions{mail: true})
	hana, ken := w.client("hana"), w.client("ken")
	if err := hana.Send(bobMailProxy, "Hi Bob"); err != nil {
		t.Fatal(err)
	}
	w.mail.WaitMail(t, bobMail, password, "INBOX", 1, waitMail)
	w.gw.CLI("contacts", "transfer", "--from", "hana", "--to", "ken", "--reason", "hana moves to marketing")
	w.sendMail(bobMail, hanaAddr, "Re: Hi Bob", "Who do I talk to now?")
	in := message(t, ken)
	if bare(in.From) != bobMailProxy || in.Body != "Who do I talk to now?" {
		t.Fatalf("ken got %s", in.Raw)
	}
	silent(t, hana, 500*time.Millisecond)
	// ken answers under his own persona, never as hana or himself.
	if err := ken.Send(bobMailProxy, "I look after you now."); err != nil {
		t.Fatal(err)
	}
	got := w.mail.WaitMail(t, bobMail, password, "INBOX", 2, waitMail)
	h, _ := readMail(t, got[1].Raw)
	if from, _ := h.AddressList("From"); len(from) != 1 || from[0].Address != kenAddr || from[0].Name != "ACME Sales · Ken" {
		t.Fatalf("after the transfer, mail comes from %v; want ACME Sales · Ken <%s>", from, kenAddr)
	}
	leakScan(t, got[1].Raw)

	w.gw.CLI("employees", "depart", "ken", "--reason", "left the company")
	w.sendMail(bobMail, hanaAddr, "Re: Hi Bob", "Anyone there?")
	desk := w.client("desk")
	// With ken gone and no successor, the fallback employee (ken) is not
	// active either: the fallback address, desk, receives it.
	in = message(t, desk)
	if in.Body != "Anyone there?" {
		t.Fatalf("desk got %s", in.Raw)
	}
}

func TestMailPermanentFailureTellsTheEmployee(t *testing.T) {
	w := newWorld(t, worldOptions{mail: true})
	hana := w.client("hana")
	// Refused at RCPT time by the relay: an unknown user.
	if err := hana.Send(`nobody\40mail.test@`+mailProxyDomain, "Are you there?"); err != nil {
		t.Fatal(err)
	}
	// The failure says plainly that the address does not exist (and the
	// gateway may add that the address is dead).
	notices := func(contact string) (failure testenv.Stanza) {
		t.Helper()
		deadline := time.Now().Add(waitShort)
		for time.Now().Before(deadline) {
			n := message(t, hana)
			if strings.Contains(n.Body, "could not be delivered") {
				failure = n
				break
			}
		}
		if !strings.Contains(failure.Body, "the address does not exist") {
			t.Errorf("failure notice %q does not say plainly that the address does not exist", failure.Body)
		}
		return failure
	}
	n := notices("nobody@mail.test")
	if !strings.Contains(n.Body, "nobody@mail.test") || !strings.Contains(n.Body, "could not be delivered") || !strings.Contains(n.Body, "550") {
		t.Fatalf("notice %q should name the contact and the server's reason", n.Body)
	}
	// Accepted, then bounced: the DSN comes back to the signed return path.
	if err := hana.Send(`x\40bounce.test@`+mailProxyDomain, "Hello?"); err != nil {
		t.Fatal(err)
	}
	n = notices("x@bounce.test")
	if bare(n.From) != `x\40bounce.test@`+mailProxyDomain || !strings.Contains(n.Body, "x@bounce.test") ||
		!strings.Contains(n.Body, "bounced") || !strings.Contains(n.Body, "5.1.1") {
		t.Fatalf("bounce notice %s", n.Raw)
	}
	var rows []struct {
		Contact struct {
			Address struct{ Addr string } `json:"address"`
		} `json:"contact"`
		Relationship struct{ Gone string } `json:"relationship"`
	}
	w.gw.JSON(&rows, "contacts", "list", "--owner", "hana")
	for _, r := range rows {
		// Neither contact ever wrote: a relationship that never worked is
		// not "gone", its author was told the address is wrong.
		if r.Relationship.Gone != "" {
			t.Errorf("%s is marked gone although it never worked: %+v", r.Contact.Address.Addr, r)
		}
	}
	if len(rows) != 2 {
		t.Errorf("hana's contacts: %+v", rows)
	}
}

func TestMailSpoofMalformedAndRobots(t *testing.T) {
	w := newWorld(t, worldOptions{mail: true})
	hana := w.client("hana")
	gwUser, gwPass := w.mail.GatewayUser, w.mail.GatewayPass
	spoof := "Authentication-Results: mx.contact.acme.test; dkim=fail; spf=fail smtp.mailfrom=bank.example; dmarc=fail (p=reject) header.from=bank.example\r\n" +
		"Delivered-To: hana.sales@contact.acme.test\r\nFrom: Bank <security@bank.example>\r\nTo: hana.sales@contact.acme.test\r\n" +
		"Subject: Verify your account\r\nMessage-ID: <spoof1@bank.example>\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\n\r\nClick here.\r\n"
	w.mail.Append(t, gwUser, gwPass, "INBOX", []byte(spoof))
	malformed := "Delivered-To: hana.sales@contact.acme.test\r\nFrom: \r\nContent-Type: multipart/mixed\r\nSubject: broken\r\n\r\n--nothing\r\n"
	w.mail.Append(t, gwUser, gwPass, "INBOX", []byte(malformed))
	// An out-of-office reply to a persona nobody has: not answered.
	w.sendMail("Dave <dave@mail.test>", "nobody.here@contact.acme.test", "Out of office", "I am away until Monday.", "Auto-Submitted: auto-replied")
	// The same from a contact Hana already has: shown, marked as automatic.
	if err := hana.Send(bobMailProxy, "Are you in next week?"); err != nil {
		t.Fatal(err)
	}
	w.mail.WaitMail(t, bobMail, password, "INBOX", 1, waitMail)
	w.sendMail("Bob <bob@mail.test>", hanaAddr, "Out of office", "I am away until Monday.", "Auto-Submitted: auto-replied")

	in := message(t, hana)
	if !strings.Contains(in.Body, "automatic") || !strings.Contains(in.Body, "I am away until Monday.") || bare(in.From) != bobMailProxy {
		t.Fatalf("Hana sees %s", in.Raw)
	}
	silent(t, hana, time.Second)
	q := w.mail.WaitMail(t, gwUser, gwPass, "Kakehashi/Quarantine", 2, waitMail)
	var ids []string
	for _, m := range q {
		ids = append(ids, string(m.Raw))
	}
	all := strings.Join(ids, "\n")
	if !strings.Contains(all, "spoof1@bank.example") || !strings.Contains(all, "--nothing") {
		t.Fatalf("quarantine holds:\n%s", all)
	}
	if !strings.Contains(w.gw.log.String(), "mail quarantined") {
		t.Error("no log line names the quarantined mail")
	}
	// Nobody answered the robot.
	time.Sleep(time.Second)
	if got := w.mail.Fetch(t, "dave@mail.test", password, "INBOX"); len(got) != 0 {
		t.Fatalf("the gateway answered an auto-reply:\n%s", got[0].Raw)
	}
	// A person writing to a persona nobody has gets a clear answer.
	w.sendMail("Dave <dave@mail.test>", "nobody.here@contact.acme.test", "Hello", "Is this the sales team?")
	got := w.mail.WaitMail(t, "dave@mail.test", password, "INBOX", 1, waitMail)
	h, body := readMail(t, got[0].Raw)
	if h.Get("Auto-Submitted") == "" || !strings.Contains(body, "nobody.here@contact.acme.test") {
		t.Fatalf("refusal mail:\n%s", got[0].Raw)
	}
	if rp := h.Get("Return-Path"); rp != "<>" {
		t.Errorf("a refusal must have the null return path, got %q", rp)
	}
}

func TestMailWaitingWhileTheGatewayIsDownIsDeliveredOnce(t *testing.T) {
	w := newWorld(t, worldOptions{mail: true})
	hana := w.client("hana")
	w.gw.Kill()
	for i := range 5 {
		w.sendMail(bobMail, hanaAddr, "Order", fmt.Sprintf("mail %d", i))
	}
	w.gw.Start()
	seen := map[string]int{}
	for range 5 {
		seen[message(t, hana).Body]++
	}
	for i := range 5 {
		if seen[fmt.Sprintf("mail %d", i)] != 1 {
			t.Fatalf("deliveries: %v", seen)
		}
	}
	silent(t, hana, time.Second)
	// Handled mail is filed, not deleted.
	gwUser, gwPass := w.mail.GatewayUser, w.mail.GatewayPass
	if n := len(w.mail.Fetch(t, gwUser, gwPass, "Kakehashi/Processed")); n != 5 {
		t.Errorf("processed folder holds %d mails, want 5", n)
	}
	if n := len(w.mail.Fetch(t, gwUser, gwPass, "INBOX")); n != 0 {
		t.Errorf("inbox still holds %d mails", n)
	}
}

func TestMailDovecotRestartResumesWithoutDuplicates(t *testing.T) {
	w := newWorld(t, worldOptions{mail: true})
	hana := w.client("hana")
	w.sendMail(bobMail, hanaAddr, "One", "before the restart")
	if b := message(t, hana).Body; b != "before the restart" {
		t.Fatalf("got %q", b)
	}
	w.mail.StopDovecot(t)
	time.Sleep(500 * time.Millisecond)
	w.mail.StartDovecot(t)
	w.sendMail(bobMail, hanaAddr, "Two", "after the restart")
	if b := message(t, hana).Body; b != "after the restart" {
		t.Fatalf("got %q", b)
	}
	silent(t, hana, 2*time.Second)
}

func TestMailRelayOutageQueuesAndDelivers(t *testing.T) {
	w := newWorld(t, worldOptions{mail: true})
	hana := w.client("hana")
	w.mail.StopPostfix(t)
	for i := range 3 {
		if err := hana.Send(bobMailProxy, fmt.Sprintf("queued %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(2 * time.Second)
	w.mail.StartPostfix(t)
	w.mail.WaitMail(t, bobMail, password, "INBOX", 3, 60*time.Second)
	time.Sleep(time.Second) // a fourth (duplicate) would show up by now
	got := w.mail.Fetch(t, bobMail, password, "INBOX")
	if len(got) != 3 {
		t.Fatalf("bob has %d mails, want 3", len(got))
	}
	// Each exactly once. (Postfix delivers its queue in parallel, so the
	// mailbox order is not the order the gateway submitted them in; mail
	// clients sort by Date.)
	seen := map[string]int{}
	for _, m := range got {
		_, body := readMail(t, m.Raw)
		seen[strings.TrimSpace(body)]++
	}
	for i := range 3 {
		if seen[fmt.Sprintf("queued %d", i)] != 1 {
			t.Fatalf("bob's mails: %v", seen)
		}
	}
}

// TestMailUIDValidityChangeResyncsWithoutDuplicates: when the server
// renumbers the mailbox (new UIDVALIDITY), the gateway reads it again from
// the start: mail it already delivered is recognised by Message-ID and not
// delivered twice, and new mail with UIDs below the old last UID is not
// skipped.
func TestMailUIDValidityChangeResyncsWithoutDuplicates(t *testing.T) {
	w := newWorld(t, worldOptions{mail: true})
	hana := w.client("hana")
	for i := range 4 {
		w.sendMail(bobMail, hanaAddr, "Order", fmt.Sprintf("order %d", i))
		if b := message(t, hana).Body; b != fmt.Sprintf("order %d", i) {
			t.Fatalf("got %q", b)
		}
	}
	gwUser, gwPass := w.mail.GatewayUser, w.mail.GatewayPass
	done := w.mail.Fetch(t, gwUser, gwPass, "Kakehashi/Processed")
	if len(done) != 4 {
		t.Fatalf("processed holds %d mails", len(done))
	}
	w.gw.Stop()
	// A handled mail back in the inbox (as after a move that never
	// happened), and a new one.
	w.mail.Append(t, gwUser, gwPass, "INBOX", done[0].Raw)
	fresh := "Delivered-To: " + hanaAddr + "\r\nFrom: Bob <" + bobMail + ">\r\nTo: " + hanaAddr +
		"\r\nSubject: Order\r\nMessage-ID: <after-resync@mail.test>\r\nDate: Sat, 21 Nov 2026 10:00:00 +0000\r\n\r\nafter the resync\r\n"
	w.mail.Append(t, gwUser, gwPass, "INBOX", []byte(fresh))
	// Renumber: without its UID list and indexes, Dovecot gives the
	// mailbox a new UIDVALIDITY and the mails UIDs from 1 again.
	w.mail.StopDovecot(t)
	maildir := filepath.Join(w.mail.Dir, "mail", "contact.acme.test", "gateway", "Maildir")
	olds, _ := filepath.Glob(filepath.Join(maildir, "dovecot*"))
	if len(olds) == 0 {
		t.Fatalf("no Dovecot index files in %s", maildir)
	}
	for _, f := range olds {
		if err := os.RemoveAll(f); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1100 * time.Millisecond) // UIDVALIDITY is a time in seconds
	w.mail.StartDovecot(t)
	w.gw.Start()
	if b := message(t, hana).Body; b != "after the resync" {
		t.Fatalf("got %q", b)
	}
	silent(t, hana, 2*time.Second)
	if !strings.Contains(w.gw.log.String(), "UIDVALIDITY changed") {
		t.Error("the resync was not logged")
	}
	if n := len(w.mail.Fetch(t, gwUser, gwPass, "INBOX")); n != 0 {
		t.Errorf("inbox still holds %d mails", n)
	}
}
