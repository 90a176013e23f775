package gateway

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/guard"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

// TestOutboundGuardHoldsAndReleases pins the outbound guard: a text that
// carries the employee's real name or an inside host is held and its
// author told why and how to send it anyway; the marked resend goes
// without the marker; both are counted in the audit log; the persona's
// own name and a contact's message pass untouched.
func TestOutboundGuardHoldsAndReleases(t *testing.T) {
	gd, err := guard.New(guard.Rules{InsideDomains: []string{"corp.test"}, Terms: []string{"Project Sakura"}})
	if err != nil {
		t.Fatal(err)
	}
	g := startTestGateway(t, t.TempDir(), func(o *Options) { o.Guard = gd })
	defer g.stop()
	ctx := context.Background()
	for _, tc := range []struct{ body, term string }{
		{"Regards, Hana Sato", "Sato"},
		{"the file is at https://upload.corp.test/x/quote.pdf", "upload.corp.test"},
		{"write to ken@corp.test directly", "ken@corp.test"},
		{"this is for project sakura", "project sakura"},
		{"ＳＡＴＯ here", "ＳＡＴＯ"},
	} {
		receiveOK(t, g, fromHana("h-"+tc.term, tc.body))
		o := recv(t, g.inside.Sent)
		if o.Kind != KindRefusal || o.Refusal == nil || o.Refusal.Reason != routing.NotAllowed ||
			!strings.Contains(strings.ToLower(o.Refusal.Text), strings.ToLower(tc.term)) || !strings.Contains(o.Refusal.Text, SendAnyway) {
			t.Fatalf("%q: answer %+v", tc.body, o)
		}
	}
	// A file's caption reaches the contact too.
	for _, f := range []Attachment{
		{Name: "plan.pdf", Description: "the Project Sakura plan", URL: "http://127.0.0.1/a/plan.pdf"},
		{Name: "scan.pdf", Description: "signed, H. Sato", URL: "http://127.0.0.1/a/scan.pdf"},
	} {
		m := fromHana("h-file-"+f.Name, "")
		m.Files = []Attachment{f}
		receiveOK(t, g, m)
		o := recv(t, g.inside.Sent)
		if o.Kind != KindRefusal || o.Refusal == nil || o.Refusal.Reason != routing.NotAllowed || !strings.Contains(o.Refusal.Text, "Change the caption") {
			t.Fatalf("file %+v: answer %+v", f, o)
		}
	}
	// A file's name is the employee's own choice: not held (this gateway
	// carries no files, so the message fails there, not at the guard).
	m := fromHana("h-file-name", "")
	m.Files = []Attachment{{Name: "Hana_Sato_CV.pdf", URL: "http://127.0.0.1/a/Hana_Sato_CV.pdf"}}
	receiveOK(t, g, m)
	if o := recv(t, g.inside.Sent); o.Refusal == nil || o.Refusal.Reason == routing.NotAllowed {
		t.Fatalf("a file name was held: %+v", o)
	}
	quiet(t, g.outside.Sent, 100*time.Millisecond)

	// The persona's name and plain text pass.
	receiveOK(t, g, fromHana("h-ok", "Hello, this is Hana from ACME Sales"))
	if o := recv(t, g.outside.Sent); o.Body != "Hello, this is Hana from ACME Sales" {
		t.Fatalf("clean text: %+v", o)
	}
	// Sent anyway, without the marker.
	receiveOK(t, g, fromHana("h-anyway", SendAnyway+"Regards, Hana Sato"))
	if o := recv(t, g.outside.Sent); o.Body != "Regards, Hana Sato" {
		t.Fatalf("released: %+v", o)
	}
	// A contact's text is not the guard's business.
	receiveOK(t, g, fromBob("b1", "is Hana Sato there? corp.test"))
	if o := recv(t, g.inside.Sent); o.Body != "is Hana Sato there? corp.test" {
		t.Fatalf("inward: %+v", o)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		held, err := g.state.Audit(ctx, identity.AuditQuery{Action: "guard.hold"})
		if err != nil {
			t.Fatal(err)
		}
		released, err := g.state.Audit(ctx, identity.AuditQuery{Action: "guard.release"})
		if err != nil {
			t.Fatal(err)
		}
		if len(held) == 7 && len(released) == 1 {
			if held[0].Actor != "employee:hana" || strings.Contains(string(held[0].Details), "Regards") {
				t.Fatalf("audit entry: %+v", held[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit: %d holds, %d releases", len(held), len(released))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHeldFirstMessageKeepsTheSubscription: the message that starts a
// relationship carries the persona's subscription request; when it is
// held (or its file refused), the next one that goes carries it instead,
// and only that one.
func TestHeldFirstMessageKeepsTheSubscription(t *testing.T) {
	gd, err := guard.New(guard.Rules{Terms: []string{"Project Sakura"}})
	if err != nil {
		t.Fatal(err)
	}
	g := startTestGateway(t, t.TempDir(), func(o *Options) { o.Guard = gd })
	defer g.stop()
	carol := `carol\40ext.test@gw.corp.test`
	receiveOK(t, g, &Message{Network: "corp", From: hanaIn, ReplyTo: hanaIn, To: carol, ID: "c1", Body: "Project Sakura news"})
	if o := recv(t, g.inside.Sent); o.Kind != KindRefusal {
		t.Fatalf("held: %+v", o)
	}
	for i, want := range []bool{true, false} {
		receiveOK(t, g, &Message{Network: "corp", From: hanaIn, ReplyTo: hanaIn, To: carol, ID: fmt.Sprint("c", i+2), Body: "Hello Carol"})
		if o := recv(t, g.outside.Sent); o.To != "carol@ext.test" || o.Subscribe != want {
			t.Fatalf("message %d: %+v, want Subscribe %v", i+2, o, want)
		}
	}
}
