package mail

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/adapters/mail/parse"
	"github.com/kakehashi/kakehashi/gateway"
)

func TestNormSubject(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"Quote", "Re: Quote"},
		{"Quote", "RE: re: Quote"},
		{"見積もり", "返信: 見積もり"},
		{"Quote  for   May", "Re: quote for may"},
		{"Note: price", "Re: Note: price"},
	} {
		if normSubject(tc.a) != normSubject(tc.b) {
			t.Errorf("%q and %q should be the same conversation (%q vs %q)", tc.a, tc.b, normSubject(tc.a), normSubject(tc.b))
		}
	}
	if normSubject("Quote") == normSubject("Invoice") {
		t.Error("different subjects compare equal")
	}
	if normSubject("Note: price") == normSubject("price") {
		t.Error("a colon in a subject is not a reply prefix")
	}
}

func TestThreadKeepsRootAndLatestReferences(t *testing.T) {
	th := &thread{}
	for i := range 50 {
		th.add(fmt.Sprintf("m%d@x.test", i))
	}
	th.add("m49@x.test") // again: no duplicate
	th.add("not an id")  // unusable in References: skipped
	th.add("<a@b>")
	// Build refuses these in References: one would make every later reply
	// in the thread unsendable.
	for _, bad := range []string{"a..b@x.test", "abc@mail.example.com.", "x@fe80::1", "a[1]@x.test", ".a@x.test"} {
		th.add(bad)
	}
	if len(th.Refs) != maxRefs || th.Refs[0] != "m0@x.test" || th.last() != "m49@x.test" {
		t.Fatalf("refs %v", th.Refs)
	}
}

// TestRenderShowsTextAndRobots: the text, a note when a machine wrote
// it, and no list of attachments (they cross as files); a mail of files
// alone has no text.
func TestRenderShowsTextAndRobots(t *testing.T) {
	files := []parse.Attachment{{Name: "見積書.pdf", Size: 120_000}, {Name: "photo.jpg", Size: 3 << 20}}
	for _, tt := range []struct {
		m    parse.Mail
		want string
	}{
		{parse.Mail{Text: "See the file.", Automatic: "Auto-Submitted: auto-replied", Attachments: files},
			"[automatic message: Auto-Submitted: auto-replied]\nSee the file."},
		{parse.Mail{Attachments: files}, ""},
		{parse.Mail{Automatic: "Precedence: bulk", Attachments: files}, "[automatic message: Precedence: bulk]"},
		{parse.Mail{}, "(no text)"},
	} {
		if got := render(&tt.m); got != tt.want {
			t.Errorf("render(%+v) = %q, want %q", tt.m, got, tt.want)
		}
	}
	if humanSize(120_000) != "118 KB" || humanSize(3<<20) != "3.0 MB" || humanSize(12) != "12 bytes" {
		t.Errorf("sizes %s, %s, %s", humanSize(120_000), humanSize(3<<20), humanSize(12))
	}
}

func openTestAdapter(t *testing.T) *Adapter {
	t.Helper()
	a, err := Open(context.Background(), Config{
		Network: "mail", Domain: "contact.acme.test", DataDir: t.TempDir(),
		IMAP: IMAPConfig{Server: "127.0.0.1:1"}, SMTP: SMTPConfig{Server: "127.0.0.1:1"},
		Now: func() time.Time { return time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// TestBounceClassification: only a delivery report to a return path the
// gateway signed, not expired, turns into a failure for a message.
func TestBounceClassification(t *testing.T) {
	a := openTestAdapter(t)
	ret, err := a.verp.Address("abc123", a.cfg.Now())
	if err != nil {
		t.Fatal(err)
	}
	dsn := &parse.Bounce{Recipients: []parse.BounceRecipient{{Addr: "x@bounce.test", Action: "failed", Status: "5.1.1", Diagnostic: "mailbox unavailable"}}}
	b, why := a.bounce(&parse.Mail{Bounce: dsn}, ret, true)
	if why != "" || b.id != "abc123" || !strings.Contains(b.reason, "x@bounce.test: 5.1.1 mailbox unavailable") {
		t.Fatalf("good bounce: %+v %q", b, why)
	}
	forged := strings.Replace(ret, "abc123", "abc124", 1)
	if _, why := a.bounce(&parse.Mail{Bounce: dsn}, forged, true); !strings.Contains(why, "did not issue") {
		t.Fatalf("forged return path: %q", why)
	}
	if _, why := a.bounce(&parse.Mail{Bounce: dsn}, "", false); why == "" {
		t.Fatal("a report to no return path must be quarantined")
	}
	delayed := &parse.Bounce{Recipients: []parse.BounceRecipient{{Addr: "x@bounce.test", Action: "delayed", Status: "4.4.1"}}}
	if _, why := a.bounce(&parse.Mail{Bounce: delayed}, ret, true); why == "" {
		t.Fatal("a delay is not a failure")
	}
	if _, why := a.bounce(&parse.Mail{}, ret, true); why == "" {
		t.Fatal("mail to a return path that is no report must not fail a message")
	}
	a.cfg.Now = func() time.Time { return time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC) }
	if _, why := a.bounce(&parse.Mail{Bounce: dsn}, ret, true); !strings.Contains(why, "expired") {
		t.Fatalf("expired return path: %q", why)
	}
}

func TestRecipientsPreferTheEnvelope(t *testing.T) {
	a := openTestAdapter(t)
	m := &parse.Mail{
		DeliveredTo: []string{"hana.sales@contact.acme.test"},
		To:          []parse.Address{{Addr: "hana.sales@contact.acme.test"}, {Addr: "ken.sales@contact.acme.test"}},
	}
	if got := a.recipients(m); len(got) != 1 || got[0] != "hana.sales@contact.acme.test" {
		t.Fatalf("got %v", got)
	}
	m.DeliveredTo = nil
	m.Cc = []parse.Address{{Addr: "someone@else.test"}, {Addr: "hana.sales@contact.acme.test"}}
	if got := a.recipients(m); len(got) != 2 || got[1] != "ken.sales@contact.acme.test" {
		t.Fatalf("without Delivered-To: %v", got)
	}
}

// TestMessageIDsAreStableAndOpaque: a retried send repeats its Message-ID
// (so the recipient's client shows one mail), and the ID says nothing of
// the gateway's own message ID.
func TestMessageIDsAreStableAndOpaque(t *testing.T) {
	a := openTestAdapter(t)
	id := a.messageID("q7f3abc")
	if id != a.messageID("q7f3abc") || id == a.messageID("q7f3abd") {
		t.Fatal("message IDs are not a function of the gateway ID")
	}
	if strings.Contains(id, "q7f3abc") || !strings.HasSuffix(id, "@contact.acme.test") {
		t.Fatalf("message ID %q", id)
	}
}

// TestThreadsSurviveAndBatch: threads written in one batch are found by
// any of their Message-IDs in later batches and after reopening the store.
func TestThreadsSurviveAndBatch(t *testing.T) {
	forEachStore(t, func(t *testing.T, where string) {
		ctx := context.Background()
		st, err := openStore(ctx, where, "mail")
		if err != nil {
			t.Fatal(err)
		}
		tx, err := st.begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		now := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
		for i := range 400 { // more than one multi-row chunk
			th := &thread{ID: fmt.Sprintf("t%d", i), Persona: "p@x.test", Contact: fmt.Sprintf("c%d@y.test", i), Subject: "S", Updated: now}
			th.add(fmt.Sprintf("root%d@y.test", i))
			tx.save(th, fmt.Sprintf("root%d@y.test", i), refInbound)
			// Seen within the same batch before the commit.
			if got, _, err := tx.byMessageID(ctx, fmt.Sprintf("root%d@y.test", i)); err != nil || got == nil || got.ID != th.ID {
				t.Fatalf("same batch lookup: %v %v", got, err)
			}
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		st.Close()
		if st, err = openStore(ctx, where, "mail"); err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		tx, err = st.begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if err := tx.preload(ctx, []string{"root7@y.test", "root399@y.test", "unknown@y.test"}); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"t7", "t399"} {
			if th := tx.threads[id]; th == nil || th.Contact == "" || len(th.Refs) != 1 || th.Updated.IsZero() {
				t.Fatalf("preload did not cache thread %s: %+v", id, th)
			}
		}
		for _, tc := range []struct{ id, thread string }{{"root7@y.test", "t7"}, {"root399@y.test", "t399"}, {"unknown@y.test", ""}} {
			th, out, err := tx.byMessageID(ctx, tc.id)
			if err != nil || out {
				t.Fatal(err, out)
			}
			if (th == nil) != (tc.thread == "") || (th != nil && (th.ID != tc.thread || th.last() != tc.id)) {
				t.Fatalf("%s: got %+v", tc.id, th)
			}
		}
		if th, err := tx.latest(ctx, "p@x.test", "c5@y.test", now.Add(-time.Hour)); err != nil || th == nil || th.ID != "t5" {
			t.Fatalf("latest: %+v %v", th, err)
		}
	})
}

// TestDeadAddress: an address that is wrong and an account that was
// closed are told apart, in words the author understands; everything
// else says nothing about the address.
func TestDeadAddress(t *testing.T) {
	for _, tc := range []struct {
		status, plain, gone string
	}{
		{"5.1.1", "the address does not exist", "has an address that does not exist (5.1.1)"},
		{"5.1.0", "the address does not exist", "has an address that does not exist (5.1.0)"},
		{"5.1.2", "the address's domain does not exist", "has an address whose domain does not exist (5.1.2)"},
		{"5.1.3", "the address is not a valid mail address", "has an address that is not a valid mail address (5.1.3)"},
		{"5.1.10", "the address's domain accepts no mail", "has an address whose domain accepts no mail (5.1.10)"},
		{"5.2.1", "the contact closed their account (mailbox disabled)", "closed their account: their mailbox is disabled (5.2.1)"},
		{"5.1.6", "the contact closed their account (mailbox moved, no new address given)", "closed their account: their mailbox has moved and left no new address (5.1.6)"},
		{"5.1.7", "", ""}, {"5.1.8", "", ""}, {"5.2.2", "", ""}, {"5.7.1", "", ""},
		{"5.1.4", "", ""}, {"4.1.1", "", ""}, {"4.2.1", "", ""}, {"", "", ""},
	} {
		plain, gone, ok := deadAddress(tc.status)
		if plain != tc.plain || gone != tc.gone || ok != (tc.gone != "") {
			t.Errorf("deadAddress(%q) = %q, %q, %v; want %q, %q", tc.status, plain, gone, ok, tc.plain, tc.gone)
		}
	}
	a := openTestAdapter(t)
	ret, err := a.verp.Address("abc123", a.cfg.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ status, reason, gone string }{
		{"5.1.1", "the address does not exist (bounced: x@bounce.test: 5.1.1 no such user)", "has an address that does not exist (5.1.1)"},
		{"5.2.1", "the contact closed their account (mailbox disabled) (bounced: x@bounce.test: 5.2.1 no such user)", "closed their account: their mailbox is disabled (5.2.1)"},
		{"5.2.2", "bounced: x@bounce.test: 5.2.2 no such user", ""},
	} {
		dsn := &parse.Bounce{Recipients: []parse.BounceRecipient{{Addr: "x@bounce.test", Action: "failed", Status: tc.status, Diagnostic: "no such user"}}}
		b, why := a.bounce(&parse.Mail{Bounce: dsn}, ret, true)
		if why != "" || b.reason != tc.reason || b.gone != tc.gone {
			t.Errorf("bounce %s: reason %q gone %q (%q)", tc.status, b.reason, b.gone, why)
		}
	}
}

// TestSendStoppedOrStoreFailedIsNotPermanent: a send cut short by the
// gateway's own shutdown, or by the adapter's own state, leaves the
// message pending (gateway.NotConnected), never failed; a message that cannot
// become mail is still permanent.
func TestSendStoppedOrStoreFailedIsNotPermanent(t *testing.T) {
	reply := &gateway.Outgoing{ID: "q1", Network: "mail", From: "hana.sales@contact.acme.test", To: "bob@mail.test", Nick: "Hana", Body: "Hello"}
	notice := &gateway.Outgoing{ID: "q2", Network: "mail", From: "hana.sales@contact.acme.test", To: "bob@mail.test", Kind: gateway.KindNotice, Body: "Your message could not be delivered"}
	pending := func(t *testing.T, err error, also error) {
		t.Helper()
		var se *gateway.SendError
		if !errors.As(err, &se) || se.Action != gateway.RetryWhenConnected || !errors.Is(err, gateway.ErrNotConnected) || (also != nil && !errors.Is(err, also)) {
			t.Fatalf("Send = %v (%T); want a NotConnected SendError wrapping %v", err, err, also)
		}
	}

	t.Run("shutdown", func(t *testing.T) {
		a := openTestAdapter(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		pending(t, a.Send(ctx, reply), context.Canceled)
		pending(t, a.Send(ctx, notice), context.Canceled)
	})
	t.Run("shutdown deadline", func(t *testing.T) {
		a := openTestAdapter(t)
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		pending(t, a.Send(ctx, reply), context.DeadlineExceeded)
	})
	t.Run("local storage", func(t *testing.T) {
		a := openTestAdapter(t)
		a.store.db.Close() // the state file is gone from under the adapter
		pending(t, a.Send(context.Background(), reply), errStore)
	})
	t.Run("invalid mail is permanent", func(t *testing.T) {
		a := openTestAdapter(t)
		bad := *reply
		bad.To = "bob smith@mail.test"
		var se *gateway.SendError
		if err := a.Send(context.Background(), &bad); !errors.As(err, &se) || se.Action != gateway.GiveUp {
			t.Fatalf("Send = %v; want a SendError that gives up", err)
		}
	})
}
