package e2e

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/internal/testenv"
)

// startConversation makes bob a contact of Hana's.
func startConversation(t testing.TB, hana, bob *testenv.Client) {
	t.Helper()
	if err := hana.Send(bobProxy, "Hello from Hana"); err != nil {
		t.Fatal(err)
	}
	if got := message(t, bob); got.Body != "Hello from Hana" {
		t.Fatalf("bob got %s", got.Raw)
	}
}

// TestTransferIsInstantAndAudited: after `contacts transfer`, bob's messages
// to Hana's persona reach Ken; Ken writes to bob as his own persona; the
// transfer is in the audit log with actor, reason and what moved.
func TestTransferIsInstantAndAudited(t *testing.T) {
	w := newWorld(t, worldOptions{})
	hana, ken, bob := w.client("hana"), w.client("ken"), w.client("bob")
	startConversation(t, hana, bob)

	out := w.gw.CLI("contacts", "transfer", "--from", "hana", "--to", "ken", "--reason", "Hana moves to the Osaka office")
	if !strings.Contains(out, "1 relationship(s) moved from hana to ken") {
		t.Fatalf("transfer output: %s", out)
	}
	if err := bob.Send(hanaAddr, "Are you there?"); err != nil {
		t.Fatal(err)
	}
	got := message(t, ken)
	if bare(got.From) != bobProxy || got.Body != "Are you there?" {
		t.Fatalf("ken got %s", got.Raw)
	}
	silent(t, hana, 300*time.Millisecond)

	if err := ken.Send(bobProxy, "Ken here, I'll take over."); err != nil {
		t.Fatal(err)
	}
	got = message(t, bob)
	if bare(got.From) != kenAddr || got.Nick != "ACME Sales · Ken" {
		t.Fatalf("bob got %s", got.Raw)
	}
	// Hana is told clearly she no longer looks after bob.
	if err := hana.SendRaw(`<message to='` + bobProxy + `' id='h-late' type='chat'><body>hi again</body></message>`); err != nil {
		t.Fatal(err)
	}
	e := hana.Expect(t, waitShort, func(s testenv.Stanza) bool { return s.ID == "h-late" })
	if e.Type != "error" || e.ErrorCondition != "forbidden" || !strings.Contains(e.ErrorText, "looked after by Ken Ito") {
		t.Fatalf("hana after transfer: %s", e.Raw)
	}

	var audit []identity.AuditEntry
	w.gw.JSON(&audit, "audit", "--action", "contacts.transfer")
	if len(audit) != 1 {
		t.Fatalf("audit: %+v", audit)
	}
	a := audit[0]
	if a.Actor != "admin:e2e-admin" || a.Reason != "Hana moves to the Osaka office" || a.At.IsZero() || !strings.HasPrefix(a.Subject, "t-") {
		t.Fatalf("audit entry: %+v", a)
	}
	var tr identity.Transfer
	if err := json.Unmarshal(a.Details, &tr); err != nil {
		t.Fatal(err)
	}
	if tr.From != "hana" || tr.To != "ken" || len(tr.Moves) != 1 || tr.Moves[0].FromPersona != "hana.sales" || tr.Moves[0].ToPersona != "ken.sales" {
		t.Fatalf("transfer details: %+v", tr)
	}
	if human := w.gw.CLI("audit"); !strings.Contains(human, "contacts.transfer") || !strings.Contains(human, "e2e-admin") {
		t.Fatalf("audit listing: %s", human)
	}
}

// TestDepartureMovesContactsAndStopsSending covers `employees depart` with a
// successor and without one (the fallback).
func TestDepartureMovesContactsAndStopsSending(t *testing.T) {
	w := newWorld(t, worldOptions{fallback: "desk"})
	hana, ken, bob, alice := w.client("hana"), w.client("ken"), w.client("bob"), w.client("alice")
	startConversation(t, hana, bob)
	if err := ken.Send(`alice\40ext.test@gw.corp.test`, "Hello Alice"); err != nil {
		t.Fatal(err)
	}
	message(t, alice)

	w.gw.CLI("employees", "depart", "hana", "--successor", "ken", "--reason", "left the company")
	if err := hana.SendRaw(`<message to='` + bobProxy + `' id='gone-1' type='chat'><body>one more thing</body></message>`); err != nil {
		t.Fatal(err)
	}
	e := hana.Expect(t, waitShort, func(s testenv.Stanza) bool { return s.ID == "gone-1" })
	if e.Type != "error" || e.ErrorCondition != "forbidden" || !strings.Contains(e.ErrorText, "no longer active") {
		t.Fatalf("departed hana: %s", e.Raw)
	}
	silent(t, bob, 300*time.Millisecond)
	if err := bob.Send(hanaAddr, "Hello?"); err != nil {
		t.Fatal(err)
	}
	if got := message(t, ken); got.Body != "Hello?" {
		t.Fatalf("ken got %s", got.Raw)
	}
	silent(t, hana, 300*time.Millisecond)

	// Ken departs with no successor: his relationships go to the unassigned
	// pool, whose messages reach the fallback (desk), never nobody.
	w.gw.CLI("employees", "depart", "ken")
	desk := w.client("desk")
	for _, c := range []*testenv.Client{bob, alice} {
		if err := c.Send(map[*testenv.Client]string{bob: hanaAddr, alice: kenAddr}[c], "anyone?"); err != nil {
			t.Fatal(err)
		}
		if got := message(t, desk); got.Body != "anyone?" {
			t.Fatalf("desk got %s", got.Raw)
		}
	}
	if r := ownerOf(t, w, "bob@ext.test"); r.OwnerID != "" {
		t.Fatalf("bob's relationship after ken left: %+v", r)
	}
	list := w.gw.CLI("contacts", "list", "--unassigned")
	if !strings.Contains(list, "bob@ext.test") || !strings.Contains(list, "alice@ext.test") {
		t.Fatalf("unassigned pool: %s", list)
	}
	var audit []identity.AuditEntry
	w.gw.JSON(&audit, "audit", "--action", "employee.depart")
	if len(audit) != 2 || audit[0].Subject != "hana" || audit[0].Reason != "left the company" || audit[1].Subject != "ken" {
		t.Fatalf("depart audit: %+v", audit)
	}
	if _, err := w.gw.TryCLI("employees", "depart", "ken"); err == nil {
		t.Fatal("departing a departed employee succeeded")
	}
}

// TestTransferRacingInboundHasExactlyOneOwner: bob sends a stream of
// messages while an admin transfers him; every message reaches exactly one
// of Hana and Ken, and the switch happens once: a prefix goes to Hana, the
// rest to Ken. The transfer starts once Hana has received some of the
// stream and bob keeps sending until it is done, so both owners must get
// messages: the test cannot pass with the transfer before or after the
// stream.
func TestTransferRacingInboundHasExactlyOneOwner(t *testing.T) {
	w := newWorld(t, worldOptions{})
	hana, ken, bob := w.client("hana"), w.client("ken"), w.client("bob")
	startConversation(t, hana, bob)

	const (
		hanaFirst = 20    // the transfer starts once Hana has this many
		tail      = 50    // bob sends this many more after the transfer returns
		maxSend   = 20000 // bob gives up here
	)
	type arrival struct {
		who string
		i   int
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	arrivals := make(chan arrival, 2*maxSend)
	for name, c := range map[string]*testenv.Client{"hana": hana, "ken": ken} {
		go func() {
			for {
				s, err := c.Receive(ctx)
				if err != nil {
					return
				}
				if s.Kind == "message" && s.Body != "" {
					i, err := strconv.Atoi(s.Body)
					if err != nil {
						i = -1
					}
					arrivals <- arrival{name, i}
				}
			}
		}()
	}

	// bob sends 0, 1, 2, ... until tail messages after the transfer
	// returned (all of which must reach Ken), or maxSend.
	transferred := make(chan struct{})
	senderDone := make(chan struct{})
	stopSender := sync.OnceFunc(func() { close(transferred) })
	var n int // messages sent; read after senderDone
	var sendErr error
	go func() {
		defer close(senderDone)
		last := maxSend
		for n = 0; n < last; n++ {
			if last == maxSend {
				select {
				case <-transferred:
					last = min(n+tail, maxSend)
				default:
				}
			}
			if sendErr = bob.Send(hanaAddr, strconv.Itoa(n)); sendErr != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	// Stop the sender before the test's clients are closed, however it ends.
	defer func() {
		stopSender()
		<-senderDone
	}()

	seen := map[int]string{}
	count := map[string]int{}
	record := func(a arrival) {
		t.Helper()
		if a.i < 0 || a.i >= maxSend {
			t.Fatalf("%s got an unexpected message", a.who)
		}
		if prev, dup := seen[a.i]; dup {
			t.Fatalf("message %d reached %s and %s", a.i, prev, a.who)
		}
		seen[a.i] = a.who
		count[a.who]++
	}

	// Start the transfer while bob is in the middle of the stream.
	for count["hana"] < hanaFirst {
		select {
		case a := <-arrivals:
			record(a)
		case <-senderDone:
			t.Fatalf("bob stopped sending (after %d, err %v) before hana had %d messages", n, sendErr, hanaFirst)
		case <-ctx.Done():
			t.Fatalf("hana got %d messages, ken %d, waiting for hana to have %d", count["hana"], count["ken"], hanaFirst)
		}
	}
	out := w.gw.CLI("contacts", "transfer", "--from", "hana", "--to", "ken", "--reason", "race test")
	if !strings.Contains(out, "1 relationship(s) moved from hana to ken") {
		t.Fatalf("transfer output: %s", out)
	}
	stopSender()
	select {
	case <-senderDone:
	case <-ctx.Done():
		t.Fatal("bob did not finish sending")
	}
	if sendErr != nil {
		t.Fatalf("bob's message %d: %v", n, sendErr)
	}
	if n == maxSend {
		t.Fatalf("bob sent all %d messages before the transfer returned", maxSend)
	}

	extra := time.After(time.Hour)
	for done := len(seen) == n; !done; {
		select {
		case a := <-arrivals:
			if a.i >= n {
				t.Fatalf("%s got message %d, but bob sent only %d", a.who, a.i, n)
			}
			record(a)
			if len(seen) == n {
				// Give late duplicates a moment to show up.
				extra = time.After(500 * time.Millisecond)
			}
		case <-extra:
			done = true
		case <-ctx.Done():
			done = true
		}
	}
	if len(seen) != n {
		t.Fatalf("%d of %d messages delivered (hana %d, ken %d)", len(seen), n, count["hana"], count["ken"])
	}
	switched := false
	for i := 0; i < n; i++ {
		switch {
		case seen[i] == "ken":
			switched = true
		case switched:
			t.Fatalf("message %d went to hana after an earlier one went to ken: the transfer was not atomic for routing", i)
		}
	}
	// Each side of the switch must have happened: otherwise the transfer did
	// not race the stream and the checks above prove nothing.
	t.Logf("bob sent %d: hana got %d, ken got %d", n, count["hana"], count["ken"])
	if count["hana"] == 0 || count["ken"] == 0 {
		t.Fatalf("the transfer did not race the stream: hana got %d, ken got %d", count["hana"], count["ken"])
	}
	for i := n - tail; i < n; i++ {
		if seen[i] != "ken" {
			t.Fatalf("message %d, sent after the transfer returned, went to %s", i, seen[i])
		}
	}
}
