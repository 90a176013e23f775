package gateway

import (
	"context"
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
