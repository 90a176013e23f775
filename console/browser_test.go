package console

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/internal/browser"
)

// The console in real headless Chromium (internal/browser): what a
// person does, clicking through the pages. With KAKEHASHI_SCREENSHOTS
// set, the tests save the README's screenshots there.

// tab is a browser tab on the world's console, served over plain http on
// loopback, where Chromium keeps the Secure session cookie.
type tab struct {
	t    *testing.T
	w    *world
	ctx  context.Context
	base string
}

// openTab starts a browser in lang on the console of w.
func openTab(t *testing.T, w *world, lang string) *tab {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(Prefix, w.con.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &tab{t: t, w: w, ctx: browser.NewWithLang(t, lang), base: srv.URL}
}

// do runs steps, failing the test on an error.
func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	browser.Do(b.t, b.ctx, steps...)
}

// eval evaluates a JavaScript expression in the tab.
func eval[T any](b *tab, js string, opts ...chromedp.EvaluateOption) T {
	b.t.Helper()
	return browser.Eval[T](b.t, b.ctx, js, opts...)
}

// open goes to path and waits for sel.
func (b *tab) open(path, sel string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS(sel)))
}

// text is the visible text of the first element sel matches.
func (b *tab) text(sel string) string {
	b.t.Helper()
	return browser.Text(b.t, b.ctx, sel)
}

// count is how many elements sel matches.
func (b *tab) count(sel string) int {
	b.t.Helper()
	return eval[int](b, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel))
}

// signIn signs in as name through the sign-in form.
func (b *tab) signIn(name string) {
	b.t.Helper()
	b.open("/console/", "#login-form")
	b.do(
		chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#sign-in")),
		chromedp.WaitVisible(chromedp.CSS("main#page-overview")),
	)
}

// click clicks sel and waits for then.
func (b *tab) click(sel, then string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(sel)), chromedp.WaitVisible(chromedp.CSS(then)))
}

// shot saves a screenshot for the README (KAKEHASHI_SCREENSHOTS).
func (b *tab) shot(name string) { browser.Shot(b.t, b.ctx, name) }

// TestBrowserRoles: admin, lead and auditor sign in and see the pages
// their role may use; the auditor's pages have no action forms.
func TestBrowserRoles(t *testing.T) {
	w := newWorld(t)
	b := openTab(t, w, "en")
	for _, c := range []struct {
		name              string
		audit, transferUI bool
	}{{"root", true, true}, {"lea", false, true}, {"aud", true, false}} {
		b.signIn(c.name)
		if got := b.text(".who"); !strings.Contains(got, "admin:"+c.name) {
			t.Errorf("%s: signed in as %q", c.name, got)
		}
		if got := b.count("#nav-audit") == 1; got != c.audit {
			t.Errorf("%s: audit in the navigation: %v", c.name, got)
		}
		if n := b.count("header nav a"); n < 8 {
			t.Errorf("%s: %d pages in the navigation", c.name, n)
		}
		b.open("/console/contacts", "main#page-contacts")
		if got := b.count("#transfer-form") == 1; got != c.transferUI {
			t.Errorf("%s: transfer form %v", c.name, got)
		}
		if !c.transferUI {
			if n := b.count(`form[method="post"]`); n != 1 {
				t.Errorf("%s: %d forms that post (sign-out only)", c.name, n)
			}
		}
		b.click("#sign-out", "#login-form")
	}
}

// TestBrowserLeadTeam: the lead of sales sees sales' contacts only, and
// a form altered in the page to move support's contact is refused.
func TestBrowserLeadTeam(t *testing.T) {
	w := newWorld(t)
	b := openTab(t, w, "en")
	b.signIn("lea")
	b.open("/console/contacts", "#contacts-table")
	table := b.text("#contacts-table")
	if !strings.Contains(table, "alice@ext.test") || strings.Contains(table, "dora@ext.test") {
		t.Errorf("the lead's contacts:\n%s", table)
	}
	// A forged selection: alice's checkbox now names dora's relationship.
	eval[bool](b, fmt.Sprintf(`(() => { const c = document.querySelector('input[name="rel"]'); c.value = %q; c.checked = true; return true })()`,
		w.rels["dora@ext.test"].ID))
	b.do(chromedp.SetValue(chromedp.CSS("#transfer-to"), "ana"), chromedp.SendKeys(chromedp.CSS("#transfer-reason"), "forged"))
	b.click("#transfer-preview", "p.error")
	if got := b.text("p.error"); !strings.Contains(got, "You are not allowed to do this.") {
		t.Errorf("refusal: %q", got)
	}
	if o := w.owner("dora@ext.test"); o != "dan" {
		t.Errorf("dora's owner is %q", o)
	}
}

// TestBrowserTransferUndo: select two contacts, preview, confirm, undo.
func TestBrowserTransferUndo(t *testing.T) {
	for _, lang := range []string{"en", "ja"} {
		t.Run(lang, func(t *testing.T) {
			w := newWorld(t)
			b := openTab(t, w, lang)
			b.signIn("root")
			b.open("/console/contacts?owner=ana", "#contacts-table")
			if n := b.count(`#contacts-table tbody tr`); n != 3 {
				t.Fatalf("%d of ana's contacts", n)
			}
			for _, a := range []string{"alice@ext.test", "amy@ext.test"} {
				b.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr[data-rel=%q] input[name="rel"]`, w.rels[a].ID))))
			}
			b.do(chromedp.SetValue(chromedp.CSS("#transfer-to"), "ben"),
				chromedp.SendKeys(chromedp.CSS("#transfer-reason"), "ana on leave"))
			b.click("#transfer-preview", "#preview-summary")
			if got := b.text("#preview-targets"); !strings.Contains(got, "Ben Bando (ben)") || !strings.Contains(got, "2") {
				t.Errorf("preview targets %q", got)
			}
			if o := w.owner("alice@ext.test"); o != "ana" {
				t.Fatalf("the preview moved alice to %s", o)
			}
			b.shot("contacts-preview-" + lang + ".png")
			b.click("#confirm", "#done-summary")
			id := b.text("#transfer-id")
			if id == "" || w.owner("alice@ext.test") != "ben" || w.owner("amy@ext.test") != "ben" || w.owner("arne@ext.test") != "ana" {
				t.Fatalf("after confirm: transfer %q, owners %s %s %s", id, w.owner("alice@ext.test"), w.owner("amy@ext.test"), w.owner("arne@ext.test"))
			}
			// A later transfer moves alice again: Undo is refused, and the
			// page says why.
			later, err := w.boot.Transfer(context.Background(), adminapi.TransferRequest{
				Relationships: []string{w.rels["alice@ext.test"].ID}, To: "cai", Reason: "later"})
			if err != nil {
				t.Fatal(err)
			}
			b.click("#undo", "p.error")
			if got := b.text("p.error"); !strings.Contains(got, JAorEN(lang, "競合", "Conflict")) {
				t.Errorf("conflict %q", got)
			}
			if w.owner("alice@ext.test") != "cai" || w.owner("amy@ext.test") != "ben" {
				t.Errorf("after a refused undo: %s %s", w.owner("alice@ext.test"), w.owner("amy@ext.test"))
			}
			// Once the later one is undone, the first is undone too.
			if _, err := w.boot.RevertTransfer(context.Background(), later.ID, adminapi.RevertRequest{Reason: "later undone"}); err != nil {
				t.Fatal(err)
			}
			b.open("/console/transfers/"+id, "#undo")
			b.click("#undo", "p.notice")
			if got := b.text("p.notice"); !strings.Contains(got, id) {
				t.Errorf("undo notice %q", got)
			}
			if w.owner("alice@ext.test") != "ana" || w.owner("amy@ext.test") != "ana" {
				t.Errorf("after undo: %s %s", w.owner("alice@ext.test"), w.owner("amy@ext.test"))
			}
			// An undone transfer offers no Undo.
			b.open("/console/transfers/"+id, "#transfer-reverted")
			if n := b.count("#undo"); n != 0 {
				t.Errorf("an undone transfer offers Undo")
			}
		})
	}
}

// TestBrowserDepartTeamSpread: depart ana, spreading her contacts over
// ben and cai, with the counts shown first.
func TestBrowserDepartTeamSpread(t *testing.T) {
	w := newWorld(t)
	b := openTab(t, w, "en")
	b.signIn("lea")
	b.open("/console/employees?depart=ana", "#depart-form")
	b.do(
		chromedp.Click(chromedp.CSS("#depart-mode-team")),
		chromedp.Click(chromedp.CSS(`#depart-team input[value="ben"]`)),
		chromedp.Click(chromedp.CSS(`#depart-team input[value="cai"]`)),
		chromedp.SendKeys(chromedp.CSS("#depart-reason"), "ana leaves"),
	)
	b.click("#depart-preview", "#preview-summary")
	got := b.text("#preview-targets")
	if !strings.Contains(got, "Ben Bando (ben)\t2") || !strings.Contains(got, "Cai Chiba (cai)\t1") {
		t.Errorf("preview %q", got)
	}
	if e := w.employee("ana"); e.Status != identity.Active {
		t.Fatal("the preview departed ana")
	}
	b.click("#confirm", "#done-summary")
	if e := w.employee("ana"); e.Status != identity.Departed {
		t.Errorf("ana is %s", e.Status)
	}
	for _, a := range []string{"alice@ext.test", "amy@ext.test", "arne@ext.test"} {
		if o := w.owner(a); o != "ben" && o != "cai" {
			t.Errorf("%s's owner is %q", a, o)
		}
	}
}

// TestBrowserCharts: the overview's charts draw the numbers of the
// traffic the test made: a mark per day and series, the values in the
// marks and in the data tables.
func TestBrowserCharts(t *testing.T) {
	w := newWorld(t)
	now := time.Now()
	w.traffic(now)
	yesterday := now.UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	amy := 0
	if now.UTC().Add(-3*time.Hour).Format(time.DateOnly) == yesterday {
		amy = 1
	}
	for _, lang := range []string{"en", "ja"} {
		b := openTab(t, w, lang)
		b.signIn("root")
		b.open("/console/", "#chart-messages")
		received := JAorEN(lang, "受信", "Received")
		if n := b.count(fmt.Sprintf(`#chart-messages rect.mark[data-series=%q]`, received)); n != overviewDays {
			t.Errorf("%s: %d marks of messages received, want one a day (%d)", lang, n, overviewDays)
		}
		got := eval[string](b, fmt.Sprintf(`document.querySelector('#chart-messages rect.mark[data-series=%q][data-label=%q]').dataset.value`, received, yesterday))
		if want := fmt.Sprint(4 + amy); got != want {
			t.Errorf("%s: received yesterday %s, want %s", lang, got, want)
		}
		// The table: yesterday's row has 4 (or 5) received and 3 sent.
		row := eval[string](b, fmt.Sprintf(`[...document.querySelectorAll('#chart-messages table.chart-data tr')].find(r => r.innerText.startsWith(%q)).innerText`, yesterday))
		if cells := strings.Fields(row); len(cells) != 3 || cells[1] != fmt.Sprint(4+amy) || cells[2] != "3" {
			t.Errorf("%s: table row %q", lang, row)
		}
		if n := b.count(`#chart-first-response rect.mark`); n != 5 {
			t.Errorf("%s: %d marks of first responses, want 5 ranges", lang, n)
		}
		if got := eval[string](b, `document.querySelector('#chart-new-contacts rect.mark[data-series="desk · expo2026"][data-value="1"]').dataset.label`); got != yesterday {
			t.Errorf("%s: new contact by expo2026 on %q", lang, got)
		}
		b.shot("overview-" + lang + ".png")
		b.open("/console/waiting", "#waiting-table")
		if got := b.text("#waiting-table"); !strings.Contains(got, "amy@ext.test") {
			t.Errorf("%s: waiting %q", lang, got)
		}
		b.shot("waiting-" + lang + ".png")
	}
}

// JAorEN picks the Japanese or the English of a test's expectation.
func JAorEN(lang, ja, en string) string {
	if lang == "ja" {
		return ja
	}
	return en
}

// TestBrowserQRCode: the contact point's QR code, as the browser shows
// it, decodes to the chat link printed beside it.
func TestBrowserQRCode(t *testing.T) {
	w := newWorld(t)
	w.traffic(time.Now())
	for _, lang := range []string{"en", "ja"} {
		b := openTab(t, w, lang)
		b.signIn("lea")
		b.open("/console/contact-points", "#source-form")
		b.do(chromedp.SendKeys(chromedp.CSS("#source"), "expo2026"))
		b.click(`#source-form button`, `#cp-desk .qr[data-network="public-xmpp"] img[src*="source=expo2026"]`)
		// The image as loaded, drawn on a canvas and read back.
		data := eval[string](b, `(async () => {
			const img = document.querySelector('#cp-desk .qr[data-network="public-xmpp"] img');
			await img.decode();
			const c = document.createElement('canvas');
			c.width = img.naturalWidth; c.height = img.naturalHeight;
			c.getContext('2d').drawImage(img, 0, 0);
			return c.toDataURL('image/png');
		})()`, chromedp.EvalAwaitPromise)
		png, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(data, "data:image/png;base64,"))
		if err != nil {
			t.Fatal(err)
		}
		const want = "xmpp:desk+expo2026@contact.acme.test?message"
		if got := decodeQR(t, png); got != want {
			t.Errorf("%s: the QR code reads %q, want %q", lang, got, want)
		}
		if got := b.text(`#cp-desk .qr[data-network="public-xmpp"] code.uri`); got != want {
			t.Errorf("%s: printed %q", lang, got)
		}
		if got := b.text(`#cp-desk .qr[data-network="mail"] code.uri`); got != "mailto:desk+expo2026@contact.acme.test" {
			t.Errorf("%s: mail link %q", lang, got)
		}
		if got := b.text(`#cp-desk table.by-source`); !strings.Contains(got, "expo2026") {
			t.Errorf("%s: new contacts by source %q", lang, got)
		}
		b.shot("contact-points-" + lang + ".png")
	}
}

// TestBrowserCSRFAndExpiry: a form whose token was tampered with is
// refused; an idle session ends and the sign-in page says so.
func TestBrowserCSRFAndExpiry(t *testing.T) {
	w := newWorld(t)
	b := openTab(t, w, "en")
	b.signIn("root")
	b.open("/console/contacts?owner=ana", "#transfer-form")
	eval[bool](b, `(() => { document.querySelector('#transfer-form input[name="csrf"]').value = "forged"; return true })()`)
	b.do(chromedp.Click(chromedp.CSS(`input[name="rel"]`)), chromedp.SetValue(chromedp.CSS("#transfer-to"), "ben"),
		chromedp.SendKeys(chromedp.CSS("#transfer-reason"), "x"))
	b.click("#transfer-preview", "main#page-error")
	if got := b.text("p.error"); !strings.Contains(got, "This form has expired") {
		t.Errorf("refusal %q", got)
	}
	if o := w.owner("alice@ext.test"); o != "ana" {
		t.Errorf("alice's owner is %q", o)
	}
	w.clock.add(DefaultSessionIdle + time.Minute)
	b.open("/console/contacts", "#login-form")
	if got := b.text("p.notice"); !strings.Contains(got, "Your session has expired") {
		t.Errorf("expiry notice %q", got)
	}
}

// TestBrowserJapanese: a Japanese browser gets the console in Japanese,
// and the switch turns it to English.
func TestBrowserJapanese(t *testing.T) {
	w := newWorld(t)
	b := openTab(t, w, "ja")
	b.signIn("root")
	if got := eval[string](b, `document.documentElement.lang`); got != "ja" {
		t.Errorf("lang %q", got)
	}
	if got := b.text("#nav-overview"); got != "概要" {
		t.Errorf("nav %q", got)
	}
	if got := b.text("#nav-contacts"); got != "顧客" {
		t.Errorf("nav %q", got)
	}
	b.click(`a.lang-switch[lang="en"]`, `html[lang="en"]`)
	if got := b.text("#nav-overview"); got != "Overview" {
		t.Errorf("after the switch: %q", got)
	}
}
