package gateway

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

// TestClassifySend: what an adapter returns says what the gateway does;
// a send cut short by the gateway's own shutdown is nobody's verdict.
func TestClassifySend(t *testing.T) {
	live := context.Background()
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	mailboxFull := errors.New("452 4.2.2 mailbox full")
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		err    error
		ok     bool
		action SendAction
		gone   string
	}{
		{"plain error is a refusal for now", live, mailboxFull, true, RetryLater, ""},
		{"wrapped plain error", live, fmt.Errorf("smtp: %w", mailboxFull), true, RetryLater, ""},
		{"not connected", live, NotConnected(nil), true, RetryWhenConnected, ""},
		{"not connected, wrapped", live, fmt.Errorf("xmpp: %w", NotConnected(mailboxFull)), true, RetryWhenConnected, ""},
		{"permanent", live, Permanent(errors.New("bad address")), true, GiveUp, ""},
		{"address gone", live, AddressGone(errors.New("550 5.1.1"), "has an address that does not exist"), true, GiveUp, "has an address that does not exist"},
		{"shutdown, whatever the adapter says", stopped, Permanent(context.Canceled), false, 0, ""},
		{"shutdown, plain error", stopped, mailboxFull, false, 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			se, ok := ClassifySend(tc.ctx, tc.err)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if se.Action != tc.action || se.Gone != tc.gone || !errors.Is(se, errors.Unwrap(se)) {
				t.Fatalf("%+v, want action %d gone %q", se, tc.action, tc.gone)
			}
		})
	}
	if !errors.Is(NotConnected(errors.New("eof")), ErrNotConnected) || !errors.Is(NotConnected(nil), ErrNotConnected) {
		t.Fatal("NotConnected errors are ErrNotConnected")
	}
}

// TestKindsSurviveTheQueue: each kind of message is stored and read back
// as itself, with only the kinds written on someone's behalf marked
// automatic and only the gateway's own answers marked as such.
func TestKindsSurviveTheQueue(t *testing.T) {
	q, stop := openTestQueue(t, filepath.Join(t.TempDir(), "queue.db"))
	defer stop()
	kinds := []Kind{KindRelayed, KindRefusal, KindNotice, KindWelcome, KindHandover, KindBroadcast}
	for i, k := range kinds {
		r := rec("bob@ext.test", "", fmt.Sprintf("body %d", i))
		r.Out.Kind = k
		if k == KindRefusal {
			r.Out.Refusal = &routing.Refusal{Reason: routing.NotAllowed, Text: "no"}
		}
		enqueue(t, q, r)
	}
	pending, err := q.Pending(context.Background())
	if err != nil || len(pending) != len(kinds) {
		t.Fatalf("pending %d, %v", len(pending), err)
	}
	for i, r := range pending {
		if r.Out.Kind != kinds[i] {
			t.Errorf("stored %v, read back %v", kinds[i], r.Out.Kind)
		}
		if auto := r.Out.Kind == KindWelcome || r.Out.Kind == KindHandover; r.Out.Kind.Automatic() != auto {
			t.Errorf("%v automatic = %v", r.Out.Kind, !auto)
		}
		if own := r.Out.Kind == KindRefusal || r.Out.Kind == KindNotice; r.Out.Kind.FromGateway() != own {
			t.Errorf("%v from gateway = %v", r.Out.Kind, !own)
		}
	}
	if pending[1].Out.Refusal == nil || pending[1].Out.Refusal.Reason != routing.NotAllowed {
		t.Errorf("refusal read back as %+v", pending[1].Out.Refusal)
	}
}

// TestAuditOutbox: an act's audit entry committed in the queue reaches
// the identity audit log, once, even when the process stopped between
// the commit and the copy (the entry is still in the outbox at the next
// start).
func TestAuditOutbox(t *testing.T) {
	dir := t.TempDir()
	g := startTestGateway(t, dir)
	ctx := context.Background()
	err := g.PostBatch(ctx, func(ctx context.Context, tx *Tx) ([]*Record, error) {
		return nil, tx.Audit(ctx, Act{Actor: "employee:hana", Action: "test.act", Reason: "why", Subject: "s-1", Details: map[string]int{"n": 1}})
	})
	if err != nil {
		t.Fatal(err)
	}
	entries := func(subject string) []identity.AuditEntry {
		t.Helper()
		e, err := g.state.Audit(ctx, identity.AuditQuery{Action: "test.act", Subject: subject})
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	if e := entries("s-1"); len(e) != 1 || e[0].Actor != "employee:hana" || e[0].Reason != "why" || string(e[0].Details) != `{"n":1}` {
		t.Fatalf("audit log after the commit: %+v", e)
	}
	// Left in the outbox by a stop before the copy: s-2 never copied, s-1
	// copied but not removed.
	for _, subject := range []string{"s-1", "s-2"} {
		if err := g.queue.Exec(ctx, func(ctx context.Context, tx *Tx) error {
			return tx.Audit(ctx, Act{Actor: "employee:hana", Action: "test.act", Subject: subject})
		}); err != nil {
			t.Fatal(err)
		}
	}
	g.stop()
	g = startTestGateway(t, dir)
	defer g.stop()
	if e := entries("s-1"); len(e) != 1 {
		t.Fatalf("s-1 written %d times", len(e))
	}
	if e := entries("s-2"); len(e) != 1 {
		t.Fatalf("s-2 written %d times after the restart", len(e))
	}
	var left int
	if err := g.queue.ro.QueryRow(`SELECT count(*) FROM audit_outbox`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("outbox keeps %d entries (%v)", left, err)
	}
}

// recordingHooks records what the gateway tells its hooks.
type recordingHooks struct {
	noHooks
	newContacts chan string
	goneWrote   chan string
}

func (h *recordingHooks) NewContact(_ context.Context, m *Message, _ routing.Decision) {
	h.newContacts <- m.From
}

func (h *recordingHooks) GoneWrote(_ context.Context, rel *identity.Relationship, _ routing.Decision, from string) {
	h.goneWrote <- rel.ID + " " + from
}

// TestHooks: a new contact is announced only when its sender is vouched
// for, a contact marked gone who writes is announced with their canonical
// address, and without a Commander among the hooks the gateway offers no
// commands.
func TestHooks(t *testing.T) {
	h := &recordingHooks{newContacts: make(chan string, 4), goneWrote: make(chan string, 4)}
	g := startTestGateway(t, t.TempDir(), func(o *Options) {})
	defer g.stop()
	g.hooks = h // as Attach before Run; the test harness has started it
	ctx := context.Background()
	if err := g.Receive(ctx, &Message{Network: "public-xmpp", From: "forged@ext.test", To: "hana.sales@contact.acme.test", ID: "1", Body: "hi"}); err != nil {
		t.Fatal(err)
	}
	recv(t, g.inside.Sent)
	if err := g.Receive(ctx, &Message{Network: "public-xmpp", From: "Carol@EXT.test", ReplyTo: "carol@ext.test/pc", To: "hana.sales@contact.acme.test", ID: "2", Body: "hi"}); err != nil {
		t.Fatal(err)
	}
	recv(t, g.inside.Sent)
	if from := <-h.newContacts; from != "carol@ext.test" {
		t.Fatalf("new contact %q, want carol@ext.test only (forged@ is not vouched for)", from)
	}
	rel, ok := g.state.Snapshot().ContactByAddr(identity.Address{Network: "public-xmpp", Addr: "carol@ext.test"})
	if !ok {
		t.Fatal("no contact carol")
	}
	rels := g.state.Snapshot().RelationshipsOwnedBy("hana")
	var relID string
	for _, r := range rels {
		if r.ContactID == rel.ID {
			relID = r.ID
		}
	}
	if _, err := g.state.SetGone(ctx, "contact:carol@ext.test", relID, "blocked the persona"); err != nil {
		t.Fatal(err)
	}
	if err := g.Receive(ctx, &Message{Network: "public-xmpp", From: "CAROL@ext.test", ReplyTo: "carol@ext.test/pc", To: "hana.sales@contact.acme.test", ID: "3", Body: "back"}); err != nil {
		t.Fatal(err)
	}
	recv(t, g.inside.Sent)
	if got := <-h.goneWrote; got != relID+" carol@ext.test" {
		t.Fatalf("gone wrote %q", got)
	}
	if cmds := g.Commands("corp", "hana@corp.test"); cmds != nil {
		t.Fatalf("commands without a Commander: %v", cmds)
	}
	if _, err := g.CommandForm(ctx, "corp", "hana@corp.test", "x"); !errors.Is(err, ErrCommandNotFound) {
		t.Fatalf("CommandForm without a Commander: %v", err)
	}
}
