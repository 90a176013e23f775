package console

import (
	"bytes"
	"context"
	"encoding/json"
	"html"
	"image/png"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"

	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/adminapi/apitest"
	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
)

var pendingInput = regexp.MustCompile(`name="pending" value="([^"]+)"`)

// pending reads the confirmation key off a preview page.
func pending(t testing.TB, p *page) string {
	t.Helper()
	m := pendingInput.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no confirmation form (%d): %.3000s", p.status, p.body)
	}
	return m[1]
}

var transferLink = regexp.MustCompile(`id="transfer-id" href="/console/transfers/([^"]+)"`)

// TestLeadSeesAndMovesOnlyTheirTeam: the lead of sales sees the
// contacts of sales' members and not support's, and a forged form that
// moves one of support's contacts is refused by the API; nothing moves.
func TestLeadSeesAndMovesOnlyTheirTeam(t *testing.T) {
	w := newWorld(t)
	b := w.browser()
	b.signIn("lea")
	p := b.get("/console/contacts")
	p.mustContain(t, "alice@ext.test", "amy@ext.test", `name="rel"`)
	p.mustNotContain(t, "dora@ext.test", "doug@ext.test", "Dan Doi", `id="nav-audit"`)
	if p := b.get("/console/contacts?owner=dan"); strings.Contains(p.body, "dora@ext.test") {
		t.Errorf("a lead searching by another team's member sees their contacts")
	}
	dora := w.rels["dora@ext.test"].ID
	for name, f := range map[string]struct {
		path string
		form url.Values
	}{
		"preview":  {"/console/contacts/transfer", url.Values{"step": {"preview"}, "rel": {dora}, "mode": {"to"}, "to": {"ana"}, "reason": {"forged"}}},
		"reassign": {"/console/waiting/reassign", url.Values{"rel": {dora}, "to": {"ana"}, "reason": {"forged"}}},
		"to another team": {"/console/contacts/transfer", url.Values{"step": {"preview"}, "rel": {w.rels["alice@ext.test"].ID}, "mode": {"to"},
			"to": {"dan"}, "reason": {"forged"}}},
		"edit":    {"/console/contacts/edit", url.Values{"rel": {dora}, "tags": {"vip"}, "remark": {"x"}}},
		"confirm": {"/console/contacts/transfer", url.Values{"step": {"confirm"}, "pending": {"made-up"}}},
	} {
		p := b.post(f.path, f.form)
		if p.status < 400 {
			t.Errorf("%s: %d", name, p.status)
		}
		p.mustContain(t, `class="error"`)
	}
	if o := w.owner("dora@ext.test"); o != "dan" {
		t.Errorf("dora's owner is %q", o)
	}
	if o := w.owner("alice@ext.test"); o != "ana" {
		t.Errorf("alice's owner is %q", o)
	}
	if r, _ := w.api.State.Snapshot().Relationship(dora); len(r.Tags) != 0 || r.Remark != "" {
		t.Errorf("dora was edited: %+v", r)
	}
	// The lead moves within the team.
	p = b.post("/console/waiting/reassign", url.Values{"rel": {w.rels["alice@ext.test"].ID}, "to": {"ben"}, "reason": {"cover"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("reassign within the team: %d %.2000s", p.status, p.body)
	}
	if o := w.owner("alice@ext.test"); o != "ben" {
		t.Errorf("alice's owner is %q", o)
	}
}

// TestAuditorChangesNothing: an auditor's pages have no action forms
// (sign-out aside), and a forged form is refused by the API.
func TestAuditorChangesNothing(t *testing.T) {
	w := newWorld(t)
	b := w.browser()
	b.signIn("aud")
	for _, path := range []string{"/console/", "/console/waiting", "/console/employees", "/console/contacts", "/console/transfers",
		"/console/audit", "/console/broadcasts", "/console/contact-points", "/console/health"} {
		p := b.get(path)
		if n := strings.Count(p.body, `method="post"`); n != 1 {
			t.Errorf("%s: %d forms that post", path, n)
		}
	}
	alice := w.rels["alice@ext.test"].ID
	for _, f := range []struct {
		path string
		form url.Values
	}{
		{"/console/contacts/transfer", url.Values{"step": {"preview"}, "rel": {alice}, "mode": {"to"}, "to": {"ben"}, "reason": {"forged"}}},
		{"/console/waiting/reassign", url.Values{"rel": {alice}, "to": {"ben"}, "reason": {"forged"}}},
		{"/console/employees/depart", url.Values{"step": {"preview"}, "employee": {"ana"}, "mode": {"pool"}, "reason": {"forged"}}},
		{"/console/broadcasts", url.Values{"member": {"ana"}, "tag": {"vip"}, "body": {"hello"}, "reason": {"forged"}}},
	} {
		p := b.post(f.path, f.form)
		if p.status != http.StatusForbidden {
			t.Errorf("%s: %d", f.path, p.status)
		}
		p.mustContain(t, `class="error"`, "You are not allowed to do this.")
	}
	if o := w.owner("alice@ext.test"); o != "ana" {
		t.Errorf("alice's owner is %q", o)
	}
}

// TestTransferPreviewConfirmUndo: a transfer shows what it will do and
// does nothing until confirmed; its Undo moves the contacts back, and a
// second Undo is a conflict shown on the page.
func TestTransferPreviewConfirmUndo(t *testing.T) {
	w := newWorld(t)
	b := w.browser()
	b.signIn("root")
	form := url.Values{"step": {"preview"}, "owner": {"ana"}, "rel": {w.rels["alice@ext.test"].ID, w.rels["amy@ext.test"].ID},
		"mode": {"to"}, "to": {"ben"}, "reason": {"ana on leave"}}
	p := b.post("/console/contacts/transfer", form)
	if p.status != http.StatusOK {
		t.Fatalf("preview: %d %.2000s", p.status, p.body)
	}
	p.mustContain(t, `id="preview-summary"`, "2 selected, 2 would change owner", "Ben Bando (ben)", `<td class="num count">2</td>`, "Notified: no")
	if o := w.owner("alice@ext.test"); o != "ana" {
		t.Fatalf("the preview moved alice to %q", o)
	}
	key := pending(t, p)
	p = b.post("/console/contacts/transfer", url.Values{"step": {"confirm"}, "pending": {key}})
	if p.status != http.StatusOK {
		t.Fatalf("confirm: %d %.2000s", p.status, p.body)
	}
	p.mustContain(t, "Transferred 2 contacts", `id="undo"`)
	m := transferLink.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no transfer ID: %.2000s", p.body)
	}
	id := m[1]
	for _, a := range []string{"alice@ext.test", "amy@ext.test"} {
		if o := w.owner(a); o != "ben" {
			t.Errorf("%s's owner is %q", a, o)
		}
	}
	// A confirmation is used once.
	if p := b.post("/console/contacts/transfer", url.Values{"step": {"confirm"}, "pending": {key}}); p.status != http.StatusBadRequest {
		t.Errorf("second confirmation: %d", p.status)
	}
	// The history lists it, with its moves.
	b.get("/console/transfers").mustContain(t, id, "ana on leave")
	b.get("/console/transfers/"+id).mustContain(t, w.rels["alice@ext.test"].ID, "Ben Bando (ben)", `id="undo"`)

	p = b.post("/console/transfers/"+id+"/revert", url.Values{"reason": {"undo"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("undo: %d %.2000s", p.status, p.body)
	}
	for _, a := range []string{"alice@ext.test", "amy@ext.test"} {
		if o := w.owner(a); o != "ana" {
			t.Errorf("after undo %s's owner is %q", a, o)
		}
	}
	b.get(p.header.Get("Location")).mustContain(t, "Transfer "+id+" undone: 2 contacts are back.")
	p = b.post("/console/transfers/"+id+"/revert", url.Values{"reason": {"undo again"}})
	if p.status != http.StatusConflict {
		t.Fatalf("second undo: %d", p.status)
	}
	p.mustContain(t, `class="error"`, "Conflict:")
}

// TestTransferAllMatching: "select all matching" moves every contact
// of the search, beyond the page, spread over a team.
func TestTransferAllMatching(t *testing.T) {
	w := newWorld(t)
	b := w.browser()
	b.signIn("root")
	p := b.post("/console/contacts/transfer", url.Values{"step": {"preview"}, "owner": {"ana"}, "all": {"1"}, "mode": {"team"},
		"team": {"ben", "cai"}, "strategy": {"round-robin"}, "notify": {"1"}, "reason": {"spread"}})
	p.mustContain(t, "3 selected, 3 would change owner", "Ben Bando (ben)", "Cai Chiba (cai)", "Notified: yes")
	p = b.post("/console/contacts/transfer", url.Values{"step": {"confirm"}, "pending": {pending(t, p)}})
	p.mustContain(t, "Transferred 3 contacts")
	got := map[string]int{}
	for _, a := range []string{"alice@ext.test", "amy@ext.test", "arne@ext.test"} {
		got[w.owner(a)]++
	}
	if got["ben"]+got["cai"] != 3 || got["ben"] == 0 || got["cai"] == 0 {
		t.Errorf("owners %v", got)
	}
}

// TestDepartTeamSpread: a departure shows the counts per member of the
// team first, then departs.
func TestDepartTeamSpread(t *testing.T) {
	w := newWorld(t)
	b := w.browser()
	b.signIn("lea")
	b.get("/console/employees").mustContain(t, `data-employee="ana"`, `<td class="num contacts"><a href="/console/contacts?owner=ana">3</a></td>`)
	p := b.post("/console/employees/depart", url.Values{"step": {"preview"}, "employee": {"ana"}, "mode": {"team"}, "team": {"ben", "cai"},
		"strategy": {"round-robin"}, "reason": {"ana leaves"}})
	if p.status != http.StatusOK {
		t.Fatalf("preview: %d %.2000s", p.status, p.body)
	}
	p.mustContain(t, "Depart Ana Abe (ana)", "Ben Bando (ben)</td><td class=\"num count\">2", "Cai Chiba (cai)</td><td class=\"num count\">1")
	if e := w.employee("ana"); e.Status != identity.Active {
		t.Fatal("the preview departed ana")
	}
	p = b.post("/console/employees/depart", url.Values{"step": {"confirm"}, "pending": {pending(t, p)}})
	if p.status != http.StatusOK {
		t.Fatalf("confirm: %d %.2000s", p.status, p.body)
	}
	p.mustContain(t, "Ana Abe (ana) has departed")
	if e := w.employee("ana"); e.Status != identity.Departed {
		t.Errorf("ana: %s", e.Status)
	}
	for _, a := range []string{"alice@ext.test", "amy@ext.test", "arne@ext.test"} {
		if o := w.owner(a); o != "ben" && o != "cai" {
			t.Errorf("%s's owner is %q", a, o)
		}
	}
	// A lead cannot spread over another team.
	p = b.post("/console/employees/depart", url.Values{"step": {"preview"}, "employee": {"ben"}, "mode": {"team"}, "team": {"dan"}, "reason": {"x"}})
	if p.status < 400 {
		t.Errorf("spread over another team: %d", p.status)
	}
}

// employee is the employee id now.
func (w *world) employee(id string) identity.Employee {
	w.t.Helper()
	e, ok := w.api.State.Snapshot().Employee(id)
	if !ok {
		w.t.Fatalf("no employee %s", id)
	}
	return *e
}

// TestAuditCSV: the export downloads as an attachment, and is audited.
func TestAuditCSV(t *testing.T) {
	w := newWorld(t)
	b := w.browser()
	b.signIn("root")
	b.get("/console/audit?action=employee.upsert").mustContain(t, "employee.upsert", `id="audit-csv"`)
	p := b.get("/console/audit.csv?action=employee.upsert")
	if p.status != http.StatusOK || !strings.HasPrefix(p.header.Get("Content-Type"), "text/csv") ||
		!strings.HasPrefix(p.header.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("export: %d %v", p.status, p.header)
	}
	if n := strings.Count(p.body, "employee.upsert"); n != 5 {
		t.Errorf("%d employee.upsert rows:\n%s", n, p.body)
	}
	// The page's filter applies: by actor (none of these is root's) and
	// by day.
	if p := b.get("/console/audit.csv?action=employee.upsert&actor=admin%3Aroot"); strings.Count(p.body, "\n") != 1 {
		t.Errorf("by actor:\n%s", p.body)
	}
	tomorrow := time.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	if p := b.get("/console/audit.csv?action=employee.upsert&since=" + tomorrow); strings.Count(p.body, "\n") != 1 {
		t.Errorf("since tomorrow:\n%s", p.body)
	}
	if p := b.get("/console/audit.csv?action=employee.upsert&until=" + tomorrow); strings.Count(p.body, "employee.upsert") != 5 {
		t.Errorf("until tomorrow:\n%s", p.body)
	}
	es, err := w.boot.Audit(context.Background(), adminapi.AuditQuery{Action: adminapi.ActionAuditExport})
	if err != nil || len(es) != 4 || es[0].Actor != "admin:root" {
		t.Fatalf("export audit: %+v %v", es, err)
	}
	// Each export's entry records the filters the API applied and the
	// rows it sent: the console filters nothing after it.
	for i, want := range []struct {
		actor string
		rows  float64
	}{{"", 5}, {"admin:root", 0}, {"", 0}, {"", 5}} {
		var d map[string]any
		err := json.Unmarshal(es[i].Details, &d)
		actor, _ := d["actor"].(string)
		if err != nil || d["rows"] != want.rows || actor != want.actor || d["action"] != "employee.upsert" {
			t.Errorf("export %d: %s, want actor %q and %v rows", i, es[i].Details, want.actor, want.rows)
		}
	}
	var d map[string]any
	if _ = json.Unmarshal(es[2].Details, &d); d["since"] != tomorrow+"T00:00:00Z" {
		t.Errorf("since tomorrow's export: %s", es[2].Details)
	}
	if _ = json.Unmarshal(es[3].Details, &d); d["until"] == nil {
		t.Errorf("until tomorrow's export: %s", es[3].Details)
	}
	lead := w.browser()
	lead.signIn("lea")
	if p := lead.get("/console/audit.csv"); p.status != http.StatusForbidden {
		t.Errorf("a lead's export: %d", p.status)
	}
}

// TestQRCodes: the contact point's codes decode to its chat links, on
// XMPP and mail, with the source.
func TestQRCodes(t *testing.T) {
	w := newWorld(t)
	b := w.browser()
	b.signIn("lea")
	p := b.get("/console/contact-points?source=expo2026")
	p.body = html.UnescapeString(p.body)
	p.mustContain(t, "xmpp:desk+expo2026@contact.acme.test?message", "mailto:desk+expo2026@contact.acme.test",
		`src="/console/contact-points/qr.png?network=public-xmpp&persona=desk&source=expo2026"`)
	for network, want := range map[string]string{
		apitest.OutsideIM:   "xmpp:desk+expo2026@contact.acme.test?message",
		apitest.OutsideMail: "mailto:desk+expo2026@contact.acme.test",
	} {
		q := url.Values{"persona": {"desk"}, "network": {network}, "source": {"expo2026"}}.Encode()
		p := b.get("/console/contact-points/qr.png?" + q)
		if p.status != http.StatusOK || p.header.Get("Content-Type") != "image/png" {
			t.Fatalf("png: %d %v", p.status, p.header)
		}
		if got := decodeQR(t, []byte(p.body)); got != want {
			t.Errorf("%s: decoded %q, want %q", network, got, want)
		}
		p = b.get("/console/contact-points/qr.svg?" + q + "&download=1")
		if p.status != http.StatusOK || p.header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(p.body, "<svg") ||
			!strings.Contains(p.header.Get("Content-Disposition"), `filename="qr-desk-`+network+`-expo2026.svg"`) {
			t.Errorf("svg: %d %v %.200s", p.status, p.header, p.body)
		}
	}
	if p := b.get("/console/contact-points/qr.png?persona=desk&network=public-xmpp&source=Bad+Source"); p.status != http.StatusBadRequest {
		t.Errorf("bad source: %d", p.status)
	}
	if p := b.get("/console/contact-points/qr.png?persona=nobody&network=public-xmpp"); p.status != http.StatusNotFound {
		t.Errorf("unknown persona: %d", p.status)
	}
}

// decodeQR reads the text of a QR code in a PNG.
func decodeQR(t testing.TB, b []byte) string {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_CHARACTER_SET: "UTF-8"})
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return res.GetText()
}

// traffic records the analytics of traffic, as the gateway reports it:
// yesterday (UTC), alice (ana's) comes by the contact point desk from
// expo2026 and writes 3 times, ana answers twice (after 2 h); amy
// writes once, 3 h ago, unanswered; dora (dan's) writes once and is
// answered; doug is gone.
func (w *world) traffic(now time.Time) {
	w.t.Helper()
	day := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	at := func(h int) time.Time { return day.Add(time.Duration(h) * time.Hour) }
	ev := func(kind gateway.EventKind, t time.Time, addr, owner, team string) gateway.Event {
		return gateway.Event{At: t, Kind: kind, RelationshipID: w.rels[addr].ID, OwnerID: owner, Team: team, Network: apitest.OutsideIM, Source: "expo"}
	}
	alice := func(kind gateway.EventKind, t time.Time) gateway.Event {
		e := ev(kind, t, "alice@ext.test", "ana", "sales")
		e.ContactPoint, e.Source = "desk", "expo2026"
		return e
	}
	w.record(
		alice(gateway.EventNew, at(0)), alice(gateway.EventIn, at(0)), alice(gateway.EventIn, at(0).Add(time.Minute)),
		alice(gateway.EventOut, at(2)), alice(gateway.EventIn, at(2).Add(time.Minute)), alice(gateway.EventOut, at(2).Add(2*time.Minute)),
		ev(gateway.EventIn, at(0), "dora@ext.test", "dan", "support"), ev(gateway.EventOut, at(0).Add(30*time.Minute), "dora@ext.test", "dan", "support"),
		ev(gateway.EventGone, at(0), "doug@ext.test", "dan", "support"),
		ev(gateway.EventIn, now.Add(-3*time.Hour), "amy@ext.test", "ana", "sales"),
	)
}

// TestOverviewNumbers: the charts and their tables show the numbers of
// the traffic, for the company and for a lead's team.
func TestOverviewNumbers(t *testing.T) {
	w := newWorld(t)
	now := time.Now()
	w.traffic(now)
	yesterday := now.UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	// amy's message 3 hours ago is today's, but just after midnight.
	amy := 0
	if now.UTC().Add(-3*time.Hour).Format(time.DateOnly) == yesterday {
		amy = 1
	}
	b := w.browser()
	b.signIn("root")
	p := b.get("/console/")
	p.mustContain(t, `id="chart-messages"`, `<table class="chart-data"`,
		`data-series="Received" data-label="`+yesterday+`" data-value="`+strconv.Itoa(4+amy)+`"`,
		`data-series="Sent" data-label="`+yesterday+`" data-value="3"`,
		`data-series="desk · expo2026" data-label="`+yesterday+`" data-value="1"`,
		`data-series="Contacts gone" data-label="`+yesterday+`" data-value="1"`,
		"5 received, 3 sent")
	lead := w.browser()
	lead.signIn("lea")
	p = lead.get("/console/")
	p.mustContain(t, `data-series="Received" data-label="`+yesterday+`" data-value="`+strconv.Itoa(3+amy)+`"`,
		`data-series="Sent" data-label="`+yesterday+`" data-value="2"`, `data-series="Contacts gone" data-label="`+yesterday+`" data-value="0"`,
		"4 received, 2 sent")
}

// TestWaitingReassign: the waiting list shows amy, waiting for 3 h, with
// her owner; reassigning her from the row moves her.
func TestWaitingReassign(t *testing.T) {
	w := newWorld(t)
	w.traffic(time.Now())
	b := w.browser()
	b.signIn("root")
	p := b.get("/console/waiting")
	p.mustContain(t, "amy@ext.test", "Ana Abe (ana)", `class="inline reassign"`)
	p.mustNotContain(t, "dora@ext.test")
	p = b.post("/console/waiting/reassign", url.Values{"rel": {w.rels["amy@ext.test"].ID}, "to": {"ben"}, "older": {"1h"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("reassign: %d %.2000s", p.status, p.body)
	}
	if o := w.owner("amy@ext.test"); o != "ben" {
		t.Errorf("amy's owner is %q", o)
	}
	p = b.get(p.header.Get("Location"))
	p.mustContain(t, "Reassigned to Ben Bando (ben)", "amy@ext.test", "Ben Bando (ben)")
	if p := b.get("/console/waiting?older=4h"); strings.Contains(p.body, "amy@ext.test") {
		t.Errorf("amy waits longer than 4 h")
	}
}

// TestBroadcast: a team broadcast is prepared and its page shows each
// member waiting to confirm.
func TestBroadcast(t *testing.T) {
	w := newWorld(t)
	b := w.browser()
	b.signIn("lea")
	p := b.post("/console/broadcasts", url.Values{"department": {"sales"}, "tag": {"vip"}, "body": {"Our spring catalogue is out."}, "reason": {"spring"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("prepare: %d %.2000s", p.status, p.body)
	}
	p = b.get(p.header.Get("Location"))
	p.mustContain(t, "Our spring catalogue is out.", "Ana Abe (ana)", "Ben Bando (ben)", "Cai Chiba (cai)", "Waiting for confirmation",
		"0 sent, 0 skipped, 0 failed")
	p.mustNotContain(t, "Dan Doi")
	if p := b.post("/console/broadcasts", url.Values{"member": {"dan"}, "tag": {"vip"}, "body": {"x"}, "reason": {"x"}}); p.status != http.StatusForbidden {
		t.Errorf("a lead's broadcast to another team: %d", p.status)
	}
	root := w.browser()
	root.signIn("root")
	root.get("/console/broadcasts").mustContain(t, "spring", "admin:lea")
	// The lead's list (the API's, for every role) has it; a broadcast to
	// another team is not theirs to see.
	p = root.post("/console/broadcasts", url.Values{"member": {"dan"}, "tag": {"vip"}, "body": {"support news"}, "reason": {"autumn"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("root's broadcast: %d %.2000s", p.status, p.body)
	}
	root.get("/console/broadcasts").mustContain(t, "spring", "autumn", "Dan Doi (dan)")
	lp := b.get("/console/broadcasts")
	lp.mustContain(t, "spring", "admin:lea", "Cai Chiba (cai)")
	lp.mustNotContain(t, "autumn", `class="error"`)
}

// TestLeadTransferHistory: a lead's transfers page lists their team's
// transfers (the API's list), not another team's, and filters them.
func TestLeadTransferHistory(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	within, err := w.boot.Transfer(ctx, adminapi.TransferRequest{Relationships: []string{w.rels["alice@ext.test"].ID}, To: "ben", Reason: "within sales"})
	if err != nil {
		t.Fatal(err)
	}
	across, err := w.boot.Transfer(ctx, adminapi.TransferRequest{Relationships: []string{w.rels["dora@ext.test"].ID}, To: "eve", Reason: "within support"})
	if err != nil {
		t.Fatal(err)
	}
	b := w.browser()
	b.signIn("lea")
	p := b.get("/console/transfers")
	p.mustContain(t, `id="transfers-table"`, within.ID, "within sales")
	p.mustNotContain(t, across.ID, `class="error"`)
	b.get("/console/transfers?employee=cai").mustContain(t, "No transfers yet.")
	b.get("/console/transfers?employee=ben").mustContain(t, within.ID)
	root := w.browser()
	root.signIn("root")
	root.get("/console/transfers").mustContain(t, within.ID, across.ID)
	root.get("/console/transfers?employee=eve").mustNotContain(t, within.ID)
	root.get("/console/transfers?actor=nobody").mustNotContain(t, within.ID, across.ID)
}

// TestUndoNotifyChoice: the Undo form's "tell the contacts" box is
// ticked as the API's default (if the transfer told them), and what it
// says is what the revert does.
func TestUndoNotifyChoice(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	told, err := w.boot.Transfer(ctx, adminapi.TransferRequest{Relationships: []string{w.rels["alice@ext.test"].ID}, To: "ben", Notify: true, Reason: "told"})
	if err != nil {
		t.Fatal(err)
	}
	quiet, err := w.boot.Transfer(ctx, adminapi.TransferRequest{Relationships: []string{w.rels["amy@ext.test"].ID}, To: "ben", Reason: "quiet"})
	if err != nil {
		t.Fatal(err)
	}
	b := w.browser()
	b.signIn("lea")
	p := b.get("/console/transfers/" + told.ID)
	p.mustContain(t, `id="undo-notify" checked`, `id="undo-told"`)
	p = b.get("/console/transfers/" + quiet.ID)
	p.mustContain(t, `id="undo-notify"`)
	p.mustNotContain(t, `id="undo-notify" checked`, `id="undo-told"`)
	// Unticked on the one that told: the revert tells nobody.
	p = b.post("/console/transfers/"+told.ID+"/revert", url.Values{"reason": {"undo"}, "notify_choice": {"1"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("undo: %d %.2000s", p.status, p.body)
	}
	rev := strings.TrimPrefix(p.header.Get("Location"), "/console/transfers/")
	if v, err := w.boot.GetTransferView(ctx, rev); err != nil || v.RevertOf != told.ID || v.Notified {
		t.Errorf("the revert of the told one: %+v %v, want no notices", v, err)
	}
	b.get("/console/transfers/"+told.ID).mustContain(t, `id="transfer-reverted"`, rev)
	// Ticked on the quiet one: the revert tells them.
	p = b.post("/console/transfers/"+quiet.ID+"/revert", url.Values{"reason": {"undo"}, "notify_choice": {"1"}, "notify": {"1"}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("undo: %d %.2000s", p.status, p.body)
	}
	rev = strings.TrimPrefix(p.header.Get("Location"), "/console/transfers/")
	if v, err := w.boot.GetTransferView(ctx, rev); err != nil || !v.Notified {
		t.Errorf("the revert of the quiet one: %+v %v, want notices", v, err)
	}
	b.get(p.header.Get("Location")).mustContain(t, "contacts told who looks after them now")
}

// TestEditTagsAndRemark: a row's edit form sets its tags and remark,
// and clears them.
func TestEditTagsAndRemark(t *testing.T) {
	w := newWorld(t)
	b := w.browser()
	b.signIn("lea")
	alice := w.rels["alice@ext.test"].ID
	b.get("/console/contacts?owner=ana&edit="+alice).mustContain(t, `id="edit-form"`)
	p := b.post("/console/contacts/edit", url.Values{"rel": {alice}, "tags": {"vip, expo"}, "remark": {"met at the expo"}, "owner": {"ana"}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/contacts?owner=ana" {
		t.Fatalf("edit: %d %s %.2000s", p.status, p.header.Get("Location"), p.body)
	}
	b.get(p.header.Get("Location")).mustContain(t, "Tags and remark saved.", "expo, vip", "met at the expo")
	p = b.post("/console/contacts/edit", url.Values{"rel": {alice}, "tags": {""}, "old_tags": {"expo,vip"}, "remark": {""}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("clear: %d %.2000s", p.status, p.body)
	}
	if r, _ := w.api.State.Snapshot().Relationship(alice); len(r.Tags) != 0 || r.Remark != "" {
		t.Errorf("after clearing: %+v", r)
	}
}

// TestEmployeesLastActivity: an employee's row has their number of
// contacts and the latest activity of any of them.
func TestEmployeesLastActivity(t *testing.T) {
	w := newWorld(t)
	base := time.Date(2026, 10, 5, 8, 30, 0, 0, time.UTC)
	if err := w.api.State.TouchRelationships(context.Background(), map[string]time.Time{
		w.rels["alice@ext.test"].ID: base, w.rels["amy@ext.test"].ID: base.Add(90 * time.Minute), w.rels["dora@ext.test"].ID: base.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	b := w.browser()
	b.signIn("root")
	p := b.get("/console/employees")
	p.mustContain(t, `<a href="/console/contacts?owner=ana">3</a></td><td>2026-10-05 10:00 UTC</td>`,
		`<a href="/console/contacts?owner=dan">2</a></td><td>2026-10-05 07:30 UTC</td>`,
		`<a href="/console/contacts?owner=ben">0</a></td><td>—</td>`)
}

// TestTransferKinds: the history's kind filter, and departures marked.
func TestTransferKinds(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	tr, err := w.boot.Transfer(ctx, adminapi.TransferRequest{Relationships: []string{w.rels["alice@ext.test"].ID}, To: "ben", Reason: "plain"})
	if err != nil {
		t.Fatal(err)
	}
	dep, err := w.boot.Depart(ctx, "dan", adminapi.DepartRequest{Successor: "eve", Reason: "dan left"})
	if err != nil {
		t.Fatal(err)
	}
	b := w.browser()
	b.signIn("root")
	all := b.get("/console/transfers")
	all.mustContain(t, tr.ID, dep.ID)
	row := regexp.MustCompile(`(?s)<tr data-transfer="` + dep.ID + `">.*?</tr>`).FindString(all.body)
	if !strings.Contains(row, "Departure") {
		t.Errorf("the departure's row: %s", row)
	}
	p := b.get("/console/transfers?kind=depart")
	p.mustContain(t, dep.ID, `<option value="depart" selected>Departure</option>`)
	p.mustNotContain(t, tr.ID)
	p = b.get("/console/transfers?kind=transfer")
	p.mustContain(t, tr.ID)
	p.mustNotContain(t, dep.ID)
}
