package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kakehashi/kakehashi/internal/testenv"
)

// TestWithConsole: the admin listener serves the console under
// /console/, sends "/" there, and leaves every other path to the API.
func TestWithConsole(t *testing.T) {
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "api "+r.URL.Path) })
	con := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "console "+r.URL.Path) })
	h := withConsole(api, con)
	for _, tt := range []struct{ method, path, want string }{
		{"GET", "/console/", "console /console/"},
		{"POST", "/console/login", "console /console/login"},
		{"GET", "/v1/employees", "api /v1/employees"},
		{"GET", "/healthz", "api /healthz"},
		{"POST", "/", "api /"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if got := rec.Body.String(); got != tt.want {
			t.Errorf("%s %s: %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/console/" {
		t.Errorf("GET /: %d %q, want 303 to /console/", rec.Code, rec.Header().Get("Location"))
	}
}

// TestServeAllOpensAllOrNone: when one listener's address is taken,
// serveAll fails naming it, and the others it opened are closed again.
func TestServeAllOpensAllOrNone(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	free := testenv.FreeAddr(t)
	ls := []listener{{"admin API", free, http.NotFoundHandler()}, {"console", taken.Addr().String(), http.NotFoundHandler()}}
	err = serveAll(t.Context(), ls, make(chan error, 2), nil)
	if err == nil || !strings.Contains(err.Error(), "console: listen on "+taken.Addr().String()) {
		t.Fatalf("serveAll with a taken address: %v", err)
	}
	// The first one's address is free again.
	ln, err := net.Listen("tcp", free)
	if err != nil {
		t.Fatalf("admin address still held: %v", err)
	}
	ln.Close()

	// Both free: both serve until ctx ends, then report nil.
	ctx, cancel := context.WithCancel(t.Context())
	ls[1].addr = testenv.FreeAddr(t)
	done := make(chan error, 2)
	if err := serveAll(ctx, ls, done, nil); err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		resp, err := http.Get("http://" + l.addr + "/x")
		if err != nil || resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: %v %v", l.what, err, resp)
		}
		resp.Body.Close()
	}
	cancel()
	for range ls {
		if err := <-done; err != nil {
			t.Errorf("stopped with %v", err)
		}
	}
}
