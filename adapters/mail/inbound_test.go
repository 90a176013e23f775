package mail

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/routing"
)

// fakeCore is the gateway as the adapter sees it, for ingest alone: it
// stores every message at once and knows the personas in personas.
type fakeCore struct {
	personas map[string]bool
	mu       sync.Mutex
	got      []*gateway.Message
}

func (c *fakeCore) Receive(ctx context.Context, m *gateway.Message) error {
	return c.Accept(ctx, m, nil)
}

func (c *fakeCore) Accept(_ context.Context, m *gateway.Message, stored func(error)) error {
	c.mu.Lock()
	c.got = append(c.got, m)
	c.mu.Unlock()
	if stored != nil {
		stored(nil)
	}
	return nil
}

func (c *fakeCore) Profile(_, addr string) (gateway.Profile, bool) {
	return gateway.Profile{Name: addr}, c.personas[addr]
}

func (c *fakeCore) Failed(context.Context, gateway.Bounce) {}

// inbound builds a mail as the receiving server stores it: trace headers
// (Return-Path, Delivered-To, Authentication-Results) above the sender's.
func inbound(returnPath, deliveredTo, authResults, from string, extra ...string) []byte {
	var b strings.Builder
	if returnPath != "-" {
		fmt.Fprintf(&b, "Return-Path: <%s>\r\n", returnPath)
	}
	fmt.Fprintf(&b, "Delivered-To: %s\r\n", deliveredTo)
	if authResults != "" {
		fmt.Fprintf(&b, "Authentication-Results: mx.contact.acme.test; %s\r\n", authResults)
	}
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: Hello\r\nMessage-ID: <%d.%d@mail.test>\r\n", from, deliveredTo, len(from), len(returnPath)+len(authResults))
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\nIs this the sales team?\r\n")
	return []byte(b.String())
}

// TestIngestAnswersOnlyTheVouchedEnvelopeSender: a refusal or notice may
// go only to the envelope sender, only when a trusted server vouched for
// it, and never to a machine; mail for nobody that may not be answered is
// quarantined, with a log line saying why. Mail for a persona is relayed
// either way, keyed on its From.
func TestIngestAnswersOnlyTheVouchedEnvelopeSender(t *testing.T) {
	const (
		persona = "hana.sales@contact.acme.test"
		nobody  = "nobody.here@contact.acme.test"
		spfPass = "spf=pass smtp.mailfrom=mail.test"
	)
	tests := []struct {
		name        string
		raw         []byte
		wantFrom    string // "" when nothing reaches the gateway
		wantReplyTo string
		quarantined string // a word of the log line, when quarantined
	}{
		{"forged From, SPF pass for the envelope sender",
			inbound("eve@mail.test", nobody, spfPass, "Victim <victim@other.test>"),
			"victim@other.test", "eve@mail.test", ""},
		{"DMARC pass for the From domain",
			inbound("bounce-123@lists.other.test", nobody, "dmarc=pass header.from=other.test", "carol@other.test"),
			"carol@other.test", "bounce-123@lists.other.test", ""},
		{"DMARC pass for the attacker's own From domain, envelope sender the victim's",
			inbound("victim@anywhere.test", nobody, "dmarc=pass header.from=attacker.test", "x@attacker.test"),
			"", "", "aligned with the envelope sender: false"},
		{"DMARC pass, envelope sender in a parent domain of From",
			inbound("bounces@other.test", nobody, "dmarc=pass header.from=mail.other.test", "carol@mail.other.test"),
			"carol@mail.other.test", "bounces@other.test", ""},
		{"DMARC pass, envelope sender in a sibling domain",
			inbound("victim@b.other.test", nobody, "dmarc=pass header.from=a.other.test", "x@a.other.test"),
			"", "", "neither SPF"},
		{"SPF for another domain than the envelope sender's",
			inbound("eve@attacker.test", nobody, spfPass, "carol@mail.test"),
			"", "", "neither SPF for attacker.test"},
		{"SPF fail",
			inbound("eve@mail.test", nobody, "spf=fail smtp.mailfrom=mail.test", "eve@mail.test"),
			"", "", "neither SPF"},
		{"no verdict at all",
			inbound("eve@mail.test", nobody, "", "eve@mail.test"),
			"", "", "neither SPF"},
		{"a pass from an untrusted authserv-id",
			[]byte(strings.Replace(string(inbound("eve@mail.test", nobody, spfPass, "eve@mail.test")), "mx.contact.acme.test;", "mx.evil.test;", 1)),
			"", "", "neither SPF"},
		{"no envelope sender",
			inbound("-", nobody, spfPass, "eve@mail.test"),
			"", "", "no envelope sender"},
		{"MAILER-DAEMON",
			inbound("MAILER-DAEMON@mail.test", nobody, spfPass, "MAILER-DAEMON@mail.test"),
			"", "", "mail system"},
		{"a list's request address",
			inbound("sales-request@mail.test", nobody, spfPass, "sales@mail.test"),
			"", "", "mail system"},
		{"null sender: the gateway drops it as automatic, never answers",
			inbound("", nobody, spfPass, "eve@mail.test"),
			"eve@mail.test", "", ""},
		{"Auto-Submitted: the gateway drops it, never answers",
			inbound("eve@mail.test", nobody, spfPass, "eve@mail.test", "Auto-Submitted: auto-replied"),
			"eve@mail.test", "", ""},
		{"Precedence bulk",
			inbound("eve@mail.test", nobody, spfPass, "eve@mail.test", "Precedence: bulk"),
			"eve@mail.test", "", ""},
		{"unauthenticated mail to a persona is relayed, never answered",
			inbound("bob@mail.test", persona, "", "Bob <bob@mail.test>"),
			"bob@mail.test", "", ""},
		{"authenticated mail to a persona may be answered",
			inbound("Bob@Mail.Test", persona, spfPass, "Bob <bob@mail.test>"),
			"bob@mail.test", "bob@mail.test", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := openTestAdapter(t)
			var log bytes.Buffer
			a.log = slog.New(slog.NewTextHandler(&log, nil))
			a.cfg.TrustedAuthServIDs = []string{"mx.contact.acme.test"}
			core := &fakeCore{personas: map[string]bool{persona: true}}
			q, err := a.ingest(context.Background(), core, "INBOX", []fetched{{uid: 1, raw: tt.raw}})
			if err != nil {
				t.Fatal(err)
			}
			if tt.quarantined != "" {
				if !q[0] || len(core.got) != 0 {
					t.Fatalf("not quarantined: %v, gateway got %+v", q, core.got)
				}
				if !strings.Contains(log.String(), "mail quarantined") || !strings.Contains(log.String(), tt.quarantined) {
					t.Errorf("log does not say why (%q):\n%s", tt.quarantined, log.String())
				}
				return
			}
			if q[0] || len(core.got) != 1 {
				t.Fatalf("quarantined %v, gateway got %d messages\n%s", q, len(core.got), log.String())
			}
			if m := core.got[0]; m.From != tt.wantFrom || m.ReplyTo != tt.wantReplyTo {
				t.Errorf("From %q ReplyTo %q; want %q, %q", m.From, m.ReplyTo, tt.wantFrom, tt.wantReplyTo)
			}
		})
	}
}

// TestIngestCanonicalAddresses: every address that enters has one
// spelling; a From that has none is quarantined and never becomes a
// contact.
func TestIngestCanonicalAddresses(t *testing.T) {
	const spfPass = "spf=pass smtp.mailfrom=mail.test"
	good := []struct{ name, from, deliveredTo, returnPath, wantFrom, wantTo, wantReplyTo string }{
		{"case and trailing dots", "Bob <Bob@Mail.Test.>", "Hana.Sales@Contact.Acme.Test.", "BOB@MAIL.TEST.", "bob@mail.test", "hana.sales@contact.acme.test", "bob@mail.test"},
		{"IDN domain", "bob@bücher.example", "hana.sales@contact.acme.test", "bob@mail.test", "bob@xn--bcher-kva.example", "hana.sales@contact.acme.test", "bob@mail.test"},
		{"plus and dots kept", "b.o.b+tag@mail.test", "hana.sales@contact.acme.test", "b.o.b+tag@mail.test", "b.o.b+tag@mail.test", "hana.sales@contact.acme.test", "b.o.b+tag@mail.test"},
	}
	for _, tt := range good {
		t.Run(tt.name, func(t *testing.T) {
			a := openTestAdapter(t)
			a.cfg.TrustedAuthServIDs = []string{"mx.contact.acme.test"}
			core := &fakeCore{personas: map[string]bool{"hana.sales@contact.acme.test": true}}
			q, err := a.ingest(context.Background(), core, "INBOX", []fetched{{uid: 1, raw: inbound(tt.returnPath, tt.deliveredTo, spfPass, tt.from)}})
			if err != nil || q[0] || len(core.got) != 1 {
				t.Fatalf("err %v quarantined %v got %d", err, q, len(core.got))
			}
			if m := core.got[0]; m.From != tt.wantFrom || m.To != tt.wantTo || m.ReplyTo != tt.wantReplyTo {
				t.Errorf("From %q To %q ReplyTo %q; want %q %q %q", m.From, m.To, m.ReplyTo, tt.wantFrom, tt.wantTo, tt.wantReplyTo)
			}
		})
	}
	bad := []struct{ name, from, why string }{
		{"two @", "bob@@mail.test", "From"},
		{"@ in the domain", "bob@mail.test@x.test", "From"},
		{"space in the local part", "bob x@mail.test", "From"},
		{"local part over 64 octets", strings.Repeat("b", 65) + "@mail.test", "64"},
		{"bad label", "bob@-mail.test", "domain"},
		{".invalid", "bob@mail.invalid", "invalid"},
		{"localhost", "bob@localhost", "localhost"},
		{"IP literal", "bob@[192.0.2.1]", "IP address"},
		{"no domain", "MAILER-DAEMON", "From"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			a := openTestAdapter(t)
			var log bytes.Buffer
			a.log = slog.New(slog.NewTextHandler(&log, nil))
			core := &fakeCore{personas: map[string]bool{"hana.sales@contact.acme.test": true}}
			q, err := a.ingest(context.Background(), core, "INBOX", []fetched{{uid: 1, raw: inbound("bob@mail.test", "hana.sales@contact.acme.test", spfPass, tt.from)}})
			if err != nil || !q[0] || len(core.got) != 0 {
				t.Fatalf("err %v quarantined %v got %+v", err, q, core.got)
			}
			if !strings.Contains(log.String(), "mail quarantined") || !strings.Contains(log.String(), tt.why) {
				t.Errorf("log does not say what is wrong (%q):\n%s", tt.why, log.String())
			}
		})
	}
}

// TestIngestRedeliveryIsTheSameMessage: a mail offered again (stored, but
// still in the inbox after a crash or a renumbered mailbox) becomes the
// very same gateway message, subject included, so the gateway drops it as
// a duplicate; whether the first time started a thread, changed its
// subject or continued it.
func TestIngestRedeliveryIsTheSameMessage(t *testing.T) {
	const persona = "hana.sales@contact.acme.test"
	a := openTestAdapter(t)
	core := &fakeCore{personas: map[string]bool{persona: true}}
	mail := func(id, subject, inReplyTo string) fetched {
		raw := "Return-Path: <bob@mail.test>\r\nDelivered-To: " + persona + "\r\nFrom: Bob <bob@mail.test>\r\nTo: " + persona +
			"\r\nSubject: " + subject + "\r\nMessage-ID: <" + id + ">\r\n"
		if inReplyTo != "" {
			raw += "In-Reply-To: <" + inReplyTo + ">\r\n"
		}
		return fetched{uid: 1, raw: []byte(raw + "\r\nText of " + id + "\r\n")}
	}
	first := []fetched{
		mail("a@mail.test", "Quote", ""),                // starts a thread: subject shown
		mail("b@mail.test", "Re: Quote", "a@mail.test"), // continues: no subject
		mail("c@mail.test", "Delivery", "b@mail.test"),  // a new subject in the thread: shown
	}
	for _, f := range first {
		if _, err := a.ingest(context.Background(), core, "INBOX", []fetched{f}); err != nil {
			t.Fatal(err)
		}
	}
	// Again, out of order (the thread's subject is now "Delivery"), one
	// alone and two in one batch, as after a resync.
	for _, batch := range [][]fetched{{first[1]}, {first[2], first[0]}} {
		if _, err := a.ingest(context.Background(), core, "INBOX", batch); err != nil {
			t.Fatal(err)
		}
	}
	if len(core.got) != 6 {
		t.Fatalf("gateway got %d messages", len(core.got))
	}
	// Offered again: b as got[3], c as got[4], a as got[5].
	for i, j := range []int{5, 3, 4} {
		if was, again := withoutOpen(core.got[i]), withoutOpen(core.got[j]); !reflect.DeepEqual(was, again) {
			t.Errorf("mail %d offered again differs:\n%+v\n%+v", i, was, again)
		}
	}
	if core.got[0].Subject != "Quote" || core.got[1].Subject != "" || core.got[2].Subject != "Delivery" {
		t.Errorf("subjects %q %q %q", core.got[0].Subject, core.got[1].Subject, core.got[2].Subject)
	}
}

// withoutOpen is m without its files' Open functions (which no two
// messages share), for reflect.DeepEqual.
func withoutOpen(m *gateway.Message) gateway.Message {
	c := *m
	c.Files = slices.Clone(m.Files)
	for i := range c.Files {
		c.Files[i].Open = nil
	}
	return c
}

// refusingCore refuses every message as the gateway does a sender it may
// not answer.
type refusingCore struct{ fakeCore }

func (c *refusingCore) Accept(_ context.Context, m *gateway.Message, stored func(error)) error {
	if m.ReplyTo != "" {
		return c.fakeCore.Accept(context.Background(), m, stored)
	}
	stored(&gateway.UnansweredError{Refusal: &routing.Refusal{Reason: routing.TooLarge, Text: "message too long"}})
	return nil
}

// TestIngestQuarantinesWhatTheGatewayRefusedUnanswered: mail to a persona
// that the gateway refuses (too long, say) from a sender nobody vouched
// for is set aside for a person, never dropped, and the batch goes on;
// the same mail from a vouched sender is answered by the gateway.
func TestIngestQuarantinesWhatTheGatewayRefusedUnanswered(t *testing.T) {
	a := openTestAdapter(t)
	a.cfg.TrustedAuthServIDs = []string{"mx.contact.acme.test"}
	var log bytes.Buffer
	a.log = slog.New(slog.NewTextHandler(&log, nil))
	core := &refusingCore{fakeCore{personas: map[string]bool{"hana.sales@contact.acme.test": true}}}
	q, err := a.ingest(context.Background(), core, "INBOX", []fetched{
		{uid: 1, raw: inbound("bob@mail.test", "hana.sales@contact.acme.test", "", "bob@mail.test")},
		{uid: 2, raw: inbound("carol@mail.test", "hana.sales@contact.acme.test", "spf=pass smtp.mailfrom=mail.test", "carol@mail.test")},
	})
	if err != nil || len(q) != 2 || !q[0] || q[1] {
		t.Fatalf("err %v quarantined %v", err, q)
	}
	if !strings.Contains(log.String(), "mail quarantined") || !strings.Contains(log.String(), "message too long") {
		t.Errorf("log does not say why:\n%s", log.String())
	}
}
