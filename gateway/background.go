package gateway

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// tracker runs background work and waits for it: Gateway.Run returns only
// after everything it started has ended, so nothing writes to a queue that
// is closed (or to one a new process has opened).
type tracker struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// add reserves a slot for one piece of work; false once Close was called.
func (t *tracker) add() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.wg.Add(1)
	return true
}

// Go runs f on a goroutine of its own; false (f not run) once Close was
// called.
func (t *tracker) Go(f func()) bool {
	if !t.add() {
		return false
	}
	go func() {
		defer t.wg.Done()
		f()
	}()
	return true
}

// AfterFunc runs f after d, as time.AfterFunc; false (f not run) once
// Close was called. Close waits for f, timer included.
func (t *tracker) AfterFunc(d time.Duration, f func()) bool {
	if !t.add() {
		return false
	}
	time.AfterFunc(d, func() {
		defer t.wg.Done()
		f()
	})
	return true
}

// every calls f at each interval until ctx ends.
func every(ctx context.Context, interval time.Duration, f func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			f(ctx)
		case <-ctx.Done():
			return
		}
	}
}

// Close refuses new work and waits for what runs or is scheduled.
func (t *tracker) Close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	t.wg.Wait()
}

// expireBatch bounds one retention write: the queue's writer is never held
// long by it, so messages keep flowing while old texts are blanked.
const expireBatch = 500

// expireTextsEvery blanks, every interval and once at the start, the
// texts of messages done longer than the retention ago, until ctx ends.
func (g *Gateway) expireTextsEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := g.expireTexts(ctx, g.now().Add(-g.retention)); err != nil {
			if ctx.Err() == nil {
				g.log.Warn("could not blank the text of old messages", "err", err)
			}
		} else if n > 0 {
			g.log.Info("blanked the text of old messages", "count", n, "retention", g.retention)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// expireTexts blanks the body, subject and parts (files, references) of
// sent and failed messages done before cutoff, and the gateway's ID of
// them, which takes them out of the ID map; it returns how many it
// blanked. Everything else of the row stays: who, when, the outcome, and
// what the broadcast caps and deduplication count (out_network, out_to,
// received_at, auto, in_id).
func (g *Gateway) expireTexts(ctx context.Context, cutoff time.Time) (int64, error) {
	var total int64
	for ctx.Err() == nil {
		var n int64
		err := g.queue.Exec(ctx, func(ctx context.Context, tx *Tx) error {
			res, err := tx.ExecContext(ctx, `UPDATE messages SET body = '', subject = '', parts = '', out_id = '' WHERE seq IN (
				SELECT seq FROM messages WHERE state <> 'pending' AND out_id <> '' AND done_at < ? LIMIT ?)`,
				cutoff.UnixNano(), expireBatch)
			if err != nil {
				return fmt.Errorf("queue: blank old texts: %w", err)
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < expireBatch {
			return total, nil
		}
	}
	return total, ctx.Err()
}

// spoolKeep is how long a spooled file outlives the messages that carry
// it: long enough for a send retried after an outage, and no copy of a
// customer's file lingers on the gateway's disk for longer.
const spoolKeep = 24 * time.Hour

// pruneSpool removes spooled files written before cutoff that no pending
// message carries.
func (g *Gateway) pruneSpool(ctx context.Context, cutoff time.Time) {
	if g.files == nil {
		return
	}
	pending := map[string]bool{}
	rows, err := g.queue.ro.QueryContext(ctx, `SELECT parts FROM messages WHERE state = 'pending' AND parts <> ''`)
	if err != nil {
		g.log.Warn("could not prune the file spool", "err", err)
		return
	}
	for rows.Next() {
		var col string
		var out Outgoing
		if rows.Scan(&col) != nil || decodeParts(col, &out) != nil {
			continue
		}
		for _, f := range out.Files {
			pending[f.SHA256] = true
		}
	}
	rows.Close()
	if rows.Err() != nil {
		g.log.Warn("could not prune the file spool", "err", rows.Err())
		return
	}
	n, size, err := g.files.o.Spool.Prune(ctx, func(sha string) bool { return pending[sha] }, cutoff)
	if err != nil {
		g.log.Warn("could not prune the file spool", "err", err)
		return
	}
	if n > 0 {
		g.log.Info("removed relayed files from the spool", "files", n, "bytes", size)
	}
}

// pruneSpoolEvery prunes the spool every interval and once at the start,
// until ctx ends.
func (g *Gateway) pruneSpoolEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		g.pruneSpool(ctx, g.now().Add(-spoolKeep))
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}
