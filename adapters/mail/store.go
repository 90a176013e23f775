package mail

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"embed"
	"encoding/base32"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/kakehashi/kakehashi/adapters/mail/compose"
	"github.com/kakehashi/kakehashi/internal/migrate"
	"github.com/kakehashi/kakehashi/internal/sqldb"
)

// store is the adapter's own durable state: where it is in each mailbox,
// the conversations (threads) it knows, the gateway's ID of each mail it
// sent (sent_ids: a Message-ID is a keyed digest of that ID, which cannot
// be read back, and a contact's reply names the mail it answers by
// Message-ID), and its secret. It holds protocol state only; who owns a
// contact is the identity store's business. It is a SQLite file of its
// own, or tables in a PostgreSQL database shared with the rest of the
// gateway's stores, in a schema of the network's own (openStore).
type store struct {
	db      *sql.DB
	dialect sqldb.Dialect
	secret  []byte
}

const storeSchema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS mailbox_state (
	mailbox TEXT PRIMARY KEY, uidvalidity INTEGER NOT NULL, last_uid INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS threads (
	id TEXT PRIMARY KEY, persona TEXT NOT NULL, contact TEXT NOT NULL,
	subject TEXT NOT NULL, refs TEXT NOT NULL, updated_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS threads_conv ON threads(persona, contact, updated_at);
CREATE TABLE IF NOT EXISTS message_ids (
	message_id TEXT PRIMARY KEY, thread_id TEXT NOT NULL, outbound INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sent_ids (message_id TEXT PRIMARY KEY, gateway_id TEXT NOT NULL);
`

// maxRefs bounds the References kept per thread: the first message and the
// latest ones, which is what clients need to thread (RFC 5322 3.6.4).
const maxRefs = 20

// openStore opens (creating if needed) network's state at where: a file
// path, or a store URL as sqldb.Parse reads it ("sqlite:PATH",
// "postgres://…").
func openStore(ctx context.Context, where, network string) (*store, error) {
	s, name, err := openSchema(ctx, where, network)
	if err != nil {
		return nil, err
	}
	if s.secret, err = s.loadSecret(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("mail state %s: %w", name, err)
	}
	return s, nil
}

// MigrateStore creates or brings up to date the schema of network's state
// at where (as Open's Config.Store, or the file mail-<network>.db) and
// writes nothing else: unlike Open, it does not make the adapter's
// secret. It is for tools that fill a new store from an old one
// (kakehashi store copy), which copy the old secret.
func MigrateStore(ctx context.Context, where, network string) error {
	s, _, err := openSchema(ctx, where, network)
	if err != nil {
		return err
	}
	return s.Close()
}

// openSchema opens network's state at where with its schema up to date,
// its secret not yet loaded; name is where, fit for messages.
func openSchema(ctx context.Context, where, network string) (*store, string, error) {
	src, err := sqldb.Parse(where)
	if err != nil {
		return nil, "", fmt.Errorf("mail state: %w", err)
	}
	if src.Dialect == sqldb.Postgres {
		s, err := openPostgresStore(ctx, src.URL, network)
		return s, sqldb.Redact(src.URL), err
	}
	path := src.Path
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, "", fmt.Errorf("mail state %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, storeSchema); err != nil {
		db.Close()
		return nil, "", fmt.Errorf("mail state %s: create schema: %w", path, err)
	}
	return &store{db: db}, path, nil
}

// postgresMigrations are the store's numbered migrations on PostgreSQL
// (on SQLite, storeSchema creates what is missing, as before numbered
// migrations).
//
//go:embed migrations/postgres/*.sql
var postgresMigrations embed.FS

// openPostgresStore opens network's state in the PostgreSQL database at
// pgURL (its schema migrated, its secret not yet loaded), in the schema its search_path names, or, when it names none, in
// mailSchema(network): several mail networks share a database without
// sharing tables. One connection, as on SQLite: a batch's transaction
// runs alone, so two never create one conversation's thread twice.
func openPostgresStore(ctx context.Context, pgURL, network string) (*store, error) {
	name := sqldb.Redact(pgURL)
	u, err := url.Parse(pgURL)
	if err != nil {
		return nil, fmt.Errorf("mail state %s: %w", name, sqldb.ErrBadSource)
	}
	if u.Query().Get("search_path") == "" {
		if pgURL, err = sqldb.InSchema(ctx, pgURL, mailSchema(network)); err != nil {
			return nil, fmt.Errorf("mail state: %w", err)
		}
	}
	db, err := sqldb.OpenPostgres(ctx, pgURL)
	if err != nil {
		return nil, fmt.Errorf("mail state %s: %w", name, err)
	}
	db.SetMaxOpenConns(1)
	s := &store{db: db, dialect: sqldb.Postgres}
	ms, err := migrate.LoadDialect(postgresMigrations, "migrations", sqldb.Postgres)
	if err == nil {
		_, err = migrate.Up(ctx, db, ms, migrate.Options{Table: "mail_migrations", Dialect: sqldb.Postgres})
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("mail state %s: %w", name, err)
	}
	return s, nil
}

// notIdent is what a network's name may hold that a schema's may not.
var notIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// mailSchema is the PostgreSQL schema of a mail network's state when its
// store URL names none: mail_ and the network's name in lower case, other
// characters as underscores (as the daemon names it).
func mailSchema(network string) string {
	s := "mail_" + notIdent.ReplaceAllString(strings.ToLower(network), "_")
	return s[:min(len(s), 63)]
}

// rebind writes query's "?" placeholders for the store's dialect.
func (s *store) rebind(query string) string { return sqldb.Rebind(s.dialect, query) }

func (s *store) Close() error { return s.db.Close() }

// loadSecret returns the adapter's random secret, creating it on first
// use. It keys bounce return paths and Message-IDs; it never leaves here.
func (s *store) loadSecret(ctx context.Context) ([]byte, error) {
	var v []byte
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'secret'`).Scan(&v)
	if err == nil && len(v) >= 32 {
		return v, nil
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	v = make([]byte, 32)
	if _, err := rand.Read(v); err != nil {
		return nil, fmt.Errorf("make secret: %w", err)
	}
	if s.dialect == sqldb.Postgres {
		return s.shareSecret(ctx, v)
	}
	if _, err := s.db.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES ('secret', ?)`, v); err != nil {
		return nil, fmt.Errorf("store secret: %w", err)
	}
	return v, nil
}

// shareSecret stores v as the secret unless another instance sharing the
// database stored one first, and returns the secret stored: every
// instance signs with the same one.
func (s *store) shareSecret(ctx context.Context, v []byte) ([]byte, error) {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('secret', $1)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE length(meta.value) < 32`, v); err != nil {
		return nil, fmt.Errorf("store secret: %w", err)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'secret'`).Scan(&v); err != nil {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	return v, nil
}

// mac is a keyed digest of parts, as lower-case base32 of n bytes.
func (s *store) mac(n int, parts ...string) string {
	h := hmac.New(sha256.New, s.secret)
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return b32(h.Sum(nil)[:n])
}

func b32(b []byte) string {
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// mailboxState is where the adapter is in one mailbox.
type mailboxState struct {
	UIDValidity uint32
	LastUID     uint32
}

func (s *store) mailbox(ctx context.Context, name string) (mailboxState, error) {
	var st mailboxState
	err := s.db.QueryRowContext(ctx, s.rebind(`SELECT uidvalidity, last_uid FROM mailbox_state WHERE mailbox = ?`), name).
		Scan(&st.UIDValidity, &st.LastUID)
	if errors.Is(err, sql.ErrNoRows) {
		return mailboxState{}, nil
	}
	if err != nil {
		return st, fmt.Errorf("mail state: read mailbox %s: %w", name, err)
	}
	return st, nil
}

func (s *store) setMailbox(ctx context.Context, name string, st mailboxState) error {
	_, err := s.db.ExecContext(ctx, s.rebind(`INSERT INTO mailbox_state (mailbox, uidvalidity, last_uid) VALUES (?, ?, ?)
		ON CONFLICT(mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid`),
		name, int64(st.UIDValidity), int64(st.LastUID))
	if err != nil {
		return fmt.Errorf("mail state: save mailbox %s: %w", name, err)
	}
	return nil
}

// thread is one mail conversation between a persona and a contact.
type thread struct {
	ID      string
	Persona string
	Contact string
	Subject string
	Refs    []string // Message-IDs, oldest first, capped at maxRefs
	Updated time.Time
}

func (t *thread) last() string {
	if len(t.Refs) == 0 {
		return ""
	}
	return t.Refs[len(t.Refs)-1]
}

// add appends a Message-ID, keeping the root and the latest ones. IDs that
// could not be written back in References (an odd client's) are left out:
// they would make every later reply in the thread unsendable.
func (t *thread) add(id string) {
	if !compose.ValidMsgID(id) {
		return
	}
	for _, r := range t.Refs {
		if r == id {
			return
		}
	}
	t.Refs = append(t.Refs, id)
	if len(t.Refs) > maxRefs {
		t.Refs = append(t.Refs[:1], t.Refs[len(t.Refs)-maxRefs+1:]...)
	}
}

// threadTx reads and writes threads inside one transaction, so a batch of
// mail sees its own earlier messages and commits with one sync. Reads are
// cached and writes are held until Commit, which writes them with a few
// multi-row statements: the SQLite driver prepares every statement anew,
// so statements per mail, not bytes, are what costs.
type threadTx struct {
	tx      *sql.Tx
	dialect sqldb.Dialect
	threads map[string]*thread // by ID; nil: known not to exist
	ids     map[string]msgRef  // by Message-ID; zero threadID: known unknown
	dirtyTh map[string]bool    // threads to write
	order   []string           // Message-IDs to record (their refs are in ids), in order
	sent    [][2]string        // (Message-ID, gateway ID) of mail sent, to record
}

// msgRef is what the store knows of one Message-ID.
type msgRef struct {
	threadID string
	kind     int64 // ref*: the message_ids.outbound column
	// gatewayID is the gateway's ID of a mail the gateway sent, when
	// known (sent_ids); "" for others.
	gatewayID string
}

// What message_ids.outbound holds (0 and 1 were its first values).
const (
	refInbound        = 0 // a mail received
	refOutbound       = 1 // a mail the gateway sent
	refInboundSubject = 2 // a mail received whose subject the employee was shown
)

func (s *store) begin(ctx context.Context) (*threadTx, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("mail state: begin: %w", err)
	}
	return &threadTx{tx: tx, dialect: s.dialect, threads: map[string]*thread{}, ids: map[string]msgRef{},
		dirtyTh: map[string]bool{}}, nil
}

// Commit writes what the transaction changed and commits it.
func (t *threadTx) Commit(ctx context.Context) error {
	var ths []*thread
	for id := range t.dirtyTh {
		ths = append(ths, t.threads[id])
	}
	const thCols = 6
	for len(ths) > 0 {
		n := min(len(ths), 150)
		var q strings.Builder
		q.WriteString(`INSERT INTO threads (id, persona, contact, subject, refs, updated_at) VALUES `)
		args := make([]any, 0, n*thCols)
		for i, th := range ths[:n] {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?,?,?,?,?,?)")
			args = append(args, th.ID, th.Persona, th.Contact, th.Subject, strings.Join(th.Refs, "\n"), th.Updated.UnixNano())
		}
		q.WriteString(` ON CONFLICT(id) DO UPDATE SET subject = excluded.subject, refs = excluded.refs, updated_at = excluded.updated_at`)
		if _, err := t.tx.ExecContext(ctx, t.rebind(q.String()), args...); err != nil {
			return fmt.Errorf("mail state: save threads: %w", err)
		}
		ths = ths[n:]
	}
	ids := t.order
	for len(ids) > 0 {
		n := min(len(ids), 300)
		var q strings.Builder
		q.WriteString(`INSERT INTO message_ids (message_id, thread_id, outbound) VALUES `)
		args := make([]any, 0, n*3)
		for i, id := range ids[:n] {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?,?,?)")
			r := t.ids[id]
			args = append(args, id, r.threadID, r.kind)
		}
		q.WriteString(` ON CONFLICT DO NOTHING`)
		if _, err := t.tx.ExecContext(ctx, t.rebind(q.String()), args...); err != nil {
			return fmt.Errorf("mail state: save message ids: %w", err)
		}
		ids = ids[n:]
	}
	for sent := t.sent; len(sent) > 0; {
		n := min(len(sent), 300)
		q := `INSERT INTO sent_ids (message_id, gateway_id) VALUES (?,?)` + strings.Repeat(",(?,?)", n-1) + ` ON CONFLICT DO NOTHING`
		args := make([]any, 0, 2*n)
		for _, p := range sent[:n] {
			args = append(args, p[0], p[1])
		}
		if _, err := t.tx.ExecContext(ctx, t.rebind(q), args...); err != nil {
			return fmt.Errorf("mail state: save sent message ids: %w", err)
		}
		sent = sent[n:]
	}
	if err := t.tx.Commit(); err != nil {
		return fmt.Errorf("mail state: commit: %w", err)
	}
	return nil
}

func (t *threadTx) Rollback() { _ = t.tx.Rollback() }

// rebind writes query's "?" placeholders for the store's dialect.
func (t *threadTx) rebind(query string) string { return sqldb.Rebind(t.dialect, query) }

// preload reads, in one query per few hundred, what the store knows of
// msgIDs and their threads, so that the lookups of a batch hit the cache.
func (t *threadTx) preload(ctx context.Context, msgIDs []string) error {
	var want []string
	for _, id := range msgIDs {
		if _, ok := t.ids[id]; !ok && id != "" {
			t.ids[id] = msgRef{}
			want = append(want, id)
		}
	}
	for len(want) > 0 {
		n := min(len(want), 500)
		q := `SELECT m.message_id, m.thread_id, m.outbound, s.gateway_id, t.persona, t.contact, t.subject, t.refs, t.updated_at
			FROM message_ids m LEFT JOIN threads t ON t.id = m.thread_id LEFT JOIN sent_ids s ON s.message_id = m.message_id
			WHERE m.message_id IN (?` + strings.Repeat(",?", n-1) + `)`
		args := make([]any, n)
		for i, id := range want[:n] {
			args[i] = id
		}
		rows, err := t.tx.QueryContext(ctx, t.rebind(q), args...)
		if err != nil {
			return fmt.Errorf("mail state: read message ids: %w", err)
		}
		for rows.Next() {
			var id string
			var r msgRef
			var gatewayID, persona, contact, subject, refs sql.NullString
			var at sql.NullInt64
			if err := rows.Scan(&id, &r.threadID, &r.kind, &gatewayID, &persona, &contact, &subject, &refs, &at); err != nil {
				rows.Close()
				return fmt.Errorf("mail state: read message ids: %w", err)
			}
			r.gatewayID = gatewayID.String
			t.ids[id] = r
			if _, ok := t.threads[r.threadID]; ok {
				continue // cached already, perhaps changed by this transaction
			}
			if !at.Valid {
				t.threads[r.threadID] = nil // no such thread
				continue
			}
			t.threads[r.threadID] = newStoredThread(r.threadID, persona.String, contact.String, subject.String, refs.String, at.Int64)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("mail state: read message ids: %w", err)
		}
		want = want[n:]
	}
	return nil
}

// newStoredThread is a thread as read from a row of threads.
func newStoredThread(id, persona, contact, subject, refs string, updatedAt int64) *thread {
	th := &thread{ID: id, Persona: persona, Contact: contact, Subject: subject, Updated: time.Unix(0, updatedAt)}
	if refs != "" {
		th.Refs = strings.Split(refs, "\n")
	}
	return th
}

func (t *threadTx) byID(ctx context.Context, id string) (*thread, error) {
	if th, ok := t.threads[id]; ok {
		return th, nil
	}
	var persona, contact, subject, refs string
	var at int64
	err := t.tx.QueryRowContext(ctx, t.rebind(`SELECT persona, contact, subject, refs, updated_at FROM threads WHERE id = ?`), id).
		Scan(&persona, &contact, &subject, &refs, &at)
	if errors.Is(err, sql.ErrNoRows) {
		t.threads[id] = nil
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mail state: read thread: %w", err)
	}
	th := newStoredThread(id, persona, contact, subject, refs, at)
	t.threads[id] = th
	return th, nil
}

// byMessageID finds the thread a Message-ID belongs to, and whether the
// gateway sent that message itself.
func (t *threadTx) byMessageID(ctx context.Context, msgID string) (th *thread, outbound bool, err error) {
	r, ok := t.ids[msgID]
	if !ok {
		if err := t.preload(ctx, []string{msgID}); err != nil {
			return nil, false, err
		}
		r = t.ids[msgID]
	}
	if r.threadID == "" {
		return nil, false, nil
	}
	th, err = t.byID(ctx, r.threadID)
	return th, r.kind == refOutbound, err
}

// ref is what is known of msgID already: after preload or byMessageID
// has read it, or save or saveSent has recorded it.
func (t *threadTx) ref(msgID string) msgRef { return t.ids[msgID] }

// saveSent records th and msgID, the Message-ID of the mail the gateway
// sent for its message gatewayID, for Commit to write.
func (t *threadTx) saveSent(th *thread, msgID, gatewayID string) {
	t.save(th, msgID, refOutbound)
	if r := t.ids[msgID]; r.gatewayID == "" && r.kind == refOutbound {
		r.gatewayID = gatewayID
		t.ids[msgID] = r
		t.sent = append(t.sent, [2]string{msgID, gatewayID})
	}
}

// latest returns the most recently active thread of a conversation that
// was active after since.
func (t *threadTx) latest(ctx context.Context, persona, contact string, since time.Time) (*thread, error) {
	var id string
	err := t.tx.QueryRowContext(ctx, t.rebind(`SELECT id FROM threads WHERE persona = ? AND contact = ? AND updated_at > ?
		ORDER BY updated_at DESC LIMIT 1`), persona, contact, since.UnixNano()).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mail state: read threads: %w", err)
	}
	return t.byID(ctx, id)
}

// save records th, and msgID as one of its messages of the given kind
// (ref*), for Commit to write.
func (t *threadTx) save(th *thread, msgID string, kind int64) {
	t.threads[th.ID] = th
	t.dirtyTh[th.ID] = true
	if msgID == "" {
		return
	}
	if r := t.ids[msgID]; r.threadID != "" {
		return // known already: the first record wins, as ON CONFLICT DO NOTHING would
	}
	// Once recorded, ids[msgID] has a thread ID and is not changed again:
	// Commit reads it from there.
	t.ids[msgID] = msgRef{threadID: th.ID, kind: kind}
	t.order = append(t.order, msgID)
}

// SchemaName is the PostgreSQL schema of network's state when its store
// URL names none: mail_ and the network's name in lower case, other
// characters as underscores.
func SchemaName(network string) string { return mailSchema(network) }
