package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kakehashi/kakehashi/identity"
)

const testToken = "test-admin-token-0123456789"

func adminServer(t *testing.T) (*testGateway, *httptest.Server) {
	t.Helper()
	g := startTestGateway(t, t.TempDir())
	t.Cleanup(g.stop)
	api, err := NewAdminAPI(g.Gateway, testToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return g, srv
}

func call(t *testing.T, srv *httptest.Server, method, path, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("X-Kakehashi-Actor", "alice")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestAdminAPIRequiresToken(t *testing.T) {
	_, srv := adminServer(t)
	for _, path := range []string{"/v1/employees", "/v1/audit", "/metrics", "/v1/queue"} {
		for _, tok := range []string{"", "wrong-token-0123456789", testToken + "x"} {
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
	if _, err := NewAdminAPI(nil, "short", nil); err == nil {
		t.Error("a short token was accepted")
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
	code, body = call(t, srv, "GET", "/v1/audit?action=contacts.transfer", testToken, "")
	var entries []identity.AuditEntry
	if code != http.StatusOK || json.Unmarshal([]byte(body), &entries) != nil || len(entries) != 1 {
		t.Fatalf("audit: %d %s", code, body)
	}
	if e := entries[0]; e.Actor != "admin:alice" || e.Reason != "to the pool" {
		t.Fatalf("audit entry: %+v", e)
	}
}
