package adminapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/adminapi/apitest"
	"github.com/kakehashi/kakehashi/identity"
)

const token = apitest.Token

// asServer encodes v as the server writes its answers.
func asServer(t *testing.T, v any) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// call runs f with a client that keeps each answer's body as sent, and
// checks that the typed value f returns encodes back to exactly that
// body: no field of the server's answer is lost or renamed.
func call[T any](t *testing.T, c *adminapi.Client, name string, f func(*adminapi.Client) (T, error)) T {
	t.Helper()
	var raw bytes.Buffer
	v, err := f(c.Tee(&raw))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if got := asServer(t, v); got != raw.String() {
		t.Fatalf("%s: the typed answer encodes as\n%s\nbut the server sent\n%s", name, got, raw.String())
	}
	return v
}

func employee(id string) identity.Employee {
	return identity.Employee{ID: id, Name: strings.ToUpper(id[:1]) + id[1:],
		InsideAddrs: []identity.Address{{Network: "corp", Addr: id + "@corp.test"}}, DefaultPersona: id + ".sales"}
}

func persona(id string) identity.Persona {
	return identity.Persona{ID: id + ".sales", DisplayName: "ACME Sales · " + id, Kind: identity.Personal, EmployeeID: id,
		Addresses: []identity.Address{{Network: "public-xmpp", Addr: id + ".sales@contact.acme.test"}}}
}

// TestClientAgainstServer calls every endpoint of a real admin API
// through the client and checks what each call did and that each typed
// answer holds all of the server's JSON.
func TestClientAgainstServer(t *testing.T) {
	srv := apitest.Start(t)
	ctx := context.Background()
	c := adminapi.NewClient(srv.URL+"/", token, nil)

	h := call(t, c, "Health", func(c *adminapi.Client) (*adminapi.Health, error) { return c.Health(ctx) })
	if h.Status != "ok" || h.Store != "ok" || !h.Connected["corp"] {
		t.Errorf("health: %+v", h)
	}
	if m, err := c.Metrics(ctx); err != nil || !bytes.Contains(m, []byte("go_goroutines")) {
		t.Errorf("metrics: %v %.200s", err, m)
	}
	// The document needs no token.
	for _, cc := range []*adminapi.Client{c, adminapi.NewClient(srv.URL, "", nil)} {
		if doc, err := cc.OpenAPI(ctx); err != nil || !json.Valid(doc) || !bytes.Contains(doc, []byte(`"openapi": "3.0.`)) {
			t.Errorf("OpenAPI: %v %.200s", err, doc)
		}
	}
	// Empty lists are [], not null.
	if es, err := c.ListEmployees(ctx); err != nil || es == nil || len(es) != 0 {
		t.Errorf("employees before any: %#v %v", es, err)
	}
	if ps, err := c.ListPersonas(ctx); err != nil || ps == nil || len(ps) != 0 {
		t.Errorf("personas before any: %#v %v", ps, err)
	}

	d := adminapi.Directory{Reason: "setup"}
	for _, id := range []string{"hana", "ken", "mia"} {
		d.Employees = append(d.Employees, employee(id))
		d.Personas = append(d.Personas, persona(id))
	}
	res := call(t, c, "ImportDirectory", func(c *adminapi.Client) (*adminapi.DirectoryResult, error) { return c.ImportDirectory(ctx, d) })
	if *res != (adminapi.DirectoryResult{Employees: 3, Personas: 3}) {
		t.Errorf("import: %+v", res)
	}
	ken := employee("ken")
	ken.Department = "key accounts"
	e := call(t, c, "UpsertEmployee", func(c *adminapi.Client) (*identity.Employee, error) {
		return c.UpsertEmployee(ctx, adminapi.EmployeeRequest{Employee: ken, Reason: "moved"})
	})
	if e.Department != "key accounts" || e.Status != identity.Active {
		t.Errorf("upsert employee: %+v", e)
	}
	kp := persona("ken")
	kp.Handover = "{persona} looks after you now."
	p := call(t, c, "UpsertPersona", func(c *adminapi.Client) (*identity.Persona, error) {
		return c.UpsertPersona(ctx, adminapi.PersonaRequest{Persona: kp, Reason: "handover text"})
	})
	if p.Handover != kp.Handover {
		t.Errorf("upsert persona: %+v", p)
	}
	es := call(t, c, "ListEmployees", func(c *adminapi.Client) ([]identity.Employee, error) { return c.ListEmployees(ctx) })
	if len(es) != 3 || es[1].ID != "ken" || es[1].Department != "key accounts" {
		t.Errorf("employees: %+v", es)
	}
	ps := call(t, c, "ListPersonas", func(c *adminapi.Client) ([]identity.Persona, error) { return c.ListPersonas(ctx) })
	if len(ps) != 3 || ps[0].ID != "hana.sales" {
		t.Errorf("personas: %+v", ps)
	}

	bob := srv.Relationship(t, apitest.OutsideIM, "bob@ext.test", "hana.sales", "hana")
	srv.Relationship(t, apitest.OutsideIM, "alice@ext.test", "hana.sales", "hana")
	srv.Relationship(t, apitest.OutsideIM, "carol@ext.test", "hana.sales", "")
	if err := srv.State.TouchRelationships(ctx, map[string]time.Time{bob.ID: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		q     adminapi.ContactQuery
		addrs []string
		total int
	}{
		{"all", adminapi.ContactQuery{}, []string{"alice@ext.test", "bob@ext.test", "carol@ext.test"}, 3},
		{"owner", adminapi.ContactQuery{Owner: "hana"}, []string{"alice@ext.test", "bob@ext.test"}, 2},
		{"pool", adminapi.ContactQuery{Unassigned: true}, []string{"carol@ext.test"}, 1},
		{"active within", adminapi.ContactQuery{ActiveWithin: time.Hour}, []string{"bob@ext.test"}, 1},
		{"idle for", adminapi.ContactQuery{Owner: "hana", IdleFor: time.Hour}, []string{"alice@ext.test"}, 1},
		{"active after", adminapi.ContactQuery{ActiveAfter: time.Now().Add(-time.Hour)}, []string{"bob@ext.test"}, 1},
		{"active before", adminapi.ContactQuery{ActiveBefore: time.Now().Add(-time.Hour), Unassigned: true}, []string{"carol@ext.test"}, 1},
		{"filters", adminapi.ContactQuery{Persona: "hana.sales", Source: "expo", Network: "public-xmpp", Owner: "hana"}, []string{"alice@ext.test", "bob@ext.test"}, 2},
		{"no match", adminapi.ContactQuery{Tag: "vip"}, nil, 0},
	} {
		t.Run("ListContacts "+tc.name, func(t *testing.T) {
			page := call(t, c, "ListContacts", func(c *adminapi.Client) ([]adminapi.ContactView, error) {
				p, err := c.ListContacts(ctx, tc.q)
				if err != nil {
					return nil, err
				}
				if p.Total != tc.total {
					t.Errorf("total %d, want %d", p.Total, tc.total)
				}
				return p.Contacts, nil
			})
			var addrs []string
			for _, v := range page {
				addrs = append(addrs, v.Contact.Address.Addr)
			}
			slices.Sort(addrs)
			if !slices.Equal(addrs, tc.addrs) {
				t.Errorf("contacts %v, want %v", addrs, tc.addrs)
			}
		})
	}

	// Pages of one: each relationship once, the total on each page.
	var paged []string
	for off := range 3 {
		p, err := c.ListContacts(ctx, adminapi.ContactQuery{Owner: "hana", Offset: off, Limit: 1})
		if err != nil || p.Total != 2 {
			t.Fatalf("page %d: %v %+v", off, err, p)
		}
		for _, v := range p.Contacts {
			paged = append(paged, v.Contact.Address.Addr)
		}
	}
	slices.Sort(paged)
	if !slices.Equal(paged, []string{"alice@ext.test", "bob@ext.test"}) {
		t.Errorf("paged: %v", paged)
	}

	rel := call(t, c, "EditTags", func(c *adminapi.Client) (*identity.Relationship, error) {
		return c.EditTags(ctx, bob.ID, adminapi.TagsRequest{Add: []string{"vip", "expo"}, Reason: "fair"})
	})
	if !slices.Equal(rel.Tags, []string{"expo", "vip"}) {
		t.Errorf("tags: %v", rel.Tags)
	}
	rel = call(t, c, "SetRemark", func(c *adminapi.Client) (*identity.Relationship, error) {
		return c.SetRemark(ctx, bob.ID, adminapi.RemarkRequest{Remark: "prefers mornings"})
	})
	if rel.Remark != "prefers mornings" || rel.ID != bob.ID {
		t.Errorf("remark: %+v", rel)
	}

	tr := call(t, c, "Transfer", func(c *adminapi.Client) (*adminapi.TransferResult, error) {
		return c.Transfer(ctx, adminapi.TransferRequest{From: "hana", Tag: "vip", To: "ken", Notify: true, Reason: "key accounts"})
	})
	if len(tr.Moves) != 1 || tr.Moves[0].RelationshipID != bob.ID || tr.Moves[0].ToOwner != "ken" || tr.Notices != 1 {
		t.Errorf("transfer: %+v", tr)
	}
	got := call(t, c, "GetTransferView", func(c *adminapi.Client) (*adminapi.TransferView, error) { return c.GetTransferView(ctx, tr.ID) })
	if got.ID != tr.ID || got.To != "ken" || len(got.Moves) != 1 || !got.Notified || got.Notices != 1 || got.Reverted {
		t.Errorf("get transfer: %+v", got)
	}
	// GetTransfer is the transfer alone (what GetTransferView embeds).
	if plain, err := c.GetTransfer(ctx, tr.ID); err != nil || !reflect.DeepEqual(plain, got.Transfer) {
		t.Errorf("GetTransfer: %+v %v, want %+v", plain, err, got.Transfer)
	}
	no := false
	rv := call(t, c, "RevertTransfer", func(c *adminapi.Client) (*adminapi.RevertResult, error) {
		return c.RevertTransfer(ctx, tr.ID, adminapi.RevertRequest{Reason: "wrong tag", Notify: &no})
	})
	if rv.RevertOf != tr.ID || !rv.ToldAtTransfer || rv.NotifiedAtTransfer != 1 || rv.Notified || rv.Notices != 0 {
		t.Errorf("revert: %+v", rv)
	}

	dep := call(t, c, "Depart", func(c *adminapi.Client) (*identity.Transfer, error) {
		return c.Depart(ctx, "hana", adminapi.DepartRequest{Team: []string{"ken", "mia"}, Strategy: "round-robin", Reason: "left"})
	})
	if len(dep.Moves) != 2 || !slices.Equal(dep.Targets, []string{"ken", "mia"}) {
		t.Errorf("depart: %+v", dep)
	}
	back := call(t, c, "Reactivate", func(c *adminapi.Client) (*identity.Employee, error) {
		return c.Reactivate(ctx, "hana", adminapi.ReasonRequest{Reason: "came back"})
	})
	if back.ID != "hana" || back.Status != identity.Active {
		t.Errorf("reactivate: %+v", back)
	}

	b := call(t, c, "PrepareBroadcast", func(c *adminapi.Client) (*adminapi.Broadcast, error) {
		return c.PrepareBroadcast(ctx, adminapi.BroadcastRequest{Team: []string{"mia", "ken"}, Tag: "vip", Subject: "Expo",
			Body: "Thank you for visiting!", Reason: "expo follow-up"})
	})
	if b.State != adminapi.BroadcastPrepared || !slices.Equal(b.Team, []string{"ken", "mia"}) || len(b.Members) != 2 ||
		b.Members[0].State != adminapi.BroadcastAwaiting || b.Actor != "admin:bootstrap" {
		t.Errorf("prepare broadcast: %+v", b)
	}
	gb := call(t, c, "GetBroadcast", func(c *adminapi.Client) (*adminapi.Broadcast, error) { return c.GetBroadcast(ctx, b.ID) })
	if gb.ID != b.ID || len(gb.Members) != 2 || gb.Summary() != "0 sent, 0 skipped (cap), 0 skipped (gone)" {
		t.Errorf("get broadcast: %+v (%s)", gb, gb.Summary())
	}

	audit := call(t, c, "Audit", func(c *adminapi.Client) ([]identity.AuditEntry, error) {
		return c.Audit(ctx, adminapi.AuditQuery{Action: adminapi.ActionContactsNotify, Subject: tr.ID})
	})
	if len(audit) != 1 || audit[0].Actor != "admin:bootstrap" || audit[0].Reason != "key accounts" {
		t.Errorf("audit: %+v", audit)
	}
	all := call(t, c, "Audit", func(c *adminapi.Client) ([]identity.AuditEntry, error) { return c.Audit(ctx, adminapi.AuditQuery{}) })
	after := call(t, c, "Audit", func(c *adminapi.Client) ([]identity.AuditEntry, error) {
		return c.Audit(ctx, adminapi.AuditQuery{After: all[0].Seq, Limit: 2})
	})
	if len(all) < 3 || len(after) != 2 || after[0].Seq != all[1].Seq {
		t.Errorf("audit after %d: %+v", all[0].Seq, after)
	}
	st := call(t, c, "QueueStats", func(c *adminapi.Client) (adminapi.QueueStats, error) { return c.QueueStats(ctx) })
	if st["pending"]+st["sent"] == 0 {
		t.Errorf("queue: %v, want the handover notice and broadcast notices", st)
	}

	n := call(t, c, "AddAdmin", func(c *adminapi.Client) (*adminapi.NewAdmin, error) {
		return c.AddAdmin(ctx, adminapi.AdminRequest{Name: "ana", Role: identity.RoleAuditor, Reason: "audit"})
	})
	if n.Admin.Name != "ana" || n.Admin.Role != identity.RoleAuditor || !strings.HasPrefix(n.Token, identity.AdminTokenPrefix) {
		t.Errorf("add admin: %+v", n)
	}
	ana := adminapi.NewClient(srv.URL, n.Token, nil)
	if _, err := ana.ListEmployees(ctx); err != nil {
		t.Errorf("an auditor reads: %v", err)
	}
	admins := call(t, c, "ListAdmins", func(c *adminapi.Client) ([]identity.Admin, error) { return c.ListAdmins(ctx) })
	if len(admins) != 1 || admins[0].Name != "ana" || admins[0].LastUsed.IsZero() {
		t.Errorf("admins: %+v", admins)
	}
	rev := call(t, c, "RevokeAdmin", func(c *adminapi.Client) (*identity.Admin, error) {
		return c.RevokeAdmin(ctx, "ana", adminapi.ReasonRequest{Reason: "done"})
	})
	if !rev.Revoked() || rev.RevokedBy != "admin:bootstrap" {
		t.Errorf("revoke: %+v", rev)
	}
	var apiErr *adminapi.Error
	if _, err := ana.ListEmployees(ctx); !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized || !strings.Contains(apiErr.Message, "revoked") {
		t.Errorf("a revoked token: %v", err)
	}
}

// TestClientErrors: what the server refuses comes back as an *Error with
// its status and message; a gateway that cannot be reached does not.
func TestClientErrors(t *testing.T) {
	srv := apitest.Start(t)
	ctx := context.Background()
	c := adminapi.NewClient(srv.URL, token, nil)
	if _, err := c.ImportDirectory(ctx, adminapi.Directory{Employees: []identity.Employee{employee("hana")}, Personas: []identity.Persona{persona("hana")}}); err != nil {
		t.Fatal(err)
	}
	rel := srv.Relationship(t, apitest.OutsideIM, "bob@ext.test", "hana.sales", "hana")
	n, err := c.AddAdmin(ctx, adminapi.AdminRequest{Name: "ana", Role: identity.RoleAuditor, Reason: "audit"})
	if err != nil {
		t.Fatal(err)
	}
	auditor := adminapi.NewClient(srv.URL, n.Token, nil)
	cases := []struct {
		name   string
		call   func() error
		status int
		text   string
	}{
		{"no token", func() error { _, err := adminapi.NewClient(srv.URL, "", nil).QueueStats(ctx); return err }, 401, "missing admin token"},
		{"wrong token", func() error {
			_, err := adminapi.NewClient(srv.URL, "wrong-token-0123456789", nil).ListEmployees(ctx)
			return err
		}, 401, "wrong admin token"},
		{"auditor writes", func() error {
			_, err := auditor.Transfer(ctx, adminapi.TransferRequest{From: "hana", Reason: "x"})
			return err
		}, 403, "role auditor"},
		{"unknown employee", func() error {
			_, err := c.Depart(ctx, "nobody", adminapi.DepartRequest{Successor: "hana", Reason: "x"})
			return err
		}, 404, "nobody"},
		{"unknown transfer", func() error { _, err := c.GetTransfer(ctx, "t-nope"); return err }, 404, ""},
		{"unknown broadcast", func() error { _, err := c.GetBroadcast(ctx, "b-nope"); return err }, 404, ""},
		{"unknown relationship", func() error {
			_, err := c.SetRemark(ctx, "r-nope", adminapi.RemarkRequest{Remark: "x"})
			return err
		}, 404, ""},
		{"owner and pool", func() error {
			_, err := c.ListContacts(ctx, adminapi.ContactQuery{Owner: "hana", Unassigned: true})
			return err
		}, 400, "exclude each other"},
		{"audit limit", func() error { _, err := c.Audit(ctx, adminapi.AuditQuery{Limit: -1}); return err }, 400, "limit"},
		{"no role", func() error { _, err := c.AddAdmin(ctx, adminapi.AdminRequest{Name: "bo", Reason: "x"}); return err }, 400, "role is required"},
		{"no tag change", func() error { _, err := c.EditTags(ctx, rel.ID, adminapi.TagsRequest{}); return err }, 400, "give set, add or remove"},
		{"broadcast without reason", func() error {
			_, err := c.PrepareBroadcast(ctx, adminapi.BroadcastRequest{Team: []string{"hana"}, Tag: "vip", Body: "hi"})
			return err
		}, 400, "reason is required"},
		{"name taken", func() error {
			_, err := c.AddAdmin(ctx, adminapi.AdminRequest{Name: "ana", Role: identity.RoleAdmin, Reason: "x"})
			return err
		}, 409, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var e *adminapi.Error
			if !errors.As(err, &e) {
				t.Fatalf("%v (%T), want an *adminapi.Error", err, err)
			}
			if e.Status != tc.status || !strings.Contains(e.Message, tc.text) || e.Error() != e.Message {
				t.Errorf("status %d message %q, want %d and %q", e.Status, e.Message, tc.status, tc.text)
			}
		})
	}

	// Nothing listens there: not an answer of the API.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	_, err = adminapi.NewClient(dead.URL, token, nil).ListEmployees(ctx)
	var e *adminapi.Error
	if err == nil || errors.As(err, &e) || !strings.Contains(err.Error(), "is `kakehashi serve` running?") {
		t.Errorf("unreachable: %v", err)
	}
	// A proxy's own error page is not an error body: the status speaks.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	}))
	defer proxy.Close()
	_, err = adminapi.NewClient(proxy.URL, token, nil).ListEmployees(ctx)
	if !errors.As(err, &e) || e.Status != http.StatusBadGateway || e.Message != "" || err.Error() != "admin API: 502 Bad Gateway" {
		t.Errorf("proxy error: %v", err)
	}
	// Nothing is passed on from an answer that is not a success.
	var raw bytes.Buffer
	if _, err := c.Tee(&raw).GetTransfer(ctx, "t-nope"); err == nil || raw.Len() != 0 {
		t.Errorf("tee of an error: %v %q", err, raw.String())
	}
}

// TestRequestFieldsKnownToServer sends each request body with every field
// set: the server refuses a field it does not know by name before
// anything else, so none of them may be refused that way.
func TestRequestFieldsKnownToServer(t *testing.T) {
	srv := apitest.Start(t)
	ctx := context.Background()
	c := adminapi.NewClient(srv.URL, token, nil)
	yes := true
	calls := map[string]func() error{
		"EmployeeRequest": func() error {
			e := employee("hana")
			e.Department, e.SuccessorID = "sales", "ken"
			_, err := c.UpsertEmployee(ctx, adminapi.EmployeeRequest{Employee: e, Reason: "x"})
			return err
		},
		"PersonaRequest": func() error {
			_, err := c.UpsertPersona(ctx, adminapi.PersonaRequest{Persona: persona("hana"), Reason: "x"})
			return err
		},
		"DepartRequest": func() error {
			_, err := c.Depart(ctx, "hana", adminapi.DepartRequest{Successor: "a", Team: []string{"b"}, Strategy: "round-robin", Reason: "x"})
			return err
		},
		"ReasonRequest": func() error { _, err := c.Reactivate(ctx, "hana", adminapi.ReasonRequest{Reason: "x"}); return err },
		"TransferRequest": func() error {
			_, err := c.Transfer(ctx, adminapi.TransferRequest{From: "a", To: "b", Team: []string{"c"}, Strategy: "s", Persona: "p",
				Tag: "t", Source: "s", Network: "n", Unassigned: true, Contacts: []string{"c"}, Relationships: []string{"r"}, Notify: true, Reason: "x"})
			return err
		},
		"RevertRequest": func() error {
			_, err := c.RevertTransfer(ctx, "t-1", adminapi.RevertRequest{Reason: "x", Notify: &yes})
			return err
		},
		"TagsRequest": func() error {
			_, err := c.EditTags(ctx, "r-1", adminapi.TagsRequest{Set: []string{"a"}, Add: []string{"b"}, Remove: []string{"c"}, Reason: "x"})
			return err
		},
		"RemarkRequest": func() error {
			_, err := c.SetRemark(ctx, "r-1", adminapi.RemarkRequest{Remark: "r", Reason: "x"})
			return err
		},
		"Directory": func() error {
			_, err := c.ImportDirectory(ctx, adminapi.Directory{Employees: []identity.Employee{employee("hana")}, Personas: []identity.Persona{persona("hana")}, Reason: "x"})
			return err
		},
		"BroadcastRequest": func() error {
			_, err := c.PrepareBroadcast(ctx, adminapi.BroadcastRequest{Reason: "x", Team: []string{"a"}, Tag: "t", Subject: "s", Body: "b"})
			return err
		},
		"AdminRequest": func() error {
			_, err := c.AddAdmin(ctx, adminapi.AdminRequest{Name: "ana", Role: identity.RoleAdmin, Reason: "x"})
			return err
		},
	}
	for name, f := range calls {
		if err := f(); err != nil && (strings.Contains(err.Error(), "unknown field") || strings.Contains(err.Error(), "request body")) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestJSONRoundTrip: every type of the API reads back what it writes.
func TestJSONRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 2, 9, 30, 0, 0, time.UTC)
	yes := true
	tr := &identity.Transfer{ID: "t-1", At: at, Actor: "admin:ana", Reason: "r", From: "hana", To: "ken",
		Moves: []identity.Move{{RelationshipID: "r-1", ContactID: "c-1", FromOwner: "hana", ToOwner: "ken", FromPersona: "p", ToPersona: "q", Version: 2}}}
	rel := identity.Relationship{ID: "r-1", ContactID: "c-1", PersonaID: "p", OwnerID: "hana", Tags: []string{"vip"}, CreatedAt: at, UpdatedAt: at, Version: 1}
	values := []any{
		&adminapi.ErrorBody{Error: "no"},
		&adminapi.Health{Status: "degraded", Connected: map[string]bool{"corp": false}, Store: "ok"},
		&adminapi.EmployeeRequest{Employee: employee("hana"), Reason: "r"},
		&adminapi.DepartRequest{Successor: "ken", Team: []string{"a", "b"}, Strategy: "least-loaded", Reason: "r"},
		&adminapi.ReasonRequest{Reason: "r"},
		&adminapi.PersonaRequest{Persona: persona("hana"), Reason: "r"},
		&adminapi.ContactView{Contact: identity.Contact{ID: "c-1", Address: identity.Address{Network: "n", Addr: "a"}, CreatedAt: at}, Relationship: rel},
		&adminapi.TransferRequest{From: "a", To: "b", Team: []string{"c"}, Strategy: "s", Persona: "p", Tag: "t", Source: "s",
			Network: "n", Unassigned: true, Contacts: []string{"c"}, Relationships: []string{"r"}, Notify: true, Reason: "x"},
		&adminapi.TransferResult{Transfer: tr, Notices: 3},
		&adminapi.RevertRequest{Reason: "r", Notify: &yes},
		&adminapi.RevertResult{Transfer: tr, NotifiedAtTransfer: 2, ToldAtTransfer: true, Notified: true, Notices: 1},
		&adminapi.TagsRequest{Set: []string{"a"}, Add: []string{"b"}, Remove: []string{"c"}, Reason: "r"},
		&adminapi.RemarkRequest{Remark: "m", Reason: "r"},
		&adminapi.Directory{Employees: []identity.Employee{employee("hana")}, Personas: []identity.Persona{persona("hana")}, Reason: "r"},
		&adminapi.DirectoryResult{Employees: 1, Personas: 2},
		&adminapi.BroadcastRequest{Reason: "r", Team: []string{"a"}, Tag: "t", Subject: "s", Body: "b"},
		&adminapi.Broadcast{ID: "b-1", CreatedAt: at, Actor: "admin:ana", Team: []string{"hana"}, Tag: "t", Body: "b", State: adminapi.BroadcastPrepared,
			Members: []*adminapi.Broadcast{{ID: "b-2", Parent: "b-1", CreatedAt: at, OwnerID: "hana", Body: "b", State: adminapi.BroadcastSent,
				DecidedAt: at, Queued: 5, SkippedCap: 1, SkippedGone: 2, SkippedUnreachable: 3, Sent: 4, Failed: 1, Pending: 0,
				Relationships: []string{"r-1"}, Subject: "s", Reason: "r"}}},
		&adminapi.QueueStats{"pending": 1, "sent": 2},
		&adminapi.AdminRequest{Name: "ana", Role: identity.RoleAuditor, Reason: "r"},
		&adminapi.NewAdmin{Admin: identity.Admin{Name: "ana", Role: identity.RoleAuditor, CreatedAt: at, CreatedBy: "admin:bootstrap"}, Token: "kkh_x"},
	}
	for _, v := range values {
		name := reflect.TypeOf(v).Elem().Name()
		data, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		back := reflect.New(reflect.TypeOf(v).Elem())
		if err := json.Unmarshal(data, back.Interface()); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(back.Interface(), v) {
			t.Errorf("%s: %s reads back as %+v", name, data, back.Elem().Interface())
		}
	}
}

func TestBroadcastSummary(t *testing.T) {
	for _, tc := range []struct {
		b    adminapi.Broadcast
		want string
	}{
		{adminapi.Broadcast{}, "0 sent, 0 skipped (cap), 0 skipped (gone)"},
		{adminapi.Broadcast{Sent: 3, Pending: 2, Failed: 1, SkippedCap: 4, SkippedGone: 5, SkippedUnreachable: 6},
			"3 sent, 2 still sending, 1 failed, 4 skipped (cap), 5 skipped (gone), 6 skipped (no longer yours or unreachable)"},
	} {
		if got := tc.b.Summary(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.b, got, tc.want)
		}
	}
}
