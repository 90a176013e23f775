package fetch

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// server starts an httptest server on loopback that counts its requests.
func server(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// port is the port of srv's listener.
func port(t *testing.T, srv *httptest.Server) uint16 {
	t.Helper()
	ap, err := netip.ParseAddrPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return ap.Port()
}

// rawServer answers every connection on loopback with response, verbatim,
// after reading the request head, then closes the connection: for servers
// that break HTTP's rules in ways net/http's server will not.
func rawServer(t *testing.T, response string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(conn)
			for {
				line, err := br.ReadString('\n')
				if err != nil || line == "\r\n" {
					break
				}
			}
			_, _ = io.WriteString(conn, response)
			conn.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return "http://" + ln.Addr().String()
}

func inside(o Options) *Client {
	o.AllowPrivate = true
	return New(o)
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestIsPublic(t *testing.T) {
	for _, tc := range []struct {
		ip     string
		public bool
	}{
		{"127.0.0.1", false},
		{"127.255.0.9", false},
		{"::1", false},
		{"10.0.0.1", false},
		{"10.255.255.255", false},
		{"172.16.0.1", false},
		{"172.31.255.254", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"fc00::1", false},
		{"fd12:3456::1", false},
		{"100.64.0.1", false},
		{"100.127.255.254", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"::", false},
		{"::ffff:127.0.0.1", false}, // IPv4-mapped loopback
		{"::ffff:10.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"::127.0.0.1", false}, // IPv4-compatible, deprecated
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"ff02::1", false},
		{"ff0e::1", false},
		{"255.255.255.255", false},
		{"240.0.0.1", false},
		{"192.0.0.1", false},
		{"192.0.2.1", false},
		{"192.88.99.1", false},
		{"198.18.0.1", false},
		{"198.51.100.1", false},
		{"203.0.113.1", false},
		{"2001:db8::1", false},
		{"3fff::1", false},
		{"2001::1", false},             // Teredo
		{"64:ff9b::a00:1", false},      // NAT64 of 10.0.0.1
		{"64:ff9b::7f00:1", false},     // NAT64 of 127.0.0.1
		{"64:ff9b:1::1", false},        // local-use NAT64
		{"2002:a00:1::1", false},       // 6to4 of 10.0.0.1
		{"2002:7f00:1::", false},       // 6to4 of 127.0.0.1
		{"100::1", false},              // discard
		{"fec0::1", false},             // site-local
		{"::ffff:0:a00:1", false},      // IPv4-translated
		{"8.8.8.8", true},              // public
		{"1.1.1.1", true},              // public
		{"100.63.255.255", true},       // just below CGNAT
		{"100.128.0.1", true},          // just above CGNAT
		{"172.15.255.255", true},       // just below 172.16/12
		{"172.32.0.1", true},           // just above 172.16/12
		{"93.184.216.34", true},        // public
		{"::ffff:8.8.8.8", true},       // IPv4-mapped public
		{"2606:4700:4700::1111", true}, // public IPv6
		{"2a00:1450:4001::200e", true}, // public IPv6
		{"64:ff9b::808:808", true},     // NAT64 of 8.8.8.8
		{"2002:808:808::1", true},      // 6to4 of 8.8.8.8
	} {
		a, err := netip.ParseAddr(tc.ip)
		if err != nil {
			t.Fatalf("%s: %v", tc.ip, err)
		}
		if got := isPublic(a); got != tc.public {
			t.Errorf("isPublic(%s) = %v, want %v", tc.ip, got, tc.public)
		}
	}
	if isPublic(netip.Addr{}) {
		t.Error("the zero Addr is public")
	}
}

func TestGetInfo(t *testing.T) {
	var ua, ae string
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		ua, ae = r.UserAgent(), r.Header.Get("Accept-Encoding")
		w.Header().Set("Content-Type", "Text/PLAIN; charset=UTF-8")
		io.WriteString(w, "hello")
	})
	var buf bytes.Buffer
	info, err := inside(Options{}).Get(context.Background(), srv.URL+"/files/a%20b.txt?token=x", &buf)
	if err != nil {
		t.Fatal(err)
	}
	want := Info{Size: 5, SHA256: hexSHA([]byte("hello")), MediaType: "text/plain", Name: "a b.txt"}
	if info != want || buf.String() != "hello" {
		t.Errorf("got %+v %q, want %+v %q", info, buf.String(), want, "hello")
	}
	if ua != "Kakehashi" {
		t.Errorf("User-Agent %q, want Kakehashi", ua)
	}
	if ae != "" {
		t.Errorf("Accept-Encoding %q: files must arrive as sent, not transparently decoded", ae)
	}
}

func TestGetNoContentType(t *testing.T) {
	srv := rawServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
	info, err := inside(Options{}).Get(context.Background(), srv+"/", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if info.MediaType != "" || info.Name != "" || info.Size != 2 {
		t.Errorf("got %+v, want no media type, no name, size 2", info)
	}
}

func TestGetUserAgentOption(t *testing.T) {
	var ua string
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) { ua = r.UserAgent() })
	if _, err := inside(Options{UserAgent: "Relay"}).Get(context.Background(), srv.URL, io.Discard); err != nil {
		t.Fatal(err)
	}
	if ua != "Relay" {
		t.Errorf("User-Agent %q, want Relay", ua)
	}
}

func TestGetContentDisposition(t *testing.T) {
	for _, tc := range []struct{ disposition, path, want string }{
		{`attachment; filename*=UTF-8''%E8%A6%8B%E7%A9%8D.pdf`, "/dl/123", "見積.pdf"},
		{`attachment; filename="report.pdf"`, "/dl/123", "report.pdf"},
		{`attachment; filename=plain.txt`, "/dl/123", "plain.txt"},
		{`attachment; filename="fallback.pdf"; filename*=UTF-8''%E8%A6%8B%E7%A9%8D.pdf`, "/dl/123", "見積.pdf"},
		{`attachment; filename="../../etc/passwd"`, "/dl/123", "passwd"},
		{`attachment; filename="C:\\Users\\x\\evil.exe"`, "/dl/123", "evil.exe"},
		{`attachment; filename=".."`, "/dl/123", "123"},
		{`inline`, "/dl/%E8%A6%8B%E7%A9%8D.pdf", "見積.pdf"},
		{`attachment; filename="a`, "/dl/from-url.bin", "from-url.bin"}, // unreadable header
		{``, "/dl/..%2F..%2Fetc%2Fpasswd", "passwd"},
		{``, "/dir/", ""},
		{``, "/", ""},
	} {
		srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
			if tc.disposition != "" {
				w.Header().Set("Content-Disposition", tc.disposition)
			}
		})
		info, err := inside(Options{}).Get(context.Background(), srv.URL+tc.path, io.Discard)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.disposition, tc.path, err)
		}
		if info.Name != tc.want {
			t.Errorf("%s %s: name %q, want %q", tc.disposition, tc.path, info.Name, tc.want)
		}
	}
}

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"a\x00b\nc.txt": "abc.txt",
		"  spaced  ":    "spaced",
		"\xff.bin":      "\uFFFD.bin",
		"dir/sub/":      "sub",
		"/":             "",
		".":             "",
	} {
		if got := cleanName(in); got != want {
			t.Errorf("cleanName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMediaType(t *testing.T) {
	for in, want := range map[string]string{
		"":                             "",
		"IMAGE/PNG":                    "image/png",
		"text/html; charset=utf-8":     "text/html",
		"text/plain; charset":          "text/plain", // bad parameter, type still read
		"not a media type":             "",
		"application/pdf; name=\"x\"":  "application/pdf",
		"application/octet-stream;;;;": "application/octet-stream",
	} {
		if got := mediaType(in); got != want {
			t.Errorf("mediaType(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNoProxyFromEnvironment(t *testing.T) {
	c := New(Options{})
	if tr := c.get.Transport.(*http.Transport); tr.Proxy != nil {
		t.Fatal("the transport has a Proxy function: a proxy would hide the real target from the address check")
	}
	// And in deed: a proxy in the environment is not asked, even for a host
	// only the proxy could resolve.
	proxy, hits := server(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "via proxy") })
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("http_proxy", proxy.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := inside(Options{}).Get(ctx, "http://files.kakehashi-test.invalid/x", io.Discard)
	if err == nil {
		t.Fatal("fetched a host that does not exist: through the environment's proxy?")
	}
	if hits.Load() != 0 {
		t.Errorf("the environment's proxy got %d requests", hits.Load())
	}
}

func TestLoopbackRefusedByDefault(t *testing.T) {
	srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) {})
	_, err := New(Options{}).Get(context.Background(), srv.URL+"/x?token=SECRET", io.Discard)
	if !errors.Is(err, ErrForbidden) {
		t.Fatalf("got %v, want ErrForbidden", err)
	}
	if !Permanent(err) {
		t.Error("a refusal is not permanent")
	}
	if hits.Load() != 0 {
		t.Errorf("the server got %d requests", hits.Load())
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error text shows the query: %v", err)
	}
}

// TestRefusalNamesHostNotAddress: a host name that resolves to loopback is
// refused at connect time, and the error names the host, not the address it
// resolved to.
func TestRefusalNamesHostNotAddress(t *testing.T) {
	srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) {})
	u := fmt.Sprintf("http://localhost:%d/doc.pdf", port(t, srv))
	_, err := New(Options{}).Get(context.Background(), u, io.Discard)
	if !errors.Is(err, ErrForbidden) {
		t.Fatalf("got %v, want ErrForbidden", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, "localhost") || strings.Contains(msg, "127.0.0.1") || strings.Contains(msg, "::1") {
		t.Errorf("error text %q: want the host named, not the resolved address", msg)
	}
	if hits.Load() != 0 {
		t.Errorf("the server got %d requests", hits.Load())
	}
}

// TestRedirectToPrivateRefused stands a loopback server in for a public one
// (the exemption covers its port only) and has it redirect to another
// loopback server, by address and by name: the second must never be asked.
func TestRedirectToPrivateRefused(t *testing.T) {
	innerSrv, innerHits := server(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "inside secret") })
	innerPort := port(t, innerSrv)
	for _, target := range []string{
		innerSrv.URL + "/admin",
		fmt.Sprintf("http://localhost:%d/admin", innerPort),
	} {
		front, frontHits := server(t, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/ok" {
				io.WriteString(w, "public")
				return
			}
			http.Redirect(w, r, target, http.StatusFound)
		})
		c := New(Options{})
		frontPort := port(t, front)
		c.exempt = func(ap netip.AddrPort) bool { return ap.Port() == frontPort }

		var buf bytes.Buffer
		if _, err := c.Get(context.Background(), front.URL+"/ok", &buf); err != nil || buf.String() != "public" {
			t.Fatalf("the stand-in public server: %v %q", err, buf.String())
		}
		buf.Reset()
		_, err := c.Get(context.Background(), front.URL+"/file", &buf)
		if !errors.Is(err, ErrForbidden) || !Permanent(err) {
			t.Errorf("redirect to %s: got %v, want permanent ErrForbidden", target, err)
		}
		if innerHits.Load() != 0 || buf.Len() != 0 {
			t.Errorf("redirect to %s reached the inside server (%d requests, %q)", target, innerHits.Load(), buf.String())
		}
		if frontHits.Load() != 2 {
			t.Errorf("front server got %d requests, want 2", frontHits.Load())
		}
	}
}

func TestIPv6LoopbackRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	_, err = New(Options{}).Get(context.Background(), srv.URL, io.Discard)
	if !errors.Is(err, ErrForbidden) {
		t.Errorf("got %v, want ErrForbidden", err)
	}
	if _, err := inside(Options{}).Get(context.Background(), srv.URL, io.Discard); err != nil {
		t.Errorf("with AllowPrivate: %v", err)
	}
}

func TestHostsAllowlist(t *testing.T) {
	b, bHits := server(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "b") })
	a, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-b":
			http.Redirect(w, r, b.URL+"/x", http.StatusFound)
		case "/to-b-by-name":
			http.Redirect(w, r, fmt.Sprintf("http://localhost:%d/x", port(t, b)), http.StatusFound)
		case "/to-self":
			http.Redirect(w, r, "/ok", http.StatusFound)
		default:
			io.WriteString(w, "a")
		}
	})
	aHostPort := strings.TrimPrefix(a.URL, "http://")
	byName := fmt.Sprintf("http://LocalHost:%d", port(t, a))

	for _, tc := range []struct {
		hosts []string
		url   string
		ok    bool
	}{
		{[]string{aHostPort}, a.URL + "/ok", true},
		{[]string{aHostPort}, a.URL + "/to-self", true},
		{[]string{aHostPort}, b.URL + "/x", false},     // same address, other port
		{[]string{aHostPort}, a.URL + "/to-b", false},  // redirect to another host:port
		{[]string{"127.0.0.1"}, b.URL + "/x", true},    // no port: any port
		{[]string{"LOCALHOST"}, byName + "/ok", true},  // case-insensitive
		{[]string{"localhost."}, byName + "/ok", true}, // trailing dot
		{[]string{"localhost"}, a.URL + "/ok", false},  // 127.0.0.1 is not the name localhost
		{[]string{"localhost"}, byName + "/to-b", false},
		{[]string{"localhost", "127.0.0.1"}, byName + "/to-b-by-name", true},
	} {
		bHits.Store(0)
		c := inside(Options{Hosts: tc.hosts})
		_, err := c.Get(context.Background(), tc.url, io.Discard)
		if tc.ok && err != nil {
			t.Errorf("Hosts %v, %s: %v", tc.hosts, tc.url, err)
		}
		if !tc.ok {
			if !errors.Is(err, ErrForbidden) {
				t.Errorf("Hosts %v, %s: got %v, want ErrForbidden", tc.hosts, tc.url, err)
			}
			if bHits.Load() != 0 {
				t.Errorf("Hosts %v, %s: the other host was asked", tc.hosts, tc.url)
			}
		}
	}
}

func TestHostAllowedPorts(t *testing.T) {
	for _, tc := range []struct {
		rule, url string
		ok        bool
	}{
		{"upload.corp.test:443", "https://UPLOAD.corp.test/f", true},
		{"upload.corp.test:443", "http://upload.corp.test/f", false},
		{"upload.corp.test:80", "http://upload.corp.test/f", true},
		{"upload.corp.test:8443", "https://upload.corp.test:8443/f", true},
		{"upload.corp.test:8443", "https://upload.corp.test/f", false},
		{"upload.corp.test", "https://upload.corp.test:8443/f", true},
		{"upload.corp.test", "https://upload.corp.test.evil.test/f", false},
		{"upload.corp.test", "https://evilupload.corp.test/f", false},
		{"[::1]:8080", "http://[::1]:8080/f", true},
		{"[::1]", "http://[::1]:8080/f", true},
		{"::1", "http://[::1]/f", true},
		{" upload.corp.test ", "https://upload.corp.test/f", true},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := hostAllowed([]hostRule{parseHostRule(tc.rule)}, u); got != tc.ok {
			t.Errorf("rule %q, %s: allowed %v, want %v", tc.rule, tc.url, got, tc.ok)
		}
	}
}

func TestMaxBytes(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 1000)
	declared, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.Write(body)
	})
	streamed, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write(body[:50]) // no Content-Length: chunked
		w.(http.Flusher).Flush()
		w.Write(body[50:])
	})
	exact, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Write(body[:50])
		w.(http.Flusher).Flush()
		w.Write(body[50:100])
	})
	// No length, body until the connection closes, with more than declared
	// nowhere: only counting catches it.
	unframed := rawServer(t, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"+string(body))
	// A length smaller than what follows: the client reads what was
	// declared and no more.
	short := rawServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\n"+string(body))
	// A length larger than what follows: a truncated download, an error
	// worth retrying.
	truncated := rawServer(t, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n"+string(body[:40]))

	c := inside(Options{MaxBytes: 100})
	for _, tc := range []struct {
		name, url string
		size      int64
		tooLarge  bool
	}{
		{"declared", declared.URL, 0, true},
		{"streamed", streamed.URL, 0, true},
		{"unframed", unframed, 0, true},
		{"exact", exact.URL, 100, false},
		{"short", short, 10, false},
	} {
		var buf bytes.Buffer
		info, err := c.Get(context.Background(), tc.url, &buf)
		if tc.tooLarge {
			if !errors.Is(err, ErrTooLarge) || !Permanent(err) {
				t.Errorf("%s: got %v, want permanent ErrTooLarge", tc.name, err)
			}
			if buf.Len() > 100 {
				t.Errorf("%s: %d bytes written past MaxBytes", tc.name, buf.Len())
			}
			if tc.name == "declared" && buf.Len() != 0 {
				t.Errorf("declared: %d bytes read although Content-Length said too large", buf.Len())
			}
			continue
		}
		if err != nil || info.Size != tc.size || int64(buf.Len()) != tc.size {
			t.Errorf("%s: got %+v, %d bytes, %v; want size %d", tc.name, info, buf.Len(), err, tc.size)
		}
	}
	_, err := c.Get(context.Background(), truncated, io.Discard)
	if err == nil || Permanent(err) || errors.Is(err, ErrTooLarge) {
		t.Errorf("truncated body: got %v, want a temporary error", err)
	}
}

// stallServer sends headers and some of the body if partial, then waits
// until the client goes away.
func stallServer(t *testing.T, partial bool) *httptest.Server {
	release := make(chan struct{})
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		if partial {
			w.Write([]byte("some"))
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // before srv.Close: cleanups run last first
	return srv
}

func TestTimeout(t *testing.T) {
	for _, partial := range []bool{false, true} {
		srv := stallServer(t, partial)
		c := inside(Options{Timeout: 200 * time.Millisecond})
		start := time.Now()
		_, err := c.Get(context.Background(), srv.URL+"/f?token=SECRET", io.Discard)
		if err == nil {
			t.Fatalf("partial %v: no error from a stalled server", partial)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("partial %v: returned after %v", partial, d)
		}
		if Permanent(err) {
			t.Errorf("partial %v: a timeout is permanent: %v", partial, err)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("partial %v: %v is not DeadlineExceeded", partial, err)
		}
		var ne interface{ Timeout() bool }
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("partial %v: %v does not say Timeout", partial, err)
		}
		if !strings.Contains(err.Error(), "timed out") || strings.Contains(err.Error(), "SECRET") {
			t.Errorf("partial %v: error text %q", partial, err)
		}
	}
}

func TestCallerCancel(t *testing.T) {
	srv := stallServer(t, true)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := inside(Options{}).Get(ctx, srv.URL, io.Discard)
	if !errors.Is(err, context.Canceled) || Permanent(err) {
		t.Errorf("got %v, want a temporary context.Canceled", err)
	}
	if !strings.Contains(err.Error(), "canceled") {
		t.Errorf("error text %q does not say canceled", err)
	}
}

func TestStatus(t *testing.T) {
	for _, tc := range []struct {
		code      int
		permanent bool
	}{
		{404, true}, {403, true}, {410, true}, {400, true}, {401, true},
		{408, false}, {425, false}, {429, false},
		{500, false}, {502, false}, {503, false}, {504, false},
	} {
		srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tc.code)
			io.WriteString(w, "error page")
		})
		var buf bytes.Buffer
		_, err := inside(Options{}).Get(context.Background(), srv.URL+"/u/SECRETPATH/f.pdf?token=SECRET", &buf)
		var se *StatusError
		if !errors.As(err, &se) || se.Code != tc.code {
			t.Errorf("%d: got %v, want a StatusError", tc.code, err)
			continue
		}
		if Permanent(err) != tc.permanent || se.Permanent() != tc.permanent {
			t.Errorf("%d: permanent %v, want %v", tc.code, Permanent(err), tc.permanent)
		}
		if buf.Len() != 0 {
			t.Errorf("%d: the error page was written: %q", tc.code, buf.String())
		}
		msg := err.Error()
		if strings.Contains(msg, "SECRET") || !strings.Contains(msg, "f.pdf") || !strings.Contains(msg, strconv.Itoa(tc.code)) {
			t.Errorf("%d: error text %q", tc.code, msg)
		}
		if strings.Contains(se.Error(), "127.0.0.1") || strings.Contains(se.Error(), "f.pdf") {
			t.Errorf("%d: StatusError text %q has the URL", tc.code, se.Error())
		}
	}
	if got := (&StatusError{Code: 599}).Error(); got != "server answered 599" {
		t.Errorf("unknown status text %q", got)
	}
}

func TestErrorTextRedacted(t *testing.T) {
	// Connection refused: a port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	_, err = inside(Options{}).Get(context.Background(), closed+"/a/SECRETPATH/f.pdf?token=SECRET#SECRETFRAG", io.Discard)
	if err == nil || Permanent(err) {
		t.Fatalf("connection refused: got %v, want a temporary error", err)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connection refused: %v does not wrap ECONNREFUSED", err)
	}
	want := "fetch: GET " + closed + "/.../f.pdf: dial: connection refused"
	if err.Error() != want {
		t.Errorf("error text\n%q, want\n%q", err.Error(), want)
	}

	// The failure is at a redirect target: that is the URL named, redacted.
	target, _ := server(t, func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	front, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/o/SECRETPATH2/x.bin?sig=SECRET2", http.StatusFound)
	})
	_, err = inside(Options{}).Get(context.Background(), front.URL+"/start?token=SECRET", io.Discard)
	if err == nil || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "x.bin") {
		t.Errorf("redirect target: error text %q", err)
	}

	// A refused redirect target likewise.
	front2, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "ftp://files.example/a/SECRETPATH/y.bin?sig=SECRET", http.StatusFound)
	})
	_, err = inside(Options{}).Get(context.Background(), front2.URL+"/start", io.Discard)
	if !errors.Is(err, ErrForbidden) || strings.Contains(err.Error(), "SECRET") || !strings.Contains(err.Error(), "ftp://files.example/.../y.bin") {
		t.Errorf("refused redirect: %v", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://h.example/":                   "https://h.example/",
		"https://h.example":                    "https://h.example/",
		"https://h.example/f.pdf?t=1":          "https://h.example/f.pdf",
		"https://u:p@h.example:8443/a/b/c.pdf": "https://h.example:8443/.../c.pdf",
		"https://h.example/a/":                 "https://h.example/.../",
	} {
		u, err := url.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := redact(u); got != want {
			t.Errorf("redact(%s) = %q, want %q", in, got, want)
		}
	}
	if got := redact(nil); got != "(invalid URL)" {
		t.Errorf("redact(nil) = %q", got)
	}
}

func TestRefusedURLs(t *testing.T) {
	c := inside(Options{})
	for _, tc := range []struct {
		url  string
		want error
	}{
		{"ftp://files.example/x", ErrForbidden},
		{"file:///etc/passwd", ErrForbidden},
		{"gopher://files.example/", ErrForbidden},
		{"javascript:alert(1)", ErrForbidden},
		{"http://user:SECRET@127.0.0.1/", ErrForbidden},
		{"http://[::1", ErrBadURL},
		{"http:///nohost", ErrBadURL},
		{"http:opaque", ErrBadURL},
		{"", ErrForbidden},
		{"http://%zz/", ErrBadURL},
	} {
		_, err := c.Get(context.Background(), tc.url, io.Discard)
		if !errors.Is(err, tc.want) || !Permanent(err) {
			t.Errorf("%q: got %v, want permanent %v", tc.url, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%q: error text shows the password: %v", tc.url, err)
		}
		err = c.Put(context.Background(), tc.url, nil, strings.NewReader("x"), 1, "")
		if !errors.Is(err, tc.want) {
			t.Errorf("Put %q: got %v, want %v", tc.url, err, tc.want)
		}
	}
}

func TestRedirectToFileRefused(t *testing.T) {
	front, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
	})
	var buf bytes.Buffer
	_, err := inside(Options{}).Get(context.Background(), front.URL, &buf)
	if !errors.Is(err, ErrForbidden) || buf.Len() != 0 {
		t.Errorf("got %v, %q; want ErrForbidden", err, buf.String())
	}
}

func TestRedirects(t *testing.T) {
	for _, tc := range []struct {
		max, hops int
		ok        bool
	}{
		{0, 5, true}, // default 5
		{0, 6, false},
		{2, 2, true},
		{2, 3, false},
		{-1, 0, true},
		{-1, 1, false},
	} {
		srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) {
			n, _ := strconv.Atoi(r.URL.Query().Get("n"))
			if n < tc.hops {
				http.Redirect(w, r, "/?n="+strconv.Itoa(n+1), http.StatusFound)
				return
			}
			io.WriteString(w, "done")
		})
		var buf bytes.Buffer
		_, err := inside(Options{MaxRedirects: tc.max}).Get(context.Background(), srv.URL+"/?n=0", &buf)
		if tc.ok && (err != nil || buf.String() != "done") {
			t.Errorf("max %d, %d hops: %v %q", tc.max, tc.hops, err, buf.String())
		}
		if !tc.ok {
			if !errors.Is(err, ErrTooManyRedirects) || !Permanent(err) {
				t.Errorf("max %d, %d hops: got %v, want permanent ErrTooManyRedirects", tc.max, tc.hops, err)
			}
			if want := int64(max(tc.max, 0) + 1); tc.max != 0 && hits.Load() != want {
				t.Errorf("max %d: %d requests, want %d", tc.max, hits.Load(), want)
			}
		}
	}
}

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }

func TestWriterError(t *testing.T) {
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "data") })
	disk := errors.New("disk full")
	_, err := inside(Options{}).Get(context.Background(), srv.URL, failingWriter{disk})
	if !errors.Is(err, disk) || Permanent(err) || !strings.Contains(err.Error(), "writing: disk full") {
		t.Errorf("got %v, want the writer's error", err)
	}
}

func TestPut(t *testing.T) {
	type got struct {
		method, path string
		header       http.Header
		body         string
		length       int64
	}
	var (
		mu   sync.Mutex
		seen got
	)
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = got{r.Method, r.URL.Path, r.Header.Clone(), string(b), r.ContentLength}
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	})
	h := http.Header{}
	h.Set("Authorization", "Basic dGVzdDp0ZXN0\r\nX-Injected: yes")
	h.Set("Cookie", "foo=bar; user=romeo")
	h.Set("Expires", "Tue, 14 Jan 2031 00:00:00 GMT")
	h.Set("X-Evil", "1")
	h.Set("Host", "elsewhere.example")
	content := "hello world and then some"
	err := inside(Options{}).Put(context.Background(), srv.URL+"/slot/abc/見積.pdf", h, strings.NewReader(content), 11, "application/pdf")
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if seen.method != http.MethodPut || seen.path != "/slot/abc/見積.pdf" {
		t.Errorf("request %s %s", seen.method, seen.path)
	}
	if seen.body != content[:11] || seen.length != 11 {
		t.Errorf("body %q, length %d; want the first 11 bytes", seen.body, seen.length)
	}
	for k, want := range map[string]string{
		"Authorization":  "Basic dGVzdDp0ZXN0X-Injected: yes",
		"Cookie":         "foo=bar; user=romeo",
		"Expires":        "Tue, 14 Jan 2031 00:00:00 GMT",
		"Content-Type":   "application/pdf",
		"Content-Length": "11",
		"User-Agent":     "Kakehashi",
		"X-Evil":         "",
		"X-Injected":     "",
	} {
		if v := seen.header.Get(k); v != want {
			t.Errorf("header %s = %q, want %q", k, v, want)
		}
	}
}

func TestPutEmptyAndDefaultType(t *testing.T) {
	var ct, cl string
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		ct, cl = r.Header.Get("Content-Type"), r.Header.Get("Content-Length")
	})
	if err := inside(Options{}).Put(context.Background(), srv.URL+"/e", nil, strings.NewReader("ignored"), 0, ""); err != nil {
		t.Fatal(err)
	}
	if ct != "application/octet-stream" || cl != "0" {
		t.Errorf("Content-Type %q, Content-Length %q", ct, cl)
	}
}

func TestPutFailures(t *testing.T) {
	other, otherHits := server(t, func(w http.ResponseWriter, r *http.Request) {})
	srv, hits := server(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch r.URL.Path {
		case "/413":
			w.WriteHeader(http.StatusRequestEntityTooLarge)
		case "/503":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/302":
			http.Redirect(w, r, other.URL, http.StatusFound)
		case "/307":
			http.Redirect(w, r, other.URL, http.StatusTemporaryRedirect)
		}
	})
	c := inside(Options{MaxBytes: 100})
	for _, tc := range []struct {
		path      string
		code      int
		permanent bool
	}{
		{"/413", 413, true}, {"/503", 503, false}, {"/302", 302, true}, {"/307", 307, true},
	} {
		err := c.Put(context.Background(), srv.URL+tc.path+"?token=SECRET", nil, strings.NewReader("data"), 4, "")
		var se *StatusError
		if !errors.As(err, &se) || se.Code != tc.code || Permanent(err) != tc.permanent {
			t.Errorf("%s: got %v, want status %d, permanent %v", tc.path, err, tc.code, tc.permanent)
		}
		if err != nil && strings.Contains(err.Error(), "SECRET") {
			t.Errorf("%s: error text %q", tc.path, err)
		}
	}
	if otherHits.Load() != 0 {
		t.Errorf("an upload followed a redirect (%d requests)", otherHits.Load())
	}

	hits.Store(0)
	err := c.Put(context.Background(), srv.URL+"/big", nil, strings.NewReader(strings.Repeat("x", 101)), 101, "")
	if !errors.Is(err, ErrTooLarge) || hits.Load() != 0 {
		t.Errorf("over MaxBytes: got %v, %d requests", err, hits.Load())
	}
	err = c.Put(context.Background(), srv.URL+"/neg", nil, strings.NewReader(""), -1, "")
	if err == nil || hits.Load() != 0 {
		t.Errorf("negative size: got %v", err)
	}
	// A reader shorter than size; its own server, since the request may
	// still be arriving there when Put returns.
	shortSrv, _ := server(t, func(w http.ResponseWriter, r *http.Request) { io.Copy(io.Discard, r.Body) })
	err = c.Put(context.Background(), shortSrv.URL+"/short", nil, strings.NewReader("abc"), 10, "")
	if err == nil || Permanent(err) {
		t.Errorf("reader shorter than size: got %v, want a temporary error", err)
	}
	err = New(Options{}).Put(context.Background(), srv.URL+"/x", nil, strings.NewReader("data"), 4, "")
	if !errors.Is(err, ErrForbidden) {
		t.Errorf("loopback without AllowPrivate: got %v, want ErrForbidden", err)
	}
	err = inside(Options{Hosts: []string{"upload.corp.test"}}).Put(context.Background(), srv.URL+"/x", nil, strings.NewReader("data"), 4, "")
	if !errors.Is(err, ErrForbidden) {
		t.Errorf("host outside Hosts: got %v, want ErrForbidden", err)
	}
	if hits.Load() != 0 {
		t.Errorf("refused uploads reached the server (%d requests)", hits.Load())
	}
}

func TestPutTimeout(t *testing.T) {
	release := make(chan struct{})
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })
	err := inside(Options{Timeout: 200 * time.Millisecond}).Put(context.Background(), srv.URL, nil, strings.NewReader("data"), 4, "")
	if !errors.Is(err, context.DeadlineExceeded) || Permanent(err) {
		t.Errorf("got %v, want a temporary DeadlineExceeded", err)
	}
}

func TestDefaults(t *testing.T) {
	c := New(Options{})
	if c.maxBytes != 100<<20 || c.timeout != 2*time.Minute || c.maxRedirects != 5 || c.userAgent != "Kakehashi" || c.allowPrivate {
		t.Errorf("defaults: %+v", c)
	}
	tr := c.get.Transport.(*http.Transport)
	if tr.ResponseHeaderTimeout != 30*time.Second || !tr.DisableCompression {
		t.Errorf("transport: header timeout %v, compression disabled %v", tr.ResponseHeaderTimeout, tr.DisableCompression)
	}
}

func TestPermanent(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{ErrForbidden, true},
		{fmt.Errorf("x: %w", &forbiddenError{host: "h", reason: "r"}), true},
		{ErrTooLarge, true},
		{ErrBadURL, true},
		{ErrTooManyRedirects, true},
		{&StatusError{Code: 404}, true},
		{fmt.Errorf("x: %w", &StatusError{Code: 503}), false},
		{context.DeadlineExceeded, false},
		{context.Canceled, false},
		{syscall.ECONNREFUSED, false},
		{io.ErrUnexpectedEOF, false},
	} {
		if got := Permanent(tc.err); got != tc.want {
			t.Errorf("Permanent(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestDescribe(t *testing.T) {
	dns := &net.DNSError{Err: "no such host", Name: "files.example", Server: "10.0.0.53:53", IsNotFound: true}
	if got := describe(&url.Error{Op: "Get", URL: "http://files.example/?t=SECRET", Err: &net.OpError{Op: "dial", Net: "tcp", Err: dns}}); got != "dial: lookup files.example: no such host" {
		t.Errorf("describe DNS error: %q", got)
	}
	if got := (&forbiddenError{reason: "r"}).Error(); got != "destination not allowed: r" {
		t.Errorf("forbidden without host: %q", got)
	}
}

func TestConcurrentGets(t *testing.T) {
	srv, _ := server(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.Path) })
	c := inside(Options{})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			var buf bytes.Buffer
			p := "/f" + strconv.Itoa(i)
			if _, err := c.Get(context.Background(), srv.URL+p, &buf); err != nil || buf.String() != p {
				t.Errorf("%s: %v %q", p, err, buf.String())
			}
		})
	}
	wg.Wait()
}

// TestUnwrappedCauseHasNoURL: the chain under the returned error holds no
// url.Error, whose text would show the query.
func TestUnwrappedCauseHasNoURL(t *testing.T) {
	srv := stallServer(t, false)
	_, err := inside(Options{Timeout: 100 * time.Millisecond}).Get(context.Background(), srv.URL+"/f?token=SECRET", io.Discard)
	var ue *url.Error
	if errors.As(err, &ue) {
		t.Errorf("the error chain holds a url.Error: %v", ue)
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if strings.Contains(e.Error(), "SECRET") {
			t.Errorf("a cause in the chain shows the query: %v", e)
		}
	}
}
