package gateway

import (
	"context"
	"testing"
	"time"
)

// The records of messages already written wait for company before their
// commit, but nothing that someone waits on is held: linger returns as
// soon as such an operation joins the batch, and leaves what follows it
// for the next batch.
func TestLingerReturnsForWhatSomeoneWaitsOn(t *testing.T) {
	q := &Queue{ops: make(chan queueOp, 16)}
	onWireOp := func() queueOp { return queueOp{insert: &Record{sentFirst: true}} }
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for _, c := range []struct {
		name    string
		waiting queueOp
	}{
		{"a record to send", queueOp{insert: &Record{}}},
		{"a mark", queueOp{markSeq: 7, markState: "sent"}},
		{"an Exec", queueOp{exec: func(context.Context, *Tx) error { return nil }}},
	} {
		q.ops <- onWireOp()
		q.ops <- c.waiting
		q.ops <- onWireOp()
		batch, stop := q.linger(t.Context(), timer, []queueOp{onWireOp()}, 1024)
		if stop || len(batch) != 3 || onWire(batch) {
			t.Errorf("%s: linger returned %d operations (stop %v), want the first three", c.name, len(batch), stop)
		}
		if len(q.ops) != 1 {
			t.Errorf("%s: %d operations left for the next batch, want 1", c.name, len(q.ops))
		}
		<-q.ops
	}
}

// Only records already on the wire wait, and no longer than lingerFor;
// a full batch, or the queue stopping, ends the wait too.
func TestLingerWaitsOnlyForRecordsOnTheWire(t *testing.T) {
	q := &Queue{ops: make(chan queueOp, 16)}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	rec := queueOp{insert: &Record{sentFirst: true}}
	if onWire([]queueOp{rec, {insert: &Record{}}}) || onWire(nil) || !onWire([]queueOp{rec, rec}) {
		t.Fatal("onWire misreads a batch")
	}
	q.ops <- rec
	batch, stop := q.linger(t.Context(), timer, []queueOp{rec}, 1024)
	if stop || len(batch) != 2 {
		t.Errorf("after the wait: %d operations (stop %v), want both records", len(batch), stop)
	}
	q.ops <- rec
	q.ops <- rec
	if batch, _ := q.linger(t.Context(), timer, []queueOp{rec}, 2); len(batch) != 2 || len(q.ops) != 1 {
		t.Errorf("a full batch: %d operations taken, %d left; want 2 and 1", len(batch), len(q.ops))
	}
	<-q.ops
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if batch, stop := q.linger(ctx, timer, []queueOp{rec}, 1024); !stop || len(batch) != 1 {
		t.Errorf("a stopping queue: %d operations, stop %v; want the one record and stop", len(batch), stop)
	}
}
