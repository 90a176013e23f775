package testenv

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const wait = 10 * time.Second

func isChatFrom(from, body string) func(Stanza) bool {
	return func(s Stanza) bool {
		return s.Kind == "message" && strings.HasPrefix(s.From, from+"/") && s.Body == body
	}
}

func TestProsodyMessageAndRestart(t *testing.T) {
	p := StartProsody(t, ProsodyOptions{})
	if p.InsideHost != "corp.test" || p.OutsideHost != "ext.test" ||
		strings.Join(p.Components, ",") != "gw.corp.test,contact.acme.test" {
		t.Fatalf("defaults: got %q %q %q", p.InsideHost, p.OutsideHost, p.Components)
	}
	cfg, err := os.ReadFile(filepath.Join(p.Dir, "prosody.cfg.lua"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`Component "gw.corp.test"`, `Component "contact.acme.test"`, `component_secret = "` + p.Secret + `"`} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("config lacks %s", want)
		}
	}

	p.Register(t, "alice", "corp.test", "alice-pw")
	p.Register(t, "bob", "ext.test", "bob-pw")

	// Components are out of scope here, but their port must be up.
	conn, err := net.DialTimeout("tcp", p.ComponentAddr, wait)
	if err != nil {
		t.Fatalf("component port: %v", err)
	}
	conn.Close()

	alice := Dial(t, p, "alice@corp.test", "alice-pw")
	bob := Dial(t, p, "bob@ext.test/phone", "bob-pw")
	if !strings.HasPrefix(alice.JID, "alice@corp.test/") || bob.JID != "bob@ext.test/phone" {
		t.Fatalf("bound JIDs: %q, %q", alice.JID, bob.JID)
	}

	const body = "hello across <the> bridge & back"
	if err := alice.Send("bob@ext.test", body); err != nil {
		t.Fatal(err)
	}
	got := bob.Expect(t, wait, isChatFrom("alice@corp.test", body))
	if got.Type != "chat" || got.To != "bob@ext.test" || got.ID == "" {
		t.Errorf("message: type %q to %q id %q; raw %s", got.Type, got.To, got.ID, got.Raw)
	}
	if !strings.Contains(got.Raw, "hello across &lt;the&gt; bridge &amp; back") {
		t.Errorf("Raw lacks escaped body: %s", got.Raw)
	}
	if !strings.Contains(bob.RawXML(), got.Raw) {
		t.Errorf("RawXML lacks the message %s:\n%s", got.Raw, bob.RawXML())
	}
	if strings.Contains(bob.RawXML(), "RECV ") {
		t.Errorf("RawXML has debug prefixes:\n%s", bob.RawXML())
	}

	// An outage: both clients lose their connection, accounts survive.
	p.Stop(t)
	for _, c := range []*Client{alice, bob} {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		for {
			_, err := c.Receive(ctx)
			if errors.Is(err, ErrClosed) {
				break
			}
			if err != nil {
				t.Fatalf("%s after stop: want ErrClosed, got %v", c.JID, err)
			}
		}
		cancel()
	}
	if _, err := NewClient(p.C2SAddr, "alice@corp.test", "alice-pw"); err == nil {
		t.Fatal("login succeeded while the server is stopped")
	}

	p.Start(t)
	alice = Dial(t, p, "alice@corp.test", "alice-pw")
	bob = Dial(t, p, "bob@ext.test", "bob-pw")
	if err := bob.Send("alice@corp.test", "after restart"); err != nil {
		t.Fatal(err)
	}
	alice.Expect(t, wait, isChatFrom("bob@ext.test", "after restart"))
}

func TestProsodyStanzaDetails(t *testing.T) {
	p := StartProsody(t, ProsodyOptions{InsideHost: "in.test", OutsideHost: "out.test", Components: []string{"gw.in.test"}})
	p.Register(t, "carol", "in.test", "pw")
	p.Register(t, "dave", "out.test", "pw")

	if _, err := NewClient(p.C2SAddr, "carol@in.test", "wrong"); err == nil {
		t.Fatal("login with a wrong password succeeded")
	}

	carol := Dial(t, p, "carol@in.test", "pw")
	dave := Dial(t, p, "dave@out.test", "pw")

	// XEP-0172 nick, sent raw.
	raw := `<message to='dave@out.test' type='chat' id='n1'><body>hi</body>` +
		`<nick xmlns='http://jabber.org/protocol/nick'>Carol C.</nick></message>`
	if err := carol.SendRaw(raw); err != nil {
		t.Fatal(err)
	}
	got := dave.Expect(t, wait, func(s Stanza) bool { return s.Kind == "message" && s.ID == "n1" })
	if got.Nick != "Carol C." || got.Body != "hi" || !got.HasChild(nsNick, "nick") {
		t.Errorf("nick message: nick %q body %q children %v", got.Nick, got.Body, got.Children)
	}

	// A message to nobody bounces with a stanza error.
	if err := carol.SendRaw(`<message to='nobody@in.test' type='chat' id='e1'><body>x</body></message>`); err != nil {
		t.Fatal(err)
	}
	bounce := carol.Expect(t, wait, func(s Stanza) bool { return s.ID == "e1" })
	if bounce.Type != "error" || bounce.ErrorCondition != "service-unavailable" || bounce.ErrorType != "cancel" {
		t.Errorf("bounce: type %q condition %q error-type %q; raw %s",
			bounce.Type, bounce.ErrorCondition, bounce.ErrorType, bounce.Raw)
	}

	// An iq to the server comes back as a result.
	if err := dave.SendRaw(`<iq type='get' id='ping1' to='out.test'><ping xmlns='urn:xmpp:ping'/></iq>`); err != nil {
		t.Fatal(err)
	}
	pong := dave.Expect(t, wait, func(s Stanza) bool { return s.Kind == "iq" && s.ID == "ping1" })
	if pong.Type != "result" || pong.From != "out.test" {
		t.Errorf("ping reply: %s", pong.Raw)
	}

	// Receive honours its context.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	for {
		if _, err := dave.Receive(ctx); err != nil {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Receive: want deadline exceeded, got %v", err)
			}
			break
		}
	}
}

func TestRepoRoot(t *testing.T) {
	root := RepoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "scripts", "prosody.sh")); err != nil {
		t.Fatalf("RepoRoot %s: %v", root, err)
	}
}
