package console

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/console/i18n"
	"net/http"
	"regexp"
	"testing"
)

var missingKey = regexp.MustCompile(`\[[a-z_]+\.[a-z0-9_.]+\]`)

// TestPagesRender opens every page as each role: 200, the page's main,
// no message key missing from the catalogue.
func TestPagesRender(t *testing.T) {
	w := newWorld(t)
	for _, role := range []string{"root", "lea", "aud"} {
		b := w.browser()
		b.signIn(role)
		for _, path := range []string{"/console/", "/console/waiting", "/console/employees", "/console/contacts",
			"/console/transfers", "/console/audit", "/console/broadcasts", "/console/contact-points?source=expo2026", "/console/health"} {
			for _, lang := range []string{"en", "ja"} {
				b.lang = lang
				p := b.get(path)
				want := http.StatusOK
				if role == "lea" && path == "/console/audit" {
					want = http.StatusForbidden
				}
				if p.status != want {
					t.Errorf("%s %s (%s): %d\n%.2000s", role, path, lang, p.status, p.body)
					continue
				}
				if m := missingKey.FindString(p.body); m != "" {
					t.Errorf("%s %s (%s): missing message %s", role, path, lang, m)
				}
			}
		}
	}
}

// TestSignIn: a right password gives a new session behind a cookie that
// is HttpOnly, Secure, SameSite=Strict and scoped to /console/; a wrong
// one does not; a session ID planted before sign-in is worth nothing.
func TestSignIn(t *testing.T) {
	w := newWorld(t)
	b := w.browser()
	if p := b.get("/console/contacts"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/login" {
		t.Fatalf("without a session: %d %s", p.status, p.header.Get("Location"))
	}
	p := b.do(http.MethodPost, "/console/login", url.Values{"name": {"root"}, "password": {"wrong password!"}})
	if p.status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", p.status)
	}
	p.mustContain(t, `class="error"`, "The user name or password is wrong.")
	p.mustNotContain(t, "wrong password!")

	planted := &http.Cookie{Name: sessionCookie, Value: "planted-by-someone-else", Path: Prefix}
	u, _ := url.Parse(w.srv.URL + Prefix)
	b.c.Jar.SetCookies(u, []*http.Cookie{planted})
	p = b.do(http.MethodPost, "/console/login", url.Values{"name": {"root"}, "password": {password}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("sign in: %d %.500s", p.status, p.body)
	}
	var ck *http.Cookie
	for _, c := range (&http.Response{Header: p.header}).Cookies() {
		if c.Name == sessionCookie {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || ck.Path != Prefix ||
		len(ck.Value) < 43 || ck.Value == planted.Value {
		t.Fatalf("session cookie: %+v", ck)
	}
	p = b.get("/console/")
	if p.status != http.StatusOK {
		t.Fatalf("overview: %d", p.status)
	}
	p.mustContain(t, `<main id="page-overview">`, "admin:root", `id="nav-audit"`)

	// Signing out ends the session on the server, not just the cookie.
	p = b.post("/console/logout", url.Values{})
	if p.status != http.StatusSeeOther {
		t.Fatalf("sign out: %d", p.status)
	}
	other := w.browser()
	other.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: ck.Value, Path: Prefix}})
	if p := other.get("/console/"); p.status != http.StatusSeeOther {
		t.Fatalf("the session after sign-out: %d", p.status)
	}
}

// TestSignInRateLimit: after 5 failures an account is refused with 429
// and Retry-After, even with the right password (the limit is checked
// before the password), for 15 minutes; an address is refused after 20
// failures over any accounts.
func TestSignInRateLimit(t *testing.T) {
	w := newWorld(t)
	b := w.browser()
	for i := range maxAccountFailures {
		if p := b.do(http.MethodPost, "/console/login", url.Values{"name": {"root"}, "password": {"guess number " + string(rune('a'+i))}}); p.status != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, p.status)
		}
	}
	p := b.do(http.MethodPost, "/console/login", url.Values{"name": {"root"}, "password": {password}})
	if p.status != http.StatusTooManyRequests || p.header.Get("Retry-After") == "" {
		t.Fatalf("limited: %d Retry-After %q", p.status, p.header.Get("Retry-After"))
	}
	if n, _ := strconv.Atoi(p.header.Get("Retry-After")); n < 14*60 || n > 15*60 {
		t.Errorf("Retry-After %s", p.header.Get("Retry-After"))
	}
	p.mustContain(t, "Too many sign-in attempts")
	// Another account from the same address is not limited yet.
	w.browser().signIn("aud")
	w.clock.add(loginWindow)
	w.browser().signIn("root")

	// The address: 20 failures over different names.
	for i := range maxAddressFailures {
		b.do(http.MethodPost, "/console/login", url.Values{"name": {"nobody" + strconv.Itoa(i)}, "password": {"guess guess guess"}})
	}
	if p := b.do(http.MethodPost, "/console/login", url.Values{"name": {"lea"}, "password": {password}}); p.status != http.StatusTooManyRequests {
		t.Fatalf("address limit: %d", p.status)
	}
}

// TestCSRF: a form without the session's token, with a wrong one, or
// sent from another site is refused with 403 and changes nothing.
func TestCSRF(t *testing.T) {
	w := newWorld(t)
	b := w.browser()
	b.signIn("root")
	token := b.csrf()
	form := func(tok string) url.Values {
		return url.Values{"csrf": {tok}, "step": {"preview"}, "rel": {w.rels["alice@ext.test"].ID}, "mode": {"to"}, "to": {"ben"}, "reason": {"csrf test"}}
	}
	for name, p := range map[string]*page{
		"no token":    b.do(http.MethodPost, "/console/contacts/transfer", url.Values{"rel": {w.rels["alice@ext.test"].ID}}),
		"wrong token": b.do(http.MethodPost, "/console/contacts/transfer", form("AAAA"+token[4:])),
		"cross-site": b.do(http.MethodPost, "/console/contacts/transfer", form(token),
			"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"),
		"other origin": b.do(http.MethodPost, "/console/contacts/transfer", form(token), "Origin", "https://evil.example"),
		"sign-in from elsewhere": b.do(http.MethodPost, "/console/login", url.Values{"name": {"root"}, "password": {password}},
			"Sec-Fetch-Site", "cross-site"),
	} {
		if p.status != http.StatusForbidden {
			t.Errorf("%s: %d", name, p.status)
		}
		p.mustContain(t, `class="error"`)
	}
	// The token works: a preview (which moves nothing either).
	if p := b.do(http.MethodPost, "/console/contacts/transfer", form(token)); p.status != http.StatusOK {
		t.Fatalf("with the token: %d %.1000s", p.status, p.body)
	}
	if o := w.owner("alice@ext.test"); o != "ana" {
		t.Fatalf("alice's owner is %q", o)
	}
}

// TestSessionExpiry: a session ends after SessionIdle without a request
// and after SessionMax whatever happens.
func TestSessionExpiry(t *testing.T) {
	w := newWorld(t, func(o *Options) { o.SessionIdle, o.SessionMax = 30*time.Minute, 3*time.Hour })
	b := w.browser()
	b.signIn("root")
	w.clock.add(29 * time.Minute)
	if p := b.get("/console/health"); p.status != http.StatusOK {
		t.Fatalf("within the idle time: %d", p.status)
	}
	w.clock.add(31 * time.Minute)
	p := b.get("/console/health")
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/login?expired=1" {
		t.Fatalf("idle: %d %s", p.status, p.header.Get("Location"))
	}
	if p := b.get("/console/login?expired=1"); !strings.Contains(p.body, "Your session has expired") {
		t.Errorf("no word of expiry: %.500s", p.body)
	}
	b.signIn("root")
	for range 8 {
		w.clock.add(20 * time.Minute)
		if p := b.get("/console/health"); p.status != http.StatusOK {
			t.Fatalf("active session: %d", p.status)
		}
	}
	w.clock.add(21 * time.Minute)
	if p := b.get("/console/health"); p.status != http.StatusSeeOther {
		t.Fatalf("past SessionMax: %d", p.status)
	}
}

// TestRevokedAdminSignedOut: a revocation ends the admin's session at
// their next request.
func TestRevokedAdminSignedOut(t *testing.T) {
	w := newWorld(t)
	b := w.browser()
	b.signIn("lea")
	if p := b.get("/console/contacts"); p.status != http.StatusOK {
		t.Fatalf("contacts: %d", p.status)
	}
	if _, err := w.boot.RevokeAdmin(context.Background(), "lea", adminapi.ReasonRequest{Reason: "left"}); err != nil {
		t.Fatal(err)
	}
	if p := b.get("/console/contacts"); p.status != http.StatusSeeOther {
		t.Fatalf("after revocation: %d", p.status)
	}
	if p := b.do(http.MethodPost, "/console/login", url.Values{"name": {"lea"}, "password": {password}}); p.status != http.StatusUnauthorized {
		t.Fatalf("sign in after revocation: %d", p.status)
	}
}

// TestSecurityHeaders: every page forbids framing, inline script and
// referrers, and is not cached.
func TestSecurityHeaders(t *testing.T) {
	w := newWorld(t)
	b := w.browser()
	for _, p := range []*page{b.get("/console/login"), func() *page { b.signIn("root"); return b.get("/console/contacts") }()} {
		h := p.header
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") ||
			!strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("CSP %q", csp)
		}
		if h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" || h.Get("Cache-Control") != "no-store" ||
			h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("headers %v", h)
		}
		p.mustNotContain(t, "<script>", "style=")
	}
}

// TestLanguage: Japanese from Accept-Language, and the switch's cookie
// over it.
func TestLanguage(t *testing.T) {
	w := newWorld(t)
	b := w.browser()
	b.signIn("root")
	b.lang = "ja,en;q=0.5"
	p := b.get("/console/contacts")
	p.mustContain(t, `<html lang="ja">`, ">顧客<", ">概要<")
	p = b.get("/console/lang?lang=en&back=%2Fconsole%2Fcontacts")
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/contacts" {
		t.Fatalf("switch: %d %s", p.status, p.header.Get("Location"))
	}
	b.get("/console/contacts").mustContain(t, `<html lang="en">`, ">Contacts<")
	// The switch sends nobody off the console.
	if p := b.get("/console/lang?lang=ja&back=https%3A%2F%2Fevil.example%2F"); p.header.Get("Location") != Prefix {
		t.Errorf("open redirect: %s", p.header.Get("Location"))
	}
}

// TestHealth: networks, the queue's totals (a lead's too: they are
// operational numbers, no content), and the instance's role when serve
// gives it.
func TestHealth(t *testing.T) {
	w := newWorld(t, func(o *Options) {
		o.Instance = func() Instance { return Instance{Role: "active", Term: 3} }
	})
	b := w.browser()
	b.signIn("root")
	b.get("/console/health").mustContain(t, `data-network="mail"`, "Connected", `id="queue-table"`, "Active", "term 3")
	lead := w.browser()
	lead.signIn("lea")
	p := lead.get("/console/health")
	p.mustContain(t, `data-network="mail"`, `id="queue-table"`)
	p.mustNotContain(t, `class="error"`)
}

// TestMessagesInCatalogue: every message key the templates and the
// code name is in the catalogue (a missing one would show as [key]).
func TestMessagesInCatalogue(t *testing.T) {
	inTemplate := regexp.MustCompile(`\.T "([a-z0-9_.]+)"`)
	inCode := regexp.MustCompile(`"((?:app|nav|lang|common|login|logout|overview|waiting|employees|contacts|transfers|audit|broadcasts|contact_points|health|error|chart|form|preview|done)\.[a-z0-9_.]*[a-z0-9])"`)
	files, err := filepath.Glob("templates/*.html")
	if err != nil {
		t.Fatal(err)
	}
	code, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range append(files, code...) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		re := inCode
		if strings.HasSuffix(f, ".html") {
			re = inTemplate
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			n++
			if !i18n.Has(m[1]) {
				t.Errorf("%s: %s is not in the catalogue", f, m[1])
			}
		}
	}
	if n < 200 {
		t.Errorf("only %d keys found", n)
	}
}
