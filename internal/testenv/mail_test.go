package testenv

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// mailWait is how long tests wait for a delivery; retries after a Dovecot
// restart take Postfix a few seconds.
const mailWait = 30 * time.Second

// mailMsg builds a small mail with CRLF line ends, as it goes over SMTP
// and as IMAP returns it.
func mailMsg(from, to, subject, body string) []byte {
	return []byte("From: " + from + "\r\nTo: " + to + "\r\nSubject: " + subject +
		"\r\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@test>\r\n\r\n" + body + "\r\n")
}

// header returns the values of the header field name in raw's header, in
// order, unfolded.
func header(raw []byte, name string) []string {
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	var vals []string
	var cur *string
	for _, line := range strings.Split(string(head), "\r\n") {
		if line != "" && (line[0] == ' ' || line[0] == '\t') {
			if cur != nil {
				*cur += " " + strings.TrimSpace(line)
			}
			continue
		}
		cur = nil
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(k, name) {
			vals = append(vals, strings.TrimSpace(v))
			cur = &vals[len(vals)-1]
		}
	}
	return vals
}

// mentionsHost reports whether the machine's host name shows up as a
// word (or domain label) in raw. Random ids, which are long base64 words,
// do not count.
func mentionsHost(raw []byte, host string) bool {
	host = strings.ToLower(host)
	short, _, _ := strings.Cut(host, ".")
	for _, w := range strings.FieldsFunc(strings.ToLower(string(raw)), func(r rune) bool {
		return strings.ContainsRune(" \t\r\n()[]{};:<>@,=\"'", r)
	}) {
		if w == host || w == short || strings.HasPrefix(w, short+".") {
			return true
		}
	}
	return false
}

// waitMatching polls mailbox until n of its messages satisfy match and
// returns those.
func waitMatching(t *testing.T, m *Mail, user, pass, mailbox string, n int, match func(FetchedMail) bool) []FetchedMail {
	t.Helper()
	deadline := time.Now().Add(mailWait)
	for {
		all, err := m.fetch(user, pass, mailbox)
		var got []FetchedMail
		for _, fm := range all {
			if match(fm) {
				got = append(got, fm)
			}
		}
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s of %s: want %d matching messages, have %d of %d (err %v)\n%s",
				mailbox, user, n, len(got), len(all), err, m.LogTail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func deliveredTo(addr string) func(FetchedMail) bool {
	return func(fm FetchedMail) bool {
		return slices.Contains(header(fm.Raw, "Delivered-To"), addr)
	}
}

func requireSMTPCode(t *testing.T, err error, class int, what string) *smtp.SMTPError {
	t.Helper()
	var serr *smtp.SMTPError
	if !errors.As(err, &serr) {
		t.Fatalf("%s: want an SMTP %dxx reply, got %v", what, class, err)
	}
	if serr.Code/100 != class {
		t.Fatalf("%s: want an SMTP %dxx reply, got %d %s", what, class, serr.Code, serr.Message)
	}
	return serr
}

func TestMailDelivery(t *testing.T) {
	t.Parallel()
	start := time.Now()
	m := StartMail(t, MailOptions{})
	t.Logf("StartMail took %v", time.Since(start))
	if m.GatewayDomain != "contact.acme.test" || m.CustomerDomain != "mail.test" || m.BounceDomain != "bounce.test" ||
		m.GatewayUser != "gateway@contact.acme.test" || m.GatewayPass != "gateway-secret" {
		t.Fatalf("defaults: %+v", m)
	}
	m.AddUser(t, "bob@mail.test", `bob's "pass": with spaces`)
	host, _ := os.Hostname()

	t.Run("customer", func(t *testing.T) {
		sent := mailMsg("Alice <alice@ext.test>", "bob@mail.test", "hello bob", "one\r\n.leading dot\r\nthree")
		m.Send(t, "alice@ext.test", []string{"bob@mail.test"}, sent)
		got := m.WaitMail(t, "bob@mail.test", `bob's "pass": with spaces`, "INBOX", 1, mailWait)
		if len(got) != 1 {
			t.Fatalf("bob has %d messages, want 1", len(got))
		}
		raw := got[0].Raw
		// The servers only prepend trace headers: what was sent follows
		// byte for byte (no From/Date/Message-ID rewriting or adding).
		if !bytes.HasSuffix(raw, sent) {
			t.Errorf("stored message does not end with what was sent:\n%s", raw)
		}
		if dt := header(raw, "Delivered-To"); !slices.Equal(dt, []string{"bob@mail.test"}) {
			t.Errorf("Delivered-To: %q", dt)
		}
		if rp := header(raw, "Return-Path"); !slices.Equal(rp, []string{"<alice@ext.test>"}) {
			t.Errorf("Return-Path: %q", rp)
		}
		if host != "" && mentionsHost(raw, host) {
			t.Errorf("message mentions the host name %q:\n%s", host, raw)
		}
		if got[0].UID == 0 || len(got[0].Flags) != 0 {
			t.Errorf("uid %d flags %v", got[0].UID, got[0].Flags)
		}
		// Fetch peeks: still unseen.
		again := m.Fetch(t, "bob@mail.test", `bob's "pass": with spaces`, "INBOX")
		if len(again) != 1 || len(again[0].Flags) != 0 || !bytes.Equal(again[0].Raw, raw) {
			t.Errorf("second fetch differs: %+v", again)
		}
	})

	t.Run("catch-all", func(t *testing.T) {
		sent := mailMsg("carol@ext.test", "sales@contact.acme.test, support@contact.acme.test", "two personas", "hi both")
		m.Send(t, "carol@ext.test", []string{"sales@contact.acme.test", "support@contact.acme.test"}, sent)
		got := waitMatching(t, m, m.GatewayUser, m.GatewayPass, "INBOX", 2, func(fm FetchedMail) bool {
			return bytes.HasSuffix(fm.Raw, sent)
		})
		var to []string
		for _, fm := range got {
			dt := header(fm.Raw, "Delivered-To")
			if len(dt) != 1 {
				t.Errorf("want one Delivered-To, got %q in:\n%s", dt, fm.Raw)
				continue
			}
			to = append(to, dt[0])
		}
		slices.Sort(to)
		if !slices.Equal(to, []string{"sales@contact.acme.test", "support@contact.acme.test"}) {
			t.Errorf("Delivered-To of the two copies: %q", to)
		}
		// Only the gateway's own address logs in.
		if _, err := m.fetch("sales@contact.acme.test", m.GatewayPass, "INBOX"); err == nil {
			t.Error("a catch-all address could log in")
		}
		if _, err := m.fetch(m.GatewayUser, "wrong", "INBOX"); err == nil {
			t.Error("the gateway logged in with a wrong password")
		}
	})

	t.Run("unknown customer", func(t *testing.T) {
		err := m.SendErr("alice@ext.test", []string{"nobody@mail.test"}, mailMsg("alice@ext.test", "nobody@mail.test", "lost", "x"))
		serr := requireSMTPCode(t, err, 5, "mail to an unknown customer")
		if serr.Code != 550 || serr.EnhancedCode != (smtp.EnhancedCode{5, 1, 1}) {
			t.Errorf("want 550 5.1.1, got %d %v %s", serr.Code, serr.EnhancedCode, serr.Message)
		}
	})

	t.Run("adduser while running", func(t *testing.T) {
		// The table Postfix checks recipients against changes within the
		// same second as the previous change, between two connections.
		msg := mailMsg("alice@ext.test", "dave@mail.test", "for dave", "x")
		err := m.SendErr("alice@ext.test", []string{"dave@mail.test"}, msg)
		requireSMTPCode(t, err, 5, "mail to dave before AddUser")
		m.AddUser(t, "dave@mail.test", "dave-pw")
		m.Send(t, "alice@ext.test", []string{"dave@mail.test"}, msg)
		m.WaitMail(t, "dave@mail.test", "dave-pw", "INBOX", 1, mailWait)
		// A new password replaces the old one.
		m.AddUser(t, "dave@mail.test", "dave-pw2")
		if _, err := m.fetch("dave@mail.test", "dave-pw", "INBOX"); err == nil {
			t.Error("the old password still works")
		}
		if got := m.Fetch(t, "dave@mail.test", "dave-pw2", "INBOX"); len(got) != 1 {
			t.Errorf("dave has %d messages after the password change", len(got))
		}
	})

	t.Run("bounce", func(t *testing.T) {
		sent := mailMsg("billing@contact.acme.test", "x@bounce.test", "will bounce", "x")
		// Accepted: the failure comes later, as a DSN.
		m.Send(t, "billing@contact.acme.test", []string{"x@bounce.test"}, sent)
		got := waitMatching(t, m, m.GatewayUser, m.GatewayPass, "INBOX", 1, deliveredTo("billing@contact.acme.test"))
		dsn := got[0].Raw
		ct := header(dsn, "Content-Type")
		if len(ct) != 1 || !strings.HasPrefix(ct[0], "multipart/report; report-type=delivery-status;") {
			t.Errorf("DSN Content-Type: %q", ct)
		}
		if rp := header(dsn, "Return-Path"); !slices.Equal(rp, []string{"<>"}) {
			t.Errorf("DSN Return-Path: %q", rp)
		}
		for _, want := range []string{
			"From: Mail Delivery System <MAILER-DAEMON@mx.contact.acme.test>",
			"Final-Recipient: rfc822; x@bounce.test",
			"Status: 5.1.1",
			"Subject: will bounce",
		} {
			if !bytes.Contains(dsn, []byte(want)) {
				t.Errorf("DSN lacks %q:\n%s", want, dsn)
			}
		}
		if host != "" && mentionsHost(dsn, host) {
			t.Errorf("DSN mentions the host name %q:\n%s", host, dsn)
		}
	})

	t.Run("null sender", func(t *testing.T) {
		sent := mailMsg("MAILER-DAEMON@ext.test", "bob@mail.test", "from null", "x")
		m.Send(t, "", []string{"bob@mail.test"}, sent)
		got := waitMatching(t, m, "bob@mail.test", `bob's "pass": with spaces`, "INBOX", 1, func(fm FetchedMail) bool {
			return bytes.HasSuffix(fm.Raw, sent)
		})
		if rp := header(got[0].Raw, "Return-Path"); !slices.Equal(rp, []string{"<>"}) {
			t.Errorf("Return-Path: %q", rp)
		}
	})

	t.Run("append and mailboxes", func(t *testing.T) {
		raw := mailMsg("someone@ext.test", "gateway@contact.acme.test", "appended", "straight in\r\n")
		m.Append(t, m.GatewayUser, m.GatewayPass, "Archive/2026", raw)
		m.Append(t, m.GatewayUser, m.GatewayPass, "Archive/2026", raw)
		got := m.Fetch(t, m.GatewayUser, m.GatewayPass, "Archive/2026")
		if len(got) != 2 || !bytes.Equal(got[0].Raw, raw) || !bytes.Equal(got[1].Raw, raw) || got[0].UID >= got[1].UID {
			t.Errorf("appended messages: %+v", got)
		}
		boxes := m.Mailboxes(t, m.GatewayUser, m.GatewayPass)
		for _, want := range []string{"INBOX", "Archive", "Archive/2026"} {
			if !slices.Contains(boxes, want) {
				t.Errorf("mailboxes %q lack %q", boxes, want)
			}
		}
	})
}

// submit sends over the submission port the way the gateway does:
// STARTTLS (self-signed, so unverified), then AUTH with a, unless nil.
func submit(m *Mail, a sasl.Client, from string, to []string, raw []byte) error {
	conn, err := net.DialTimeout("tcp", m.SubmissionAddr, mailIOTimeout)
	if err != nil {
		return err
	}
	_ = conn.SetDeadline(time.Now().Add(mailIOTimeout))
	c, err := smtp.NewClientStartTLS(conn, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		conn.Close()
		return fmt.Errorf("starttls: %w", err)
	}
	defer c.Close()
	if a != nil {
		if err := c.Auth(a); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := c.SendMail(from, to, bytes.NewReader(raw)); err != nil {
		return err
	}
	return c.Quit()
}

func TestMailSubmission(t *testing.T) {
	t.Parallel()
	m := StartMail(t, MailOptions{GatewayPass: "s3cret: with colon"})
	m.AddUser(t, "bob@mail.test", "bob-pw")
	msg := mailMsg("sales@contact.acme.test", "bob@mail.test", "submitted", "via submission")

	// Without TLS, nothing goes.
	conn, err := net.DialTimeout("tcp", m.SubmissionAddr, mailIOTimeout)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(mailIOTimeout))
	c := smtp.NewClient(conn)
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH offered before STARTTLS")
	}
	err = c.SendMail("sales@contact.acme.test", []string{"bob@mail.test"}, bytes.NewReader(msg))
	requireSMTPCode(t, err, 5, "submission without STARTTLS")
	c.Close()

	// TLS without AUTH: no relaying, and not even local delivery.
	err = submit(m, nil, "sales@contact.acme.test", []string{"someone@example.org"}, msg)
	requireSMTPCode(t, err, 5, "relaying without AUTH")
	err = submit(m, nil, "sales@contact.acme.test", []string{"bob@mail.test"}, msg)
	requireSMTPCode(t, err, 5, "submission without AUTH")

	err = submit(m, sasl.NewPlainClient("", m.GatewayUser, "wrong"), "sales@contact.acme.test", []string{"bob@mail.test"}, msg)
	requireSMTPCode(t, err, 5, "AUTH with a wrong password")

	// With AUTH, as any of the gateway's addresses.
	if err := submit(m, sasl.NewPlainClient("", m.GatewayUser, m.GatewayPass), "sales@contact.acme.test", []string{"bob@mail.test"}, msg); err != nil {
		t.Fatalf("submission with AUTH PLAIN: %v", err)
	}
	msg2 := mailMsg("support@contact.acme.test", "bob@mail.test", "submitted by login", "x")
	if err := submit(m, sasl.NewLoginClient(m.GatewayUser, m.GatewayPass), "support@contact.acme.test", []string{"bob@mail.test"}, msg2); err != nil {
		t.Fatalf("submission with AUTH LOGIN: %v", err)
	}
	got := m.WaitMail(t, "bob@mail.test", "bob-pw", "INBOX", 2, mailWait)
	if !bytes.HasSuffix(got[0].Raw, msg) || !bytes.HasSuffix(got[1].Raw, msg2) {
		t.Errorf("bob's messages:\n%s\n---\n%s", got[0].Raw, got[1].Raw)
	}

	// Unknown customers are refused synchronously here too.
	err = submit(m, sasl.NewPlainClient("", m.GatewayUser, m.GatewayPass), "sales@contact.acme.test", []string{"nobody@mail.test"}, msg)
	requireSMTPCode(t, err, 5, "submission to an unknown customer")

	// Relaying to an outside domain is accepted; there is no outside, so it
	// bounces back to the sender.
	out := mailMsg("sales@contact.acme.test", "someone@example.org", "to the outside", "x")
	if err := submit(m, sasl.NewPlainClient("", m.GatewayUser, m.GatewayPass), "sales@contact.acme.test", []string{"someone@example.org"}, out); err != nil {
		t.Fatalf("relaying with AUTH: %v", err)
	}
	dsn := waitMatching(t, m, m.GatewayUser, m.GatewayPass, "INBOX", 1, deliveredTo("sales@contact.acme.test"))
	if !bytes.Contains(dsn[0].Raw, []byte("Final-Recipient: rfc822; someone@example.org")) {
		t.Errorf("DSN for the outside mail:\n%s", dsn[0].Raw)
	}
}

func TestMailRestarts(t *testing.T) {
	t.Parallel()
	m := StartMail(t, MailOptions{})
	m.AddUser(t, "bob@mail.test", "bob-pw")
	m.Send(t, "alice@ext.test", []string{"bob@mail.test"}, mailMsg("alice@ext.test", "bob@mail.test", "before", "x"))
	m.WaitMail(t, "bob@mail.test", "bob-pw", "INBOX", 1, mailWait)

	// Dovecot down: IMAP is gone, Postfix still takes mail and queues it.
	m.StopDovecot(t)
	if _, err := m.fetch("bob@mail.test", "bob-pw", "INBOX"); err == nil {
		t.Fatal("IMAP works while Dovecot is stopped")
	}
	m.StopDovecot(t) // a second stop does nothing
	m.Send(t, "alice@ext.test", []string{"bob@mail.test"}, mailMsg("alice@ext.test", "bob@mail.test", "while down", "x"))
	m.StartDovecot(t)
	got := m.WaitMail(t, "bob@mail.test", "bob-pw", "INBOX", 2, mailWait)
	if len(got) != 2 || !bytes.Contains(got[0].Raw, []byte("Subject: before")) ||
		!bytes.Contains(got[1].Raw, []byte("Subject: while down")) {
		t.Errorf("after the Dovecot restart: %d messages", len(got))
	}

	// Postfix down: SMTP refuses, IMAP still works; back up, mail flows.
	m.StopPostfix(t)
	if err := m.SendErr("alice@ext.test", []string{"bob@mail.test"}, mailMsg("alice@ext.test", "bob@mail.test", "refused", "x")); err == nil {
		t.Fatal("SMTP accepted mail while Postfix is stopped")
	}
	if got := m.Fetch(t, "bob@mail.test", "bob-pw", "INBOX"); len(got) != 2 {
		t.Errorf("with Postfix stopped: %d messages", len(got))
	}
	m.StartPostfix(t)
	m.StartPostfix(t) // a second start does nothing
	m.Send(t, "alice@ext.test", []string{"bob@mail.test"}, mailMsg("alice@ext.test", "bob@mail.test", "after", "x"))
	got = m.WaitMail(t, "bob@mail.test", "bob-pw", "INBOX", 3, mailWait)
	if !bytes.Contains(got[2].Raw, []byte("Subject: after")) {
		t.Errorf("third message:\n%s", got[2].Raw)
	}
	// The gateway's catch-all survived both restarts too.
	m.Send(t, "alice@ext.test", []string{"x@contact.acme.test"}, mailMsg("alice@ext.test", "x@contact.acme.test", "gw", "x"))
	m.WaitMail(t, m.GatewayUser, m.GatewayPass, "INBOX", 1, mailWait)
}

func TestMailOptions(t *testing.T) {
	t.Parallel()
	m := StartMail(t, MailOptions{GatewayDomain: "gw.example.test", CustomerDomain: "cust.test", BounceDomain: "nowhere.test", GatewayPass: "pw"})
	if m.GatewayUser != "gateway@gw.example.test" {
		t.Fatalf("GatewayUser %q", m.GatewayUser)
	}
	m.AddUser(t, "eve@cust.test", "eve-pw")
	m.Send(t, "eve@cust.test", []string{"a@gw.example.test"}, mailMsg("eve@cust.test", "a@gw.example.test", "hi gw", "x"))
	m.Send(t, "a@gw.example.test", []string{"z@nowhere.test"}, mailMsg("a@gw.example.test", "z@nowhere.test", "nowhere", "x"))
	got := m.WaitMail(t, m.GatewayUser, "pw", "INBOX", 2, mailWait)
	for _, fm := range got {
		if dt := header(fm.Raw, "Delivered-To"); !slices.Equal(dt, []string{"a@gw.example.test"}) {
			t.Errorf("Delivered-To %q", dt)
		}
	}
	err := m.SendErr("x@ext.test", []string{"nobody@cust.test"}, mailMsg("x@ext.test", "nobody@cust.test", "x", "x"))
	requireSMTPCode(t, err, 5, "unknown customer")
}
