// Package apitest runs a real admin API in-process for tests of its
// clients: a gateway, its outreach service and its analytics store wired
// as `kakehashi serve` wires them, on fresh stores, with adapters that
// take every message and write none.
package apitest

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/address"
	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/analytics"
	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/outreach"
	"github.com/kakehashi/kakehashi/routing"
)

// Token is the bootstrap admin token of every Server.
const Token = "test-admin-token-0123456789"

// Server is an admin API served over HTTP until its test ends.
type Server struct {
	// URL is the API's base URL.
	URL string
	// State is the gateway's identity state, for what the API cannot
	// create: relationships come from traffic (see Relationship).
	State *identity.State
	// Analytics is the store the gateway reports its traffic to, which
	// the API's numbers read; tests may record events in it directly.
	Analytics *analytics.Store
	// API is the admin API itself, for in-process clients
	// (adminapi.Server.Client) and console sessions (SignIn, Caller).
	API *adminapi.Server
}

// Networks of every Server, as in examples/kakehashi.yaml: an inside
// XMPP network and two outside ones, XMPP and mail.
const (
	Inside      = "corp"
	OutsideIM   = "public-xmpp"
	OutsideMail = "mail"
)

// Start runs a gateway and serves its admin API; both stop when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	store, err := identity.OpenSQLite(ctx, filepath.Join(dir, "identity.db"))
	if err != nil {
		t.Fatal(err)
	}
	state, err := identity.Open(ctx, store, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	queue, err := gateway.OpenQueue(ctx, filepath.Join(dir, "queue.db"))
	if err != nil {
		t.Fatal(err)
	}
	top := &routing.Topology{
		Networks: map[string]routing.Network{
			Inside:      {Name: Inside, Side: identity.Inside, Domain: "gw.corp.test", HomeDomains: []string{"corp.test"}, ProxyFor: OutsideIM},
			OutsideIM:   {Name: OutsideIM, Side: identity.Outside, Domain: "contact.acme.test"},
			OutsideMail: {Name: OutsideMail, Side: identity.Outside, Domain: "contact.acme.test", Kind: address.Mail},
		},
	}
	var adapters []gateway.Adapter
	for name := range top.Networks {
		adapters = append(adapters, discard(name))
	}
	stats, err := analytics.Open(ctx, filepath.Join(dir, analytics.FileName))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(gateway.Options{Topology: top, State: state, Queue: queue, Adapters: adapters, Events: stats})
	if err != nil {
		t.Fatal(err)
	}
	out, err := outreach.New(ctx, gw, outreach.Options{Caps: &outreach.BroadcastCaps{PerDay: 2, PerMonth: 10}})
	if err != nil {
		t.Fatal(err)
	}
	api, err := adminapi.NewServer(gw, out, Token, nil)
	if err != nil {
		t.Fatal(err)
	}
	api.SetAnalytics(stats)
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	gw.WaitReady()
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() {
		srv.Close()
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		queue.Close()
		stats.Close()
		store.Close()
	})
	return &Server{URL: srv.URL, State: state, Analytics: stats, API: api}
}

// Relationship creates (if need be) the relationship of the contact at
// addr on network with persona, owned by owner ("" for the pool), as a
// first message would, with source "expo".
func (s *Server) Relationship(t testing.TB, network, addr, persona, owner string) *identity.Relationship {
	t.Helper()
	rel, _, _, err := s.State.EnsureRelationship(context.Background(), identity.NewRelationship{
		Contact: identity.Address{Network: network, Addr: addr}, PersonaID: persona, OwnerID: owner, Source: "expo"})
	if err != nil {
		t.Fatal(err)
	}
	return rel
}

// discard is an adapter on the network it names that takes every
// message and writes none.
type discard string

func (d discard) Network() string { return string(d) }

func (discard) Run(ctx context.Context, _ gateway.Core) error {
	<-ctx.Done()
	return nil
}

func (discard) Send(context.Context, *gateway.Outgoing) error { return nil }
