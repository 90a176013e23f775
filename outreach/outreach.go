// Package outreach is what the company does to and for its outside
// contacts, beside the relay path: a persona's welcome to a new contact
// and handover notices after a transfer, broadcasts with their per-contact
// caps and team confirmation, tracking contacts who are gone (and back),
// and the commands employees run from their own client.
//
// It reaches the gateway only through the gateway's exported methods
// (Post, PostBatch, Queue, ...) and is told of traffic through
// gateway.Hooks, which Service implements; it also implements
// gateway.Commander and gateway.ContactTracker, which the gateway offers
// its adapters.
package outreach

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"log/slog"

	"github.com/kakehashi/kakehashi/config"
	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/internal/busy"
	"github.com/kakehashi/kakehashi/internal/migrate"
	"github.com/kakehashi/kakehashi/internal/sqldb"
	"github.com/kakehashi/kakehashi/routing"
)

// Options configure a Service.
type Options struct {
	// Caps bound the broadcasts each contact receives; nil means the
	// configuration's defaults (limits.broadcasts_per_*).
	Caps   *BroadcastCaps
	Logger *slog.Logger
}

// Service acts on contacts through a gateway. New attaches it.
type Service struct {
	gw    *gateway.Gateway
	state *identity.State
	top   *routing.Topology
	log   *slog.Logger
	caps  BroadcastCaps

	// progressDue holds the broadcasts whose progress check is scheduled,
	// backBusy the relationships whose gone mark is being cleared.
	progressDue busy.Set
	backBusy    busy.Set
}

// New builds the Service of gw and attaches it as gw's hooks; call it
// before gw.Run. It brings its tables in the gateway's queue database up
// to date.
func New(ctx context.Context, gw *gateway.Gateway, o Options) (*Service, error) {
	s := &Service{gw: gw, state: gw.State(), top: gw.Topology(), log: o.Logger,
		caps: BroadcastCaps{PerDay: config.DefaultBroadcastsPerDay, PerMonth: config.DefaultBroadcastsPerMonth}}
	if s.log == nil {
		s.log = slog.Default()
	}
	if o.Caps != nil {
		s.caps = *o.Caps
	}
	if err := migrateTables(ctx, gw.Queue()); err != nil {
		return nil, fmt.Errorf("outreach: %w", err)
	}
	gw.Attach(s)
	return s, nil
}

// migrationFiles are outreach's numbered migrations of its tables in the
// queue's database: SQLite's in migrations, PostgreSQL's in
// migrations/postgres (each with its own version history).
//
//go:embed migrations/*.sql migrations/postgres/*.sql
var migrationFiles embed.FS

// MigrateQueue brings outreach's tables (broadcasts) in q's database up
// to date, as New does, without attaching anything to a gateway: for
// tools that work on the stores of a stopped gateway (kakehashi store
// copy).
func MigrateQueue(ctx context.Context, q *gateway.Queue) error {
	if err := migrateTables(ctx, q); err != nil {
		return fmt.Errorf("outreach: %w", err)
	}
	return nil
}

// migrateTables brings outreach's tables in q's database up to date,
// with the migrations of q's dialect.
func migrateTables(ctx context.Context, q *gateway.Queue) error {
	opts := migrate.Options{Table: "outreach_migrations"}
	var ms []migrate.Migration
	var err error
	if q.Dialect() == sqldb.Postgres {
		ms, err = migrate.LoadDialect(migrationFiles, "migrations", sqldb.Postgres)
	} else {
		// A queue.db written before numbered migrations may have the
		// tables already (baseline); PostgreSQL came after them.
		ms, err = migrate.Load(migrationFiles, "migrations")
		opts.Baseline = baseline
	}
	if err != nil {
		return err
	}
	return q.Migrate(ctx, ms, opts)
}

// baseline is the migration a queue.db written before numbered
// migrations is at: 1 when it has the broadcasts table.
func baseline(ctx context.Context, tx *sql.Tx) (int, error) {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'broadcasts'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("read schema: %w", err)
	}
	return n, nil
}

// Started implements gateway.Hooks: broadcasts whose last copy was done
// just before the stop still owe their owner a report.
func (s *Service) Started(ctx context.Context) {
	left, err := s.listBroadcasts(ctx, unreported)
	if err != nil {
		s.log.Warn("could not look for unreported broadcasts", "err", err)
	}
	for _, b := range left {
		s.scheduleProgress(context.WithoutCancel(ctx), b.ID)
	}
}

// NewContact implements gateway.Hooks: the persona's welcome.
func (s *Service) NewContact(ctx context.Context, m *gateway.Message, d routing.Decision) {
	s.sendWelcome(ctx, m, d)
}

// GoneWrote implements gateway.Hooks: a contact who writes is reachable
// again. Off the message's path, one clearing at a time per relationship,
// however many messages arrive meanwhile.
func (s *Service) GoneWrote(ctx context.Context, rel *identity.Relationship, d routing.Decision, from string) {
	if !s.backBusy.Claim(rel.ID) {
		return
	}
	if !s.gw.Go(func() {
		defer s.backBusy.Release(rel.ID)
		s.clearGone(ctx, rel.ID, d, from, "wrote again")
	}) {
		s.backBusy.Release(rel.ID) // stopping: it is cleared the next time they write
	}
}

// Settled implements gateway.Hooks: a broadcast copy is done; check
// whether its broadcast is.
func (s *Service) Settled(ctx context.Context, r *gateway.Record) {
	s.scheduleProgress(ctx, r.Broadcast)
}

var (
	_ gateway.Hooks          = (*Service)(nil)
	_ gateway.Commander      = (*Service)(nil)
	_ gateway.ContactTracker = (*Service)(nil)
)
