package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/internal/testenv"
	"github.com/kakehashi/kakehashi/leader"
)

const bootstrap = "bootstrap-token-0123456789"

// election runs an elector named instance that advertises address over
// the database at url until the test ends; active, when it is, blocks
// until its term ends.
func election(t *testing.T, url, instance, address string) *leader.Elector {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e := leader.New(url, leader.Options{Instance: instance, Address: address, TTL: time.Second, Logger: slog.New(slog.DiscardHandler)})
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Run(ctx, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	}()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not within 10 s", what)
}

// ask sends one request to h and returns the answer's status, error text
// (from the API's error body, or the whole body) and headers.
func ask(t *testing.T, h http.Handler, method, target, token, body string, header ...string) (int, string, http.Header) {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	text := w.Body.String()
	var e struct{ Error string }
	if json.Unmarshal(w.Body.Bytes(), &e) == nil && e.Error != "" {
		text = e.Error
	}
	return w.Code, text, w.Result().Header
}

// TestStandbyForwardsAdminRequests: a standby forwards an admin request
// to the active instance's advertised address as it came (method, path,
// query, body, credential), marked as forwarded, and returns the answer
// as it was given; it never forwards a forwarded request again, and says
// why when it cannot forward: nothing to forward to (503, try again), an
// active instance that does not answer (503, nothing sent) or that stops
// answering mid-request (502: the change may have been made).
func TestStandbyForwardsAdminRequests(t *testing.T) {
	url := testenv.SharedPostgres(t).NewDatabase(t)
	type seen struct {
		method, path, query, auth, forwardedBy, body string
	}
	got := make(chan seen, 10)
	active := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/v1/hang" {
			// The active instance dies in the middle of the request.
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		got <- seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), r.Header.Get(forwardedHeader), string(b)}
		w.Header().Set(InstanceHeader, "gw-1")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		io.WriteString(w, `{"error": "already transferred"}`)
	}))
	defer active.Close()

	a := election(t, url, "gw-1", active.URL)
	eventually(t, "gw-1 active", a.Valid)
	b := election(t, url, "gw-2", "http://127.0.0.1:1")
	eventually(t, "gw-2 sees gw-1", func() bool { return b.Status().Leader.Instance == "gw-1" })
	tokens, err := identity.OpenAdminTokens(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer tokens.Close()
	h := &roleHandler{e: b, instance: "gw-2", standby: newStandby(b, mustTokens(t, tokens), slog.New(slog.DiscardHandler))}

	code, text, hdr := ask(t, h, "POST", "/v1/transfers?dry_run=true", "kkh_someone", `{"from": "hana", "to": "ken"}`)
	if code != http.StatusConflict || text != "already transferred" || hdr.Get(InstanceHeader) != "gw-1" {
		t.Fatalf("forwarded answer: %d %q, answered by %q", code, text, hdr.Get(InstanceHeader))
	}
	want := seen{"POST", "/v1/transfers", "dry_run=true", "Bearer kkh_someone", "gw-2", `{"from": "hana", "to": "ken"}`}
	if s := <-got; s != want {
		t.Fatalf("the active instance got %+v, want %+v", s, want)
	}

	// Asked by another standby that took this one for the active one.
	code, text, hdr = ask(t, h, "GET", "/v1/queue", bootstrap, "", forwardedHeader, "gw-3")
	if code != http.StatusServiceUnavailable || !strings.Contains(text, "gw-3 forwarded this request to gw-2") || hdr.Get("Retry-After") == "" {
		t.Fatalf("a forwarded request: %d %q", code, text)
	}
	if len(got) != 0 {
		t.Fatal("a forwarded request was forwarded again")
	}

	// The active instance stops answering in the middle: 502, and the
	// change may have been made.
	code, text, _ = ask(t, h, "POST", "/v1/hang", bootstrap, "{}")
	if code != http.StatusBadGateway || !strings.Contains(text, "audit log") {
		t.Fatalf("mid-request failure: %d %q", code, text)
	}

	// An active instance that advertises an address where nothing
	// listens: nothing was sent, so 503 and try again.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	code, text, hdr = ask(t, standbyOf(t, "gw-dead", dead), "GET", "/v1/queue", bootstrap, "")
	if code != http.StatusServiceUnavailable || !strings.Contains(text, "gw-dead ("+dead+") does not answer") || hdr.Get("Retry-After") == "" {
		t.Fatalf("unreachable active instance: %d %q", code, text)
	}
	// One that advertises nothing: 503 naming it.
	code, text, _ = ask(t, standbyOf(t, "gw-quiet", ""), "GET", "/v1/queue", bootstrap, "")
	if code != http.StatusServiceUnavailable || !strings.Contains(text, "gw-quiet, the active one, gave no ha.advertise address") {
		t.Fatalf("active instance without an address: %d %q", code, text)
	}
}

// standbyOf returns the admin handler of a standby whose active instance,
// in a database of their own, is named active and advertises address.
func standbyOf(t *testing.T, active, address string) http.Handler {
	t.Helper()
	url := testenv.SharedPostgres(t).NewDatabase(t)
	a := election(t, url, active, address)
	eventually(t, active+" active", a.Valid)
	b := election(t, url, "standby", "")
	eventually(t, "the standby sees "+active, func() bool { return b.Status().Leader.Instance == active })
	tokens, err := identity.OpenAdminTokens(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tokens.Close() })
	return &roleHandler{e: b, instance: "standby", standby: newStandby(b, mustTokens(t, tokens), slog.New(slog.DiscardHandler))}
}

// TestStandbyMetricsNeedAToken: a standby's /metrics asks for a token as
// the active instance's does (the bootstrap token or a named admin's, of
// any role), and its /healthz, which asks for none, names the active
// instance.
func TestStandbyMetricsNeedAToken(t *testing.T) {
	url := testenv.SharedPostgres(t).NewDatabase(t)
	ctx := context.Background()
	st, err := identity.OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := identity.Open(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, auditor, err := s.AddAdmin(ctx, "admin:bootstrap", "scraping", "prometheus", identity.RoleAuditor)
	if err != nil {
		t.Fatal(err)
	}
	_, gone, err := s.AddAdmin(ctx, "admin:bootstrap", "left", "old.ops", identity.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeAdmin(ctx, "admin:bootstrap", "left", "old.ops"); err != nil {
		t.Fatal(err)
	}
	a := election(t, url, "gw-1", "")
	eventually(t, "gw-1 active", a.Valid)
	b := election(t, url, "gw-2", "")
	eventually(t, "gw-2 sees gw-1", func() bool { return b.Status().Leader.Instance == "gw-1" })
	tokens, err := identity.OpenAdminTokens(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer tokens.Close()
	h := &roleHandler{e: b, instance: "gw-2", standby: newStandby(b, mustTokens(t, tokens), slog.New(slog.DiscardHandler))}

	for _, tok := range []string{"", "wrong-token-0123456789", gone, auditor + "x"} {
		if code, _, hdr := ask(t, h, "GET", "/metrics", tok, ""); code != http.StatusUnauthorized || hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("metrics with token %q: %d", tok, code)
		}
	}
	for _, tok := range []string{bootstrap, auditor} {
		code, text, _ := ask(t, h, "GET", "/metrics", tok, "")
		if code != http.StatusOK || !strings.Contains(text, "kakehashi_leader_active 0") {
			t.Errorf("metrics with a good token: %d %q", code, text)
		}
	}
	code, text, hdr := ask(t, h, "GET", "/healthz", "", "")
	var health roleHealth
	if err := json.Unmarshal([]byte(text), &health); err != nil || code != http.StatusOK {
		t.Fatalf("healthz: %d %q", code, text)
	}
	if health.Role != "standby" || health.Active != "gw-1" || hdr.Get(InstanceHeader) != "gw-2" {
		t.Errorf("healthz: %+v from %q", health, hdr.Get(InstanceHeader))
	}
}

// mustTokens are the tokens a standby accepts: bootstrap and the named
// ones of named.
func mustTokens(t *testing.T, named *identity.AdminTokens) *adminapi.Tokens {
	t.Helper()
	tokens, err := adminapi.NewTokens(bootstrap, named.Authenticate)
	if err != nil {
		t.Fatal(err)
	}
	return tokens
}
