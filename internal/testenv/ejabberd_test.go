package testenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestEjabberdMessageUploadAndRestart: two ejabberds at once (each its own
// Erlang node, no epmd), users on both virtual hosts, the upload services,
// and accounts that survive a restart.
func TestEjabberdMessageUploadAndRestart(t *testing.T) {
	RequireEjabberd(t)
	var (
		wg      sync.WaitGroup
		servers [2]*Prosody
	)
	// Started together: parallel test binaries do this all the time.
	for i := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			servers[i] = StartEjabberd(t, EjabberdOptions{})
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	p := servers[0]
	if p.C2SAddr == servers[1].C2SAddr || p.Dir == servers[1].Dir {
		t.Fatalf("two instances share %s / %s", p.C2SAddr, p.Dir)
	}
	cfg, err := os.ReadFile(filepath.Join(p.Dir, "ejabberd.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"gw.corp.test":`, `"contact.acme.test":`, `password: "` + p.Secret + `"`, "global_routes: false"} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("config lacks %s", want)
		}
	}
	_, port, _ := strings.Cut(p.HTTPAddr, ":")
	for role, got := range map[string]UploadService{"inside": p.InsideUpload, "outside": p.OutsideUpload, "contact": p.ContactUpload} {
		want := map[string]UploadService{
			"inside":  {Domain: "upload.corp.test", Host: DefaultInsideUploadHost},
			"outside": {Domain: "upload.acme.test", Host: DefaultOutsideUploadHost},
			"contact": {Domain: "upload.ext.test", Host: DefaultContactUploadHost},
		}[role]
		want.URL = "http://" + want.Host + ":" + port + "/"
		if got != want {
			t.Errorf("%s upload service: got %+v, want %+v", role, got, want)
		}
	}

	p.Register(t, "alice", "corp.test", "alice-pw")
	p.Register(t, "bob", "ext.test", "old-pw")
	p.Register(t, "bob", "ext.test", "bob-pw") // a reset, as with Prosody
	if _, err := NewClient(p.C2SAddr, "bob@ext.test", "old-pw"); err == nil {
		t.Fatal("the old password still works after a reset")
	}
	alice := Dial(t, p, "alice@corp.test", "alice-pw")
	bob := Dial(t, p, "bob@ext.test/phone", "bob-pw")
	if !strings.HasPrefix(alice.JID, "alice@corp.test/") || bob.JID != "bob@ext.test/phone" {
		t.Fatalf("bound JIDs: %q, %q", alice.JID, bob.JID)
	}
	// ejabberd stores a message to a bare JID offline until the session's
	// initial presence is processed, which go-xmpp sends without waiting:
	// wait for its echo.
	online(t, bob)
	if err := alice.Send("bob@ext.test", "hello <across> & back"); err != nil {
		t.Fatal(err)
	}
	bob.Expect(t, wait, isChatFrom("alice@corp.test", "hello <across> & back"))
	// Every host has its roster: a subscription request is delivered (the
	// gateway's personas ask for one), on a host with an upload service too.
	if err := alice.SendRaw(`<presence to='bob@ext.test' type='subscribe'/>`); err != nil {
		t.Fatal(err)
	}
	bob.Expect(t, wait, func(s Stanza) bool {
		return s.Kind == "presence" && s.Type == "subscribe" && strings.HasPrefix(s.From, "alice@corp.test")
	})

	// Each upload service takes a file from a user and gives it back.
	ctx, cancel := context.WithTimeout(context.Background(), 2*wait)
	defer cancel()
	for _, u := range []UploadService{p.InsideUpload, p.OutsideUpload, p.ContactUpload} {
		data := []byte("file for " + u.Domain)
		get, err := bob.Upload(ctx, u.Domain, "a b.txt", "text/plain", data)
		if err != nil {
			t.Fatalf("upload to %s: %v", u.Domain, err)
		}
		if !strings.HasPrefix(get, u.URL) {
			t.Errorf("%s gave %s, not under %s", u.Domain, get, u.URL)
		}
		got, _, err := Fetch(get)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("fetch %s: %q, %v", get, got, err)
		}
	}

	p.Stop(t)
	if _, err := NewClient(p.C2SAddr, "alice@corp.test", "alice-pw"); err == nil {
		t.Fatal("login succeeded while the server is stopped")
	}
	p.Start(t)
	alice = Dial(t, p, "alice@corp.test", "alice-pw")
	bob = Dial(t, p, "bob@ext.test", "bob-pw")
	online(t, alice)
	if err := bob.Send("alice@corp.test", "after restart"); err != nil {
		t.Fatal(err)
	}
	alice.Expect(t, wait, isChatFrom("bob@ext.test", "after restart"))
}

// TestEjabberdComponentConnections pins what the README says about
// ejabberd's component listener: a component gets only its own domain
// (global_routes: false), and a second connection for a domain is
// accepted alongside the first (Prosody refuses or kicks one), after which
// stanzas to the domain are spread over both.
func TestEjabberdComponentConnections(t *testing.T) {
	p := StartEjabberd(t, EjabberdOptions{})
	p.Register(t, "bob", "ext.test", "pw")
	bob := Dial(t, p, "bob@ext.test", "pw")

	gw := dialComponent(t, p.ComponentAddr, "gw.corp.test", p.Secret)
	first := dialComponent(t, p.ComponentAddr, "contact.acme.test", p.Secret)
	second := dialComponent(t, p.ComponentAddr, "contact.acme.test", p.Secret)
	if _, err := dialComponentErr(p.ComponentAddr, "contact.acme.test", "wrong-"+p.Secret); err == nil {
		t.Fatal("a wrong secret was accepted")
	}

	const n = 40
	for i := range n {
		if err := bob.Send(fmt.Sprintf("p%d@contact.acme.test", i), "hi"); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		got = map[string]int{}
	)
	for name, c := range map[string]*component{"first": first, "second": second, "gw": gw} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := c.count("<message", 2*time.Second)
			mu.Lock()
			got[name] = k
			mu.Unlock()
		}()
	}
	wg.Wait()
	if got["gw"] != 0 || got["first"]+got["second"] != n {
		t.Fatalf("messages to contact.acme.test: first %d, second %d, gw.corp.test %d; want %d, none to gw", got["first"], got["second"], got["gw"], n)
	}
	if got["first"] == 0 || got["second"] == 0 {
		t.Errorf("one connection got all %d messages (first %d, second %d): not balanced", n, got["first"], got["second"])
	}
}

// online waits until the server has processed c's initial presence (it
// echoes it back).
func online(t *testing.T, c *Client) {
	t.Helper()
	c.Expect(t, wait, func(s Stanza) bool { return s.Kind == "presence" && s.From == c.JID && s.Type == "" })
}

// component is a raw XEP-0114 connection, enough to count what a server
// routes to it.
type component struct {
	conn net.Conn
	r    *bufio.Reader
	buf  []byte
}

func dialComponent(t *testing.T, addr, domain, secret string) *component {
	t.Helper()
	c, err := dialComponentErr(addr, domain, secret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.conn.Close() })
	return c
}

var streamID = regexp.MustCompile(`\sid=['"]([^'"]+)['"]`)

func dialComponentErr(addr, domain, secret string) (*component, error) {
	conn, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		return nil, fmt.Errorf("component %s: %w", domain, err)
	}
	c := &component{conn: conn, r: bufio.NewReader(conn)}
	fail := func(err error) (*component, error) {
		conn.Close()
		return nil, fmt.Errorf("component %s: %w", domain, err)
	}
	_ = conn.SetDeadline(time.Now().Add(wait))
	if _, err := fmt.Fprintf(conn, `<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='%s'>`, domain); err != nil {
		return fail(err)
	}
	var head string
	for !strings.Contains(head, "stream:stream") {
		if head, err = c.until(">"); err != nil {
			return fail(err)
		}
	}
	m := streamID.FindStringSubmatch(head)
	if m == nil {
		return fail(fmt.Errorf("no stream id in %q", head))
	}
	sum := sha1.Sum([]byte(m[1] + secret))
	if _, err := fmt.Fprintf(conn, "<handshake>%s</handshake>", hex.EncodeToString(sum[:])); err != nil {
		return fail(err)
	}
	reply, err := c.until(">")
	if err != nil {
		return fail(err)
	}
	if !strings.HasPrefix(strings.TrimSpace(reply), "<handshake") {
		return fail(fmt.Errorf("handshake refused: %s", reply))
	}
	_ = conn.SetDeadline(time.Time{})
	return c, nil
}

// until reads up to and including the first occurrence of end.
func (c *component) until(end string) (string, error) {
	for {
		if i := bytes.Index(c.buf, []byte(end)); i >= 0 {
			s := string(c.buf[:i+len(end)])
			c.buf = c.buf[i+len(end):]
			return s, nil
		}
		b := make([]byte, 4096)
		n, err := c.r.Read(b)
		c.buf = append(c.buf, b[:n]...)
		if err != nil {
			return string(c.buf), err
		}
	}
}

// count reads for d and returns how often s occurred.
func (c *component) count(s string, d time.Duration) int {
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	for {
		b := make([]byte, 4096)
		n, err := c.r.Read(b)
		c.buf = append(c.buf, b[:n]...)
		if err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				return -1
			}
			return bytes.Count(c.buf, []byte(s))
		}
	}
}
