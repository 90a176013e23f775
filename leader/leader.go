// Package leader elects the one active instance among several
// `kakehashi serve` processes that share a PostgreSQL store: exactly one
// sends, the others stand by and take over when it is gone.
//
// # How an instance becomes active
//
// Each instance holds a connection of its own to PostgreSQL (not one of
// a pool's) and tries a session advisory lock on it (pg_try_advisory_lock)
// every Options.Poll. The instance that holds the lock is active. A
// process that dies (kill -9, a lost host whose connection the kernel
// resets) releases the lock the moment PostgreSQL sees its connection
// close, so a standby takes over within one poll.
//
// # How split brain is prevented
//
// A process can also stop without its connection closing: suspended
// (SIGSTOP, a frozen VM), partitioned away, or stuck. Its lock would be
// held for ever, so the active instance proves it is alive: every TTL/4
// it renews a row (leader_terms) on its lock connection, stamped with
// the database's clock. A standby that finds the row older than TTL by
// the same clock ends the holder's session (pg_terminate_backend), which
// releases the lock, and takes it.
//
// The active instance fences itself first. It counts itself active only
// until TTL/2 after it sent its last successful renewal, by its own
// monotonic clock (Valid). The row it renewed was stamped after that
// send, so a standby acts only after TTL more has passed on the
// database's clock, by when the old instance has stopped counting itself
// active for TTL/2 already. Everything that sends asks Valid first
// (gateway.Options.MaySend); the context handed to the active work ends
// at the same moment. An instance that resumes after a suspension finds
// its term expired before it sends anything, and its connection ended.
package leader

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// State is what an instance is in its election.
type State int

// States of an instance.
const (
	// Standby: another instance is active, or none is reachable.
	Standby State = iota
	// Active: this instance holds the lock and its term is valid.
	Active
)

// String names s as /healthz and metrics show it.
func (s State) String() string {
	if s == Active {
		return "active"
	}
	return "standby"
}

// Options adjust an Elector. The zero value is ready to use.
type Options struct {
	// Name is the election: instances with the same name share one
	// active instance (default "kakehashi").
	Name string
	// Instance names this instance in logs and in the leader_terms row
	// (default host name and process ID).
	Instance string
	// TTL is how long the active instance may go without renewing its
	// term before a standby ends its session (default 2 s). It counts
	// itself active for TTL/2 after each renewal and renews every TTL/4.
	TTL time.Duration
	// Poll is how often a standby tries the lock (default 50 ms): the
	// time a takeover after a crash waits at most.
	Poll time.Duration
	// Address is where the other instances reach this one's admin API
	// while it is active (an http or https URL), recorded with its term
	// so that standbys can forward admin requests to it ("" for none).
	Address string
	// Logger receives the election's events (default slog.Default()).
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.Name == "" {
		o.Name = "kakehashi"
	}
	if o.Instance == "" {
		host, _ := os.Hostname()
		o.Instance = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	if o.TTL <= 0 {
		o.TTL = 2 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = 50 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Elector campaigns for one instance. It is safe for concurrent use.
type Elector struct {
	url string
	o   Options
	key int64 // the advisory lock's key, from Name
	log *slog.Logger

	mu         sync.Mutex
	state      State
	validUntil time.Time // monotonic: the end of the current term
	term       int64
	since      time.Time
	leader     Leader // the active instance as last seen
	// failures counts the terms in a row whose active work failed soon
	// after it began: the instance backs off before campaigning again.
	failures int
}

// quickFailure is how soon after a term began its active work must fail
// to count as failing at once (a bad network, a store that refuses it)
// rather than after running well for a while.
const quickFailure = 10 * time.Second

// maxBackoff is the longest an instance whose active work keeps failing
// waits before campaigning again.
const maxBackoff = 5 * time.Second

// maxReconnect is the longest an instance waits before reconnecting to
// the database: a connection attempt is cheap, and while none succeeds
// no instance is active.
const maxReconnect = time.Second

// backoff is how long to wait before campaigning again after a term
// whose active work failed: nothing while it succeeds, then doubling
// from Poll with each term in a row that failed at once. Meanwhile the
// lock is free, so another instance may take over and do better.
func (e *Elector) backoff() time.Duration {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failures == 0 {
		return 0
	}
	return min(e.o.Poll<<min(e.failures, 16), maxBackoff)
}

// Leader is the active instance as the election's record names it.
type Leader struct {
	// Instance is its Options.Instance ("" when none has been active).
	Instance string
	// Address is its Options.Address ("" when it gave none).
	Address string
	// Term is the term it began.
	Term int64
}

// New returns an elector for the PostgreSQL database at url. Nothing
// connects until Run.
func New(url string, o Options) *Elector {
	o.defaults()
	h := fnv.New64a()
	h.Write([]byte("kakehashi leader " + o.Name))
	return &Elector{url: url, o: o, key: int64(h.Sum64()), log: o.Logger.With("election", o.Name, "instance", o.Instance)}
}

// Status is an instance's view of its election.
type Status struct {
	State State
	// Term counts the terms of the election; it grows by one at each
	// takeover. 0 while this instance has not been active.
	Term int64
	// Since is when this instance became active (zero when standby).
	Since time.Time
	// Leader is the active instance: this one while active, otherwise
	// the holder of the latest term as last read (a standby reads it at
	// every poll; it may be gone, until a standby takes over).
	Leader Leader
}

// Status returns the instance's state now.
func (e *Elector) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := Status{State: e.state, Term: e.term, Leader: e.leader}
	if st.State == Active && time.Now().After(e.validUntil) {
		st.State = Standby
	}
	if st.State == Active {
		st.Since = e.since
	}
	return st
}

// Valid reports whether this instance is active and its term has not
// expired: what everything that sends asks first.
func (e *Elector) Valid() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state == Active && time.Now().Before(e.validUntil)
}

// Run campaigns until ctx ends. Whenever this instance becomes active it
// calls active with a context that ends when its term does (lost lock,
// failed renewal, expired term, or ctx's end) and waits for active to
// return before it lets the lock go: two instances' active work never
// overlaps. An error from active ends the term; the instance campaigns
// again. Run returns ctx's error once ctx ends.
func (e *Elector) Run(ctx context.Context, active func(context.Context) error) error {
	wait := e.o.Poll
	for {
		conn, err := e.connect(ctx)
		if err == nil {
			wait = e.o.Poll
			err = e.campaign(ctx, conn, active)
			closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			conn.Close(closeCtx) // ends the session: the lock, if held, is released
			cancel()
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			e.log.Warn("election: connection lost; trying again", "in", wait, "err", err)
			wait = min(wait*2, maxReconnect)
		} else if b := e.backoff(); b > 0 {
			wait = b
			e.log.Warn("election: the active work failed; campaigning again later", "in", wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// schema is the election's table; one row per election. address came
// after the first release: a table made before it gains the column.
var schema = []string{`CREATE TABLE IF NOT EXISTS leader_terms (
	name       text PRIMARY KEY,
	instance   text NOT NULL,
	pid        integer NOT NULL,
	term       bigint NOT NULL,
	renewed_at timestamptz NOT NULL,
	address    text NOT NULL DEFAULT ''
)`, `ALTER TABLE leader_terms ADD COLUMN IF NOT EXISTS address text NOT NULL DEFAULT ''`}

// connect opens the elector's own session and makes sure its table is
// there.
func (e *Elector) connect(ctx context.Context) (*pgx.Conn, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(cctx, e.url)
	if err != nil {
		return nil, fmt.Errorf("leader: connect: %w", err)
	}
	// Two instances starting at once may both create it: the loser's
	// CREATE fails on the catalogue's unique index, and the table is there.
	for _, stmt := range schema {
		if _, err := conn.Exec(cctx, stmt); err != nil && !isDuplicateTable(err) {
			conn.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("leader: create leader_terms: %w", err)
		}
	}
	return conn, nil
}

// campaign tries the lock until it holds it, then leads; it returns
// when the term is over (nil) or the session failed.
func (e *Elector) campaign(ctx context.Context, conn *pgx.Conn, active func(context.Context) error) error {
	tick := time.NewTicker(e.o.Poll)
	defer tick.Stop()
	for {
		var held bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, e.key).Scan(&held); err != nil {
			return fmt.Errorf("leader: try the lock: %w", err)
		}
		if held {
			return e.lead(ctx, conn, active)
		}
		if err := e.observe(ctx, conn); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// observe reads the latest term's holder, and ends its session if the
// database's clock says its term expired TTL ago: it was suspended,
// partitioned or stuck, and has fenced itself since.
func (e *Elector) observe(ctx context.Context, conn *pgx.Conn) error {
	var (
		pid  int32
		l    Leader
		hung bool
	)
	err := conn.QueryRow(ctx, `SELECT pid, instance, address, term,
			clock_timestamp() - renewed_at > make_interval(secs => $2)
		FROM leader_terms WHERE name = $1`,
		e.o.Name, e.o.TTL.Seconds()).Scan(&pid, &l.Instance, &l.Address, &l.Term, &hung)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("leader: read the term: %w", err)
	}
	e.mu.Lock()
	e.leader = l
	e.mu.Unlock()
	if !hung {
		return nil
	}
	var ended bool
	if err := conn.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, pid).Scan(&ended); err != nil {
		return fmt.Errorf("leader: end a hung term: %w", err)
	}
	if ended {
		e.log.Warn("election: the active instance renewed nothing for longer than its term; ended its session",
			"active", l.Instance, "ttl", e.o.TTL)
	}
	return nil
}

// lead runs one term: it records the term, starts active, and renews
// until the term ends.
func (e *Elector) lead(ctx context.Context, conn *pgx.Conn, active func(context.Context) error) error {
	sent := time.Now()
	var term int64
	err := conn.QueryRow(ctx, `INSERT INTO leader_terms (name, instance, pid, term, renewed_at, address)
		VALUES ($1, $2, pg_backend_pid(), 1, clock_timestamp(), $3)
		ON CONFLICT (name) DO UPDATE SET instance = excluded.instance, pid = excluded.pid,
			term = leader_terms.term + 1, renewed_at = excluded.renewed_at, address = excluded.address
		RETURNING term`, e.o.Name, e.o.Instance, e.o.Address).Scan(&term)
	if err != nil {
		return fmt.Errorf("leader: begin a term: %w", err)
	}
	e.mu.Lock()
	e.state, e.term, e.since, e.validUntil = Active, term, time.Now(), sent.Add(e.o.TTL/2)
	e.leader = Leader{Instance: e.o.Instance, Address: e.o.Address, Term: term}
	e.mu.Unlock()
	e.log.Info("election: active", "term", term)

	actx, endTerm := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- active(actx) }()
	why, err := e.renew(actx, conn, done)
	e.mu.Lock()
	e.state = Standby
	e.mu.Unlock()
	endTerm()
	if why != "" {
		e.log.Warn("election: term over", "term", term, "why", why)
	}
	actErr := <-done
	failed := actErr != nil && !errors.Is(actErr, context.Canceled) && why == ""
	if failed {
		e.log.Warn("election: the active work ended; standing by", "term", term, "err", actErr)
	}
	e.mu.Lock()
	switch {
	case !failed:
		e.failures = 0
	case time.Since(e.since) < quickFailure:
		e.failures++
	default:
		e.failures = 1
	}
	e.mu.Unlock()
	e.log.Info("election: standby", "term", term)
	return err
}

// renew renews the term every TTL/4 until it cannot, the term expires,
// ctx ends or the active work returns. It says why the term ended when
// that is news, and returns an error when the session failed.
func (e *Elector) renew(ctx context.Context, conn *pgx.Conn, done chan error) (why string, err error) {
	tick := time.NewTicker(e.o.TTL / 4)
	defer tick.Stop()
	for {
		e.mu.Lock()
		expiry := time.Until(e.validUntil)
		e.mu.Unlock()
		expired := time.NewTimer(expiry)
		select {
		case <-ctx.Done():
			expired.Stop()
			return "", nil
		case actErr := <-done:
			expired.Stop()
			done <- actErr // handed back (the buffer has room): lead reports it
			return "", nil
		case <-expired.C:
			return "no renewal within the term", errors.New("leader: renewal overdue")
		case <-tick.C:
			expired.Stop()
		}
		sent := time.Now()
		rctx, cancel := context.WithTimeout(ctx, e.o.TTL/4)
		tag, err := conn.Exec(rctx, `UPDATE leader_terms SET renewed_at = clock_timestamp()
			WHERE name = $1 AND pid = pg_backend_pid()`, e.o.Name)
		cancel()
		if ctx.Err() != nil {
			return "", nil
		}
		if err != nil {
			return "renewal failed", fmt.Errorf("leader: renew: %w", err)
		}
		if tag.RowsAffected() != 1 {
			return "the term was taken over", errors.New("leader: term taken over")
		}
		e.mu.Lock()
		e.validUntil = sent.Add(e.o.TTL / 2)
		e.mu.Unlock()
	}
}

// isDuplicateTable reports whether err is PostgreSQL's refusal of a
// CREATE TABLE IF NOT EXISTS that raced another (duplicate_table, or a
// unique violation in the catalogue) or of an ADD COLUMN IF NOT EXISTS
// that did (duplicate_column).
func isDuplicateTable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "42P07" || pe.Code == "23505" || pe.Code == "42701")
}

// Instance returns the name this instance campaigns under.
func (e *Elector) Instance() string { return e.o.Instance }
