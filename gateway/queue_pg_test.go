package gateway

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/internal/testenv"
)

// TestQueueSurvivesAPostgresCrash: what was committed before PostgreSQL
// crashed is there after it recovers; while it is down, a commit fails
// (its caller is told, StoreError says so) and a mark is kept; once it is
// back, the queue reconnects by itself, stores again and commits the kept
// mark, with sequence numbers after the earlier ones.
func TestQueueSurvivesAPostgresCrash(t *testing.T) {
	pg := testenv.StartPostgres(t)
	q, stop := openTestQueue(t, pg.NewDatabase(t))
	defer stop()
	ctx := context.Background()
	before := rec("bob@ext.test", "b1", "before")
	enqueue(t, q, before)

	pg.Crash(t)
	errc := make(chan error, 1)
	if err := q.Enqueue(ctx, rec("bob@ext.test", "d1", "while down"), func(_ bool, err error) { errc <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err == nil {
		t.Fatal("a commit with the database down reported success")
	}
	if q.StoreError() == nil {
		t.Error("StoreError is nil with the database down")
	}
	marked := make(chan error, 1)
	q.MarkThen(ctx, before.Seq, StateSent, "", func(err error) { marked <- err })

	pg.Start(t)
	var after *Record
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		after = rec("bob@ext.test", "a1", "after")
		if err := q.Enqueue(ctx, after, func(_ bool, err error) { errc <- err }); err != nil {
			t.Fatal(err)
		}
		err := <-errc
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the queue did not store again after the database came back: %v", err)
		}
	}
	if err := <-marked; err != nil {
		t.Fatalf("the kept mark: %v", err)
	}
	if after.Seq <= before.Seq {
		t.Errorf("seq after recovery %d, before %d", after.Seq, before.Seq)
	}
	if st := stateOf(t, q, before.Seq); st != StateSent {
		t.Errorf("the mark kept through the outage: state %q", st)
	}
	pending, err := q.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0].Out.Body != "after" {
		t.Fatalf("pending after recovery: %d records (%+v)", len(pending), pending)
	}
	if err := q.StoreError(); err != nil {
		t.Errorf("StoreError after recovery: %v", err)
	}
}

// TestQueuesSharingADatabaseNumberTheirOwnRows: two queues on one
// PostgreSQL database (two instances, as during a takeover) storing at
// once get distinct sequence numbers from the database, interleaved, and
// each record's number is its own row's, in runs of texts and one by
// one.
func TestQueuesSharingADatabaseNumberTheirOwnRows(t *testing.T) {
	store := testenv.SharedPostgres(t).NewDatabase(t)
	q1, stop1 := openTestQueue(t, store)
	defer stop1()
	q2, stop2 := openTestQueue(t, store)
	defer stop2()
	for _, q := range []*Queue{q1, q2} {
		if err := q.loadSeen(context.Background()); err != nil { // runs need a loaded filter
			t.Fatal(err)
		}
	}
	const n = 600
	type stored struct {
		q *Queue
		r *Record
	}
	var mu sync.Mutex
	var all []stored
	var wg sync.WaitGroup
	for w, q := range []*Queue{q1, q2, q1, q2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n / 4 {
				r := rec("bob@ext.test", fmt.Sprint("w", w, "-", i), fmt.Sprint("text ", w, " ", i))
				r.sentFirst = i%2 == 0
				if i%5 == 0 {
					r.Out.Subject = "one by one" // not a plain text: no run
				}
				errc := make(chan error, 1)
				if err := q.Enqueue(context.Background(), r, func(_ bool, err error) { errc <- err }); err != nil {
					t.Error(err)
					return
				}
				if i%16 == 15 { // let batches, and runs, form
					if err := <-errc; err != nil {
						t.Error(err)
						return
					}
				}
				mu.Lock()
				all = append(all, stored{q, r})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	settle(t, q1)
	settle(t, q2)
	seqs := map[int64]bool{}
	for _, s := range all {
		if s.r.Seq == 0 || seqs[s.r.Seq] {
			t.Fatalf("record %q: seq %d (zero or taken)", s.r.Out.Body, s.r.Seq)
		}
		seqs[s.r.Seq] = true
		got, err := s.q.ByOutID(context.Background(), "corp", s.r.Out.ID)
		if err != nil || got == nil || got.Seq != s.r.Seq || got.Out.Body != s.r.Out.Body {
			t.Fatalf("record %q (seq %d) read back as %+v, %v", s.r.Out.Body, s.r.Seq, got, err)
		}
	}
	if len(seqs) != n {
		t.Fatalf("%d records numbered, want %d", len(seqs), n)
	}
}
