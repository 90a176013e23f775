package xmpp

import (
	"log/slog"
	"reflect"
	"testing"
	"time"

	"mellium.im/xmpp/commands"

	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/internal/testenv"
)

// TestCommandsOverProsody runs a command the way an employee's client does:
// through a real Prosody to the component, with a client library the
// adapter does not share, so what the tests above decode is also what goes
// over the wire.
func TestCommandsOverProsody(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Prosody")
	}
	p := testenv.StartProsody(t, testenv.ProsodyOptions{OutsideHost: "unused-outside.test", Components: []string{testDomain}})
	p.Register(t, "hana", "corp.test", "secret-pw")
	cmdr := newCommander()

	c, err := New(Config{Network: "corp", Side: identity.Inside, Domain: testDomain, Server: p.ComponentAddr, Secret: p.Secret,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	connectAs(t, c, cmdr)

	cl := testenv.Dial(t, p, hanaPhone, "secret-pw")
	ask := func(typ, id, payload string) *replyIQ {
		t.Helper()
		if err := cl.SendRaw(`<iq type="` + typ + `" to="` + testDomain + `" id="` + id + `">` + payload + `</iq>`); err != nil {
			t.Fatal(err)
		}
		s := cl.Expect(t, 10*time.Second, func(s testenv.Stanza) bool { return s.Kind == "iq" && s.ID == id })
		r := parseReply(t, []byte(s.Raw))
		if r.From != testDomain || r.To != cl.JID {
			t.Fatalf("reply addressed from %q to %q: %s", r.From, r.To, r.raw)
		}
		return r
	}

	if r := ask("get", "d1", `<query xmlns="http://jabber.org/protocol/disco#info"/>`); !hasFeature(r, commands.NS) {
		t.Fatalf("disco#info: %s", r.raw)
	}
	r := ask("get", "d2", `<query xmlns="http://jabber.org/protocol/disco#items" node="http://jabber.org/protocol/commands"/>`)
	if r.Items == nil || len(r.Items.Items) != 2 || r.Items.Items[0].Node != "tag-contact" || r.Items.Items[0].Name != everyField.Name {
		t.Fatalf("command list: %s", r.raw)
	}

	r = ask("set", "c1", executeXML("tag-contact"))
	if r.Command == nil || r.Command.Status != "executing" || len(r.Command.Forms) != 1 || len(r.Command.Forms[0].Fields) != len(everyField.Fields) {
		t.Fatalf("form: %s", r.raw)
	}
	if got := r.Command.Forms[0].Fields[3].Values; !reflect.DeepEqual(got, []string{"line 1", "line </value><evil/> 2"}) {
		t.Fatalf("text-multi values %q: %s", got, r.raw)
	}
	sid := r.Command.SessionID

	r = ask("set", "c2", submitXML("tag-contact", sid, "complete",
		`<field var="tags"><value>vip</value><value>a &lt;&amp;&gt; b</value></field><field var="notify"><value>0</value></field>`))
	if r.Command == nil || r.Command.Status != "completed" || len(r.Command.Notes) != 1 || r.Command.Notes[0].Text != "Tagged <bob> & done" {
		t.Fatalf("submit: %s", r.raw)
	}
	runs := cmdr.callsOf("RunCommand")
	want := map[string][]string{"tags": {"vip", "a <&> b"}, "notify": {"0"}}
	if len(runs) != 1 || runs[0].from != "hana@corp.test" || !reflect.DeepEqual(runs[0].values, want) {
		t.Fatalf("RunCommand calls %+v", runs)
	}

	r = ask("set", "c3", submitXML("tag-contact", sid, "complete", ""))
	wantError(t, r, "bad-request", "bad-sessionid")
}
