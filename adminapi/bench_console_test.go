package adminapi

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

// consoleNow is the clock of the console benchmarks' gateway.
var consoleNow = time.Date(2026, 10, 30, 0, 0, 0, 0, time.UTC)

// consoleServer returns an admin API (not listening: its Handler is
// called in-process) on a gateway whose identity state holds
// identity.GenerateDataset(1,000,000, 2,000), dressed as the console's
// data set (as identity's BenchmarkConsoleSearch1M dresses it): employees
// in 20 teams, contacts by three sources (i mod 3), one relationship in
// ten tagged "vip" and one in seven "expo", nine in ten active at a time
// spread over the 90 days before consoleNow.
func consoleServer(b *testing.B) http.Handler {
	b.Helper()
	ctx := context.Background()
	ds := identity.GenerateDataset(1_000_000, 2000)
	for i := range ds.Employees {
		ds.Employees[i].Department = fmt.Sprintf("team-%02d", i%20)
	}
	sources := [...]string{"inbound", "outreach", "expo2026"}
	for i := range ds.Relationships {
		ds.Contacts[i].Source = sources[i%3]
		r := &ds.Relationships[i]
		switch {
		case i%10 == 0:
			r.Tags = []string{"vip"}
		case i%7 == 0:
			r.Tags = []string{"expo"}
		}
		if i%10 != 9 {
			r.LastActivity = consoleNow.Add(-time.Duration(uint64(i)*0x9e3779b97f4a7c15%(90*86400)) * time.Second)
		}
	}
	m := identity.NewMemoryStore()
	m.Seed(ds)
	clock := func() time.Time { return consoleNow }
	state, err := identity.Open(ctx, m, clock)
	if err != nil {
		b.Fatal(err)
	}
	queue, err := gateway.OpenQueue(ctx, filepath.Join(b.TempDir(), "queue.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { queue.Close() })
	top := &routing.Topology{Networks: map[string]routing.Network{
		"corp":        {Name: "corp", Side: identity.Inside, Domain: "gw.corp.test", HomeDomains: []string{"corp.test"}, ProxyFor: "public-xmpp"},
		"public-xmpp": {Name: "public-xmpp", Side: identity.Outside, Domain: "contact.acme.test"},
		"mail":        {Name: "mail", Side: identity.Outside, Domain: "contact.acme.test"},
	}}
	var adapters []gateway.Adapter
	for name := range top.Networks {
		adapters = append(adapters, idleAdapter(name))
	}
	gw, err := gateway.New(gateway.Options{Topology: top, State: state, Queue: queue, Adapters: adapters, Now: clock})
	if err != nil {
		b.Fatal(err)
	}
	api, err := NewServer(gw, nil, testToken, nil)
	if err != nil {
		b.Fatal(err)
	}
	return api.Handler()
}

// BenchmarkConsoleContacts1M serves the console's contact searches (GET
// /v1/contacts, first page of 50 with the total in X-Total-Count) on a
// million relationships through the admin API's handler, JSON encoding
// included, and reports the latencies' p50, p95 and max.
func BenchmarkConsoleContacts1M(b *testing.B) {
	if testing.Short() {
		b.Skip("a million relationships: not in -short mode")
	}
	h := consoleServer(b)
	week := consoleNow.AddDate(0, 0, -7).Format(time.RFC3339)
	for _, c := range []struct{ name, query string }{
		{"owner", "owner=emp-0123"},
		{"tag", "tag=vip"},
		{"source", "source=expo2026"},
		{"persona", "persona=p-emp-0123"},
		{"team-persona", "persona=p-team-07"},
		{"network", "network=mail"},
		{"active-week", "active_after=" + week + "&active_before=" + consoleNow.Format(time.RFC3339)},
		{"active-within-7d", "active_within=168h"},
	} {
		b.Run(c.name, func(b *testing.B) {
			var ds []time.Duration
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "/v1/contacts?limit=50&"+c.query, nil)
				req.Header.Set("Authorization", "Bearer "+testToken)
				w := httptest.NewRecorder()
				start := time.Now()
				h.ServeHTTP(w, req)
				ds = append(ds, time.Since(start))
				if total, _ := strconv.Atoi(w.Header().Get("X-Total-Count")); w.Code != http.StatusOK || total < 50 {
					b.Fatalf("%d, %s matches: %.300s", w.Code, w.Header().Get("X-Total-Count"), w.Body)
				}
			}
			slices.Sort(ds)
			ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
			b.ReportMetric(ms(ds[len(ds)/2]), "p50-ms")
			b.ReportMetric(ms(ds[min(len(ds)-1, (len(ds)*95+99)/100-1)]), "p95-ms")
			b.ReportMetric(ms(ds[len(ds)-1]), "max-ms")
		})
	}
}

// idleAdapter is an adapter on the network it names that receives
// nothing and writes nothing: the console benchmarks' gateway never runs.
type idleAdapter string

func (d idleAdapter) Network() string { return string(d) }

func (idleAdapter) Run(ctx context.Context, _ gateway.Core) error {
	<-ctx.Done()
	return nil
}

func (idleAdapter) Send(context.Context, *gateway.Outgoing) error { return nil }
