package gateway

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/gateway/internal/relaytest"
	"github.com/kakehashi/kakehashi/internal/sqldb"
	"github.com/kakehashi/kakehashi/routing"
)

// settle waits until everything handed to q before it is committed.
func settle(t testing.TB, q *Queue) {
	t.Helper()
	if err := q.Exec(context.Background(), func(context.Context, *Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// startTalkingOn starts a test gateway (its queue in store; see
// testStores) in which Hana has written to bob, and that message is
// committed.
func startTalkingOn(t *testing.T, dir, store string) *testGateway {
	t.Helper()
	g := startTestGatewayOn(t, dir, store)
	receiveOK(t, g, fromHana("h1", "hello"))
	recv(t, g.outside.Sent)
	settle(t, g.queue)
	return g
}

// holdQueue keeps the queue's writer busy in a transaction of its own
// until release: what is handed to the queue meanwhile waits for its
// commit, and nothing reaches the files.
func holdQueue(t *testing.T, q *Queue) (release func()) {
	t.Helper()
	entered, hold, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	var once sync.Once
	go func() {
		done <- q.Exec(context.Background(), func(context.Context, *Tx) error {
			once.Do(func() { close(entered) }) // run again after a failure: once is enough
			<-hold
			return nil
		})
	}()
	<-entered
	return func() {
		close(hold)
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// crashCopy copies the stores in dir as a kill -9 would leave them now:
// the database files and their write-ahead logs as written so far.
func crashCopy(t *testing.T, dir string) string {
	t.Helper()
	to := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasSuffix(e.Name(), "-shm") {
			continue
		}
		src, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		dst, err := os.Create(filepath.Join(to, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		src.Close()
		if err := dst.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

func stats(t *testing.T, q *Queue) map[string]int64 {
	t.Helper()
	st, err := q.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestWireFirstCrashAfterWrite pins the rule for a network that
// acknowledges nothing: a message is written before its commit, so a
// crash after the write and before the commit leaves nothing to replay
// (it is never sent twice), and without a crash it is stored as sent.
func TestWireFirstCrashAfterWrite(t *testing.T) {
	dir := t.TempDir()
	g := startTestGateway(t, dir)
	receiveOK(t, g, fromHana("h1", "hello"))
	recv(t, g.outside.Sent)
	settle(t, g.queue)

	release := holdQueue(t, g.queue)
	receiveOK(t, g, fromHana("h2", "written before its commit"))
	if o := recv(t, g.outside.Sent); o.Body != "written before its commit" {
		t.Fatalf("got %+v", o)
	}
	crashed := crashCopy(t, dir) // the process dies here, before the commit
	release()
	settle(t, g.queue)
	if st := stats(t, g.queue); st[StateSent] != 2 || st[StatePending] != 0 {
		t.Fatalf("without the crash: %v; want both stored as sent", st)
	}
	g.stop()

	for _, d := range []string{crashed, dir} {
		g := startTestGateway(t, d)
		quiet(t, g.outside.Sent, 300*time.Millisecond)
		g.stop()
	}
	g = startTestGateway(t, crashed)
	defer g.stop()
	if st := stats(t, g.queue); st[StateSent] != 1 || st[StatePending] != 0 {
		t.Fatalf("after the crash: %v; want only the first message, sent", st)
	}
}

// TestStoredFirstCrashBeforeWrite: a message that could not be written at
// once (its network away) is stored first, pending; a crash before it
// goes out sends it once after the restart.
func TestStoredFirstCrashBeforeWrite(t *testing.T) {
	for _, mode := range []struct {
		name string
		opts []func(*Options)
	}{{"wire first", nil}, {"commit first", []func(*Options){commitFirst}}} {
		t.Run(mode.name, func(t *testing.T) {
			dir := t.TempDir()
			g := startTestGateway(t, dir, mode.opts...)
			g.outside.SetDown(true)
			receiveOK(t, g, fromHana("h1", "while away"))
			deadline := time.Now().Add(5 * time.Second)
			for stats(t, g.queue)[StatePending] != 1 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			crashed := crashCopy(t, dir)
			g.stop()
			g = startTestGateway(t, crashed, mode.opts...)
			defer g.stop()
			if o := recv(t, g.outside.Sent); o.Body != "while away" {
				t.Fatalf("replayed %+v", o)
			}
			quiet(t, g.outside.Sent, 300*time.Millisecond)
			settle(t, g.queue)
			if st := stats(t, g.queue); st[StateSent] != 1 || st[StatePending] != 0 {
				t.Fatalf("stats %v", st)
			}
		})
	}
}

// TestWireFirstDedupe: a copy of a message arriving while the first is
// written and not yet committed is dropped, and so is one after the
// commit; the same ID with another text is a new message.
func TestWireFirstDedupe(t *testing.T) {
	forEachStore(t, func(t *testing.T, dir, store string) {
		g := startTalkingOn(t, dir, store)
		defer g.stop()

		release := holdQueue(t, g.queue)
		receiveOK(t, g, fromHana("h2", "once"))
		recv(t, g.outside.Sent)
		receiveOK(t, g, fromHana("h2", "once")) // in flight
		quiet(t, g.outside.Sent, 100*time.Millisecond)
		release()
		settle(t, g.queue)
		receiveOK(t, g, fromHana("h2", "once")) // committed
		quiet(t, g.outside.Sent, 100*time.Millisecond)
		receiveOK(t, g, fromHana("h2", "another text, same ID"))
		if o := recv(t, g.outside.Sent); o.Body != "another text, same ID" {
			t.Fatalf("got %+v", o)
		}
		settle(t, g.queue)
		if st := stats(t, g.queue); st[StateSent] != 3 {
			t.Fatalf("stats %v", st)
		}
	})
}

// TestWireFirstBounceBeforeCommit: a bounce that comes back before the
// bounced message's commit waits for it, and its author is told.
func TestWireFirstBounceBeforeCommit(t *testing.T) {
	forEachStore(t, func(t *testing.T, dir, store string) {
		g := startTalkingOn(t, dir, store)
		defer g.stop()

		release := holdQueue(t, g.queue)
		receiveOK(t, g, fromHana("h2", "to a gone address"))
		o := recv(t, g.outside.Sent)
		done := make(chan struct{})
		go func() {
			defer close(done)
			g.Failed(context.Background(), Bounce{Network: "public-xmpp", ID: o.ID, Reason: "service-unavailable"})
		}()
		time.Sleep(100 * time.Millisecond)
		release()
		<-done
		if n := recv(t, g.inside.Sent); !strings.Contains(n.Body, "could not be delivered") || !strings.Contains(n.Body, "to a gone address") {
			t.Fatalf("notice %+v", n)
		}
	})
}

// TestWireFirstReplyBeforeCommit: a contact's reply that comes back
// before the message it answers (written first) is even handed to the
// queue waits for its commit, and reaches the employee with its
// reference mapped, not dropped as unknown.
func TestWireFirstReplyBeforeCommit(t *testing.T) {
	forEachStore(t, func(t *testing.T, dir, store string) {
		g := startTalkingOn(t, dir, store)
		defer g.stop()

		// The write of Hana's message returns only once Bob has answered.
		written, proceed := make(chan *Outgoing, 1), make(chan struct{})
		g.outside.SetHook(func(_ context.Context, o *Outgoing) error {
			written <- o
			<-proceed
			return nil
		})
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			receiveOK(t, g, fromHana("h2", "the offer is attached"))
		}()
		o := <-written
		answered := make(chan struct{})
		go func() {
			defer close(answered)
			receiveOK(t, g, fromBob("b2", "thanks!", Ref{Kind: RefReply, ID: o.ID}))
		}()
		time.Sleep(100 * time.Millisecond)
		g.outside.SetHook(nil)
		close(proceed)
		<-sent
		<-answered
		got := recv(t, g.inside.Sent)
		want := Ref{Kind: RefReply, ID: "h2", Author: "hana@corp.test", Quote: "the offer is attached"}
		if got.Body != "thanks!" || len(got.Refs) != 1 || got.Refs[0] != want {
			t.Fatalf("the reply reached Hana as %+v; want its reference to h2", got)
		}
	})
}

// TestWireFirstStoreFailing: a message written before its commit is
// delivered even when that commit fails (it is not recorded: logged and
// counted); once the store is known to fail, messages are stored first
// again, so their authors are told to send them again.
func TestWireFirstStoreFailing(t *testing.T) {
	forEachStore(t, func(t *testing.T, dir, store string) {
		g := startTestGatewayOn(t, dir, store)
		defer g.stop()
		full := []string{`CREATE TRIGGER full BEFORE INSERT ON messages WHEN NEW.notice = 0 AND NEW.refusal_condition = ''
			BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`}
		if g.queue.Dialect() == sqldb.Postgres {
			full = []string{`CREATE FUNCTION full_disk() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
				IF NEW.notice = 0 AND NEW.refusal_condition = '' THEN RAISE EXCEPTION 'could not extend file (test)'; END IF;
				RETURN NEW; END $$`,
				`CREATE TRIGGER disk_full BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION full_disk()`}
		}
		for _, stmt := range full {
			if _, err := g.queue.db.Exec(stmt); err != nil {
				t.Fatal(err)
			}
		}
		receiveOK(t, g, fromHana("h1", "delivered, not recorded"))
		if o := recv(t, g.outside.Sent); o.Body != "delivered, not recorded" {
			t.Fatalf("got %+v", o)
		}
		// The record is handed to the queue just after the write: wait for
		// its commit to fail. (Not by a commit of the test's own, settle: one
		// that came after it would succeed and clear the failure.)
		for deadline := time.Now().Add(5 * time.Second); g.queue.StoreError() == nil; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the failed commit was not noticed")
			}
		}
		receiveOK(t, g, fromHana("h2", "not stored"))
		if o := recv(t, g.inside.Sent); o.Refusal == nil || !strings.Contains(o.Refusal.Text, "could not store") {
			t.Fatalf("the sender was not told: %+v", o)
		}
		quiet(t, g.outside.Sent, 100*time.Millisecond)
	})
}

// TestSeenFilter: a key added is "maybe" for at least a window and
// forgotten after two; a key never added is "no" once loaded, and
// everything is "maybe" before.
func TestSeenFilter(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	f := newSeenFilter(t0)
	if !f.mayHave("a", t0) {
		t.Fatal("not loaded yet: must answer maybe")
	}
	f.ready = true
	f.add("a", t0.Add(23*time.Hour))
	for _, at := range []time.Duration{23 * time.Hour, 24 * time.Hour, 46*time.Hour + 59*time.Minute} {
		if !f.mayHave("a", t0.Add(at)) {
			t.Fatalf("forgotten at %v, within a window of being stored", at)
		}
	}
	if f.mayHave("a", t0.Add(48*time.Hour)) {
		t.Fatal("kept past two windows")
	}
	misses := 0
	for i := range 10000 {
		k := fmt.Sprint("key-", i)
		f.add(k, t0.Add(48*time.Hour))
		if !f.mayHave(k, t0.Add(48*time.Hour)) {
			t.Fatalf("%s added and not found", k)
		}
		if f.mayHave(fmt.Sprint("other-", i), t0.Add(48*time.Hour)) {
			misses++
		}
	}
	if misses > 10 {
		t.Fatalf("%d false maybes in 10,000 at 10,000 keys", misses)
	}
}

// TestDedupeAfterRestart: a redelivery after a restart is still dropped
// (the filter is loaded from the queue).
func TestDedupeAfterRestart(t *testing.T) {
	forEachStore(t, func(t *testing.T, dir, store string) {
		g := startTestGatewayOn(t, dir, store)
		receiveOK(t, g, fromHana("h1", "hello"))
		recv(t, g.outside.Sent)
		g.stop()
		g = startTestGatewayOn(t, dir, store)
		defer g.stop()
		deadline := time.Now().Add(5 * time.Second)
		for {
			g.queue.seen.mu.Lock()
			ready := g.queue.seen.ready
			g.queue.seen.mu.Unlock()
			if ready || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		receiveOK(t, g, fromHana("h1", "hello"))
		quiet(t, g.outside.Sent, 200*time.Millisecond)
		receiveOK(t, g, fromHana("h2", "hello"))
		if o := recv(t, g.outside.Sent); o.Body != "hello" {
			t.Fatalf("got %+v", o)
		}
	})
}

// TestTextRuns: texts written before their commit are stored many to a
// statement, in order, each with its own sequence number, as sent; a copy
// in the same batch is still dropped, and a record that cannot join a run
// sees the rows before it.
func TestTextRuns(t *testing.T) {
	forEachStore(t, func(t *testing.T, dir, store string) {
		q, stop := openTestQueue(t, store)
		defer stop()
		if err := q.loadSeen(context.Background()); err != nil {
			t.Fatal(err)
		}
		var rs []*Record
		for i := range 70 {
			id := fmt.Sprint("id-", i)
			if i%13 == 0 {
				id = "" // no ID: never a copy
			}
			r := rec("bob@ext.test", id, fmt.Sprint("text ", i))
			r.sentFirst = true
			rs = append(rs, r)
		}
		pending := rec("bob@ext.test", "stored-first", "stored first")
		copyOf := rec("bob@ext.test", "id-3", "text 3")
		copyOf.sentFirst = true
		rs = append(rs[:40], append([]*Record{pending, copyOf}, rs[40:]...)...)

		release := holdQueue(t, q)
		dups := make([]bool, len(rs))
		errc := make(chan error, len(rs))
		for i, r := range rs {
			if err := q.Enqueue(context.Background(), r, func(d bool, err error) { dups[i] = d; errc <- err }); err != nil {
				t.Fatal(err)
			}
		}
		release()
		for range rs {
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		}
		var last int64
		for i, r := range rs {
			if r == copyOf {
				if !dups[i] {
					t.Fatal("the copy in the same batch was stored")
				}
				continue
			}
			if dups[i] || r.Seq <= last {
				t.Fatalf("record %d: dup %v, seq %d after %d", i, dups[i], r.Seq, last)
			}
			last = r.Seq
			got, err := q.ByOutID(context.Background(), "corp", r.Out.ID)
			if err != nil || got == nil || got.Seq != r.Seq || got.Out.Body != r.Out.Body || got.InID != r.InID {
				t.Fatalf("record %d read back as %+v, %v", i, got, err)
			}
		}
		if st := stats(t, q); st[StateSent] != 70 || st[StatePending] != 1 {
			t.Fatalf("stats %v", st)
		}
	})
}

// TestMaySendHoldsEveryWrite: while Options.MaySend says no (an instance
// whose term as the active one is over), nothing is written, neither
// first nor after its commit; the messages stay pending, nobody is told
// they failed, and they go out once it says yes.
func TestMaySendHoldsEveryWrite(t *testing.T) {
	var may atomic.Bool
	g := startTestGateway(t, t.TempDir(), func(o *Options) { o.MaySend = may.Load })
	defer g.stop()
	receiveOK(t, g, fromHana("h1", "held while fenced"))
	receiveOK(t, g, fromHana("h2", "held too"))
	quiet(t, g.outside.Sent, 300*time.Millisecond)
	quiet(t, g.inside.Sent, 0)
	if st := stats(t, g.queue); st["pending"] != 2 || st["failed"] != 0 {
		t.Fatalf("queue %v; want the two pending", st)
	}
	may.Store(true)
	for _, want := range []string{"held while fenced", "held too"} {
		if o := recv(t, g.outside.Sent); o.Body != want {
			t.Fatalf("got %q; want %q", o.Body, want)
		}
	}
}

// TestFencedInstanceStillAnswersWhatItRead: an instance whose term is
// over relays nothing, but still answers the author of a message it read
// and refused (here, to an address that does not exist): nobody else
// will answer that message, and the answer relays nothing.
func TestFencedInstanceStillAnswersWhatItRead(t *testing.T) {
	g := startTestGateway(t, t.TempDir(), func(o *Options) { o.MaySend = func() bool { return false } })
	defer g.stop()
	receiveOK(t, g, &Message{Network: "public-xmpp", From: "bob@ext.test/phone", ReplyTo: "bob@ext.test/phone",
		To: "ghost@contact.acme.test", ID: "b-ghost", Body: "anyone?"})
	o := recv(t, g.outside.Sent)
	if o.Kind != KindRefusal || o.To != "bob@ext.test/phone" || o.ReplyTo != "b-ghost" {
		t.Fatalf("answer: %+v", o)
	}
	receiveOK(t, g, fromHana("h1", "held while fenced"))
	quiet(t, g.outside.Sent, 300*time.Millisecond)
}

// TestStoppingGatewayStillAnswersWhatItCouldNotStore: a message read
// while the gateway stops and its store fails (a term that ended with
// its database) is not silently dropped: its author is told, though the
// sender loops have stopped.
func TestStoppingGatewayStillAnswersWhatItCouldNotStore(t *testing.T) {
	st, q := openTestStores(t, t.TempDir())
	in, out := newMemAdapter("corp"), newMemAdapter("public-xmpp")
	g, err := New(Options{Topology: relaytest.Topology(), State: st, Queue: q, Adapters: []Adapter{in, out}})
	if err != nil {
		t.Fatal(err)
	}
	// Not running: no sender loop takes messages, as once Run is stopping.
	g.senders["corp"].answer(&Record{Out: Outgoing{Kind: KindRefusal, Network: "corp", To: "hana@corp.test/laptop", ID: NewID(), ReplyTo: "h-lost",
		Refusal: &routing.Refusal{Reason: routing.GatewayFailure, Text: "the gateway could not store your message; please send it again"}}}, g.taken.take("corp"))
	if o := recv(t, in.Sent); o.ReplyTo != "h-lost" || o.Refusal == nil || o.Refusal.Reason != routing.GatewayFailure {
		t.Fatalf("answer: %+v", o)
	}
	g.bg.Close()
}
