package gateway

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/routing"
)

func openTestQueue(t testing.TB, path string) (*Queue, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	q, err := OpenQueue(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = q.Run(ctx); close(done) }()
	return q, func() { cancel(); <-done; q.Close() }
}

func rec(from, id, body string) *Record {
	return &Record{ReceivedAt: time.Now(), InNetwork: "public-xmpp", InFrom: from, InReply: from + "/r", InTo: "p@contact.acme.test", InID: id,
		Out: Outgoing{Network: "corp", From: "x@gw", To: "hana@corp.test", ID: newID(), Body: body}}
}

// enqueue stores r and waits for the commit.
func enqueue(t *testing.T, q *Queue, r *Record) (dup bool) {
	t.Helper()
	errc := make(chan error, 1)
	if err := q.Enqueue(context.Background(), r, func(d bool, err error) { dup = d; errc <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return dup
}

func TestQueueDurableAcrossReopenAndDeduplicated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "queue.db")
	q, stop := openTestQueue(t, path)
	a := rec("bob@ext.test", "id-1", "first")
	if enqueue(t, q, a) {
		t.Fatal("first copy reported as duplicate")
	}
	if a.Seq == 0 || a.Out.Seq != a.Seq {
		t.Fatalf("seq not assigned: %d/%d", a.Seq, a.Out.Seq)
	}
	if !enqueue(t, q, rec("bob@ext.test", "id-1", "first again")) {
		t.Fatal("redelivery with the same sender and ID was stored twice")
	}
	// Same ID from someone else is a different message; no ID is never deduplicated.
	for _, r := range []*Record{rec("carol@ext.test", "id-1", "c"), rec("bob@ext.test", "", "n1"), rec("bob@ext.test", "", "n2")} {
		if enqueue(t, q, r) {
			t.Fatalf("%q wrongly deduplicated", r.Out.Body)
		}
	}
	refused := rec("mallory@ext.test", "id-9", "x")
	refused.Out.Refusal = &routing.Refusal{Condition: routing.Forbidden, Text: "no"}
	enqueue(t, q, refused)
	q.Mark(context.Background(), a.Seq, stateSent, "")
	stop()

	q, stop = openTestQueue(t, path)
	defer stop()
	pending, err := q.Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var bodies []string
	for _, p := range pending {
		bodies = append(bodies, p.Out.Body)
	}
	want := []string{"c", "n1", "n2", "x"}
	if len(bodies) != len(want) {
		t.Fatalf("pending after reopen = %q, want %q", bodies, want)
	}
	for i := range want {
		if bodies[i] != want[i] {
			t.Fatalf("pending after reopen = %q, want %q (in order)", bodies, want)
		}
	}
	last := pending[len(pending)-1]
	if last.Out.Refusal == nil || last.Out.Refusal.Condition != routing.Forbidden || last.InReply != "mallory@ext.test/r" {
		t.Fatalf("refusal not restored: %+v", last)
	}
	got, err := q.ByOutID(context.Background(), "corp", a.Out.ID)
	if err != nil || got == nil || got.Out.Body != "first" {
		t.Fatalf("ByOutID = %+v, %v", got, err)
	}
	st, err := q.Stats(context.Background())
	if err != nil || st[stateSent] != 1 || st[statePending] != 4 {
		t.Fatalf("stats = %v, %v", st, err)
	}
}

func TestQueueGroupCommitsConcurrentWriters(t *testing.T) {
	q, stop := openTestQueue(t, filepath.Join(t.TempDir(), "queue.db"))
	defer stop()
	const n = 500
	var wg sync.WaitGroup
	var mu sync.Mutex
	seqs := map[int64]bool{}
	for i := 0; i < n; i++ {
		wg.Add(1)
		r := rec("bob@ext.test", "", "m")
		if err := q.Enqueue(context.Background(), r, func(dup bool, err error) {
			defer wg.Done()
			if err != nil || dup {
				t.Errorf("enqueue: dup=%v err=%v", dup, err)
			}
			mu.Lock()
			seqs[r.Seq] = true
			mu.Unlock()
		}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if len(seqs) != n {
		t.Fatalf("%d distinct sequence numbers, want %d", len(seqs), n)
	}
}

func BenchmarkQueueEnqueue(b *testing.B) {
	q, stop := openTestQueue(b, filepath.Join(b.TempDir(), "queue.db"))
	defer stop()
	var wg sync.WaitGroup
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		wg.Add(1)
		_ = q.Enqueue(context.Background(), rec("bob@ext.test", "", "hello"), func(bool, error) { wg.Done() })
	}
	wg.Wait()
}
