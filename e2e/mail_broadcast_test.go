package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestMailBroadcastCanBeUnsubscribed: a broadcast by mail carries a
// List-Unsubscribe address and is not marked automatic (a person wrote
// it); a mail to a forged unsubscribe address is quarantined and changes
// nothing; the contact pressing Unsubscribe marks the relationship gone
// and tells the owner, and the next broadcast skips them.
func TestMailBroadcastCanBeUnsubscribed(t *testing.T) {
	w := newWorld(t, worldOptions{mail: true})
	hana := w.client("hana")
	if err := hana.Send(bobMailProxy, "Hello Bob, nice to meet you at the fair."); err != nil {
		t.Fatal(err)
	}
	w.mail.WaitMail(t, bobMail, password, "INBOX", 1, waitMail)
	var rows []contactRow
	w.gw.JSON(&rows, "contacts", "list", "--owner", "hana")
	if len(rows) != 1 {
		t.Fatalf("hana's contacts %+v", rows)
	}
	rel := rows[0].Relationship.ID
	w.gw.CLI("contacts", "tag", rel, "--add", "fair", "--reason", "met at the fair")

	_, note := runCommand(t, hana, "broadcast", func(string) map[string][]string {
		return map[string][]string{"message": {"Our autumn catalogue is out:\nhttps://acme.test/catalogue"}, "subject": {"Autumn catalogue"}, "tag": {"fair"}}
	})
	if !strings.Contains(note, "1 queued") {
		t.Fatalf("note %q", note)
	}
	got := w.mail.WaitMail(t, bobMail, password, "INBOX", 2, waitMail)
	raw := got[1].Raw
	h, body := readMail(t, raw)
	if s, _ := h.Subject(); s != "Autumn catalogue" || !strings.Contains(body, "https://acme.test/catalogue") {
		t.Fatalf("broadcast mail %q\n%s", s, raw)
	}
	if from, _ := h.AddressList("From"); len(from) != 1 || from[0].Address != hanaAddr {
		t.Fatalf("From %v", from)
	}
	if h.Get("Auto-Submitted") != "" {
		t.Errorf("a broadcast is written by a person: no Auto-Submitted, got %q", h.Get("Auto-Submitted"))
	}
	unsub := regexp.MustCompile(`^<mailto:(unsub\+[a-z0-9.]+@contact\.acme\.test)\?subject=unsubscribe>$`).FindStringSubmatch(h.Get("List-Unsubscribe"))
	if unsub == nil {
		t.Fatalf("List-Unsubscribe %q", h.Get("List-Unsubscribe"))
	}
	// RFC 8058 one-click unsubscribe needs an HTTPS URI in
	// List-Unsubscribe; the gateway has no HTTPS endpoint, so announcing
	// List-Unsubscribe-Post would promise what it cannot do.
	if h.Has("List-Unsubscribe-Post") || strings.Contains(h.Get("List-Unsubscribe"), "https:") {
		t.Errorf("List-Unsubscribe-Post %q / List-Unsubscribe %q: no one-click without an HTTPS endpoint", h.Get("List-Unsubscribe-Post"), h.Get("List-Unsubscribe"))
	}
	for _, name := range headerNames(raw) {
		if !allowedHeaders[name] {
			t.Errorf("header %s is not on the allowlist", name)
		}
	}
	leakScan(t, raw)
	if r := message(t, hana); !strings.Contains(r.Body, "1 sent") {
		t.Fatalf("report %s", r.Raw)
	}

	// A forged address (its MAC changed) is set aside, and bob stays.
	forged := regexp.MustCompile(`\.[a-z0-9]+@`).ReplaceAllString(unsub[1], ".aaaaaaaaaaaaaaaa@")
	w.sendMail("Eve <eve@mail.test>", forged, "unsubscribe", "unsubscribe")
	w.mail.WaitMail(t, w.mail.GatewayUser, w.mail.GatewayPass, "Kakehashi/Quarantine", 1, waitMail)
	silent(t, hana, 300*time.Millisecond)

	// bob presses Unsubscribe: his mail client sends this.
	w.sendMail("Bob Brown <bob@mail.test>", unsub[1], "unsubscribe", "")
	n := message(t, hana)
	if bare(n.From) != bobMailProxy || !strings.Contains(n.Body, "bob@mail.test unsubscribed from your mail") {
		t.Fatalf("gone notice %s", n.Raw)
	}
	w.gw.JSON(&rows, "contacts", "list", "--owner", "hana")
	if len(rows) != 1 || rows[0].Relationship.Gone != "unsubscribed from your mail" {
		t.Fatalf("contacts %+v", rows)
	}
	var audit []struct{ Actor, Action, Subject string }
	w.gw.JSON(&audit, "audit", "--action", "relationship.gone")
	if len(audit) != 1 || audit[0].Actor != "contact:bob@mail.test" || audit[0].Subject != rel {
		t.Fatalf("audit %+v", audit)
	}
	_, note = runCommand(t, hana, "broadcast", func(string) map[string][]string {
		return map[string][]string{"message": {"Last call"}, "tag": {"fair"}}
	})
	if !strings.Contains(note, "0 queued") || !strings.Contains(note, "1 skipped (gone)") {
		t.Fatalf("after unsubscribing: %q", note)
	}
}
