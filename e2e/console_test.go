package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/internal/browser"
)

// consoleTab is headless Chromium on the console of a real `kakehashi
// serve` (the harness's gateway), reached as a browser reaches it.
type consoleTab struct {
	t   *testing.T
	ctx context.Context
	g   *Gateway
}

func (b *consoleTab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	browser.Do(b.t, b.ctx, steps...)
}

func (b *consoleTab) eval(js string) string {
	b.t.Helper()
	return browser.Eval[string](b.t, b.ctx, js)
}

func (b *consoleTab) text(sel string) string {
	b.t.Helper()
	return browser.Text(b.t, b.ctx, sel)
}

// signIn opens the gateway's admin address, as a person given it would,
// and signs in through the form it leads to.
func (b *consoleTab) signIn(name, password string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.g.adminURL+"/"), chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#sign-in")),
		chromedp.WaitVisible(chromedp.CSS("main#page-overview")))
}

// addConsoleAdmin creates a named admin with a console password through
// `kakehashi admins add --password-file`.
func addConsoleAdmin(t *testing.T, g *Gateway, name, password string, flags ...string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(f, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"admins", "add", name, "--password-file", f, "--reason", "e2e console"}, flags...)
	if out, err := g.As(token, args...); err != nil {
		t.Fatalf("admins add %s: %v %s", name, err, out)
	}
}

// TestConsoleOverRealGateway: the console that `kakehashi serve` serves
// on its admin listener, in real Chromium, over real Prosody. A manager
// signs in with the password `kakehashi admins` gave her, sees the
// messages the clients exchanged counted in the overview, and moves bob
// from hana to ken with a preview: bob's next message reaches ken. Undo
// gives him back to hana, and his next message reaches her again. A lead
// of another team sees none of it.
func TestConsoleOverRealGateway(t *testing.T) {
	w := newWorld(t, worldOptions{})
	hana, ken, bob := w.client("hana"), w.client("ken"), w.client("bob")
	startConversation(t, hana, bob)
	if err := bob.Send(hanaAddr, "Thanks, Hana!"); err != nil {
		t.Fatal(err)
	}
	if got := message(t, hana); got.Body != "Thanks, Hana!" {
		t.Fatalf("hana got %s", got.Raw)
	}
	const pw = "correct horse battery staple"
	addConsoleAdmin(t, w.gw, "mgr", pw, "--role", "admin")
	addConsoleAdmin(t, w.gw, "other-lead", pw, "--role", "lead", "--team", "Support")

	b := &consoleTab{t: t, ctx: browser.New(t), g: w.gw}
	b.signIn("mgr", pw)
	if got := b.text(".who"); !strings.Contains(got, "admin:mgr") {
		t.Errorf("signed in as %q", got)
	}
	// The overview counts what crossed the gateway: 1 in, 1 out today.
	// The gateway hands its counts over every second.
	today := time.Now().UTC().Format(time.DateOnly)
	row := ""
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(300 * time.Millisecond) {
		b.do(chromedp.Navigate(w.gw.adminURL+"/console/"), chromedp.WaitVisible(chromedp.CSS("#chart-messages")))
		row = b.eval(fmt.Sprintf(`([...document.querySelectorAll('#chart-messages table.chart-data tr')].find(r => r.innerText.startsWith(%q)) || {innerText: ""}).innerText`, today))
		if cells := strings.Fields(row); len(cells) == 3 && cells[1] == "1" && cells[2] == "1" {
			break
		}
	}
	if cells := strings.Fields(row); len(cells) != 3 || cells[1] != "1" || cells[2] != "1" {
		t.Fatalf("today's messages in the overview's table: %q, want 1 received and 1 sent", row)
	}

	// Move bob to ken, seeing first what will move.
	b.do(chromedp.Navigate(w.gw.adminURL+"/console/contacts?owner=hana"), chromedp.WaitVisible(chromedp.CSS("#contacts-table")))
	if got := b.text("#contacts-table"); !strings.Contains(got, "bob@ext.test") {
		t.Fatalf("hana's contacts: %q", got)
	}
	b.do(chromedp.Click(chromedp.CSS(`#contacts-table input[name="rel"]`)),
		chromedp.SetValue(chromedp.CSS("#transfer-to"), "ken"),
		chromedp.SendKeys(chromedp.CSS("#transfer-reason"), "hana on leave"),
		chromedp.Click(chromedp.CSS("#transfer-preview")),
		chromedp.WaitVisible(chromedp.CSS("#preview-summary")))
	if got := b.text("#preview-targets"); !strings.Contains(got, "ken") || !strings.Contains(got, "1") {
		t.Errorf("preview: %q", got)
	}
	b.do(chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS("#done-summary")))
	id := b.text("#transfer-id")
	if !strings.HasPrefix(id, "t-") {
		t.Fatalf("transfer ID %q", id)
	}
	if err := bob.Send(hanaAddr, "after the move"); err != nil {
		t.Fatal(err)
	}
	if got := message(t, ken); got.Body != "after the move" {
		t.Fatalf("ken got %s", got.Raw)
	}
	silent(t, hana, 300*time.Millisecond)

	// Undo: bob is hana's again.
	// Undo leads to the transfer's page, which says it was undone.
	b.do(chromedp.Click(chromedp.CSS("#undo")), chromedp.WaitVisible(chromedp.CSS("dl#transfer")))
	if got := b.text("p.notice"); !strings.Contains(got, id) {
		t.Fatalf("after Undo: notice %q", got)
	}
	if err := bob.Send(hanaAddr, "after the undo"); err != nil {
		t.Fatal(err)
	}
	if got := message(t, hana); got.Body != "after the undo" {
		t.Fatalf("hana got %s", got.Raw)
	}
	// Both acts are in the audit log under the console's admin.
	for _, action := range []string{identity.ActionContactsTransfer, identity.ActionContactsRevert} {
		var l []identity.AuditEntry
		w.gw.JSON(&l, "audit", "--action", action)
		if len(l) == 0 || l[len(l)-1].Actor != "admin:mgr" {
			t.Errorf("audit of %s: %+v", action, l)
		}
	}

	// The lead of another team signs in and sees no contact of Sales.
	b.do(chromedp.Click(chromedp.CSS("#sign-out")), chromedp.WaitVisible(chromedp.CSS("#login-form")))
	b.signIn("other-lead", pw)
	b.do(chromedp.Navigate(w.gw.adminURL+"/console/contacts"), chromedp.WaitVisible(chromedp.CSS("main#page-contacts")))
	if got := b.text("main#page-contacts"); strings.Contains(got, "bob@ext.test") {
		t.Errorf("a lead of Support sees Sales' contact: %q", got)
	}
}
