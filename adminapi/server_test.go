package adminapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/analytics"
	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/gateway/gatewaytest"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/outreach"
)

const testToken = "test-admin-token-0123456789"

// testWorld is a gateway with in-process adapters, its outreach service
// and its admin API.
type testWorld struct {
	*gatewaytest.World
	out   *outreach.Service
	stats *analytics.Store
	api   *Server
}

func adminServer(t *testing.T) (*testWorld, *httptest.Server) {
	t.Helper()
	g, srv, _ := adminServerValidated(t)
	return g, srv
}

// adminServerValidated is adminServer whose every answer is checked
// against the OpenAPI document (see validator).
func adminServerValidated(t *testing.T) (*testWorld, *httptest.Server, *validator) {
	t.Helper()
	g := &testWorld{}
	stats, err := analytics.Open(context.Background(), filepath.Join(t.TempDir(), analytics.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stats.Close() })
	g.stats = stats
	g.World = gatewaytest.Start(t, t.TempDir(), func(gw *gateway.Gateway) {
		out, err := outreach.New(context.Background(), gw, outreach.Options{})
		if err != nil {
			t.Fatal(err)
		}
		g.out = out
	}, func(o *gateway.Options) { o.Events, o.EventsEvery = stats, 10*time.Millisecond })
	t.Cleanup(g.Stop)
	api, err := NewServer(g.Gateway, g.out, testToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	api.SetAnalytics(stats)
	g.api = api
	v := newValidator(t)
	srv := httptest.NewServer(v.wrap(api.Handler()))
	t.Cleanup(srv.Close)
	return g, srv, v
}

func call(t *testing.T, srv *httptest.Server, method, path, token, body string) (int, string) {
	t.Helper()
	return callWith(t, srv, method, path, token, body, nil)
}

func callWith(t *testing.T, srv *httptest.Server, method, path, token, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	// An error's text, unescaped, so tests can look for quoted names in it.
	var e ErrorBody
	if resp.StatusCode >= 300 && json.Unmarshal(b, &e) == nil && e.Error != "" {
		return resp.StatusCode, e.Error
	}
	return resp.StatusCode, string(b)
}

// auditOf returns the audit entries of action.
func auditOf(t *testing.T, srv *httptest.Server, action string) []identity.AuditEntry {
	t.Helper()
	code, body := call(t, srv, "GET", "/v1/audit?action="+action, testToken, "")
	var entries []identity.AuditEntry
	if code != http.StatusOK || json.Unmarshal([]byte(body), &entries) != nil {
		t.Fatalf("audit: %d %s", code, body)
	}
	return entries
}

// addAdmin creates a named admin with the bootstrap token and returns its token.
func addAdmin(t *testing.T, srv *httptest.Server, name string, role identity.AdminRole) string {
	t.Helper()
	code, body := call(t, srv, "POST", "/v1/admins", testToken, `{"name":"`+name+`","role":"`+string(role)+`","reason":"test"}`)
	var n NewAdmin
	if code != http.StatusCreated || json.Unmarshal([]byte(body), &n) != nil || n.Token == "" || n.Admin.Name != name {
		t.Fatalf("add admin %s: %d %s", name, code, body)
	}
	return n.Token
}

// addLead creates a named admin of role lead for team with the bootstrap
// token and returns its token.
func addLead(t *testing.T, srv *httptest.Server, name, team string) string {
	t.Helper()
	code, body := call(t, srv, "POST", "/v1/admins", testToken, `{"name":"`+name+`","role":"lead","team":"`+team+`","reason":"test"}`)
	var n NewAdmin
	if code != http.StatusCreated || json.Unmarshal([]byte(body), &n) != nil || n.Token == "" || n.Admin.Team != team {
		t.Fatalf("add lead %s: %d %s", name, code, body)
	}
	return n.Token
}

func TestAdminAPIRequiresToken(t *testing.T) {
	_, srv := adminServer(t)
	for _, path := range []string{"/v1/employees", "/v1/audit", "/metrics", "/v1/queue", "/v1/admins"} {
		for _, tok := range []string{"", "wrong-token-0123456789", testToken + "x", "kkh_" + strings.Repeat("A", 43), "kkh_"} {
			if code, _ := call(t, srv, "GET", path, tok, ""); code != http.StatusUnauthorized {
				t.Errorf("GET %s with token %q: %d, want 401", path, tok, code)
			}
		}
	}
	if code, _ := call(t, srv, "POST", "/v1/transfers", "", `{"from":"hana","reason":"x"}`); code != http.StatusUnauthorized {
		t.Errorf("unauthenticated transfer: %d", code)
	}
	if code, body := call(t, srv, "GET", "/healthz", "", ""); code != http.StatusOK || !strings.Contains(body, `"status": "ok"`) {
		t.Errorf("healthz: %d %s", code, body)
	}
	if code, body := call(t, srv, "GET", "/metrics", testToken, ""); code != http.StatusOK || !strings.Contains(body, "go_goroutines") {
		t.Errorf("metrics: %d %s", code, body)
	}
	if _, err := NewServer(nil, nil, "short", nil); err == nil {
		t.Error("a short token was accepted")
	}
	if _, err := NewServer(nil, nil, identity.AdminTokenPrefix+"0123456789abcdef", nil); err == nil {
		t.Error("a bootstrap token with the named tokens' prefix was accepted")
	}
}

func TestAdminAPIErrorsAndAudit(t *testing.T) {
	_, srv := adminServer(t)
	cases := []struct {
		method, path, body string
		code               int
		text               string
	}{
		{"POST", "/v1/transfers", `{"from":"hana","to":"ken","reason":"x"}`, http.StatusNotFound, "ken"},
		{"POST", "/v1/transfers", `{"from":"hana","reason":""}`, http.StatusBadRequest, "reason"},
		{"POST", "/v1/transfers", `{"from":"hana","reason":"x","surprise":1}`, http.StatusBadRequest, "surprise"},
		{"POST", "/v1/transfers", `{not json`, http.StatusBadRequest, "request body"},
		{"POST", "/v1/employees/nobody/depart", `{"reason":"x"}`, http.StatusNotFound, "nobody"},
		{"GET", "/v1/audit?limit=lots", ``, http.StatusBadRequest, "limit"},
	}
	for _, c := range cases {
		code, body := call(t, srv, c.method, c.path, testToken, c.body)
		if code != c.code || !strings.Contains(body, c.text) {
			t.Errorf("%s %s %s: %d %s, want %d mentioning %q", c.method, c.path, c.body, code, body, c.code, c.text)
		}
	}
	code, body := call(t, srv, "POST", "/v1/transfers", testToken, `{"from":"hana","reason":"to the pool"}`)
	if code != http.StatusOK {
		t.Fatalf("transfer to pool: %d %s", code, body)
	}
	entries := auditOf(t, srv, "contacts.transfer")
	if len(entries) != 1 {
		t.Fatalf("audit: %+v", entries)
	}
	// The bootstrap token from config is recorded as such.
	if e := entries[0]; e.Actor != "admin:bootstrap" || e.Reason != "to the pool" {
		t.Fatalf("audit entry: %+v", e)
	}
}

// TestAdminAPIStrictBody: every endpoint that reads a body takes exactly
// one JSON object of its own fields, or answers 400 (413 when too large)
// naming the problem, and changes nothing.
func TestAdminAPIStrictBody(t *testing.T) {
	g, srv := adminServer(t)
	bodies := []struct {
		name, body, text string
	}{
		{"trailing object", `{"reason":"x"} {"reason":"y"}`, "after the JSON object"},
		{"trailing object, no space", `{"reason":"x"}{"reason":"y"}`, "after the JSON object"},
		{"trailing empty object", `{"reason":"x"}` + "\n{}", "after the JSON object"},
		{"trailing garbage", `{"reason":"x"}x`, "after the JSON object"},
		{"trailing bracket", `{"reason":"x"}]`, "after the JSON object"},
		{"trailing null", `{"reason":"x"} null`, "after the JSON object"},
		{"unknown field", `{"reason":"x","surprise":1}`, `unknown field "surprise"`},
		{"unknown field first", `{"actor":"mallory","reason":"x"}`, `unknown field "actor"`},
		{"field in other case", `{"REASON":"x"}`, `unknown field "REASON" (did you mean "reason"?)`},
		{"field in title case", `{"Reason":"x"}`, `did you mean "reason"`},
		{"field given twice", `{"reason":"x","reason":"y"}`, `"reason" is given twice`},
		{"null", `null`, "must be a JSON object, not null"},
		{"null with space", " \n null ", "not null"},
		{"array", `[{"reason":"x"}]`, "not an array"},
		{"empty array", `[]`, "not an array"},
		{"string", `"x"`, "not a string"},
		{"number", `42`, "not a number"},
		{"boolean", `true`, "not a boolean"},
		{"empty body", ``, "request body is empty"},
		{"blank body", " \r\n\t ", "request body is empty"},
		{"truncated", `{"reason":"x"`, "request body"},
		{"not UTF-8", "{\"reason\":\"\xff\xfe\"}", "not valid UTF-8"},
	}
	endpoints := []string{
		"/v1/employees/hana/depart", "/v1/employees/hana/reactivate", "/v1/transfers", "/v1/transfers/t-x/revert",
		"/v1/employees", "/v1/personas", "/v1/relationships/r-x/tags", "/v1/relationships/r-x/remark",
		"/v1/broadcasts", "/v1/directory", "/v1/admins", "/v1/admins/ana/revoke",
	}
	for _, path := range endpoints {
		for _, b := range bodies {
			code, body := call(t, srv, "POST", path, testToken, b.body)
			if code != http.StatusBadRequest || !strings.Contains(body, b.text) {
				t.Errorf("POST %s, %s: %d %s, want 400 mentioning %q", path, b.name, code, body, b.text)
			}
		}
	}
	// Nested objects are checked too.
	for _, c := range []struct{ path, body, text string }{
		{"/v1/employees", `{"employee":{"id":"z","nmae":"Z"},"reason":"r"}`, `request body.employee: unknown field "nmae"`},
		{"/v1/employees", `{"employee":{"id":"z","ID":"y"},"reason":"r"}`, `unknown field "ID"`},
		{"/v1/employees", `{"employee":{"id":"z","name":"Z","inside_addrs":[{"network":"corp","adr":"z@corp.test"}]},"reason":"r"}`, `employee.inside_addrs[0]: unknown field "adr"`},
		{"/v1/directory", `{"employees":[{"id":"a","id":"b"}]}`, `"id" is given twice`},
		{"/v1/employees", `{"employee":null,"reason":"r"}`, `ID is empty`},
	} {
		if code, body := call(t, srv, "POST", c.path, testToken, c.body); code != http.StatusBadRequest || !strings.Contains(body, c.text) {
			t.Errorf("POST %s %s: %d %s, want 400 mentioning %q", c.path, c.body, code, body, c.text)
		}
	}
	// Too large: 413.
	huge := `{"reason":"` + strings.Repeat("x", MaxAdminBody) + `"}`
	for _, path := range []string{"/v1/transfers", "/v1/directory", "/v1/employees/hana/depart"} {
		if code, body := call(t, srv, "POST", path, testToken, huge); code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "larger than") {
			t.Errorf("POST %s with %d bytes: %d %.200s", path, len(huge), code, body)
		}
	}
	// Nothing was changed by any of it: Hana is active, nothing audited.
	if e, ok := g.State().Snapshot().Employee("hana"); !ok || e.Status != identity.Active {
		t.Fatalf("hana after refused requests: %+v", e)
	}
	code, body := call(t, srv, "GET", "/v1/audit?after=2", testToken, "")
	if code != http.StatusOK || strings.TrimSpace(body) != "[]" {
		t.Fatalf("audit after refused requests: %d %s", code, body)
	}
	// A correct body still works, whitespace around it included.
	if code, body := call(t, srv, "POST", "/v1/employees/hana/depart", testToken, "\n {\"reason\":\"left\"} \n"); code != http.StatusOK {
		t.Fatalf("depart: %d %s", code, body)
	}
}

// TestAdminAPIStrictQuery: a query parameter an endpoint does not read,
// reads twice, or cannot parse is refused with 400 naming it.
func TestAdminAPIStrictQuery(t *testing.T) {
	_, srv := adminServer(t)
	cases := []struct {
		method, path, text string
	}{
		{"GET", "/v1/contacts?idle_for=garbage", "query parameter idle_for"},
		{"GET", "/v1/contacts?idle_for=30", "query parameter idle_for"},
		{"GET", "/v1/contacts?idle_for=-5h", "query parameter idle_for"},
		{"GET", "/v1/contacts?idle_for=", "query parameter idle_for"},
		{"GET", "/v1/contacts?active_within=soon", "query parameter active_within"},
		{"GET", "/v1/contacts?active_after=notatime", "query parameter active_after"},
		{"GET", "/v1/contacts?active_before=2026-13-01", "query parameter active_before"},
		{"GET", "/v1/contacts?active_before=", "query parameter active_before"},
		{"GET", "/v1/contacts?idle_for=24h&active_before=2026-01-01T00:00:00Z", "exclude each other"},
		{"GET", "/v1/contacts?limit=lots", "query parameter limit"},
		{"GET", "/v1/contacts?limit=-1", "query parameter limit"},
		{"GET", "/v1/contacts?limit=0", "query parameter limit"},
		{"GET", "/v1/contacts?limit=1e3", "query parameter limit"},
		{"GET", "/v1/contacts?limit=99999999", "query parameter limit"},
		{"GET", "/v1/contacts?offset=x", "query parameter offset"},
		{"GET", "/v1/contacts?unassigned=maybe", "query parameter unassigned"},
		{"GET", "/v1/contacts?owner=hana&unassigned=true", "exclude each other"},
		{"GET", "/v1/contacts?owner=hana&owner=ken", "owner is given 2 times"},
		{"GET", "/v1/contacts?since=notatime", `unknown query parameter "since"`},
		{"GET", "/v1/contacts?Owner=hana", `unknown query parameter "Owner"`},
		{"GET", "/v1/contacts?order=last-activity", "query parameter order"},
		{"GET", "/v1/contacts?relationships=", "query parameter relationships"},
		{"GET", "/v1/contacts?idle-for=24h", `unknown query parameter "idle-for"`},
		{"GET", "/v1/contacts?owner=%zz", "query string"},
		{"GET", "/v1/contacts?owner=hana;tag=vip", "query string"},
		{"GET", "/v1/audit?since=notatime", "query parameter since"},
		{"GET", "/v1/audit?until=2026-01-01", "query parameter until"},
		{"GET", "/v1/audit?before=x", "query parameter before"},
		{"GET", "/v1/audit?newest=maybe", "query parameter newest"},
		{"GET", "/v1/audit?from=2026-01-01T00:00:00Z", `unknown query parameter "from"`},
		{"GET", "/v1/audit?after=x", "query parameter after"},
		{"GET", "/v1/audit?after=-1", "query parameter after"},
		{"GET", "/v1/audit?limit=0", "query parameter limit"},
		{"GET", "/v1/audit?limit=10001", "query parameter limit"},
		{"GET", "/v1/audit?limit=1&limit=2", "limit is given 2 times"},
		{"GET", "/v1/audit?who=admin:ana", `unknown query parameter "who"`},
		{"GET", "/v1/employees?status=active", `unknown query parameter "status"`},
		{"GET", "/v1/queue?verbose=1", "takes no query parameters"},
		{"GET", "/v1/admins?revoked=1", "takes no query parameters"},
		{"GET", "/metrics?x=1", "takes no query parameters"},
		{"POST", "/v1/transfers?dry_run=1", `unknown query parameter "dry_run"`},
		{"POST", "/v1/employees/hana/depart?successor=ken", `unknown query parameter "successor"`},
	}
	for _, c := range cases {
		body := ""
		if c.method == "POST" {
			body = `{"from":"hana","reason":"x"}`
		}
		code, got := call(t, srv, c.method, c.path, testToken, body)
		if code != http.StatusBadRequest || !strings.Contains(got, c.text) {
			t.Errorf("%s %s: %d %s, want 400 mentioning %q", c.method, c.path, code, got, c.text)
		}
	}
	// A body where none is read would be ignored: refused.
	if code, got := call(t, srv, "GET", "/v1/contacts", testToken, `{"owner":"hana"}`); code != http.StatusBadRequest || !strings.Contains(got, "takes no request body") {
		t.Errorf("GET with a body: %d %s", code, got)
	}
	// What parses is taken.
	for _, path := range []string{
		"/v1/contacts?idle_for=720h", "/v1/contacts?active_within=90m", "/v1/contacts?unassigned", "/v1/contacts?unassigned=true",
		"/v1/contacts?unassigned=0&owner=hana", "/v1/contacts?owner=", "/v1/contacts?limit=10000&offset=0",
		"/v1/contacts?active_after=2026-01-01T00:00:00Z&active_before=2027-01-01T00:00:00%2B09:00",
		"/v1/audit?after=0&limit=10000&action=x&subject=y",
		"/v1/contacts?order=last_activity&limit=1", "/v1/contacts?order=id&relationships=r-a,r-b",
		"/v1/audit?before=5&newest&actor=admin:ana&since=2026-01-01T00:00:00Z&until=2027-01-01T00:00:00%2B09:00",
	} {
		if code, got := call(t, srv, "GET", path, testToken, ""); code != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, code, got)
		}
	}
}

// TestAdminAPIRoles: named tokens act under their own name and role; an
// auditor reads and changes nothing; a revoked token is refused at once;
// the X-Kakehashi-Actor header names nobody.
func TestAdminAPIRoles(t *testing.T) {
	g, srv := adminServer(t)
	ana := addAdmin(t, srv, "ana", identity.RoleAdmin)
	aud := addAdmin(t, srv, "kpmg.audit", identity.RoleAuditor)

	// The auditor reads everything.
	code, body := call(t, srv, "POST", "/v1/transfers", ana, `{"from":"hana","reason":"to the pool"}`)
	var tr TransferResult
	if code != http.StatusOK || json.Unmarshal([]byte(body), &tr) != nil {
		t.Fatalf("transfer by ana: %d %s", code, body)
	}
	for _, path := range []string{"/v1/employees", "/v1/personas", "/v1/contacts", "/v1/contacts?unassigned=1", "/v1/audit",
		"/v1/queue", "/metrics", "/v1/admins", "/v1/transfers/" + tr.ID} {
		if code, body := call(t, srv, "GET", path, aud, ""); code != http.StatusOK {
			t.Errorf("auditor GET %s: %d %s", path, code, body)
		}
	}
	if code, _ := call(t, srv, "GET", "/v1/broadcasts/b-none", aud, ""); code != http.StatusNotFound {
		t.Errorf("auditor GET a broadcast: %d, want 404 (allowed, not found)", code)
	}
	// ...and changes nothing, whatever the body.
	writes := []struct{ path, body string }{
		{"/v1/employees", `{"employee":{"id":"eve","name":"Eve","inside_addrs":[{"network":"corp","addr":"eve@corp.test"}]},"reason":"x"}`},
		{"/v1/employees/hana/depart", `{"reason":"x"}`},
		{"/v1/employees/hana/reactivate", `{"reason":"x"}`},
		{"/v1/personas", `{"persona":{"id":"p"},"reason":"x"}`},
		{"/v1/transfers", `{"unassigned":true,"to":"hana","reason":"x"}`},
		{"/v1/transfers/" + tr.ID + "/revert", `{"reason":"x"}`},
		{"/v1/relationships/r-x/tags", `{"add":["vip"]}`},
		{"/v1/relationships/r-x/remark", `{"remark":"x"}`},
		{"/v1/broadcasts", `{"team":["hana"],"tag":"vip","body":"x","reason":"x"}`},
		{"/v1/directory", `{"employees":[]}`},
		{"/v1/admins", `{"name":"mallory","role":"admin","reason":"x"}`},
		{"/v1/admins/ana/revoke", `{"reason":"x"}`},
		{"/v1/admins/kpmg.audit/revoke", `{"reason":"x"}`},
		{"/v1/transfers", `garbage`},
	}
	before := len(auditOf(t, srv, ""))
	for _, w := range writes {
		code, body := call(t, srv, "POST", w.path, aud, w.body)
		if code != http.StatusForbidden || !strings.Contains(body, "admin:kpmg.audit has role auditor") {
			t.Errorf("auditor POST %s: %d %s, want 403", w.path, code, body)
		}
	}
	if after := len(auditOf(t, srv, "")); after != before {
		t.Fatalf("the auditor's refused writes changed the audit log: %d → %d entries", before, after)
	}

	// The audit names the credential: bootstrap for config's token, the
	// name for a named one.
	adds := auditOf(t, srv, identity.ActionAdminAdd)
	if len(adds) != 2 || adds[0].Actor != "admin:bootstrap" || adds[0].Subject != "admin:ana" || adds[1].Subject != "admin:kpmg.audit" {
		t.Fatalf("admin.add audit: %+v", adds)
	}
	if e := auditOf(t, srv, "contacts.transfer"); len(e) != 1 || e[0].Actor != "admin:ana" {
		t.Fatalf("transfer audit: %+v", e)
	}

	// X-Kakehashi-Actor names nobody: refused, whoever sends it, with any
	// spelling of the header, and nothing happens.
	for _, h := range []map[string]string{
		{"X-Kakehashi-Actor": "mallory"}, {"x-kakehashi-actor": "mallory"}, {"X-KAKEHASHI-ACTOR": ""}, {"X-Kakehashi-Actor": "ana"},
	} {
		for _, tok := range []string{testToken, ana} {
			code, body := callWith(t, srv, "POST", "/v1/employees/hana/reactivate", tok, `{"reason":"spoof"}`, h)
			if code != http.StatusBadRequest || !strings.Contains(body, "X-Kakehashi-Actor") {
				t.Errorf("spoofed actor %v: %d %s", h, code, body)
			}
		}
	}
	for _, e := range auditOf(t, srv, "") {
		if strings.Contains(e.Actor, "mallory") || e.Reason == "spoof" {
			t.Fatalf("spoofed actor recorded: %+v", e)
		}
	}

	// Revocation holds for the very next request.
	code, body = call(t, srv, "POST", "/v1/admins/kpmg.audit/revoke", ana, `{"reason":"audit done"}`)
	if code != http.StatusOK {
		t.Fatalf("revoke: %d %s", code, body)
	}
	if code, body := call(t, srv, "GET", "/v1/audit", aud, ""); code != http.StatusUnauthorized || !strings.Contains(body, "revoked") {
		t.Fatalf("revoked token: %d %s", code, body)
	}
	if e := auditOf(t, srv, identity.ActionAdminRevoke); len(e) != 1 || e[0].Actor != "admin:ana" || e[0].Subject != "admin:kpmg.audit" || e[0].Reason != "audit done" {
		t.Fatalf("revoke audit: %+v", e)
	}
	for _, c := range []struct {
		path, body string
		code       int
		text       string
	}{
		{"/v1/admins", `{"name":"ana","role":"auditor","reason":"x"}`, http.StatusConflict, "exists already"},
		{"/v1/admins", `{"name":"ANA","role":"auditor","reason":"x"}`, http.StatusConflict, "exists already"},
		{"/v1/admins", `{"name":"bootstrap","role":"admin","reason":"x"}`, http.StatusBadRequest, "reserved"},
		{"/v1/admins", `{"name":"two words","role":"admin","reason":"x"}`, http.StatusBadRequest, "no spaces"},
		{"/v1/admins", `{"name":"bob","role":"root","reason":"x"}`, http.StatusBadRequest, "role"},
		{"/v1/admins", `{"name":"bob","reason":"x"}`, http.StatusBadRequest, "role is required"},
		{"/v1/admins", `{"name":"bob","role":"admin"}`, http.StatusBadRequest, "reason"},
		{"/v1/admins/kpmg.audit/revoke", `{"reason":"again"}`, http.StatusConflict, "already"},
		{"/v1/admins/nobody/revoke", `{"reason":"x"}`, http.StatusNotFound, "nobody"},
		{"/v1/admins/bootstrap/revoke", `{"reason":"x"}`, http.StatusBadRequest, "admin.token"},
	} {
		if code, body := call(t, srv, "POST", c.path, ana, c.body); code != c.code || !strings.Contains(body, c.text) {
			t.Errorf("POST %s %s: %d %s, want %d mentioning %q", c.path, c.body, code, body, c.code, c.text)
		}
	}
	if code, _ := call(t, srv, "GET", "/v1/admins", aud, ""); code != http.StatusUnauthorized {
		t.Fatalf("revoked auditor listed admins: %d", code)
	}
	code, body = call(t, srv, "GET", "/v1/admins", ana, "")
	var l []identity.Admin
	if code != http.StatusOK || json.Unmarshal([]byte(body), &l) != nil || len(l) != 2 || l[0].Name != "ana" || l[0].LastUsed.IsZero() ||
		!l[1].Revoked() || l[1].RevokedBy != "admin:ana" || strings.Contains(body, ana) || strings.Contains(body, aud) {
		t.Fatalf("admins: %d %s", code, body)
	}
	_ = g
}

// TestAdminAPIRevertRetellsContacts: reverting a transfer that told its
// contacts (notify) tells them again who looks after them now, unless
// asked not to; a transfer that told nobody is reverted silently unless
// asked to tell.
func TestAdminAPIRevertRetellsContacts(t *testing.T) {
	g, srv := adminServer(t)
	ctx := context.Background()
	for _, c := range []struct{ path, body string }{
		{"/v1/employees", `{"employee":{"id":"ken","name":"Ken Ito","inside_addrs":[{"network":"corp","addr":"ken@corp.test"}],"default_persona":"ken.sales"},"reason":"setup"}`},
		{"/v1/personas", `{"persona":{"id":"ken.sales","display_name":"ACME Sales · Ken","kind":"personal","employee_id":"ken","addresses":[{"network":"public-xmpp","addr":"ken.sales@contact.acme.test"}]},"reason":"setup"}`},
	} {
		if code, body := call(t, srv, "POST", c.path, testToken, c.body); code != http.StatusOK {
			t.Fatalf("POST %s: %d %s", c.path, code, body)
		}
	}
	if err := g.Receive(ctx, &gateway.Message{Network: "corp", From: "hana@corp.test/laptop", ReplyTo: "hana@corp.test/laptop", To: `bob\40ext.test@gw.corp.test`, ID: "h-1", Body: "hello"}); err != nil {
		t.Fatal(err)
	}
	gatewaytest.Recv(t, g.Outside.Sent)
	noMore := func() {
		t.Helper()
		select {
		case o := <-g.Outside.Sent:
			t.Fatalf("unexpected notice: %+v", o)
		case <-time.After(300 * time.Millisecond):
		}
	}
	transfer := func(body string) TransferResult {
		t.Helper()
		code, got := call(t, srv, "POST", "/v1/transfers", testToken, body)
		var res TransferResult
		if code != http.StatusOK || json.Unmarshal([]byte(got), &res) != nil {
			t.Fatalf("transfer: %d %s", code, got)
		}
		return res
	}
	revert := func(id, body string) RevertResult {
		t.Helper()
		code, got := call(t, srv, "POST", "/v1/transfers/"+id+"/revert", testToken, body)
		var res RevertResult
		if code != http.StatusOK || json.Unmarshal([]byte(got), &res) != nil {
			t.Fatalf("revert: %d %s", code, got)
		}
		return res
	}

	// Notified transfer, default revert: bob hears from Ken, then from Hana.
	tr := transfer(`{"from":"hana","to":"ken","notify":true,"reason":"rotation"}`)
	if tr.Notices != 1 {
		t.Fatalf("notices %d", tr.Notices)
	}
	if o := gatewaytest.Recv(t, g.Outside.Sent); o.From != "ken.sales@contact.acme.test" || o.To != "bob@ext.test" {
		t.Fatalf("transfer notice: %+v", o)
	}
	rv := revert(tr.ID, `{"reason":"rotation cancelled"}`)
	if !rv.ToldAtTransfer || rv.NotifiedAtTransfer != 1 || !rv.Notified || rv.Notices != 1 || rv.RevertOf != tr.ID {
		t.Fatalf("revert: %+v", rv)
	}
	o := gatewaytest.Recv(t, g.Outside.Sent)
	if o.From != "hana.sales@contact.acme.test" || o.To != "bob@ext.test" || !strings.Contains(o.Body, "ACME Sales · Hana") || strings.Contains(o.Body, "Sato") {
		t.Fatalf("revert notice: %+v", o)
	}
	noMore()
	if e := auditOf(t, srv, ActionContactsNotify); len(e) != 2 || e[0].Subject != tr.ID || e[1].Subject != rv.ID || e[1].Actor != "admin:bootstrap" {
		t.Fatalf("notify audit: %+v", e)
	}

	// Notified transfer, revert with notify false: silent, and says so.
	tr = transfer(`{"from":"hana","to":"ken","notify":true,"reason":"rotation"}`)
	gatewaytest.Recv(t, g.Outside.Sent)
	rv = revert(tr.ID, `{"reason":"cancelled","notify":false}`)
	if !rv.ToldAtTransfer || rv.Notified || rv.Notices != 0 {
		t.Fatalf("revert without notices: %+v", rv)
	}
	noMore()

	// A transfer that told nobody: the revert tells nobody by default, and
	// tells when asked.
	tr = transfer(`{"from":"hana","to":"ken","reason":"quiet"}`)
	rv = revert(tr.ID, `{"reason":"quiet undo"}`)
	if rv.ToldAtTransfer || rv.Notified || rv.Notices != 0 {
		t.Fatalf("quiet revert: %+v", rv)
	}
	noMore()
	tr = transfer(`{"from":"hana","to":"ken","reason":"quiet"}`)
	rv = revert(tr.ID, `{"reason":"undo, told","notify":true}`)
	if rv.ToldAtTransfer || !rv.Notified || rv.Notices != 1 {
		t.Fatalf("revert asked to notify: %+v", rv)
	}
	if o := gatewaytest.Recv(t, g.Outside.Sent); o.From != "hana.sales@contact.acme.test" {
		t.Fatalf("notice: %+v", o)
	}
	for _, bad := range []string{`{"reason":"x","notify":"yes"}`, `{"reason":"x","notify":null,"notify":true}`} {
		if code, body := call(t, srv, "POST", "/v1/transfers/"+tr.ID+"/revert", testToken, bad); code != http.StatusBadRequest {
			t.Errorf("revert %s: %d %s", bad, code, body)
		}
	}
}
