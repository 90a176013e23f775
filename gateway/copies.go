package gateway

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// What outreach asks of the messages table about broadcast copies (their
// Record.Broadcast is set): their states, and how many reached a contact
// lately, for the caps.

// BroadcastStates counts the copies of broadcast id by state.
func (q *Queue) BroadcastStates(ctx context.Context, id string) (map[string]int, error) {
	rows, err := q.ro.QueryContext(ctx, `SELECT state, COUNT(*) FROM messages WHERE broadcast = ? AND broadcast <> '' GROUP BY state`, id)
	if err != nil {
		return nil, fmt.Errorf("queue: count broadcast %s: %w", id, err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var state string
		var n int
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fmt.Errorf("queue: count broadcast %s: %w", id, err)
		}
		out[state] = n
	}
	return out, rows.Err()
}

// BroadcastPending reports whether a copy of broadcast id is still to be
// sent.
func (q *Queue) BroadcastPending(ctx context.Context, id string) (bool, error) {
	var one int
	switch err := q.ro.QueryRowContext(ctx, pendingCopies+` LIMIT 1`, id).Scan(&one); {
	case err == nil:
		return true, nil
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	default:
		return false, fmt.Errorf("queue: broadcast %s: %w", id, err)
	}
}

// pendingCopies selects the pending copies of a broadcast (its ID the
// one parameter).
const pendingCopies = `SELECT 1 FROM messages WHERE broadcast = ? AND broadcast <> '' AND state = 'pending'`

// PendingCopiesSQL is an SQL condition, for Tx, that holds while no copy
// of the broadcast whose ID is its one parameter is pending: a claim that
// commits only once the last copy is done.
const PendingCopiesSQL = `NOT EXISTS (` + pendingCopies + `)`

// RecentCopies counts, per contact address in addrs on network, the
// broadcast copies queued to it (and not failed) since monthAgo, and
// since dayAgo. Read in tx, so the count holds against the copies the
// caller inserts in the same transaction.
func (tx *Tx) RecentCopies(ctx context.Context, network string, addrs []string, dayAgo, monthAgo time.Time) (map[string][2]int, error) {
	out := map[string][2]int{}
	const chunk = 500
	for i := 0; i < len(addrs); i += chunk {
		part := addrs[i:min(i+chunk, len(addrs))]
		args := []any{dayAgo.UnixNano(), network, monthAgo.UnixNano()}
		for _, a := range part {
			args = append(args, a)
		}
		rows, err := tx.QueryContext(ctx, `SELECT out_to, SUM(CASE WHEN received_at >= ? THEN 1 ELSE 0 END), COUNT(*) FROM messages
			WHERE auto = 'broadcast' AND out_network = ? AND received_at >= ? AND state <> 'failed'
			AND out_to IN (?`+strings.Repeat(",?", len(part)-1)+`) GROUP BY out_to`, args...)
		if err != nil {
			return nil, fmt.Errorf("queue: count recent broadcasts: %w", err)
		}
		for rows.Next() {
			var addr string
			var day, month int
			if err := rows.Scan(&addr, &day, &month); err != nil {
				rows.Close()
				return nil, fmt.Errorf("queue: count recent broadcasts: %w", err)
			}
			out[addr] = [2]int{day, month}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("queue: count recent broadcasts: %w", err)
		}
	}
	return out, nil
}
