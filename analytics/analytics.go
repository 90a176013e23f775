// Package analytics keeps the numbers people who run customer
// relationships manage by: messages in and out per day, new contacts by
// contact point and source, contacts gone, first-response times (median
// and distribution) and reply rate, per team and per employee, and the
// list of conversations waiting for an answer.
//
// It is built from the events the gateway already sees (gateway.Events:
// a message relayed on a relationship, with its time, direction and
// owner; a relationship started; a contact gone), never from the
// messages: each batch of events increments counters in a transaction
// (Record), so the overview reads a row per day and dimension, and the
// numbers outlive the queue's retention, which prunes message texts.
//
// The store is its own database: analytics.db in the data directory, or
// the schema analytics of the shared PostgreSQL database.
//
// What counts as a conversation's wait: a contact's message starts one
// when nobody is waiting on the relationship yet (the owner wrote last,
// or nobody has written); the owner's next message answers it, and its
// wait (from the contact's first unanswered message) is recorded on the
// answer's day, for the owner who answered (after a transfer in the
// middle of a wait, the new owner, for the whole wait: it is how long the
// contact waited). The wait is counted (Counts.Waits) on the day and for
// the owner of the contact's message that started it; its answer
// increments Replied there, so a day's reply rate, Replied/Waits, says
// how many of that day's waits were answered since. A machine's message
// (an auto-reply) starts no wait; a contact marked gone ends theirs
// unanswered.
package analytics

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/internal/migrate"
	"github.com/kakehashi/kakehashi/internal/sqldb"
)

// SchemaName is the PostgreSQL schema of the analytics store in a
// database shared by several stores (sqldb.InSchema).
const SchemaName = "analytics"

// FileName is the analytics store's SQLite file in the data directory.
const FileName = "analytics.db"

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// Store is the analytics database. It implements gateway.Events.
type Store struct {
	w       *sql.DB // the writer: Record
	r       *sql.DB // readers: Overview, Waiting
	dialect sqldb.Dialect
}

var _ gateway.Events = (*Store)(nil)

// Open opens (creating if needed) the analytics store at store: a file
// path or "sqlite:PATH" (SQLite), or a "postgres://…" URL (whose
// search_path names its schema, see sqldb.InSchema). Its schema is
// migrated to the newest.
func Open(ctx context.Context, store string) (*Store, error) {
	src, err := sqldb.Parse(store)
	if err != nil {
		return nil, fmt.Errorf("analytics: %w", err)
	}
	s := &Store{dialect: src.Dialect}
	if src.Dialect == sqldb.Postgres {
		if s.w, err = sqldb.OpenPostgres(ctx, src.URL); err != nil {
			return nil, fmt.Errorf("analytics: %w", err)
		}
		s.w.SetMaxOpenConns(2)
		s.r = s.w
	} else {
		abs, err := filepath.Abs(src.Path)
		if err != nil {
			return nil, fmt.Errorf("analytics: sqlite %s: %w", src.Path, err)
		}
		dsn := func(extra ...string) string {
			q := url.Values{}
			q["_pragma"] = append([]string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)"}, extra...)
			return (&url.URL{Scheme: "file", Path: abs, RawQuery: q.Encode()}).String()
		}
		if s.w, err = sql.Open("sqlite", dsn()+"&_txlock=immediate"); err != nil {
			return nil, fmt.Errorf("analytics: sqlite %s: %w", abs, err)
		}
		s.w.SetMaxOpenConns(1)
		if s.r, err = sql.Open("sqlite", dsn("query_only(1)")); err != nil {
			s.w.Close()
			return nil, fmt.Errorf("analytics: sqlite %s: %w", abs, err)
		}
		s.r.SetMaxOpenConns(4)
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("analytics: %s: %w", src, err)
	}
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrate.LoadDialect(migrationFiles, "migrations", s.dialect)
	if err != nil {
		return err
	}
	_, err = migrate.Up(ctx, s.w, ms, migrate.Options{Table: "analytics_migrations", Dialect: s.dialect})
	return err
}

// Close closes the store's connections.
func (s *Store) Close() error {
	err := s.w.Close()
	if s.r != s.w {
		if rerr := s.r.Close(); err == nil {
			err = rerr
		}
	}
	return err
}

// DayFormat is how days are written: in UTC, as YYYY-MM-DD.
const DayFormat = time.DateOnly

// dayOf returns the UTC day of t.
func dayOf(t time.Time) string { return t.UTC().Format(DayFormat) }
