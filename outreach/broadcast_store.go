package outreach

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
)

// Broadcasts are kept in their own table in the gateway's queue database,
// so that a broadcast's state commits with its copies (gateway.Tx).

func insertBroadcast(ctx context.Context, tx *gateway.Tx, b *Broadcast) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO broadcasts (id, parent, created_at, actor, reason, owner_id, team, tag,
		relationships, subject, body, state) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
		b.ID, b.Parent, b.CreatedAt.UnixNano(), b.Actor, b.Reason, b.OwnerID, strings.Join(b.Team, ","), b.Tag,
		strings.Join(b.Relationships, ","), b.Subject, b.Body, b.State)
	if err != nil {
		return fmt.Errorf("queue: store broadcast %s: %w", b.ID, err)
	}
	return nil
}

const broadcastColumns = `id, parent, created_at, actor, reason, owner_id, team, tag, relationships, subject, body,
	state, decided_at, queued, skipped_cap, skipped_gone, skipped_unreachable`

func scanBroadcast(s interface{ Scan(...any) error }) (*Broadcast, error) {
	var b Broadcast
	var created, decided int64
	var team, rels string
	err := s.Scan(&b.ID, &b.Parent, &created, &b.Actor, &b.Reason, &b.OwnerID, &team, &b.Tag, &rels,
		&b.Subject, &b.Body, &b.State, &decided, &b.Queued, &b.SkippedCap, &b.SkippedGone, &b.SkippedUnreachable)
	if err != nil {
		return nil, err
	}
	b.CreatedAt = time.Unix(0, created).UTC()
	if decided != 0 {
		b.DecidedAt = time.Unix(0, decided).UTC()
	}
	if team != "" {
		b.Team = strings.Split(team, ",")
	}
	if rels != "" {
		b.Relationships = strings.Split(rels, ",")
	}
	return &b, nil
}

// LoadBroadcast returns a broadcast with its copies' outcome and, for a
// team broadcast, its members' copies. An unknown ID is an error wrapping
// identity.ErrNotFound.
func (s *Service) LoadBroadcast(ctx context.Context, id string) (*Broadcast, error) {
	b, err := scanBroadcast(s.gw.Queue().Reader().QueryRowContext(ctx, `SELECT `+broadcastColumns+` FROM broadcasts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: broadcast %s", identity.ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("queue: load broadcast %s: %w", id, err)
	}
	if b.State == BroadcastPrepared {
		if b.Members, err = s.listBroadcasts(ctx, membersOf, id); err != nil {
			return nil, err
		}
		for _, m := range b.Members {
			if err := s.countCopies(ctx, m); err != nil {
				return nil, err
			}
			b.Queued += m.Queued
			b.SkippedCap += m.SkippedCap
			b.SkippedGone += m.SkippedGone
			b.SkippedUnreachable += m.SkippedUnreachable
			b.Sent += m.Sent
			b.Failed += m.Failed
			b.Pending += m.Pending
		}
		return b, nil
	}
	return b, s.countCopies(ctx, b)
}

// AwaitingBroadcasts are the team broadcasts waiting for an employee's
// decision, oldest first.
func (s *Service) AwaitingBroadcasts(ctx context.Context, employeeID string) ([]*Broadcast, error) {
	return s.listBroadcasts(ctx, awaitingFor, employeeID)
}

// Listings of broadcasts, for listBroadcasts.
const (
	selectBroadcasts = `SELECT ` + broadcastColumns + ` FROM broadcasts `
	// membersOf lists a team broadcast's member copies (its ID the one
	// argument).
	membersOf = selectBroadcasts + `WHERE parent = ? ORDER BY owner_id`
	// awaitingFor lists the copies waiting for an employee's decision,
	// oldest first.
	awaitingFor = selectBroadcasts + `WHERE owner_id = ? AND state = 'awaiting' ORDER BY created_at`
	// unreported lists the broadcasts sent whose owner was not yet told.
	unreported = selectBroadcasts + `WHERE state = 'sent' AND reported = 0`
)

// listBroadcasts runs one of the listings above.
func (s *Service) listBroadcasts(ctx context.Context, query string, args ...any) ([]*Broadcast, error) {
	rows, err := s.gw.Queue().Reader().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("queue: list broadcasts: %w", err)
	}
	defer rows.Close()
	var out []*Broadcast
	for rows.Next() {
		b, err := scanBroadcast(rows)
		if err != nil {
			return nil, fmt.Errorf("queue: list broadcasts: %w", err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

func (s *Service) countCopies(ctx context.Context, b *Broadcast) error {
	states, err := s.gw.Queue().BroadcastStates(ctx, b.ID)
	if err != nil {
		return err
	}
	b.Sent, b.Failed, b.Pending = states[gateway.StateSent], states[gateway.StateFailed], states[gateway.StatePending]
	return nil
}
