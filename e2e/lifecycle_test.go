package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// contactRow is one line of `kakehashi contacts list --json`.
type contactRow struct {
	Contact struct {
		ID      string `json:"id"`
		Address struct {
			Addr string `json:"addr"`
		} `json:"address"`
	} `json:"contact"`
	Relationship struct {
		ID      string   `json:"id"`
		OwnerID string   `json:"owner_id"`
		Tags    []string `json:"tags"`
		Gone    string   `json:"gone"`
	} `json:"relationship"`
}

type transferOut struct {
	ID       string `json:"id"`
	RevertOf string `json:"revert_of"`
	Moves    []struct {
		RelationshipID string `json:"relationship_id"`
		FromOwner      string `json:"from_owner"`
		ToOwner        string `json:"to_owner"`
	} `json:"moves"`
	Filter struct {
		Tag string `json:"tag"`
	} `json:"filter"`
}

// owners maps contact address → owner (or "" for the pool).
func owners(w *world) map[string]string {
	w.t.Helper()
	var rows []contactRow
	w.gw.JSON(&rows, "contacts", "list")
	m := map[string]string{}
	for _, r := range rows {
		m[r.Contact.Address.Addr] = r.Relationship.OwnerID
	}
	return m
}

// startContacts makes hana write to each outside user so they become her
// contacts, and returns their relationship IDs by user.
func startContacts(t *testing.T, w *world, users ...string) map[string]string {
	t.Helper()
	hana := w.client("hana")
	for _, u := range users {
		c := w.client(u)
		if err := hana.Send(u+`\40ext.test@gw.corp.test`, "Hello "+u); err != nil {
			t.Fatal(err)
		}
		message(t, c)
	}
	var rows []contactRow
	w.gw.JSON(&rows, "contacts", "list", "--owner", "hana")
	ids := map[string]string{}
	for _, r := range rows {
		ids[strings.TrimSuffix(r.Contact.Address.Addr, "@ext.test")] = r.Relationship.ID
	}
	if len(ids) != len(users) {
		t.Fatalf("hana has %v", ids)
	}
	return ids
}

// addMia adds a third employee with her own persona.
func addMia(t *testing.T, w *world) {
	t.Helper()
	w.inside.Register(t, "mia", "corp.test", password)
	f := filepath.Join(t.TempDir(), "mia.yaml")
	if err := os.WriteFile(f, []byte(`reason: new hire
employees:
  - {id: mia, name: Mia Mori, inside_addrs: [{network: corp, addr: mia@corp.test}], default_persona: mia.sales}
personas:
  - {id: mia.sales, display_name: "ACME Sales · Mia", kind: personal, employee_id: mia, addresses: [{network: public-xmpp, addr: mia.sales@contact.acme.test}]}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	w.gw.CLI("directory", "import", f)
}

// TestTransferByTagAndRevert: a transfer selects by tag, is audited with
// its filter and moves, routes the next messages to the new owner, and is
// undone by its ID; a second revert, and a revert after a later transfer,
// are refused with the reason.
func TestTransferByTagAndRevert(t *testing.T) {
	w := newWorld(t, worldOptions{})
	rels := startContacts(t, w, "bob", "alice", "carol")
	w.gw.CLI("contacts", "tag", rels["bob"], "--add", "vip")
	w.gw.CLI("contacts", "tag", rels["alice"], "--add", "VIP,expo")

	var tr transferOut
	w.gw.JSON(&tr, "contacts", "transfer", "--from", "hana", "--tag", "vip", "--to", "ken", "--reason", "key accounts to ken")
	if len(tr.Moves) != 2 || tr.Filter.Tag != "vip" {
		t.Fatalf("transfer %+v", tr)
	}
	if o := owners(w); o["bob@ext.test"] != "ken" || o["alice@ext.test"] != "ken" || o["carol@ext.test"] != "hana" {
		t.Fatalf("owners after transfer: %v", o)
	}
	ken, bob := w.client("ken"), w.client("bob")
	if err := bob.Send(hanaAddr, "still there?"); err != nil {
		t.Fatal(err)
	}
	if m := message(t, ken); m.Body != "still there?" {
		t.Fatalf("ken got %s", m.Raw)
	}
	var audit []struct {
		Actor, Action, Subject, Reason string
	}
	w.gw.JSON(&audit, "audit", "--subject", tr.ID)
	if len(audit) != 1 || audit[0].Actor != "admin:e2e-admin" || audit[0].Reason != "key accounts to ken" {
		t.Fatalf("audit of %s: %+v", tr.ID, audit)
	}

	var rv transferOut
	w.gw.JSON(&rv, "transfers", "revert", tr.ID, "--reason", "wrong tag")
	if rv.RevertOf != tr.ID || len(rv.Moves) != 2 {
		t.Fatalf("revert %+v", rv)
	}
	if o := owners(w); o["bob@ext.test"] != "hana" || o["alice@ext.test"] != "hana" {
		t.Fatalf("owners after revert: %v", o)
	}
	if out, err := w.gw.TryCLI("transfers", "revert", tr.ID, "--reason", "again"); err == nil || !strings.Contains(out, "revert") {
		t.Fatalf("a second revert was accepted: %s", out)
	}

	// A later transfer of the same relationships blocks the revert and is
	// named.
	var t2, t3 transferOut
	w.gw.JSON(&t2, "contacts", "transfer", "--relationship", rels["carol"], "--to", "ken", "--reason", "cover")
	w.gw.JSON(&t3, "contacts", "transfer", "--from", "ken", "--reason", "ken on leave")
	out, err := w.gw.TryCLI("transfers", "revert", t2.ID, "--reason", "undo cover")
	if err == nil || !strings.Contains(out, t3.ID) {
		t.Fatalf("revert over a later transfer: err %v, %s (should name %s)", err, out, t3.ID)
	}
	// t3 sent carol to the pool: listed as unassigned.
	var pool []contactRow
	w.gw.JSON(&pool, "contacts", "unassigned")
	if len(pool) != 1 || pool[0].Contact.Address.Addr != "carol@ext.test" {
		t.Fatalf("pool %+v", pool)
	}
}

// TestDepartureSpreadsOverATeam: a departing employee's relationships are
// spread round robin over a team; the employee can no longer write out.
func TestDepartureSpreadsOverATeam(t *testing.T) {
	w := newWorld(t, worldOptions{})
	addMia(t, w)
	startContacts(t, w, "bob", "alice", "carol")
	var tr transferOut
	w.gw.JSON(&tr, "employees", "depart", "hana", "--team", "ken,mia", "--strategy", "round-robin", "--reason", "left")
	count := map[string]int{}
	for _, o := range owners(w) {
		count[o]++
	}
	if count["ken"]+count["mia"] != 3 || count["ken"] < 1 || count["mia"] < 1 {
		t.Fatalf("spread %v", count)
	}
	var pool []contactRow
	w.gw.JSON(&pool, "contacts", "unassigned")
	if len(pool) != 0 {
		t.Fatalf("pool %+v", pool)
	}
	hana := w.client("hana")
	if err := hana.Send(bobProxy, "one more"); err != nil {
		t.Fatal(err)
	}
	if m := message(t, hana); m.Type != "error" {
		t.Fatalf("departed hana could write out: %s", m.Raw)
	}
}
