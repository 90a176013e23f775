package gateway

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/kakehashi/kakehashi/identity"
)

// TestOldSpellingsAreReported: contacts stored before addresses had one
// spelling are counted and named at start, so an admin knows to merge.
func TestOldSpellingsAreReported(t *testing.T) {
	dir := t.TempDir()
	g := startTestGateway(t, dir)
	ctx := context.Background()
	// Written as an older version did: straight into identity, with no
	// canonical spelling.
	g.state.SetCanonical(nil)
	for _, a := range []string{"bob@ext.test.", "carol@ext.test", "Dave@ext.test"} {
		if _, _, _, err := g.state.EnsureRelationship(ctx, identity.NewRelationship{
			Contact: identity.Address{Network: "public-xmpp", Addr: a}, PersonaID: "hana.sales", OwnerID: "hana"}); err != nil {
			t.Fatal(err)
		}
	}
	var log bytes.Buffer
	g.log = slog.New(slog.NewTextHandler(&log, nil))
	g.reportOldSpellings(ctx)
	out := log.String()
	if !strings.Contains(out, "count=1") || !strings.Contains(out, "public-xmpp:bob@ext.test.") || strings.Contains(out, "carol") {
		t.Fatalf("log:\n%s", out)
	}
	g.stop()
}

func TestPlainSpelling(t *testing.T) {
	for a, want := range map[string]bool{
		"bob@ext.test": true, "b.o+b_x-1@ext.test": true,
		"bob@ext.test.": false, "Bob@ext.test": false, "bob@xn--bcher-kva.test": false,
		"bob@bücher.test": false, "bob@@x": false, "": false, "bob": false,
	} {
		if got := plainSpelling(a); got != want {
			t.Errorf("plainSpelling(%q) = %v", a, got)
		}
	}
}

// TestCanonicalRemembers: a remembered spelling is the one the topology
// gives, refusals included, and the memory stays bounded.
func TestCanonicalRemembers(t *testing.T) {
	g := startTestGateway(t, t.TempDir())
	defer g.stop()
	for _, a := range []struct{ network, addr string }{
		{"public-xmpp", "Bob@Ext.Test/Phone"},
		{"public-xmpp", "bob@localhost"},
		{"public-xmpp", "no-at-sign"},
		{"corp", "HANA@corp.test/laptop"},
	} {
		want, wantErr := g.top.Canonical(a.network, a.addr)
		if wantErr != nil {
			want = bareLower(a.addr)
		}
		for range 2 {
			got, err := g.canonical(a.network, a.addr)
			if got != want || (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
				t.Fatalf("%s on %s: %q, %v; want %q, %v", a.addr, a.network, got, err, want, wantErr)
			}
		}
	}
	for i := range canonCacheSize + 10 {
		if _, err := g.canonical("public-xmpp", fmt.Sprintf("user%d@ext.test", i)); err != nil {
			t.Fatal(err)
		}
	}
	g.canonMu.Lock()
	n := len(g.canon)
	g.canonMu.Unlock()
	if n > canonCacheSize {
		t.Fatalf("%d addresses remembered; at most %d", n, canonCacheSize)
	}
}
