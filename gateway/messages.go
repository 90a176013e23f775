package gateway

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/kakehashi/kakehashi/internal/sqldb"
	"github.com/kakehashi/kakehashi/routing"
)

// Record is one message in the durable queue: what arrived, and what the
// gateway decided to send for it.
type Record struct {
	Seq        int64
	ReceivedAt time.Time
	// Inbound side.
	InNetwork string
	InFrom    string // bare sender address
	InReply   string // full address to answer the sender at
	InTo      string
	// InID is the sender's ID. When not empty, a record with the same
	// sender, ID, recipient and text (body and subject) received within
	// DedupeWindow is a redelivery and is not stored again.
	InID string
	// Broadcast is the ID of the broadcast this message is part of.
	Broadcast string
	// State is pending, sent or failed, as last read from the queue.
	State string
	// Decision.
	RelationshipID string
	OwnerID        string
	Out            Outgoing

	// inRefs are the references as the sender gave them: Insert
	// translates them into Out.Refs inside the write transaction, so
	// that a reference to a message in the same batch is found.
	inRefs []Ref
	// audit, when not nil, is written to the audit outbox with the
	// record (an outbound guard's hold or release).
	audit *Act
	// hash is contentHash of its text, once worked out on the way to
	// the queue (wirefirst.go, textrun.go): each message is hashed once.
	hash string
	// sentFirst: it was written to its network before its commit
	// (wirefirst.go), so it is stored as sent.
	sentFirst bool
	// empty is set by Insert when nothing was left to relay once the
	// references were translated (a reaction to a message the map does
	// not know): nothing is stored.
	empty bool
}

// DedupeWindow is how long a message's ID is remembered to recognise its
// redelivery: a message from the same sender with the same ID, recipient
// and text arriving within it is dropped (and counted) as a duplicate.
// Redelivery (an IMAP mail offered again after a restart, a client
// resending on reconnect) happens within minutes or hours; a day bounds
// how long a client that reuses IDs (counters are common) can lose an
// identical text to an old one.
const DedupeWindow = 24 * time.Hour

// Record states.
const (
	StatePending = "pending" // not yet sent
	StateSent    = "sent"    // handed to its network
	StateFailed  = "failed"  // given up; its author was told
)

// Tx is the write transaction an Exec function runs in. It is for the
// caller's own tables in the queue's database (outreach keeps its
// broadcasts there, so that they commit with their copies); the messages
// table is written and read only through Tx's and Queue's methods. Its
// ExecContext, QueryContext and QueryRowContext take statements written
// with "?" placeholders whatever the database (see DB); the embedded
// *sql.Tx runs them as written.
type Tx struct {
	*sql.Tx
	dialect           sqldb.Dialect
	ins, insText, dup *sql.Stmt
	seen              *seenFilter
	// audited is set when the transaction wrote to the audit outbox.
	audited bool
}

// Insert stores r, reporting whether it was new (not a redelivery).
func (tx *Tx) Insert(ctx context.Context, r *Record) (bool, error) {
	r.empty = false
	if len(r.inRefs) > 0 {
		refs, err := translateRefs(ctx, tx, r.InNetwork, r.InFrom, r.RelationshipID, r.Out.Network, r.inRefs)
		if err != nil {
			return false, err
		}
		r.Out.Refs = refs
		if r.Out.nothing() {
			r.empty = true
			return false, nil
		}
	}
	partsCol, err := encodeParts(&r.Out)
	if err != nil {
		return false, err
	}
	hash := contentHash(r.Out.Subject, r.Out.Body, partsCol)
	key := ""
	if r.InID != "" {
		key = dedupeKey(r, hash)
	}
	if key != "" && (tx.seen == nil || tx.seen.mayHave(key, time.Now())) {
		// A separate read, not INSERT … WHERE NOT EXISTS: that form makes
		// SQLite keep a statement journal per row, which cost four times
		// the insert itself.
		var one int
		err := tx.dup.QueryRowContext(ctx, r.InNetwork, r.InFrom, r.InID, r.InTo, hash, r.ReceivedAt.Add(-DedupeWindow).UnixNano()).Scan(&one)
		switch {
		case err == nil:
			return false, nil
		case !errors.Is(err, sql.ErrNoRows):
			return false, fmt.Errorf("queue: insert: %w", err)
		}
	}
	state, doneAt := StatePending, any(nil)
	if r.sentFirst {
		state, doneAt = StateSent, time.Now().UnixNano()
	}
	var st *sql.Stmt
	var args []any
	if r.plainText(partsCol) {
		st, args = tx.insText, []any{r.ReceivedAt.UnixNano(),
			r.InNetwork, r.InFrom, r.InReply, r.InTo, r.InID,
			r.RelationshipID, r.OwnerID,
			r.Out.Network, r.Out.From, r.Out.To, r.Out.ID, r.Out.Body, r.Out.Nick,
			hash, state, doneAt}
	} else {
		st, args = tx.ins, []any{r.ReceivedAt.UnixNano(),
			r.InNetwork, r.InFrom, r.InReply, r.InTo, r.InID,
			r.RelationshipID, r.OwnerID,
			r.Out.Network, r.Out.From, r.Out.To, r.Out.ID, r.Out.Body, r.Out.Nick,
			refusalReason(r), refusalText(r), r.Out.ReplyTo,
			boolInt(r.Out.Kind == KindNotice), boolInt(r.Out.Subscribe), r.Out.Subject, r.Out.Thread, autoColumn(r.Out.Kind), r.Broadcast,
			hash, state, partsCol, doneAt}
	}
	seq, err := tx.insertRow(ctx, st, args)
	if err != nil {
		return false, err
	}
	r.Seq, r.Out.Seq = seq, seq
	if key != "" && tx.seen != nil {
		// Noted before the commit: should it fail, a copy is only looked
		// for in the queue, and not found.
		tx.seen.add(key, time.Now())
	}
	if r.audit != nil {
		if err := tx.Audit(ctx, *r.audit); err != nil {
			return false, err
		}
	}
	return true, nil
}

// insertRow runs st, an insert of one message, and returns its row's
// sequence number: SQLite's last rowid, or, on PostgreSQL, what the
// statement returned (Queue.insertSQL).
func (tx *Tx) insertRow(ctx context.Context, st *sql.Stmt, args []any) (int64, error) {
	var seq int64
	if tx.dialect == sqldb.Postgres {
		if err := st.QueryRowContext(ctx, args...).Scan(&seq); err != nil {
			return 0, fmt.Errorf("queue: insert: %w", err)
		}
		return seq, nil
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, fmt.Errorf("queue: insert: %w", err)
	}
	if seq, err = res.LastInsertId(); err != nil {
		return 0, fmt.Errorf("queue: insert: %w", err)
	}
	return seq, nil
}

const insertSQL = `INSERT INTO messages (received_at,
	in_network, in_from, in_reply, in_to, in_id, relationship_id, owner_id,
	out_network, out_from, out_to, out_id, body, nick,
	refusal_condition, refusal_text, reply_to, notice, subscribe, subject, thread, auto, broadcast, content_hash, state, parts, done_at)
	VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`

// insertTextSQL is insertSQL for the commonest record, a relayed text
// with nothing else (no refusal, subject, thread, subscription, parts or
// broadcast): the columns it leaves out take their defaults, and binding
// ten fewer values is a third of an insert's cost.
const insertTextSQL = `INSERT INTO messages (` + textColumns + `) VALUES (` + textValues + `,?,?)`

// textColumns are the columns a relayed text is stored with (by
// insertTextSQL and, many rows at once, by runSQL); textValues are the
// values of all but the last two (state, done_at), content_hash last.
const (
	textColumns = `received_at,
	in_network, in_from, in_reply, in_to, in_id, relationship_id, owner_id,
	out_network, out_from, out_to, out_id, body, nick,
	refusal_condition, refusal_text, reply_to, notice, subscribe, content_hash, state, done_at`
	textValues = `?,?,?,?,?,?,?,?,?,?,?,?,?,?,'','','',0,0,?`
)

// plainText reports whether r can be stored with insertTextSQL.
func (r *Record) plainText(partsCol string) bool {
	o := &r.Out
	return o.Kind == KindRelayed && o.Refusal == nil && o.ReplyTo == "" && !o.Subscribe && o.Subject == "" &&
		o.Thread == "" && r.Broadcast == "" && partsCol == ""
}

// dupSQL finds the redelivery of a record: a row with the same sender,
// ID, recipient and text received within DedupeWindow (the last
// parameter is the window's start).
const dupSQL = `SELECT 1 FROM messages WHERE in_network = ? AND in_from = ? AND in_id = ? AND in_id <> ''
	AND in_to = ? AND content_hash = ? AND received_at > ? LIMIT 1`

func refusalReason(r *Record) string {
	if r.Out.Refusal == nil {
		return ""
	}
	return string(r.Out.Refusal.Reason)
}

func refusalText(r *Record) string {
	if r.Out.Refusal == nil {
		return ""
	}
	return r.Out.Refusal.Text
}

const selectSQL = `SELECT seq, received_at, in_network, in_from, in_reply, in_to, in_id,
	relationship_id, owner_id, out_network, out_from, out_to, out_id, body, nick,
	refusal_condition, refusal_text, reply_to, notice, subscribe, subject, thread, auto, broadcast, state, parts FROM messages `

// Pending returns the messages not yet sent, oldest first.
func (q *Queue) Pending(ctx context.Context) ([]*Record, error) {
	rows, err := q.ro.QueryContext(ctx, selectSQL+`WHERE state = 'pending' ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("queue: pending: %w", err)
	}
	defer rows.Close()
	var out []*Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ByOutID finds the record of a message the gateway sent on network with id.
func (q *Queue) ByOutID(ctx context.Context, network, id string) (*Record, error) {
	q.awaitWritten(ctx, id)
	row := q.ro.QueryRowContext(ctx, selectSQL+`WHERE out_network = ? AND out_id = ?`, network, id)
	r, err := scanRecord(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return r, err
}

// Stats counts records per state.
func (q *Queue) Stats(ctx context.Context) (map[string]int64, error) {
	rows, err := q.ro.QueryContext(ctx, `SELECT state, count(*) FROM messages GROUP BY state`)
	if err != nil {
		return nil, fmt.Errorf("queue: stats: %w", err)
	}
	defer rows.Close()
	m := map[string]int64{}
	for rows.Next() {
		var s string
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			return nil, fmt.Errorf("queue: stats: %w", err)
		}
		m[s] = n
	}
	return m, rows.Err()
}

type scanner interface{ Scan(...any) error }

func scanRecord(s scanner) (*Record, error) {
	var r Record
	var at int64
	var cond, text, auto, partsCol string
	var notice bool
	err := s.Scan(&r.Seq, &at, &r.InNetwork, &r.InFrom, &r.InReply, &r.InTo, &r.InID,
		&r.RelationshipID, &r.OwnerID, &r.Out.Network, &r.Out.From, &r.Out.To, &r.Out.ID,
		&r.Out.Body, &r.Out.Nick, &cond, &text, &r.Out.ReplyTo, &notice, &r.Out.Subscribe,
		&r.Out.Subject, &r.Out.Thread, &auto, &r.Broadcast, &r.State, &partsCol)
	if err != nil {
		return nil, fmt.Errorf("queue: scan: %w", err)
	}
	if err := decodeParts(partsCol, &r.Out); err != nil {
		return nil, err
	}
	r.ReceivedAt = time.Unix(0, at)
	r.Out.Seq = r.Seq
	r.Out.Kind = kindOf(cond != "", notice, auto)
	if cond != "" {
		r.Out.Refusal = &routing.Refusal{Reason: routing.ParseReason(cond), Text: text}
	}
	return &r, nil
}

// autoColumn is what the messages table's auto column holds for a kind:
// the kinds the gateway writes on someone's behalf, by name. (The table
// predates Kind: refusals are told by refusal_condition, notices by the
// notice column.)
func autoColumn(k Kind) string {
	switch k {
	case KindWelcome, KindHandover, KindBroadcast:
		return k.String()
	}
	return ""
}

// kindOf reads a kind back from the messages table's columns.
func kindOf(refusal, notice bool, auto string) Kind {
	switch {
	case refusal:
		return KindRefusal
	case notice:
		return KindNotice
	}
	for _, k := range []Kind{KindWelcome, KindHandover, KindBroadcast} {
		if auto == k.String() {
			return k
		}
	}
	return KindRelayed
}

// HeardFrom reports whether the queue holds a message from addr on
// network: proof that the address worked. A broadcast copy is keyed on
// its contact's address (for deduplication) but came from nobody, so it
// proves nothing. Rows outlive their texts
// (retention blanks only bodies), so the proof lasts.
func (q *Queue) HeardFrom(ctx context.Context, network, addr string) (bool, error) {
	var one int
	err := q.ro.QueryRowContext(ctx, `SELECT 1 FROM messages WHERE in_network = ? AND in_from = ? AND in_id <> '' AND broadcast = '' LIMIT 1`, network, addr).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("queue: look for messages from a contact: %w", err)
	}
	return true, nil
}

// contentHash identifies a message's content: its subject, body and
// parts column (files, references, reactions). A message without parts
// hashes as it did before parts existed.
func contentHash(subject, body, partsCol string) string {
	h := sha256.New()
	h.Write([]byte(subject))
	h.Write([]byte{0})
	h.Write([]byte(body))
	if partsCol != "" {
		h.Write([]byte{0})
		h.Write([]byte(partsCol))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Reader is a read-only handle on the queue's database, for the tables
// other packages keep there (see Tx); its statements are written with
// "?" placeholders whatever the database (see DB).
func (q *Queue) Reader() *DB { return q.ro }
