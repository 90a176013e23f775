package e2e

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/identity"
)

// AddAdmin creates a named admin with the bootstrap token (config's
// admin.token) through `kakehashi admins add` and returns its token.
func (g *Gateway) AddAdmin(name, role string) string {
	g.t.Helper()
	var n adminapi.NewAdmin
	out, err := g.As(token, "admins", "add", name, "--role", role, "--reason", "e2e: "+name, "--json")
	if err != nil || json.Unmarshal([]byte(out), &n) != nil {
		g.t.Fatalf("admins add %s: %v %s", name, err, out)
	}
	if !strings.HasPrefix(n.Token, identity.AdminTokenPrefix) || n.Admin.Name != name || string(n.Admin.Role) != role {
		g.t.Fatalf("admins add %s: %+v", name, n)
	}
	return n.Token
}

// As runs an admin subcommand with token (the package's token constant
// is the bootstrap token), whatever token the harness's CLI uses.
func (g *Gateway) As(token string, args ...string) (string, error) {
	out, err := exec.Command(g.bin, append(args, "--config", g.cfg, "--token", token)...).CombinedOutput()
	return string(out), err
}

// auditAbout returns the audit entries of action about subject.
func auditAbout(t *testing.T, w *world, action, subject string) []identity.AuditEntry {
	t.Helper()
	var l []identity.AuditEntry
	w.gw.JSON(&l, "audit", "--action", action, "--subject", subject)
	return l
}

// TestAdminTokensNameWhoActed: `kakehashi admins add` gives each admin a
// token of their own; the audit log names them from the token (not from
// --actor or a header); an auditor reads but cannot transfer; a revoked
// token is refused at once; all of it survives a restart.
func TestAdminTokensNameWhoActed(t *testing.T) {
	w := newWorld(t, worldOptions{})
	hana, bob := w.client("hana"), w.client("bob")
	startConversation(t, hana, bob)

	ana := w.gw.AddAdmin("ana", "admin")
	aud := w.gw.AddAdmin("kpmg.audit", "auditor")
	if ana == aud {
		t.Fatal("two admins got one token")
	}
	// The token is printed once, in the human output too.
	out := w.gw.CLI("admins", "add", "ci-bot", "--role", "auditor")
	if !strings.Contains(out, "shown only this once") || strings.Count(out, identity.AdminTokenPrefix) != 1 {
		t.Fatalf("admins add output: %s", out)
	}

	// Naming someone else is refused, not recorded.
	if out, err := w.gw.As(ana, "contacts", "transfer", "--from", "hana", "--to", "ken", "--reason", "Hana on leave", "--actor", "mallory"); err == nil || !strings.Contains(out, "admins add") {
		t.Fatalf("transfer with --actor: %v %s", err, out)
	}
	// Ana transfers: the audit says admin:ana.
	out, err := w.gw.As(ana, "contacts", "transfer", "--from", "hana", "--to", "ken", "--reason", "Hana on leave")
	if err != nil || !strings.Contains(out, "1 relationship(s) moved from hana to ken") {
		t.Fatalf("transfer by ana: %v %s", err, out)
	}
	out, err = w.gw.As(aud, "audit", "--action", "contacts.transfer", "--json")
	if err != nil {
		t.Fatalf("audit by the auditor: %v %s", err, out)
	}
	var audit []identity.AuditEntry
	if err := json.Unmarshal([]byte(out), &audit); err != nil || len(audit) != 1 || audit[0].Actor != "admin:ana" || audit[0].Reason != "Hana on leave" {
		t.Fatalf("transfer audit: %v %s", err, out)
	}
	// The bootstrap token is recorded as such.
	if adds := auditAbout(t, w, identity.ActionAdminAdd, "admin:ana"); len(adds) != 1 || adds[0].Actor != "admin:bootstrap" || adds[0].Reason != "e2e: ana" {
		t.Fatalf("admin.add audit: %+v", adds)
	}

	// The auditor reads everything and changes nothing.
	for _, args := range [][]string{{"queue"}, {"contacts", "list"}, {"employees", "list"}, {"personas", "list"}, {"admins", "list"}} {
		if out, err := w.gw.As(aud, args...); err != nil {
			t.Errorf("auditor %v: %v %s", args, err, out)
		}
	}
	for _, args := range [][]string{
		{"contacts", "transfer", "--from", "ken", "--to", "hana", "--reason", "auditor tries"},
		{"employees", "depart", "hana", "--successor", "ken", "--reason", "auditor tries"},
		{"admins", "add", "mallory", "--role", "admin"},
		{"admins", "revoke", "ana", "--reason", "auditor tries"},
	} {
		out, err := w.gw.As(aud, args...)
		if err == nil || !strings.Contains(out, "role auditor") {
			t.Errorf("auditor %v: %v %s, want refused for role auditor", args, err, out)
		}
	}
	if r := ownerOf(t, w, "bob@ext.test"); r.OwnerID != "ken" {
		t.Fatalf("after the auditor's attempts bob is owned by %q", r.OwnerID)
	}

	// A header naming someone else is refused, not recorded.
	req, _ := http.NewRequest("GET", w.gw.adminURL+"/v1/queue", nil)
	req.Header.Set("Authorization", "Bearer "+ana)
	req.Header.Set("X-Kakehashi-Actor", "mallory")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("X-Kakehashi-Actor: %d, want 400", resp.StatusCode)
	}

	// Revocation holds at once, and across a restart.
	if out, err := w.gw.As(ana, "admins", "revoke", "kpmg.audit", "--reason", "audit finished"); err != nil {
		t.Fatalf("revoke: %v %s", err, out)
	}
	if out, err := w.gw.As(aud, "queue"); err == nil || !strings.Contains(out, "revoked") {
		t.Fatalf("revoked token: %v %s", err, out)
	}
	w.gw.Stop()
	w.gw.Start()
	if out, err := w.gw.As(aud, "audit"); err == nil || !strings.Contains(out, "revoked") {
		t.Fatalf("revoked token after restart: %v %s", err, out)
	}
	out, err = w.gw.As(ana, "admins", "list", "--json")
	var admins []identity.Admin
	if err != nil || json.Unmarshal([]byte(out), &admins) != nil {
		t.Fatalf("admins after restart: %v %s", err, out)
	}
	found := 0
	for _, a := range admins {
		switch a.Name {
		case "kpmg.audit":
			found++
			if !a.Revoked() || a.RevokedBy != "admin:ana" || a.Role != identity.RoleAuditor {
				t.Fatalf("admin after restart: %+v", a)
			}
		case "ana":
			found++
			if a.Revoked() || a.LastUsed.IsZero() || a.Role != identity.RoleAdmin || a.CreatedBy != "admin:bootstrap" {
				t.Fatalf("admin after restart: %+v", a)
			}
		}
	}
	if found != 2 || strings.Contains(out, ana) || strings.Contains(out, aud) {
		t.Fatalf("admins after restart: %s", out)
	}
	revs := auditAbout(t, w, identity.ActionAdminRevoke, "admin:kpmg.audit")
	if len(revs) != 1 || revs[0].Actor != "admin:ana" || revs[0].Subject != "admin:kpmg.audit" || revs[0].Reason != "audit finished" {
		t.Fatalf("admin.revoke audit: %+v", revs)
	}
}

// TestRevertOfNotifiedTransferRetellsContacts: bob was told at a
// `contacts transfer --notify` that Ken looks after him now; reverting it
// tells him that Hana's persona does again (nothing of Hana's real name).
// With --notify=false the revert is silent and says the contacts were
// told before.
func TestRevertOfNotifiedTransferRetellsContacts(t *testing.T) {
	w := newWorld(t, worldOptions{})
	hana, bob := w.client("hana"), w.client("bob")
	startConversation(t, hana, bob)

	var tr adminapi.TransferResult
	w.gw.JSON(&tr, "contacts", "transfer", "--from", "hana", "--to", "ken", "--notify", "--reason", "rotation")
	if n := message(t, bob); bare(n.From) != kenAddr || !strings.Contains(n.Body, "ACME Sales · Ken") {
		t.Fatalf("transfer notice: %s", n.Raw)
	}
	out := w.gw.CLI("transfers", "revert", tr.ID, "--reason", "rotation cancelled")
	if !strings.Contains(out, "the contacts were told at transfer "+tr.ID+" (1 notice(s)); 1 told again who looks after them now") {
		t.Fatalf("revert output: %s", out)
	}
	n := message(t, bob)
	if bare(n.From) != hanaAddr || !strings.Contains(n.Body, "ACME Sales · Hana") || strings.Contains(n.Body, "Sato") || strings.Contains(n.Body, "corp.test") {
		t.Fatalf("revert notice: %s", n.Raw)
	}
	silent(t, bob, 300*time.Millisecond)
	// Bob's next message reaches Hana again.
	if err := bob.Send(hanaAddr, "back to you?"); err != nil {
		t.Fatal(err)
	}
	if got := message(t, hana); got.Body != "back to you?" {
		t.Fatalf("hana got %s", got.Raw)
	}

	w.gw.JSON(&tr, "contacts", "transfer", "--from", "hana", "--to", "ken", "--notify", "--reason", "rotation again")
	message(t, bob)
	out = w.gw.CLI("transfers", "revert", tr.ID, "--reason", "cancelled again", "--notify=false")
	if !strings.Contains(out, "were NOT told of this revert") {
		t.Fatalf("silent revert output: %s", out)
	}
	silent(t, bob, time.Second)
	var notes []identity.AuditEntry
	w.gw.JSON(&notes, "audit", "--action", adminapi.ActionContactsNotify)
	if len(notes) != 3 {
		t.Fatalf("contacts.notify audit: %+v", notes)
	}
}
