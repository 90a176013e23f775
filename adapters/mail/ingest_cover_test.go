package mail

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/routing"
)

// recordCore is the gateway as ingest sees it, recording what the adapter
// reports: messages, failures of sent messages (bounces) and contacts out
// of reach (unsubscribes). The personas are known, also at their tagged
// addresses (sales+expo@), as the gateway knows them.
type recordCore struct {
	mu       sync.Mutex
	got      []*gateway.Message
	failed   []failure
	unreach  []string // id: why
	personas map[string]bool
	// changed is signalled (without blocking) on every report, for tests
	// that wait for a running adapter.
	changed chan struct{}
}

type failure struct{ id, reason, gone string }

func newRecordCore(personas ...string) *recordCore {
	c := &recordCore{personas: map[string]bool{}, changed: make(chan struct{}, 1)}
	for _, p := range personas {
		c.personas[p] = true
	}
	return c
}

func (c *recordCore) note(f func()) {
	c.mu.Lock()
	f()
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

func (c *recordCore) Receive(ctx context.Context, m *gateway.Message) error {
	return c.Accept(ctx, m, nil)
}

func (c *recordCore) Accept(_ context.Context, m *gateway.Message, stored func(error)) error {
	c.note(func() { c.got = append(c.got, m) })
	if stored != nil {
		stored(nil)
	}
	return nil
}

func (c *recordCore) Profile(_, addr string) (gateway.Profile, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	base, _, _ := routing.SplitSource(addr)
	return gateway.Profile{Name: addr}, c.personas[base]
}

func (c *recordCore) Failed(_ context.Context, b gateway.Bounce) {
	c.note(func() { c.failed = append(c.failed, failure{b.ID, b.Reason, b.Gone}) })
}

func (c *recordCore) ContactGone(context.Context, gateway.ContactEvent) {}
func (c *recordCore) ContactBack(context.Context, gateway.ContactEvent) {}
func (c *recordCore) ContactUnreachable(_ context.Context, _, id, why string) {
	c.note(func() { c.unreach = append(c.unreach, id+": "+why) })
}

// snapshot returns copies of what was reported so far.
func (c *recordCore) snapshot() ([]*gateway.Message, []failure, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*gateway.Message(nil), c.got...), append([]failure(nil), c.failed...), append([]string(nil), c.unreach...)
}

var _ gateway.ContactTracker = (*recordCore)(nil)

const hanaSales = "hana.sales@contact.acme.test"

// dsn builds a delivery status notification as Postfix sends it: null
// sender, multipart/report with the returned message's headers, to the
// envelope recipient rcpt (Delivered-To) for recipients that failed with
// status (or, for 4.x.x, were delayed).
func dsn(rcpt, status string, failed ...string) []byte {
	action := "failed"
	if strings.HasPrefix(status, "4.") {
		action = "delayed"
	}
	var blocks strings.Builder
	for _, f := range failed {
		fmt.Fprintf(&blocks, "\r\nFinal-Recipient: rfc822; %s\r\nOriginal-Recipient: rfc822;%s\r\nAction: %s\r\nStatus: %s\r\n"+
			"Diagnostic-Code: smtp; 550 %s <%s>: Recipient address rejected\r\n", f, f, action, status, status, f)
	}
	return []byte("Return-Path: <>\r\nDelivered-To: " + rcpt + "\r\n" +
		"From: MAILER-DAEMON@mx.mail.test (Mail Delivery System)\r\nTo: " + rcpt + "\r\n" +
		"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn." + status + "." + rcpt + ">\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n" +
		"--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n" +
		"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.mail.test\r\n" + blocks.String() +
		"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: " + hanaSales + "\r\nMessage-ID: <sent@contact.acme.test>\r\n" +
		"--B--\r\n")
}

// ingestOne runs one mail through ingest with a log the test can read.
func ingestOne(t *testing.T, a *Adapter, core gateway.Core, raw []byte) (quarantined bool, log string) {
	t.Helper()
	var b bytes.Buffer
	a.log = slog.New(slog.NewTextHandler(&b, nil))
	q, err := a.ingest(context.Background(), core, "INBOX", []fetched{{uid: 7, raw: raw}})
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	return q[0], b.String()
}

// TestIngestBouncesFailTheMessageTheyReturn: a delivery report reaching
// one of the gateway's return paths (VERP: bounces+<message id, expiry,
// MAC>@domain) fails that message, worded for its author; a report the
// gateway cannot tie to a message it sent, or that reports no failure,
// is set aside for a person instead, and nothing is relayed either way.
func TestIngestBouncesFailTheMessageTheyReturn(t *testing.T) {
	a := openTestAdapter(t)
	now := a.cfg.Now()
	ret, err := a.verp.Address("q42", now)
	if err != nil {
		t.Fatal(err)
	}
	old, err := a.verp.Address("q41", now.Add(-15*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tamper := func(s string) string { // the same shape, another message ID
		return strings.Replace(s, "q42", "q43", 1)
	}
	autoReply := []byte("Return-Path: <>\r\nDelivered-To: " + ret + "\r\nFrom: bob@mail.test\r\nTo: " + ret +
		"\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\n\r\nI am away.\r\n")
	inTo := bytes.Replace(dsn(ret, "5.1.1", "carol@mail.test"), []byte("Delivered-To: "+ret), []byte("Delivered-To: "+hanaSales), 1)
	mailerDaemon := []byte("Return-Path: <>\r\nDelivered-To: " + ret + "\r\nFrom: MAILER-DAEMON@old.mail.test\r\nTo: " + ret +
		"\r\nSubject: failure notice\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n" +
		"--x\r\n\r\nSorry.\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; dave@mail.test\r\nAction: failed\r\nStatus: 5.2.1\r\n--x--\r\n")
	tests := []struct {
		name        string
		raw         []byte
		want        *failure
		quarantined string
	}{
		{"a report that the address does not exist", dsn(ret, "5.1.1", "carol@mail.test"),
			&failure{"q42", "the address does not exist (bounced: carol@mail.test: 5.1.1 550 5.1.1 <carol@mail.test>: Recipient address rejected)",
				"has an address that does not exist (5.1.1)"}, ""},
		{"a full mailbox says nothing about the address", dsn(ret, "5.2.2", "carol@mail.test"),
			&failure{"q42", "bounced: carol@mail.test: 5.2.2 550 5.2.2 <carol@mail.test>: Recipient address rejected", ""}, ""},
		{"two recipients: the first dead address speaks for the message", dsn(ret, "5.1.2", "Carol@Mail.Test", "dave@mail.test"),
			&failure{"q42", "the address's domain does not exist (bounced: carol@mail.test: 5.1.2 550 5.1.2 <Carol@Mail.Test>: Recipient address rejected; " +
				"dave@mail.test: 5.1.2 550 5.1.2 <dave@mail.test>: Recipient address rejected)", "has an address whose domain does not exist (5.1.2)"}, ""},
		{"the return path named in To only", inTo,
			&failure{"q42", "the address does not exist (bounced: carol@mail.test: 5.1.1 550 5.1.1 <carol@mail.test>: Recipient address rejected)",
				"has an address that does not exist (5.1.1)"}, ""},
		{"an old MTA's report outside multipart/report", mailerDaemon,
			&failure{"q42", "the contact closed their account (mailbox disabled) (bounced: dave@mail.test: 5.2.1)", "closed their account: their mailbox is disabled (5.2.1)"}, ""},
		{"a delay is not a failure", dsn(ret, "4.4.1", "carol@mail.test"), nil, "reports no failure"},
		{"an expired return path", dsn(old, "5.1.1", "carol@mail.test"), nil, "expired"},
		{"a return path the gateway did not sign", dsn(tamper(ret), "5.1.1", "carol@mail.test"), nil, "did not issue"},
		{"a report to a persona, not to a return path", dsn(hanaSales, "5.1.1", "carol@mail.test"), nil, "not addressed to one of the gateway's return paths"},
		{"an auto-reply to a return path", autoReply, nil, "not a delivery report"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			core := newRecordCore(hanaSales)
			q, log := ingestOne(t, a, core, tc.raw)
			got, failed, _ := core.snapshot()
			if len(got) != 0 {
				t.Errorf("relayed %+v", got[0])
			}
			if tc.quarantined != "" {
				if !q || len(failed) != 0 || !strings.Contains(log, tc.quarantined) {
					t.Errorf("quarantined %v, failed %+v, log:\n%s", q, failed, log)
				}
				return
			}
			if q || len(failed) != 1 || failed[0] != *tc.want {
				t.Errorf("quarantined %v, failed %+v\nwant %+v\nlog:\n%s", q, failed, *tc.want, log)
			}
		})
	}
}

// TestIngestUnsubscribe: mail to a broadcast's unsubscribe address (the
// List-Unsubscribe mailto of the mail) marks its contact out of reach;
// an address the gateway did not issue, or one that expired, is set aside.
func TestIngestUnsubscribe(t *testing.T) {
	a := openTestAdapter(t)
	now := a.cfg.Now()
	addr, err := a.unsub.Address("b7", now)
	if err != nil {
		t.Fatal(err)
	}
	old, err := a.unsub.Address("b6", now.Add(-400*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	unsubscribe := func(to string) []byte {
		return []byte("Return-Path: <bob@mail.test>\r\nDelivered-To: " + to + "\r\nFrom: bob@mail.test\r\nTo: " + to +
			"\r\nSubject: unsubscribe\r\n\r\nunsubscribe\r\n")
	}
	tests := []struct {
		name, to    string
		unreach     []string
		quarantined string
	}{
		{"issued and valid", addr, []string{"b7: unsubscribed from your mail"}, ""},
		{"in another case, as some clients write it", strings.ToUpper(addr), []string{"b7: unsubscribed from your mail"}, ""},
		{"expired", old, nil, "expired"},
		{"forged", strings.Replace(addr, "b7", "b8", 1), nil, "did not issue"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			core := newRecordCore(hanaSales)
			q, log := ingestOne(t, a, core, unsubscribe(tc.to))
			got, _, unreach := core.snapshot()
			if len(got) != 0 || fmt.Sprint(unreach) != fmt.Sprint(tc.unreach) {
				t.Errorf("relayed %d, unreachable %q; want %q", len(got), unreach, tc.unreach)
			}
			if q != (tc.quarantined != "") || !strings.Contains(log, tc.quarantined) {
				t.Errorf("quarantined %v, want %q; log:\n%s", q, tc.quarantined, log)
			}
		})
	}
}

// TestIngestSetsAsideOrDrops: what cannot be shown goes to quarantine
// with the reason logged; the gateway's own mail come back (a loop) is
// dropped without either.
func TestIngestSetsAsideOrDrops(t *testing.T) {
	const spf = "Authentication-Results: mx.contact.acme.test; spf=pass smtp.mailfrom=mail.test"
	mail := func(headers ...string) []byte {
		return []byte(strings.Join(headers, "\r\n") + "\r\n\r\nHello.\r\n")
	}
	tests := []struct {
		name        string
		raw         []byte
		quarantined string // "" when dropped
		dropped     string // a word of the log line when dropped
	}{
		{"no From at all", mail("Delivered-To: "+hanaSales, "Subject: hi"), "cannot be read", ""},
		{"a multipart that never ends",
			[]byte("From: bob@mail.test\r\nDelivered-To: " + hanaSales + "\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\ntruncated"),
			"never closed", ""},
		{"DMARC failed for the From domain",
			mail("Return-Path: <x@spoof.test>", "Delivered-To: "+hanaSales,
				"Authentication-Results: mx.contact.acme.test; dmarc=fail header.from=bank.test", "From: Bank <support@bank.test>"),
			"DMARC failed for the sender's domain bank.test", ""},
		{"no recipient at the gateway's domain",
			mail("Return-Path: <bob@mail.test>", spf, "Delivered-To: bob@mail.test", "From: bob@mail.test", "To: carol@mail.test"),
			"no recipient at contact.acme.test", ""},
		{"from the gateway's own domain", mail("Return-Path: <x@contact.acme.test>", "Delivered-To: "+hanaSales, "From: ken.sales@contact.acme.test"),
			"", "mail loop"},
		{"a mail the gateway sent, come back", mail("Return-Path: <bob@mail.test>", "Delivered-To: "+hanaSales, "From: bob@mail.test",
			"Message-ID: <sent.1@contact.acme.test>"), "", "mail loop"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := openTestAdapter(t)
			a.cfg.TrustedAuthServIDs = []string{"mx.contact.acme.test"}
			// The gateway sent sent.1 earlier: its thread records it as outbound.
			tx, err := a.store.begin(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			th := a.newThread("hana.sales@contact.acme.test", "bob@mail.test", "sent.1@contact.acme.test", "Quote")
			th.add("sent.1@contact.acme.test")
			tx.save(th, "sent.1@contact.acme.test", refOutbound)
			if err := tx.Commit(context.Background()); err != nil {
				t.Fatal(err)
			}
			core := newRecordCore(hanaSales)
			q, log := ingestOne(t, a, core, tc.raw)
			got, _, _ := core.snapshot()
			if len(got) != 0 {
				t.Errorf("relayed %+v", got[0])
			}
			if tc.quarantined != "" {
				if !q || !strings.Contains(log, "mail quarantined") || !strings.Contains(log, tc.quarantined) {
					t.Errorf("quarantined %v, want %q; log:\n%s", q, tc.quarantined, log)
				}
				return
			}
			if q || strings.Contains(log, "quarantined") || !strings.Contains(log, tc.dropped) {
				t.Errorf("quarantined %v, want dropped (%q); log:\n%s", q, tc.dropped, log)
			}
		})
	}
}

// TestIngestThreadsPerPersonaAndContact: a reply continues its thread
// only between the same persona and contact; a persona's tagged address
// (sales+expo@) shares the persona's threads; one mail to two personas
// is one message for each, each in a thread of its own.
func TestIngestThreadsPerPersonaAndContact(t *testing.T) {
	a := openTestAdapter(t)
	const ken = "ken.sales@contact.acme.test"
	core := newRecordCore(hanaSales, ken)
	mail := func(from, to, id, inReplyTo, subject string) fetched {
		h := "Return-Path: <" + from + ">\r\nFrom: " + from + "\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nMessage-ID: <" + id + ">\r\n"
		if inReplyTo != "" {
			h += "In-Reply-To: <" + inReplyTo + ">\r\nReferences: <" + inReplyTo + ">\r\n"
		}
		return fetched{uid: 1, raw: []byte(h + "\r\nText\r\n")}
	}
	batches := [][]fetched{
		{mail("bob@mail.test", hanaSales, "a@mail.test", "", "Quote")},
		{mail("bob@mail.test", "hana.sales+expo@contact.acme.test", "b@mail.test", "a@mail.test", "Re: Quote")},
		{mail("carol@mail.test", hanaSales, "c@mail.test", "a@mail.test", "Re: Quote")},
		{mail("bob@mail.test", hanaSales+", "+ken, "d@mail.test", "", "Both of you")},
	}
	for _, b := range batches {
		if q, err := a.ingest(context.Background(), core, "INBOX", b); err != nil || q[0] {
			t.Fatalf("ingest: %v, quarantined %v", err, q)
		}
	}
	got, _, _ := core.snapshot()
	if len(got) != 5 {
		t.Fatalf("gateway got %d messages", len(got))
	}
	a1, b1, c1, d1, d2 := got[0], got[1], got[2], got[3], got[4]
	if b1.Thread != a1.Thread || b1.To != "hana.sales+expo@contact.acme.test" || b1.Subject != "" {
		t.Errorf("the tagged reply: thread %q (want %q), to %q, subject %q", b1.Thread, a1.Thread, b1.To, b1.Subject)
	}
	if c1.Thread == a1.Thread || c1.Subject != "Re: Quote" {
		t.Errorf("another contact's reply joined bob's thread (%q) or hid its subject (%q)", c1.Thread, c1.Subject)
	}
	if d1.To != hanaSales || d2.To != ken || d1.Thread == d2.Thread || d1.ID == d2.ID || d1.ID != "d@mail.test "+hanaSales {
		t.Errorf("one mail to two personas: %+v, %+v", d1, d2)
	}
}

// TestRenderSizes: attachment sizes read as a person says them.
func TestRenderSizes(t *testing.T) {
	for _, tc := range []struct {
		n    int64
		want string
	}{{0, "0 bytes"}, {1023, "1023 bytes"}, {1024, "1 KB"}, {1025, "2 KB"}, {1 << 20, "1.0 MB"}, {25 << 20, "25.0 MB"}} {
		if got := humanSize(tc.n); got != tc.want {
			t.Errorf("humanSize(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
