package gateway

import (
	"context"

	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestShutdownIsNotFailure: a send cut short by the gateway's own stop is
// not a failure, whatever error the adapter makes of the cancelled
// context (the mail adapter wrapped it as permanent): the message stays
// pending, its author is told nothing, and it goes out at the next start.
func TestShutdownIsNotFailure(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  func(ctx context.Context) error
	}{
		{"permanent", func(ctx context.Context) error { return Permanent(fmt.Errorf("smtp: %w", ctx.Err())) }},
		{"permanent and gone", func(ctx context.Context) error {
			return AddressGone(ctx.Err(), "has an address that does not exist")
		}},
		{"refused for now", func(ctx context.Context) error { return fmt.Errorf("write: %w", ctx.Err()) }},
		{"not connected", func(ctx context.Context) error { return NotConnected(ctx.Err()) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			// Stored first, so that the send is under way when the
			// gateway stops (a write before the commit is bounded by its
			// own timeout instead).
			g := startTestGateway(t, dir, commitFirst)
			entered := make(chan struct{}, 1)
			g.outside.SetHook(func(ctx context.Context, o *Outgoing) error {
				entered <- struct{}{}
				<-ctx.Done()
				return tt.err(ctx)
			})
			if err := g.Receive(context.Background(), &Message{Network: "corp", From: "hana@corp.test/pc", ReplyTo: "hana@corp.test/pc", To: `bob\40ext.test@gw.corp.test`, ID: "s-1", Body: "cut short"}); err != nil {
				t.Fatal(err)
			}
			select {
			case <-entered:
			case <-time.After(5 * time.Second):
				t.Fatal("never sent")
			}
			g.stop()
			select {
			case o := <-g.inside.Sent:
				t.Fatalf("the author was told: %+v", o)
			default:
			}

			g = startTestGateway(t, dir)
			defer g.stop()
			if o := recv(t, g.outside.Sent); o.Body != "cut short" {
				t.Fatalf("replayed %+v", o)
			}
			select {
			case o := <-g.inside.Sent:
				t.Fatalf("the author was told: %+v", o)
			case <-time.After(200 * time.Millisecond):
			}
			for _, r := range g.state.Snapshot().RelationshipsOwnedBy("hana") {
				if r.Gone != "" {
					t.Fatalf("relationship marked gone: %+v", r)
				}
			}
			st, err := g.queue.Stats(context.Background())
			if err != nil || st[StateFailed] != 0 {
				t.Fatalf("stats %v, %v", st, err)
			}
		})
	}
}

// TestReadAfterStopIsStored: a message an adapter read just as the
// gateway began to stop (its context already cancelled) is stored and
// delivered, never dropped; Accept reports it stored.
func TestReadAfterStopIsStored(t *testing.T) {
	g := startTestGateway(t, t.TempDir())
	defer g.stop()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range 20 {
		if err := g.Receive(ctx, &Message{Network: "public-xmpp", From: "bob@ext.test/p", ReplyTo: "bob@ext.test/p", To: "hana.sales@contact.acme.test", ID: fmt.Sprint("c", i), Body: fmt.Sprint("late ", i)}); err != nil {
			t.Fatalf("Receive with a cancelled context: %v", err)
		}
	}
	for i := range 20 {
		if o := recv(t, g.inside.Sent); o.Body != fmt.Sprint("late ", i) {
			t.Fatalf("got %+v", o)
		}
	}
	stored := make(chan error, 1)
	if err := g.Accept(ctx, &Message{Network: "public-xmpp", From: "bob@ext.test", ReplyTo: "bob@ext.test", To: "hana.sales@contact.acme.test", ID: "mail-late", Body: "late mail"},
		func(err error) { stored <- err }); err != nil {
		t.Fatalf("Accept with a cancelled context: %v", err)
	}
	if err := <-stored; err != nil {
		t.Fatal(err)
	}
	if o := recv(t, g.inside.Sent); o.Body != "late mail" {
		t.Fatalf("got %+v", o)
	}
}

// TestMarkAfterStopIsCommitted: a send outcome handed over with a
// cancelled context is committed (a lost "sent" mark would send the
// message twice after a restart).
func TestMarkAfterStopIsCommitted(t *testing.T) {
	q, stop := openTestQueue(t, t.TempDir()+"/queue.db")
	defer stop()
	var seqs []int64
	for i := range 50 {
		r := rec("bob@ext.test", fmt.Sprint(i), "m")
		enqueue(t, q, r)
		seqs = append(seqs, r.Seq)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, len(seqs))
	for _, seq := range seqs {
		q.MarkThen(ctx, seq, StateSent, "", func(err error) { done <- err })
	}
	for range seqs {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	st, err := q.Stats(context.Background())
	if err != nil || st[StateSent] != int64(len(seqs)) {
		t.Fatalf("stats %v, %v", st, err)
	}
}

// TestHealthReportsAFailingStore: while the queue cannot commit (a full
// disk, here a trigger refusing every insert), /healthz's Health says
// degraded with the store failing and kakehashi_store_ok is 0; the
// sender is told; once the store can commit again (probed while it
// fails), both are back to ok.
func TestHealthReportsAFailingStore(t *testing.T) {
	// Stored first: a message written before its commit is delivered
	// even when the commit then fails (TestWireFirstStoreFailing).
	g := startTestGateway(t, t.TempDir(), commitFirst)
	defer g.stop()
	ctx := context.Background()
	if h := g.Health(); h.Status != "ok" || h.Store != "ok" {
		t.Fatalf("health at start: %+v", h)
	}
	if _, err := g.queue.db.Exec(`CREATE TRIGGER full BEFORE INSERT ON messages WHEN NEW.body <> '' AND NEW.notice = 0 AND NEW.refusal_condition = ''
		BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`); err != nil {
		t.Fatal(err)
	}
	if _, err := g.queue.db.Exec(`CREATE TRIGGER full_probe BEFORE INSERT ON probe BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`); err != nil {
		t.Fatal(err)
	}
	if err := g.Receive(ctx, &Message{Network: "corp", From: "hana@corp.test/pc", ReplyTo: "hana@corp.test/pc", To: `bob\40ext.test@gw.corp.test`, ID: "f-1", Body: "refused"}); err != nil {
		t.Fatal(err)
	}
	if o := recv(t, g.inside.Sent); o.Refusal == nil || !strings.Contains(o.Refusal.Text, "could not store") {
		t.Fatalf("the sender was not told: %+v", o)
	}
	h := g.Health()
	if h.Status != "degraded" || !strings.HasPrefix(h.Store, "failing: ") || !strings.Contains(h.Store, "disk is full") {
		t.Fatalf("health while the store fails: %+v", h)
	}
	if v := scrape(t, g.Gateway, "kakehashi_store_ok"); v != "0" {
		t.Fatalf("kakehashi_store_ok = %q while failing", v)
	}
	// Still failing after a probe or two.
	time.Sleep(1500 * time.Millisecond)
	if h := g.Health(); h.Status != "degraded" {
		t.Fatalf("health while the store still fails: %+v", h)
	}
	if _, err := g.queue.db.Exec(`DROP TRIGGER full; DROP TRIGGER full_probe`); err != nil {
		t.Fatal(err)
	}
	// The disk has room again: health says so without waiting for the
	// next message.
	deadline := time.Now().Add(5 * time.Second)
	for g.Health().Status != "ok" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if h := g.Health(); h.Status != "ok" || h.Store != "ok" {
		t.Fatalf("health once the store works again: %+v", h)
	}
	if err := g.Receive(ctx, &Message{Network: "corp", From: "hana@corp.test/pc", ReplyTo: "hana@corp.test/pc", To: `bob\40ext.test@gw.corp.test`, ID: "f-2", Body: "stored"}); err != nil {
		t.Fatal(err)
	}
	if o := recv(t, g.outside.Sent); o.Body != "stored" {
		t.Fatalf("got %+v", o)
	}
	if h := g.Health(); h.Status != "ok" || h.Store != "ok" {
		t.Fatalf("health after a good commit: %+v", h)
	}
	if v := scrape(t, g.Gateway, "kakehashi_store_ok"); v != "1" {
		t.Fatalf("kakehashi_store_ok = %q after a good commit", v)
	}
}

// scrape returns the value of an unlabelled metric.
func scrape(t *testing.T, g *Gateway, name string) string {
	t.Helper()
	w := httptest.NewRecorder()
	g.Metrics().Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(w.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	t.Fatalf("no %s in\n%s", name, b)
	return ""
}

// TestDuplicatesAreCountedPerNetwork: a dropped redelivery is counted
// under its network, and a reused ID with another text is delivered.
func TestDuplicatesAreCountedPerNetwork(t *testing.T) {
	g := startTestGateway(t, t.TempDir())
	defer g.stop()
	ctx := context.Background()
	m := func(body string) *Message {
		return &Message{Network: "public-xmpp", From: "bob@ext.test/p", ReplyTo: "bob@ext.test/p", To: "hana.sales@contact.acme.test", ID: "1", Body: body}
	}
	for _, body := range []string{"hello", "hello", "second", "hello"} {
		if err := g.Receive(ctx, m(body)); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"hello", "second"} {
		if o := recv(t, g.inside.Sent); o.Body != want {
			t.Fatalf("got %q, want %q", o.Body, want)
		}
	}
	// The last redelivery is counted when its batch commits, which may come
	// after "second" was sent: wait for it, up to a bound.
	const want = `kakehashi_messages_duplicate_total{network="public-xmpp"} 2`
	var b []byte
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		w := httptest.NewRecorder()
		g.Metrics().Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
		if b, _ = io.ReadAll(w.Body); strings.Contains(string(b), want) {
			return
		}
	}
	t.Fatalf("duplicates not counted per network:\n%s", b)
}

// TestNetworkUpWakesTheSender: a message waiting out an outage is sent as
// soon as the adapter reports it reconnected, not at the end of its wait
// (here an hour).
func TestNetworkUpWakesTheSender(t *testing.T) {
	g := startTestGateway(t, t.TempDir(), commitFirst, func(o *Options) { o.RetryMin, o.RetryMax = time.Hour, time.Hour })
	defer g.stop()
	g.outside.SetDown(true)
	if err := g.Receive(context.Background(), &Message{Network: "corp", From: "hana@corp.test/pc", ReplyTo: "hana@corp.test/pc", To: `bob\40ext.test@gw.corp.test`, ID: "w-1", Body: "waiting"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for g.outside.Attempts.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if g.outside.Attempts.Load() == 0 {
		t.Fatal("never tried")
	}
	g.outside.SetDown(false)
	g.NetworkUp("corp") // another network's reconnect changes nothing
	select {
	case o := <-g.outside.Sent:
		t.Fatalf("sent without its network reconnecting: %+v", o)
	case <-time.After(100 * time.Millisecond):
	}
	g.NetworkUp("public-xmpp")
	if o := recv(t, g.outside.Sent); o.Body != "waiting" {
		t.Fatalf("got %+v", o)
	}
}

// TestRetentionBlanksOldTexts: the pass that runs inside Run blanks the
// body and subject of messages sent or failed longer than the retention
// ago, and keeps pending ones, recent ones and everything the broadcast
// caps count.
func TestRetentionBlanksOldTexts(t *testing.T) {
	dir := t.TempDir()
	g := startTestGateway(t, dir)
	q := g.queue
	mk := func(body string, k Kind) *Record {
		r := rec("bob@ext.test", "", body)
		r.Out.Subject, r.Out.Kind = "subject of "+body, k
		if k == KindBroadcast {
			r.Broadcast = "b-1"
		}
		enqueue(t, q, r)
		return r
	}
	sentOld, failedOld, pendingOld, sentRecent, castOld := mk("sent old", KindRelayed), mk("failed old", KindRelayed), mk("pending old", KindRelayed), mk("sent recent", KindRelayed), mk("broadcast old", KindBroadcast)
	for _, m := range []struct {
		r     *Record
		state string
	}{{sentOld, StateSent}, {failedOld, StateFailed}, {sentRecent, StateSent}, {castOld, StateSent}} {
		done := make(chan error, 1)
		q.MarkThen(context.Background(), m.r.Seq, m.state, "", func(err error) { done <- err })
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour).UnixNano()
	for _, r := range []*Record{sentOld, failedOld, pendingOld, castOld} {
		if _, err := q.db.Exec(`UPDATE messages SET done_at = ?, received_at = ? WHERE seq = ?`, old, old, r.Seq); err != nil {
			t.Fatal(err)
		}
	}
	g.outside.SetDown(true) // pendingOld stays pending
	g.stop()

	g = startTestGateway(t, dir, func(o *Options) { o.Retention = time.Hour })
	defer g.stop()
	g.outside.SetDown(true)
	q = g.queue
	text := func(r *Record) (body, subject string) {
		if err := q.ro.QueryRow(`SELECT body, subject FROM messages WHERE seq = ?`, r.Seq).Scan(&body, &subject); err != nil {
			t.Fatal(err)
		}
		return body, subject
	}
	deadline := time.Now().Add(5 * time.Second)
	for b, _ := text(castOld); b != "" && time.Now().Before(deadline); b, _ = text(castOld) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, r := range []*Record{sentOld, failedOld, castOld} {
		if b, s := text(r); b != "" || s != "" {
			t.Errorf("%d kept its text: %q %q", r.Seq, b, s)
		}
	}
	for _, r := range []*Record{pendingOld, sentRecent} {
		if b, s := text(r); b != r.Out.Body || s != r.Out.Subject {
			t.Errorf("%q lost its text: %q %q", r.Out.Body, b, s)
		}
	}
	var network, to, auto string
	var at int64
	if err := q.ro.QueryRow(`SELECT out_network, out_to, auto, received_at FROM messages WHERE seq = ?`, castOld.Seq).Scan(&network, &to, &auto, &at); err != nil {
		t.Fatal(err)
	}
	if network != castOld.Out.Network || to != castOld.Out.To || auto != "broadcast" || at != old {
		t.Errorf("the broadcast copy lost what the caps count: %s %s %s %d", network, to, auto, at)
	}
}

// TestTrackerWaitsForBackgroundWork: Close waits for running and
// scheduled work, and refuses work started after it.
func TestTrackerWaitsForBackgroundWork(t *testing.T) {
	var tr tracker
	var ran atomic.Int32
	release := make(chan struct{})
	tr.Go(func() { <-release; ran.Add(1) })
	tr.AfterFunc(50*time.Millisecond, func() { ran.Add(1) })
	closed := make(chan struct{})
	go func() { tr.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while work was running")
	case <-time.After(20 * time.Millisecond):
	}
	close(release)
	<-closed
	if ran.Load() != 2 {
		t.Fatalf("%d of 2 ran before Close returned", ran.Load())
	}
	if tr.Go(func() {}) || tr.AfterFunc(0, func() {}) {
		t.Fatal("work accepted after Close")
	}
}
