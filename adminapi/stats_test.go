package adminapi

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/analytics"
	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/gateway/gatewaytest"
)

// TestAdminAPIStats relays a conversation and reads its numbers through
// the API, as an auditor and through the typed client: hana answers
// bob, dave waits; the parameters are strict.
func TestAdminAPIStats(t *testing.T) {
	g, srv := adminServer(t)
	ctx := context.Background()
	aud := addAdmin(t, srv, "aud", "auditor")
	send := func(network, from, to string) {
		t.Helper()
		if err := g.Receive(ctx, &gateway.Message{Network: network, From: from, ReplyTo: from, To: to, ID: gateway.NewID(), Body: "hi"}); err != nil {
			t.Fatal(err)
		}
		g.Settle(t)
	}
	send("public-xmpp", "bob@ext.test", "hana.sales@contact.acme.test")
	send("public-xmpp", "bob@ext.test", "hana.sales@contact.acme.test")
	send("corp", "hana@corp.test/laptop", `bob\40ext.test@gw.corp.test`)
	send("public-xmpp", "dave@ext.test", "hana.sales@contact.acme.test")
	today := time.Now().UTC().Format(analytics.DayFormat)

	var o analytics.Overview
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := call(t, srv, "GET", "/v1/stats/overview?employee=hana&to="+today, aud, "")
		if code != http.StatusOK || json.Unmarshal([]byte(body), &o) != nil {
			t.Fatalf("overview: %d %s", code, body)
		}
		if o.Total.In == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(o.Days) != DefaultStatsDays || o.To != today || o.Filter.Employee != "hana" {
		t.Fatalf("period %s..%s (%d days), filter %+v", o.From, o.To, len(o.Days), o.Filter)
	}
	last := o.Days[len(o.Days)-1]
	fr := last.FirstResponse
	if last.Day != today || last.In != 3 || last.Out != 1 || last.NewContacts != 2 || last.Waits != 2 || last.Replied != 1 ||
		last.ReplyRate == nil || *last.ReplyRate != 0.5 || fr.Count != 1 || fr.Under1h != 1 || fr.MedianSeconds == nil || *fr.MedianSeconds > 60 ||
		len(last.NewBySource) != 1 || last.NewBySource[0] != (analytics.SourceCount{Source: "inbound", Count: 2}) || o.Total.In != 3 {
		b, _ := json.Marshal(last)
		t.Fatalf("today: %s", b)
	}
	for _, d := range o.Days[:len(o.Days)-1] {
		if d.In != 0 || d.ReplyRate != nil || d.FirstResponse.MedianSeconds != nil {
			t.Errorf("a day without traffic: %+v", d)
		}
	}

	var waiting []analytics.Waiting
	code, body := call(t, srv, "GET", "/v1/waiting?team=&employee=hana", aud, "")
	if code != http.StatusOK || json.Unmarshal([]byte(body), &waiting) != nil || len(waiting) != 1 || waiting[0].Owner != "hana" {
		t.Fatalf("waiting: %d %s", code, body)
	}
	if code, body := call(t, srv, "GET", "/v1/waiting?older_than=1h", aud, ""); code != http.StatusOK || strings.TrimSpace(body) != "[]" {
		t.Errorf("waiting over an hour: %d %s", code, body)
	}

	// Reassigned from the row: the conversation waits for ken now, and
	// then back for hana once the transfer is reverted.
	for _, req := range []struct{ path, body string }{
		{"/v1/employees", `{"employee":{"id":"ken","name":"Ken Ito","department":"support",` +
			`"inside_addrs":[{"network":"corp","addr":"ken@corp.test"}],"default_persona":"ken.sales"},"reason":"setup"}`},
		{"/v1/personas", `{"persona":{"id":"ken.sales","display_name":"ACME Sales · Ken","kind":"personal","employee_id":"ken",` +
			`"addresses":[{"network":"public-xmpp","addr":"ken.sales@contact.acme.test"}]},"reason":"setup"}`},
	} {
		if code, body := call(t, srv, "POST", req.path, testToken, req.body); code != http.StatusOK {
			t.Fatalf("POST %s: %d %s", req.path, code, body)
		}
	}
	code, body = call(t, srv, "POST", "/v1/transfers", testToken, `{"relationships":["`+waiting[0].RelationshipID+`"],"to":"ken","reason":"cover"}`)
	var tr TransferResult
	if code != http.StatusOK || json.Unmarshal([]byte(body), &tr) != nil {
		t.Fatalf("transfer: %d %s", code, body)
	}
	owners := func() map[string]string {
		t.Helper()
		var l []analytics.Waiting
		code, body := call(t, srv, "GET", "/v1/waiting", aud, "")
		if code != http.StatusOK || json.Unmarshal([]byte(body), &l) != nil {
			t.Fatalf("waiting: %d %s", code, body)
		}
		m := map[string]string{}
		for _, w := range l {
			m[w.RelationshipID] = w.Owner + "/" + w.Team
		}
		return m
	}
	if got := owners(); len(got) != 1 || got[waiting[0].RelationshipID] != "ken/support" {
		t.Errorf("after the transfer: %v", got)
	}
	if code, body := call(t, srv, "POST", "/v1/transfers/"+tr.Transfer.ID+"/revert", testToken, `{"reason":"back"}`); code != http.StatusOK {
		t.Fatalf("revert: %d %s", code, body)
	}
	if got := owners(); len(got) != 1 || got[waiting[0].RelationshipID] != "hana/" {
		t.Errorf("after the revert: %v", got)
	}

	// The typed client reads the same.
	c := NewClient(srv.URL, testToken, nil)
	co, err := c.Overview(ctx, StatsQuery{From: time.Now(), To: time.Now(), Employee: "hana"})
	if err != nil || len(co.Days) != 1 || co.Days[0].In != 3 {
		t.Fatalf("client overview: %v %+v", err, co)
	}
	cw, err := c.Waiting(ctx, WaitingQuery{Employee: "hana", Limit: 5})
	if err != nil || len(cw) != 1 || cw[0].RelationshipID != waiting[0].RelationshipID {
		t.Fatalf("client waiting: %v %+v", err, cw)
	}
	if cw, err := c.Waiting(ctx, WaitingQuery{Employee: "ken"}); err != nil || len(cw) != 0 {
		t.Fatalf("ken's waiting: %v %+v", err, cw)
	}

	for _, bad := range []struct{ path, says string }{
		{"/v1/stats/overview?from=2026-13-01", `"2026-13-01" is not a day`},
		{"/v1/stats/overview?from=2026-11-01T00:00:00Z", "is not a day"},
		{"/v1/stats/overview?from=2026-11-03&to=2026-11-01", "give 1 to 366"},
		{"/v1/stats/overview?from=2024-01-01&to=2026-11-01", "give 1 to 366"},
		{"/v1/stats/overview?days=3", `unknown query parameter "days"`},
		{"/v1/stats/overview?team=a&team=b", "given 2 times"},
		{"/v1/waiting?older_than=-4h", "not a positive duration"},
		{"/v1/waiting?older_than=4", "not a positive duration"},
		{"/v1/waiting?limit=0", "not a whole number from 1 to 1000"},
		{"/v1/waiting?limit=1001", "not a whole number from 1 to 1000"},
		{"/v1/waiting?from=2026-11-01", `unknown query parameter "from"`},
	} {
		if code, body := call(t, srv, "GET", bad.path, aud, ""); code != http.StatusBadRequest || !strings.Contains(body, bad.says) {
			t.Errorf("GET %s: %d %s, want 400 saying %q", bad.path, code, body, bad.says)
		}
	}
}

// TestAdminAPIStatsWithoutAnalytics: a server given no analytics store
// says so (501) rather than answering with zeros.
func TestAdminAPIStatsWithoutAnalytics(t *testing.T) {
	w := gatewaytest.Start(t, t.TempDir(), nil)
	t.Cleanup(w.Stop)
	api, err := NewServer(w.Gateway, nil, testToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	for _, path := range []string{"/v1/stats/overview", "/v1/waiting"} {
		if code, body := call(t, srv, "GET", path, testToken, ""); code != http.StatusNotImplemented || !strings.Contains(body, "no analytics") {
			t.Errorf("GET %s: %d %s, want 501", path, code, body)
		}
	}
}
