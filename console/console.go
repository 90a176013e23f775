// Package console is Kakehashi's web console: server-rendered pages for
// the people who run customer relationships (sales managers, HR, team
// leads) over the admin API, under /console/ on the admin listener.
//
// Every page reads and every form acts through the admin API's typed
// client authenticated as the signed-in admin (adminapi.Server.Client),
// so the API's role checks apply to the console exactly as to the CLI: a
// lead sees and moves only their team's contacts, an auditor changes
// nothing, whatever a forged form asks. The console adds what a browser
// needs: named sign-in with a password, a server-side session behind an
// HttpOnly, Secure, SameSite=Strict cookie, a CSRF token on every form,
// a rate limit on sign-in attempts, and security headers on every page.
//
// Pages are html/template with their templates and assets embedded in
// the binary; every string comes from the console/i18n catalogue, in
// English or Japanese. Everything works as plain forms; the one script
// only adds a "select all" checkbox.
package console

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/routing"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is the path under which Handler serves every page.
const Prefix = "/console/"

// Defaults of Options.
const (
	DefaultSessionIdle = 30 * time.Minute
	DefaultSessionMax  = 12 * time.Hour
)

// Options configure a Console.
type Options struct {
	// API is the admin API whose in-process client each signed-in admin
	// acts through; required.
	API *adminapi.Server
	// Log receives sign-in failures and errors (nil: slog.Default()).
	Log *slog.Logger
	// SessionIdle ends a session this long after its last request, and
	// SessionMax this long after sign-in whatever happens (0: 30 min and
	// 12 h).
	SessionIdle, SessionMax time.Duration
	// Now is the console's clock (nil: time.Now); tests move it.
	Now func() time.Time
	// Topology names the kind of each network's addresses, for the chat
	// links of contact points (mailto: for mail, xmpp: otherwise); nil:
	// every network is XMPP.
	Topology *routing.Topology
	// Instance, if set, says the instance's role when several share one
	// store (the health page shows it); nil: a single instance.
	Instance func() Instance
	// InsecureCookies leaves the Secure attribute off the console's
	// cookies, for tests over plain http that a browser would not send
	// Secure cookies on. Never in production: the session cookie would
	// cross plain http.
	InsecureCookies bool
}

// Instance is the role of an instance among several over one store.
type Instance struct {
	// Role is "active" or "standby"; Term the election's term it is
	// active in, or last was; Active names the active instance, as a
	// standby last read it.
	Role   string
	Term   int64
	Active string
}

// Console serves the web console. Its sessions live in memory: a restart
// signs everybody out.
type Console struct {
	api      *adminapi.Server
	log      *slog.Logger
	idle     time.Duration
	max      time.Duration
	now      func() time.Time
	insecure bool
	top      *routing.Topology
	instance func() Instance
	pages    map[string]*pageTemplate
	cop      *http.CrossOriginProtection
	limiter  *limiter
	mux      *http.ServeMux

	mu       sync.Mutex
	sessions map[string]*session
}

// New returns the console of o.API.
func New(o Options) (*Console, error) {
	if o.API == nil {
		return nil, errors.New("console: no admin API")
	}
	c := &Console{
		api:      o.API,
		log:      o.Log,
		idle:     o.SessionIdle,
		max:      o.SessionMax,
		now:      o.Now,
		insecure: o.InsecureCookies,
		top:      o.Topology,
		instance: o.Instance,
		cop:      http.NewCrossOriginProtection(),
		sessions: map[string]*session{},
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.idle <= 0 {
		c.idle = DefaultSessionIdle
	}
	if c.max <= 0 {
		c.max = DefaultSessionMax
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.limiter = newLimiter(c.now)
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	c.pages = pages
	c.mux = c.routes()
	return c, nil
}

// Handler serves every page and asset under Prefix ("/console/").
func (c *Console) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		c.mux.ServeHTTP(w, r)
	})
}

// contentSecurityPolicy allows the console's own assets and nothing
// inline: no inline script at all, images from the console and the
// data: URIs of QR codes.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// routes is the console's route table. Pages need a session (see
// c.page); sign-in, the language switch and the assets do not.
func (c *Console) routes() *http.ServeMux {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", staticHandler(static)))
	mux.HandleFunc("GET /console/login", c.loginPage)
	mux.HandleFunc("POST /console/login", c.login)
	mux.HandleFunc("GET /console/lang", c.setLang)
	mux.HandleFunc("POST /console/logout", c.page((*req).logout, anyRole, true))
	mux.HandleFunc("GET /console/{$}", c.page((*req).overview, navOverview, false))
	mux.HandleFunc("GET /console/waiting", c.page((*req).waiting, navWaiting, false))
	mux.HandleFunc("POST /console/waiting/reassign", c.page((*req).reassign, navWaiting, true))
	mux.HandleFunc("GET /console/employees", c.page((*req).employees, navEmployees, false))
	mux.HandleFunc("POST /console/employees/depart", c.page((*req).depart, navEmployees, true))
	mux.HandleFunc("GET /console/contacts", c.page((*req).contacts, navContacts, false))
	mux.HandleFunc("POST /console/contacts/transfer", c.page((*req).transfer, navContacts, true))
	mux.HandleFunc("POST /console/contacts/edit", c.page((*req).editContact, navContacts, true))
	mux.HandleFunc("GET /console/transfers", c.page((*req).transfers, navTransfers, false))
	mux.HandleFunc("GET /console/transfers/{id}", c.page((*req).transferPage, navTransfers, false))
	mux.HandleFunc("POST /console/transfers/{id}/revert", c.page((*req).revert, navTransfers, true))
	mux.HandleFunc("GET /console/audit", c.page((*req).audit, navAudit, false))
	mux.HandleFunc("GET /console/audit.csv", c.page((*req).auditCSV, navAudit, false))
	mux.HandleFunc("GET /console/broadcasts", c.page((*req).broadcasts, navBroadcasts, false))
	mux.HandleFunc("POST /console/broadcasts", c.page((*req).prepareBroadcast, navBroadcasts, true))
	mux.HandleFunc("GET /console/broadcasts/{id}", c.page((*req).broadcastPage, navBroadcasts, false))
	mux.HandleFunc("GET /console/contact-points", c.page((*req).contactPoints, navContactPoints, false))
	mux.HandleFunc("GET /console/contact-points/qr.png", c.page((*req).qrPNG, navContactPoints, false))
	mux.HandleFunc("GET /console/contact-points/qr.svg", c.page((*req).qrSVG, navContactPoints, false))
	mux.HandleFunc("GET /console/health", c.page((*req).health, navHealth, false))
	mux.HandleFunc("/console/", c.notFound)
	return mux
}

// staticHandler serves the embedded assets, cacheable for an hour (they
// change only with the binary).
func staticHandler(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// randomID returns 32 random bytes, base64url: a session ID, a CSRF
// token, a pending action's key.
func randomID() string {
	b := make([]byte, 32)
	// crypto/rand.Read never fails (it panics if the system's source
	// does, which no session could survive anyway).
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// background is a context for the API call of a request: the request's,
// bounded so that a stuck store does not hold a browser forever.
func background(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 60*time.Second)
}
