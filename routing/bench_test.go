package routing_test

import (
	"context"
	"os"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

// million is a state with 1,000,000 relationships (500 employees), built
// once per process the way a serve builds it: loaded from a SQLite store
// (cached in the system temp directory, identity.CachedDataset). The
// memory store would place the records differently from the loader a serve
// uses, and a decision's cost is mostly where its records are.
var million = sync.OnceValues(func() (*identity.State, error) {
	ctx := context.Background()
	path, err := identity.CachedDataset(ctx, os.TempDir(), 1_000_000, 500)
	if err != nil {
		return nil, err
	}
	st, err := identity.OpenSQLite(ctx, path)
	if err != nil {
		return nil, err
	}
	return identity.Open(ctx, st, time.Now)
})

func benchTopology() *routing.Topology {
	return &routing.Topology{
		Networks: map[string]routing.Network{
			"corp":        {Name: "corp", Side: identity.Inside, Domain: "gw.corp.example", HomeDomains: []string{"corp.example"}, ProxyFor: "public-xmpp"},
			"public-xmpp": {Name: "public-xmpp", Side: identity.Outside, Domain: "contact.acme.example"},
			"mail":        {Name: "mail", Side: identity.Outside, Domain: "acme.example"},
		},
		FallbackEmployee: "emp-0000",
		MaxBodyBytes:     65536,
	}
}

// BenchmarkDecide1M measures routing decisions against an index of
// 1,000,000 relationships: inbound (contact → persona → owner) and outbound
// (employee → proxy → persona), alternately, over contacts spread across the
// whole index. It reports p50 and p99 per decision (the target is p99 ≤
// 2 µs), and each direction's p99 apart (in-p99-ns, out-p99-ns): the
// outbound decision also canonicalises the contact's address.
func BenchmarkDecide1M(b *testing.B) {
	st, err := million()
	if err != nil {
		b.Fatal(err)
	}
	top := benchTopology()
	snap := st.Snapshot()
	// Pick envelopes for XMPP contacts across the index.
	var envs []routing.Envelope
	for _, rel := range snap.Relationships() {
		if len(envs) == 4096 {
			break
		}
		c, _ := snap.Contact(rel.ContactID)
		if c.Address.Network != "public-xmpp" {
			continue
		}
		p, _ := snap.Persona(rel.PersonaID)
		e, _ := snap.Employee(rel.OwnerID)
		envs = append(envs,
			routing.Envelope{Network: "public-xmpp", From: c.Address.Addr, To: p.Addresses[0].Addr, BodyBytes: 100},
			routing.Envelope{Network: "corp", From: e.InsideAddrs[0].Addr, To: routing.ProxyAddress(c.Address.Addr, "gw.corp.example"), BodyBytes: 100},
		)
	}
	lat := make([]time.Duration, 0, 1<<20)
	var dir [2][]time.Duration // inbound, outbound
	for k := range dir {
		dir[k] = make([]time.Duration, 0, 1<<19)
	}
	i := 0
	runtime.GC() // setup garbage (building the 1M index) is not the decisions' cost
	b.ResetTimer()
	for b.Loop() {
		k := i % len(envs)
		env := envs[k]
		i++
		t0 := time.Now()
		d := routing.Decide(top, st.Snapshot(), env)
		el := time.Since(t0)
		if d.Kind != routing.Deliver {
			b.Fatalf("%+v: %+v %v", env, d, d.Refusal)
		}
		if len(lat) < cap(lat) {
			lat = append(lat, el)
		}
		if d := &dir[k%2]; len(*d) < cap(*d) {
			*d = append(*d, el)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
	for k, name := range []string{"in", "out"} {
		if d := dir[k]; len(d) > 0 {
			slices.Sort(d)
			b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds()), name+"-p99-ns")
		}
	}
}
