package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kakehashi/kakehashi/identity"
)

// Act is an admin's or employee's act to be written to the identity
// store's audit log (see identity.State.RecordAudit).
type Act struct {
	Actor, Action, Reason, Subject string
	Details                        any
}

// Audit records a in the queue's audit outbox, in tx: the act tx commits
// (a broadcast's state, its copies) and its audit entry commit together
// or not at all, though they live in two databases. After the commit the
// gateway copies the entry to the identity store's audit log and removes
// it from the outbox; an entry whose copy failed stays and is copied at
// the next try, at the latest at the next start. An act's (Action,
// Subject) pair must name it alone: the copy is skipped when the log
// already has that pair, so a crash between the copy and the removal
// writes nothing twice.
func (tx *Tx) Audit(ctx context.Context, a Act) error {
	details, err := json.Marshal(a.Details)
	if err != nil {
		return fmt.Errorf("queue: audit %s: %w", a.Action, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_outbox (actor, action, reason, subject, details, at) VALUES (?,?,?,?,?,?)`,
		a.Actor, a.Action, a.Reason, a.Subject, string(details), time.Now().UnixNano()); err != nil {
		return fmt.Errorf("queue: audit %s: %w", a.Action, err)
	}
	tx.audited = true
	return nil
}

// outboxRetry is how soon an audit entry whose copy failed is tried again.
const outboxRetry = 30 * time.Second

// flushOutbox copies the audit outbox to the identity store, in order.
func (g *Gateway) flushOutbox(ctx context.Context) {
	// One run at a time, and a caller whose act was just committed waits
	// for its entry to be in the log before it answers.
	g.outboxMu.Lock()
	defer g.outboxMu.Unlock()
	type entry struct {
		id                                      int64
		actor, action, reason, subject, details string
	}
	rows, err := g.queue.ro.QueryContext(ctx, `SELECT id, actor, action, reason, subject, details FROM audit_outbox ORDER BY id`)
	if err != nil {
		g.log.Error("could not read the audit outbox; will try again", "err", err)
		g.bg.AfterFunc(outboxRetry, func() { g.flushOutbox(ctx) })
		return
	}
	var entries []entry
	for rows.Next() {
		var e entry
		if err := rows.Scan(&e.id, &e.actor, &e.action, &e.reason, &e.subject, &e.details); err != nil {
			rows.Close()
			g.log.Error("could not read the audit outbox; will try again", "err", err)
			return
		}
		entries = append(entries, e)
	}
	rows.Close()
	for _, e := range entries {
		done, err := g.state.Audit(ctx, identity.AuditQuery{Action: e.action, Subject: e.subject, Limit: 1})
		if err == nil && len(done) == 0 {
			err = g.state.RecordAudit(ctx, e.actor, e.action, e.reason, e.subject, json.RawMessage(e.details))
		}
		if err == nil {
			err = g.queue.Exec(ctx, func(ctx context.Context, tx *Tx) error {
				_, err := tx.ExecContext(ctx, `DELETE FROM audit_outbox WHERE id = ?`, e.id)
				return err
			})
		}
		if err != nil {
			g.log.Error("could not write the audit log; the entry is kept and written later", "action", e.action, "subject", e.subject, "err", err)
			g.bg.AfterFunc(outboxRetry, func() { g.flushOutbox(ctx) })
			return
		}
	}
}
