package console

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/console/i18n"
	"github.com/kakehashi/kakehashi/identity"
)

// navID names a page of the navigation, which is also its <main>'s ID
// (page-NAME) and its title's message key (nav.NAME).
type navID string

// The pages, in the navigation's order.
const (
	navOverview      navID = "overview"
	navWaiting       navID = "waiting"
	navEmployees     navID = "employees"
	navContacts      navID = "contacts"
	navTransfers     navID = "transfers"
	navAudit         navID = "audit"
	navBroadcasts    navID = "broadcasts"
	navContactPoints navID = "contact-points"
	navHealth        navID = "health"
	// anyRole is no page: sign out, which every role may.
	anyRole navID = ""
)

// nav is the navigation: each page's path, and whether a lead may use it
// (admins and auditors use them all; an auditor only reads).
var nav = []struct {
	id   navID
	path string
	lead bool
}{
	{navOverview, "/console/", true},
	{navWaiting, "/console/waiting", true},
	{navEmployees, "/console/employees", true},
	{navContacts, "/console/contacts", true},
	{navTransfers, "/console/transfers", true},
	{navAudit, "/console/audit", false},
	{navBroadcasts, "/console/broadcasts", true},
	{navContactPoints, "/console/contact-points", true},
	{navHealth, "/console/health", true},
}

// roleLead is the role of a team's lead.
const roleLead = identity.RoleLead

// mayUse reports whether role may open page id.
func mayUse(role identity.AdminRole, id navID) bool {
	if id == anyRole || role != roleLead {
		return true
	}
	for _, n := range nav {
		if n.id == id {
			return n.lead
		}
	}
	return false
}

// navKey is the message key of a page's name.
func navKey(page string) string {
	switch page {
	case "login":
		return "login.title"
	case "error":
		return "error.title"
	}
	return "nav." + strings.ReplaceAll(page, "-", "_")
}

// navLink is one entry of the navigation as a page shows it.
type navLink struct {
	ID      string
	Href    string
	Label   string
	Current bool
}

// langLink switches the console's language.
type langLink struct {
	Code, Label, Href string
	Current           bool
}

// view is what every template is given: the page's frame (language,
// navigation, the caller, the CSRF token, messages) and its Data.
type view struct {
	// Page names the page: its <main id="page-NAME">.
	Page  string
	Title string
	// Lang is the page's language, Code its tag for <html lang>.
	Lang i18n.Lang
	Code string
	// Who is the signed-in admin (zero on the sign-in page).
	Who      adminapi.Caller
	SignedIn bool
	// CanWrite says whether the admin may change anything: pages show
	// no action forms to those who may not.
	CanWrite bool
	IsLead   bool
	CSRF     string
	Nav      []navLink
	Langs    []langLink
	// Errors and Notices are shown above the page's content.
	Errors  []string
	Notices []string
	Data    any
}

// T returns the message of key in the page's language.
func (v *view) T(key string, args ...any) string { return v.Lang.T(key, args...) }

// pageTemplate is one page's template: the layout and the page's own
// "content".
type pageTemplate struct{ t *template.Template }

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"time": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"day": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02")
	},
	"join": strings.Join,
	"contains": func(l []string, s string) bool {
		for _, x := range l {
			if x == s {
				return true
			}
		}
		return false
	},
	"pct": func(f *float64) string {
		if f == nil {
			return "—"
		}
		return fmt.Sprintf("%.1f %%", *f*100)
	},
	"add": func(a, b int) int { return a + b },
	// pair hands a nested template the page's view and one value.
	"pair": func(v *view, x any) pagePair { return pagePair{v, x} },
}

// pagePair is the page's view and one value, for a nested template.
type pagePair struct {
	V *view
	X any
}

// duration is d to the minute in the page's language: minutes, hours
// and minutes, or beyond 48 h days and hours.
func (q *req) duration(d time.Duration) string {
	d = d.Round(time.Minute)
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	switch {
	case d >= 48*time.Hour:
		return q.T("common.days", h/24) + " " + q.T("common.hours", h%24)
	case d >= time.Hour:
		return q.T("common.hours", h) + " " + q.T("common.minutes", m)
	default:
		return q.T("common.minutes", m)
	}
}

// parsePages parses each page template with the layout.
func parsePages() (map[string]*pageTemplate, error) {
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*pageTemplate{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", f)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", f, err)
		}
		pages[name] = &pageTemplate{t}
	}
	return pages, nil
}

// render writes page tmpl of v with status. Pages are never cached: they
// show a session's data.
func (c *Console) render(w http.ResponseWriter, status int, tmpl string, v *view) {
	pt := c.pages[tmpl]
	if pt == nil {
		c.log.Error("console: no template", "template", tmpl)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := pt.t.ExecuteTemplate(&buf, "layout", v); err != nil {
		c.log.Error("console: render", "template", tmpl, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// frame returns the view of a page of r in lang, without a session.
func (c *Console) frame(r *http.Request, lang i18n.Lang, page string) *view {
	v := &view{Page: page, Lang: lang, Code: langCode(lang)}
	v.Title = v.T(navKey(page))
	back := r.URL.Path
	if r.Method == http.MethodGet && r.URL.RawQuery != "" {
		back += "?" + r.URL.RawQuery
	}
	for _, l := range i18n.Langs() {
		v.Langs = append(v.Langs, langLink{Code: langCode(l), Label: l.T("lang." + langCode(l)), Current: l == lang,
			Href: "/console/lang?" + url.Values{"lang": {langCode(l)}, "back": {back}}.Encode()})
	}
	return v
}

// req is a request of a signed-in admin to one page.
type req struct {
	c    *Console
	w    http.ResponseWriter
	r    *http.Request
	s    *session
	who  adminapi.Caller
	api  *adminapi.Client
	lang i18n.Lang
	page navID
}

// view returns the page's frame with data.
func (q *req) view(data any) *view {
	name := string(q.page)
	if name == "" {
		name = string(navOverview)
	}
	v := q.c.frame(q.r, q.lang, name)
	v.Who, v.SignedIn, v.CSRF, v.Data = q.who, true, q.s.csrf, data
	v.Notices = q.c.takeFlash(q.s)
	// A lead changes what concerns their team; the API says what that
	// is.
	v.CanWrite = q.who.Role.CanWrite() || q.who.Role == roleLead
	v.IsLead = q.who.Role == roleLead
	for _, n := range nav {
		if mayUse(q.who.Role, n.id) {
			v.Nav = append(v.Nav, navLink{ID: string(n.id), Href: n.path, Label: v.T(navKey(string(n.id))), Current: n.id == q.page})
		}
	}
	return v
}

// render writes the page's template tmpl with data, and the messages.
func (q *req) render(tmpl string, data any, errs ...error) {
	v := q.view(data)
	for _, err := range errs {
		if err != nil {
			v.Errors = append(v.Errors, q.message(err))
		}
	}
	status := http.StatusOK
	if len(v.Errors) > 0 {
		status = statusOf(errs)
	}
	q.c.render(q.w, status, tmpl, v)
}

// T returns the message of key in the request's language.
func (q *req) T(key string, args ...any) string { return q.lang.T(key, args...) }

// message is what a page says of err: the API's own words when the API
// refused (they are written for people), else a generic line (the
// details go to the log).
func (q *req) message(err error) string {
	var ae *adminapi.Error
	var ue userError
	switch {
	case errors.As(err, &ae):
		switch ae.Status {
		case http.StatusForbidden:
			return q.T("error.forbidden") + " " + ae.Message
		case http.StatusConflict:
			return q.T("error.conflict") + " " + ae.Message
		case http.StatusNotFound:
			return q.T("error.not_found") + " " + ae.Message
		case http.StatusBadRequest, http.StatusNotImplemented:
			return ae.Message
		}
		q.c.log.Error("console: admin API", "path", q.r.URL.Path, "status", ae.Status, "err", err)
		return q.T("error.internal")
	case errors.As(err, &ue):
		return q.T(ue.key, ue.args...)
	}
	q.c.log.Error("console", "path", q.r.URL.Path, "err", err)
	return q.T("error.internal")
}

// statusOf is the HTTP status of a page showing errs: the API's status
// of the first API error, 400 for the console's own checks.
func statusOf(errs []error) int {
	for _, err := range errs {
		var ae *adminapi.Error
		if errors.As(err, &ae) {
			return ae.Status
		}
		var ue userError
		if errors.As(err, &ue) {
			return http.StatusBadRequest
		}
		if err != nil {
			return http.StatusInternalServerError
		}
	}
	return http.StatusOK
}

// userError is a mistake in a form the console itself finds, said by a
// message key.
type userError struct {
	key  string
	args []any
}

func (e userError) Error() string { return e.key }

func mistake(key string, args ...any) error { return userError{key, args} }

// redirect sends the browser to path with a GET (after a form's POST).
func redirect(w http.ResponseWriter, r *http.Request, path string) {
	http.Redirect(w, r, path, http.StatusSeeOther)
}

// errorPage answers status with a page that says msgKey, for a request
// of no page (no session, CSRF refused, not found).
func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, status int, msgKey string) {
	v := c.frame(r, c.language(r), "error")
	v.Title = v.T("error.title")
	v.Errors = []string{v.T(msgKey)}
	c.render(w, status, "error", v)
}

func (c *Console) notFound(w http.ResponseWriter, r *http.Request) {
	c.errorPage(w, r, http.StatusNotFound, "error.not_found")
}

// page wraps a page's handler: the session (or the sign-in page), the
// admin as they are now, their role's access to the page, and for a
// form (post) the CSRF checks, before anything is read or changed.
func (c *Console) page(h func(*req) error, id navID, post bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, expired, err := c.session(r)
		if err != nil {
			if post {
				c.errorPage(w, r, http.StatusForbidden, "error.csrf")
				return
			}
			to := "/console/login"
			if expired {
				to += "?expired=1"
			}
			redirect(w, r, to)
			return
		}
		if post {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := c.checkCSRF(r, s); err != nil {
				c.log.Warn("console: form refused", "path", r.URL.Path, "admin", s.name, "address", clientIP(r), "err", err)
				c.errorPage(w, r, http.StatusForbidden, "error.csrf")
				return
			}
		}
		ctx, cancel := background(r)
		defer cancel()
		r = r.WithContext(ctx)
		who, err := c.api.Caller(ctx, s.name)
		if errors.Is(err, adminapi.ErrSignIn) {
			c.log.Info("console: session of a revoked or removed admin ended", "admin", s.name)
			c.endSession(w, s)
			redirect(w, r, "/console/login?expired=1")
			return
		}
		if err != nil {
			c.log.Error("console: reading the admin", "admin", s.name, "err", err)
			c.errorPage(w, r, http.StatusInternalServerError, "error.internal")
			return
		}
		q := &req{c: c, w: w, r: r, s: s, who: who, api: c.api.Client(who), lang: c.language(r), page: id}
		if !mayUse(who.Role, id) {
			q.render("error", nil, &adminapi.Error{Status: http.StatusForbidden, Message: q.T("error.role_page")})
			return
		}
		if err := h(q); err != nil {
			q.render("error", nil, err)
		}
	}
}

// maxForm bounds a form's body: a page of selected contacts fits many
// times over.
const maxForm = 1 << 20
