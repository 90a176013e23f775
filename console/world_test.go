package console

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/address"
	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/adminapi/apitest"
	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

// password is every test admin's console password.
const password = "correct horse battery staple"

// clock is a settable clock for the console's sessions.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// world is a gateway with its admin API and the console over it, served
// over HTTPS, with a company: two teams (sales: ana, ben, cai; support:
// dan, eve), a personal persona each, a contact point desk (sales), and
// contacts of ana's and dan's; admins root (admin), lea (lead of sales)
// and aud (auditor).
type world struct {
	t     testing.TB
	api   *apitest.Server
	boot  *adminapi.Client
	con   *Console
	srv   *httptest.Server
	clock *clock
	// rels are the relationships by contact address.
	rels map[string]*identity.Relationship
}

// testTopology is apitest's networks, as serve gives them to the
// console.
var testTopology = &routing.Topology{Networks: map[string]routing.Network{
	apitest.Inside:      {Name: apitest.Inside, Side: identity.Inside},
	apitest.OutsideIM:   {Name: apitest.OutsideIM, Side: identity.Outside},
	apitest.OutsideMail: {Name: apitest.OutsideMail, Side: identity.Outside, Kind: address.Mail},
}}

func newWorld(t testing.TB, tune ...func(*Options)) *world {
	t.Helper()
	w := &world{t: t, api: apitest.Start(t), clock: &clock{t: time.Now()}, rels: map[string]*identity.Relationship{}}
	w.boot = adminapi.NewClient(w.api.URL, apitest.Token, nil)
	ctx := context.Background()
	var dir adminapi.Directory
	for _, e := range []struct{ id, name, team string }{
		{"ana", "Ana Abe", "sales"}, {"ben", "Ben Bando", "sales"}, {"cai", "Cai Chiba", "sales"},
		{"dan", "Dan Doi", "support"}, {"eve", "Eve Endo", "support"},
	} {
		dir.Employees = append(dir.Employees, identity.Employee{ID: e.id, Name: e.name, Department: e.team, Status: identity.Active,
			InsideAddrs: []identity.Address{{Network: apitest.Inside, Addr: e.id + "@corp.test"}}, DefaultPersona: e.id + ".p"})
		dir.Personas = append(dir.Personas, identity.Persona{ID: e.id + ".p", DisplayName: "ACME · " + e.name, Kind: identity.Personal,
			EmployeeID: e.id, Addresses: []identity.Address{{Network: apitest.OutsideIM, Addr: e.id + "@contact.acme.test"}}})
	}
	dir.Personas = append(dir.Personas, identity.Persona{ID: "desk", DisplayName: "ACME Sales Desk", Kind: identity.Team,
		Members: []string{"ana", "ben"}, Assign: identity.AssignRoundRobin,
		Addresses: []identity.Address{{Network: apitest.OutsideIM, Addr: "desk@contact.acme.test"}, {Network: apitest.OutsideMail, Addr: "desk@contact.acme.test"}}})
	dir.Reason = "test company"
	if _, err := w.boot.ImportDirectory(ctx, dir); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ addr, persona, owner string }{
		{"alice@ext.test", "ana.p", "ana"}, {"amy@ext.test", "ana.p", "ana"}, {"arne@ext.test", "ana.p", "ana"},
		{"dora@ext.test", "dan.p", "dan"}, {"doug@ext.test", "dan.p", "dan"},
	} {
		w.rels[r.addr] = w.api.Relationship(t, apitest.OutsideIM, r.addr, r.persona, r.owner)
	}
	for _, a := range []adminapi.AdminRequest{
		{Name: "root", Role: identity.RoleAdmin}, {Name: "lea", Role: identity.RoleLead, Team: "sales"}, {Name: "aud", Role: identity.RoleAuditor},
	} {
		a.Password, a.Reason = password, "console test"
		if _, err := w.boot.AddAdmin(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	o := Options{API: w.api.API, Now: w.clock.Now, Topology: testTopology, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, f := range tune {
		f(&o)
	}
	con, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	w.con = con
	mux := http.NewServeMux()
	mux.Handle(Prefix, con.Handler())
	w.srv = httptest.NewTLSServer(mux)
	t.Cleanup(w.srv.Close)
	return w
}

// owner returns the owner of the relationship of addr now.
func (w *world) owner(addr string) string {
	w.t.Helper()
	r, ok := w.api.State.Snapshot().Relationship(w.rels[addr].ID)
	if !ok {
		w.t.Fatalf("no relationship of %s", addr)
	}
	return r.OwnerID
}

// record hands analytics events to the store at once.
func (w *world) record(events ...gateway.Event) {
	w.t.Helper()
	if err := w.api.Analytics.Record(context.Background(), events); err != nil {
		w.t.Fatal(err)
	}
}

// client is an HTTP client of the console with its own cookies, like a
// browser's tab.
type client struct {
	w *world
	c *http.Client
	// lang, if set, is sent as Accept-Language.
	lang string
}

func (w *world) browser() *client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		w.t.Fatal(err)
	}
	// A copy: srv.Client() is one client, and each browser has its own
	// cookies.
	cl := *w.srv.Client()
	c := &cl
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &client{w: w, c: c}
}

// page is an answer of the console.
type page struct {
	status int
	header http.Header
	body   string
}

func (b *client) do(method, path string, form url.Values, header ...string) *page {
	b.w.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.w.srv.URL+path, body)
	if err != nil {
		b.w.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if b.lang != "" {
		req.Header.Set("Accept-Language", b.lang)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.w.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.w.t.Fatal(err)
	}
	return &page{status: resp.StatusCode, header: resp.Header, body: string(data)}
}

func (b *client) get(path string) *page { return b.do(http.MethodGet, path, nil) }

// post sends a form with the session's CSRF token (read from the page
// at from).
func (b *client) post(path string, form url.Values) *page {
	b.w.t.Helper()
	if form.Get("csrf") == "" {
		form.Set("csrf", b.csrf())
	}
	return b.do(http.MethodPost, path, form)
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the session's CSRF token off the overview.
func (b *client) csrf() string {
	b.w.t.Helper()
	p := b.get("/console/health")
	m := csrfInput.FindStringSubmatch(p.body)
	if m == nil {
		b.w.t.Fatalf("no CSRF token on the page (%d): %.300s", p.status, p.body)
	}
	return m[1]
}

// signIn signs in as name and fails the test unless that works.
func (b *client) signIn(name string) {
	b.w.t.Helper()
	p := b.do(http.MethodPost, "/console/login", url.Values{"name": {name}, "password": {password}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != Prefix {
		b.w.t.Fatalf("sign in as %s: %d %s %.500s", name, p.status, p.header.Get("Location"), p.body)
	}
}

// mustContain fails unless the page has each of s.
func (p *page) mustContain(t testing.TB, s ...string) {
	t.Helper()
	for _, x := range s {
		if !strings.Contains(p.body, x) {
			t.Errorf("page (%d) lacks %q:\n%.3000s", p.status, x, p.body)
		}
	}
}

// mustNotContain fails if the page has any of s.
func (p *page) mustNotContain(t testing.TB, s ...string) {
	t.Helper()
	for _, x := range s {
		if strings.Contains(p.body, x) {
			t.Errorf("page (%d) has %q", p.status, x)
		}
	}
}
