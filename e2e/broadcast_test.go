package e2e

import (
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/internal/testenv"
)

var (
	sessionRE = regexp.MustCompile(`sessionid=["']([^"']+)["']`)
	noteRE    = regexp.MustCompile(`<note[^>]*>([^<]*)</note>`)
)

// runCommand runs an ad-hoc command (XEP-0050) in two steps, as a client
// does: execute to get the form, then complete it with fields. It returns
// the form and the note of the result.
func runCommand(t *testing.T, c *testenv.Client, node string, fields func(form string) map[string][]string) (string, string) {
	t.Helper()
	const ns = `http://jabber.org/protocol/commands`
	form := command(t, c, node+"-1", `<command xmlns="`+ns+`" node="`+node+`" action="execute"/>`)
	session := sessionRE.FindStringSubmatch(form.Raw)
	if form.Type != "result" || session == nil {
		t.Fatalf("%s form: %s", node, form.Raw)
	}
	var b strings.Builder
	for k, vs := range fields(form.Raw) {
		b.WriteString(`<field var="` + k + `">`)
		for _, v := range vs {
			b.WriteString("<value>" + html.EscapeString(v) + "</value>")
		}
		b.WriteString("</field>")
	}
	done := command(t, c, node+"-2", `<command xmlns="`+ns+`" node="`+node+`" sessionid="`+session[1]+`" action="complete">`+
		`<x xmlns="jabber:x:data" type="submit">`+b.String()+`</x></command>`)
	note := noteRE.FindStringSubmatch(done.Raw)
	if !strings.Contains(done.Raw, "completed") || note == nil {
		t.Fatalf("%s result: %s", node, done.Raw)
	}
	return form.Raw, html.UnescapeString(note[1])
}

// broadcastRow is `kakehashi broadcasts show --json`.
type broadcastRow struct {
	ID          string `json:"id"`
	State       string `json:"state"`
	Owner       string `json:"owner"`
	Queued      int    `json:"queued"`
	Sent        int    `json:"sent"`
	SkippedCap  int    `json:"skipped_cap"`
	SkippedGone int    `json:"skipped_gone"`
	Members     []struct {
		ID     string `json:"id"`
		Owner  string `json:"owner"`
		State  string `json:"state"`
		Queued int    `json:"queued"`
		Sent   int    `json:"sent"`
	} `json:"members"`
}

// TestBroadcastByCommandSkipsGoneAndCapped: hana broadcasts to her "vip"
// contacts from an XMPP client; bob receives it from her persona, alice
// (who removed the persona) is skipped, carol (not tagged) hears nothing;
// hana gets a report; a second broadcast the same day is capped; both
// are audited.
func TestBroadcastByCommandSkipsGoneAndCapped(t *testing.T) {
	w := newWorld(t, worldOptions{})
	rels := startContacts(t, w, "bob", "alice", "carol")
	hana, bob, alice, carol := w.client("hana"), w.client("bob"), w.client("alice"), w.client("carol")
	for _, u := range []string{"bob", "alice"} {
		w.gw.CLI("contacts", "tag", rels[u], "--add", "vip", "--reason", "fair")
	}
	if err := alice.SendRaw(`<presence type="unsubscribe" to="` + hanaAddr + `"/>`); err != nil {
		t.Fatal(err)
	}
	if n := message(t, hana); !strings.Contains(n.Body, "alice@ext.test removed") {
		t.Fatalf("gone notice %s", n.Raw)
	}

	send := func(text string) string {
		_, note := runCommand(t, hana, "broadcast", func(string) map[string][]string {
			return map[string][]string{"message": {text}, "tag": {"VIP"}}
		})
		return note
	}
	note := send("Our spring catalogue is out.")
	if !strings.Contains(note, "1 queued") || !strings.Contains(note, "0 skipped (cap)") || !strings.Contains(note, "1 skipped (gone)") {
		t.Fatalf("note %q", note)
	}
	got := message(t, bob)
	if bare(got.From) != hanaAddr || got.Body != "Our spring catalogue is out." {
		t.Fatalf("bob got %s", got.Raw)
	}
	report := message(t, hana)
	if bare(report.From) != "gw.corp.test" || !strings.Contains(report.Body, "1 sent") || !strings.Contains(report.Body, "1 skipped (gone)") {
		t.Fatalf("report %s", report.Raw)
	}
	silent(t, alice, 300*time.Millisecond)
	silent(t, carol, 100*time.Millisecond)

	// The same day again: bob is over the cap (1 a day by default).
	note = send("Reminder: the sale ends Friday.")
	if !strings.Contains(note, "0 queued") || !strings.Contains(note, "1 skipped (cap)") || !strings.Contains(note, "Nothing was sent") {
		t.Fatalf("second note %q", note)
	}
	silent(t, bob, 500*time.Millisecond)

	var audit []struct{ Actor, Action, Subject string }
	w.gw.JSON(&audit, "audit", "--action", "broadcast.send")
	if len(audit) != 2 || audit[0].Actor != "employee:hana" {
		t.Fatalf("audit %+v", audit)
	}
	var b broadcastRow
	w.gw.JSON(&b, "broadcasts", "show", audit[0].Subject)
	if b.State != "sent" || b.Owner != "hana" || b.Sent != 1 || b.SkippedGone != 1 {
		t.Fatalf("broadcast %+v", b)
	}
}

// TestTeamBroadcastIsConfirmedByEachMember: an admin prepares a broadcast
// for hana and ken; nothing goes out until hana confirms it by command,
// then her tagged contact gets it under her persona; ken declines and his
// contact gets nothing.
func TestTeamBroadcastIsConfirmedByEachMember(t *testing.T) {
	w := newWorld(t, worldOptions{})
	rels := startContacts(t, w, "bob")
	hana, ken, alice, bob := w.client("hana"), w.client("ken"), w.client("alice"), w.client("bob")
	if err := ken.Send(`alice\40ext.test@gw.corp.test`, "Hello Alice"); err != nil {
		t.Fatal(err)
	}
	message(t, alice)
	var kens []contactRow
	w.gw.JSON(&kens, "contacts", "list", "--owner", "ken")
	if len(kens) != 1 {
		t.Fatalf("ken's contacts %+v", kens)
	}
	w.gw.CLI("contacts", "tag", rels["bob"], "--add", "expo", "--reason", "fair")
	w.gw.CLI("contacts", "tag", kens[0].Relationship.ID, "--add", "expo", "--reason", "fair")

	var p broadcastRow
	w.gw.JSON(&p, "broadcasts", "prepare", "--team", "hana,ken", "--tag", "expo", "--reason", "expo follow-up", "Thank you for visiting our booth!")
	if p.State != "prepared" || len(p.Members) != 2 {
		t.Fatalf("prepared %+v", p)
	}
	for _, c := range []*testenv.Client{hana, ken} {
		if n := message(t, c); !strings.Contains(n.Body, "Thank you for visiting our booth!") || !strings.Contains(n.Body, "Broadcasts to confirm") {
			t.Fatalf("member notice %s", n.Raw)
		}
	}
	silent(t, bob, 500*time.Millisecond)
	// Nothing is queued, let alone sent, before a member confirms.
	var before broadcastRow
	w.gw.JSON(&before, "broadcasts", "show", p.ID)
	if before.State != "prepared" || before.Queued != 0 || before.Sent != 0 || len(before.Members) != 2 {
		t.Fatalf("team broadcast before any decision %+v", before)
	}
	for _, m := range before.Members {
		if m.State != "awaiting" || m.Queued != 0 || m.Sent != 0 {
			t.Fatalf("member copy before any decision %+v (broadcast %+v)", m, before)
		}
	}

	decide := func(c *testenv.Client, decision string) string {
		_, note := runCommand(t, c, "confirm-broadcast", func(form string) map[string][]string {
			id := regexp.MustCompile(`<field[^>]*var=["']broadcast["'][^>]*>.*?<value>([^<]+)</value>`).FindStringSubmatch(form)
			if id == nil {
				t.Fatalf("no broadcast in the form: %s", form)
			}
			return map[string][]string{"broadcast": {id[1]}, "decision": {decision}}
		})
		return note
	}
	if note := decide(hana, "send"); !strings.Contains(note, "1 queued") {
		t.Fatalf("hana's note %q", note)
	}
	if m := message(t, bob); bare(m.From) != hanaAddr || m.Body != "Thank you for visiting our booth!" {
		t.Fatalf("bob got %s", m.Raw)
	}
	if note := decide(ken, "decline"); !strings.Contains(note, "Declined") {
		t.Fatalf("ken's note %q", note)
	}
	silent(t, alice, 500*time.Millisecond)

	var b broadcastRow
	w.gw.JSON(&b, "broadcasts", "show", p.ID)
	states := map[string]string{}
	for _, m := range b.Members {
		states[m.Owner] = m.State
	}
	if states["hana"] != "sent" || states["ken"] != "declined" || b.Queued != 1 {
		t.Fatalf("team broadcast %+v", b)
	}
	var audit []struct{ Actor, Action string }
	w.gw.JSON(&audit, "audit", "--subject", p.ID)
	if len(audit) != 1 || audit[0].Action != "broadcast.prepare" || !strings.HasPrefix(audit[0].Actor, "admin:") {
		t.Fatalf("audit %+v", audit)
	}
	w.gw.JSON(&audit, "audit", "--action", "broadcast.decline")
	if len(audit) != 1 || audit[0].Actor != "employee:ken" {
		t.Fatalf("decline audit %+v", audit)
	}
}

// TestContactWhoBlocksIsMarkedGone: a contact blocks the persona on their
// own server (XEP-0191); the next message bounces, the owner is told
// and the relationship is marked gone, so broadcasts skip it. bob wrote
// before: a relationship that never worked is never marked gone
// (TestBounceFromAnAddressThatNeverWorked).
func TestContactWhoBlocksIsMarkedGone(t *testing.T) {
	w := newWorld(t, worldOptions{})
	rels := startContacts(t, w, "bob")
	hana, bob := w.client("hana"), w.client("bob")
	if err := bob.Send(hanaAddr, "thanks, I will think about it"); err != nil {
		t.Fatal(err)
	}
	message(t, hana)
	if err := bob.SendRaw(`<iq type="set" id="blk"><block xmlns="urn:xmpp:blocking"><item jid="` + hanaAddr + `"/></block></iq>`); err != nil {
		t.Fatal(err)
	}
	if r := bob.Expect(t, waitShort, func(s testenv.Stanza) bool { return s.Kind == "iq" && s.ID == "blk" }); r.Type != "result" {
		t.Fatalf("block: %s", r.Raw)
	}
	if err := hana.Send(bobProxy, "Are you still interested?"); err != nil {
		t.Fatal(err)
	}
	var failed, gone bool
	for !failed || !gone {
		n := message(t, hana)
		failed = failed || strings.Contains(n.Body, "could not be delivered")
		gone = gone || strings.Contains(n.Body, "bob@ext.test blocked you or closed their account")
	}
	var rows []contactRow
	w.gw.JSON(&rows, "contacts", "list", "--owner", "hana")
	if len(rows) != 1 || rows[0].Relationship.ID != rels["bob"] || !strings.Contains(rows[0].Relationship.Gone, "blocked") {
		t.Fatalf("contacts %+v", rows)
	}
}
