package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kakehashi/kakehashi/internal/sqldb"
)

// AdminRole is what an admin credential may do through the admin API.
type AdminRole string

// Admin roles.
const (
	// RoleAdmin reads and changes everything.
	RoleAdmin AdminRole = "admin"
	// RoleAuditor reads everything (lists, the audit log, the queue,
	// transfers, broadcasts, metrics) and changes nothing.
	RoleAuditor AdminRole = "auditor"
	// RoleLead is a team lead: they read and change only what concerns
	// the members of their team (Admin.Team, an Employee.Department):
	// those employees, the relationships they own, transfers among them,
	// their broadcasts and numbers. The rest (the audit log, the queue,
	// admins, metrics, the directory) is closed to them.
	RoleLead AdminRole = "lead"
)

// Valid reports whether r is a known role.
func (r AdminRole) Valid() bool { return r == RoleAdmin || r == RoleAuditor || r == RoleLead }

// CanWrite reports whether r may change anything, everywhere. A lead
// changes only within their team (see RoleLead), so not this.
func (r AdminRole) CanWrite() bool { return r == RoleAdmin }

const (
	// AdminBootstrap is the name under which the bootstrap token (config's
	// admin.token) acts: the audit records it as "admin:bootstrap". No
	// named admin can take it.
	AdminBootstrap = "bootstrap"
	// AdminTokenPrefix starts every named admin token, so that one pasted
	// into a chat or a log is recognisable (and secret scanners can match
	// it) and a bootstrap token is never mistaken for one.
	AdminTokenPrefix = "kkh_"
	// MaxAdminNameLen is the longest admin name, in bytes.
	MaxAdminNameLen = 64
	// adminTokenBytes is the entropy of a token: SHA-256 of 256 random
	// bits needs no salt or slow hash, as nothing can be guessed.
	adminTokenBytes = 32
	// adminTouchEvery bounds the writes that "last used" costs: it is
	// stored at most once a minute per credential, not once per request.
	adminTouchEvery = time.Minute
)

// Audit actions of admin credentials; their subject is the admin's actor
// name ("admin:NAME").
const (
	ActionAdminAdd    = "admin.add"
	ActionAdminRevoke = "admin.revoke"
	// ActionAdminPassword records that an admin's console password was
	// set; never the password or its hash.
	ActionAdminPassword = "admin.password"
)

// ErrAdminRevoked is returned by AuthenticateAdmin for a token that was
// revoked.
var ErrAdminRevoked = errors.New("admin token revoked")

// Admin is a named admin credential: a person or an integration that uses
// the admin API with its own token, and that the audit log names. The
// token itself is never stored, only its SHA-256.
type Admin struct {
	Name      string    `json:"name"`
	Role      AdminRole `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	// Team is the team (an Employee.Department) of a lead; empty for the
	// other roles.
	Team string `json:"team,omitempty"`
	// HasPassword says whether the admin has a console password (see
	// SetAdminPassword); the password's hash never leaves the store.
	HasPassword bool `json:"has_password"`
	// CreatedBy is the actor that added it ("admin:bootstrap", "admin:ana").
	CreatedBy string `json:"created_by"`
	// LastUsed is when the token last authenticated a request, to the
	// minute; zero if never.
	LastUsed  time.Time `json:"last_used,omitzero"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	RevokedBy string    `json:"revoked_by,omitempty"`
}

// Actor is the name the audit log records for acts done with a's token.
func (a *Admin) Actor() string { return AdminActor(a.Name) }

// Revoked reports whether a's token no longer authenticates.
func (a *Admin) Revoked() bool { return !a.RevokedAt.IsZero() }

// AdminActor is the audit actor of the admin called name.
func AdminActor(name string) string { return "admin:" + name }

// AdminStore is the optional capability of a Store that keeps admin
// credentials. Each write appends its audit entry in the same
// transaction, so a credential never changes unaudited (invariant 5).
// SQLStore implements it, on SQLite and PostgreSQL.
type AdminStore interface {
	// AddAdmin stores a with its token's hash and its password's
	// (passwordHash, a PHC string; "" for none) and appends audit. A name
	// already taken (in any case) is ErrConflict.
	AddAdmin(ctx context.Context, a *Admin, tokenHash [32]byte, passwordHash string, audit []*AuditEntry) error
	// SetAdminPassword sets the password hash (a PHC string) of the admin
	// called name and appends audit. Errors: ErrNotFound.
	SetAdminPassword(ctx context.Context, name, passwordHash string, audit *AuditEntry) error
	// AdminNamed returns the admin called name (whatever its case) and
	// its password hash ("" for none), or ErrNotFound.
	AdminNamed(ctx context.Context, name string) (*Admin, string, error)
	// RevokeAdmin sets the RevokedAt and RevokedBy of the admin called name
	// and appends audit. Errors: ErrNotFound, ErrConflict (already revoked).
	RevokeAdmin(ctx context.Context, name string, at time.Time, by string, audit *AuditEntry) error
	// Admins returns every admin credential, revoked ones included, by name.
	Admins(ctx context.Context) ([]Admin, error)
	// AdminByTokenHash returns the admin whose token hashes to h, or
	// ErrNotFound.
	AdminByTokenHash(ctx context.Context, h [32]byte) (*Admin, error)
	// TouchAdmin records that the admin called name used its token at.
	TouchAdmin(ctx context.Context, name string, at time.Time) error
}

var _ AdminStore = (*SQLStore)(nil)

// CheckAdminName validates the name of a new admin: 1 to MaxAdminNameLen
// ASCII letters, digits and . _ - @, starting with a letter or digit. The
// name is what the audit log shows, so it is kept plain: no spaces, no
// look-alike characters, and "bootstrap" is reserved.
func CheckAdminName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: admin name is empty", ErrInvalid)
	case len(name) > MaxAdminNameLen:
		return fmt.Errorf("%w: admin name %.20q… is longer than %d characters", ErrInvalid, name, MaxAdminNameLen)
	case strings.EqualFold(name, AdminBootstrap):
		return fmt.Errorf("%w: admin name %q is reserved for the bootstrap token (config admin.token)", ErrInvalid, name)
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			i > 0 && strings.ContainsRune("._-@", r)
		if !ok {
			return fmt.Errorf("%w: admin name %q: use letters, digits and . _ - @ (starting with a letter or digit), no spaces", ErrInvalid, name)
		}
	}
	return nil
}

func (s *State) adminStore() (AdminStore, error) {
	as, ok := s.store.(AdminStore)
	if !ok {
		return nil, fmt.Errorf("identity: %T keeps no admin credentials: %w", s.store, errors.ErrUnsupported)
	}
	return as, nil
}

// HashAdminToken returns what is stored of token.
func HashAdminToken(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// newAdminToken returns a fresh random token.
func newAdminToken() string {
	var b [adminTokenBytes]byte
	// crypto/rand.Read never returns an error (it aborts the program
	// instead when the system's generator fails).
	_, _ = rand.Read(b[:])
	return AdminTokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

func adminAudit(at time.Time, actor, action, reason, name string, details any) (*AuditEntry, error) {
	e := &AuditEntry{At: at, Actor: actor, Action: action, Reason: reason, Subject: AdminActor(name)}
	if details != nil {
		d, err := json.Marshal(details)
		if err != nil {
			return nil, err
		}
		e.Details = d
	}
	return e, nil
}

// adminDetails is the audit detail of admin.add. It never holds the token
// or its hash.
type adminDetails struct {
	Role        AdminRole `json:"role"`
	Team        string    `json:"team,omitempty"`
	HasPassword bool      `json:"has_password,omitempty"`
}

// NewAdminSpec is what a new named admin credential is made of (see
// CreateAdmin).
type NewAdminSpec struct {
	Name string
	Role AdminRole
	// Team is required for RoleLead (an Employee.Department) and refused
	// for the other roles.
	Team string
	// Password, if not empty, is the admin's console password (see
	// CheckPassword); only its argon2id hash is stored.
	Password string
}

// AddAdmin creates a named admin credential with role and returns it with
// its token, which is shown this once: only its hash is stored. It is
// CreateAdmin without a team or a password.
func (s *State) AddAdmin(ctx context.Context, actor, reason, name string, role AdminRole) (*Admin, string, error) {
	return s.CreateAdmin(ctx, actor, reason, NewAdminSpec{Name: name, Role: role})
}

// CreateAdmin creates the named admin credential n and returns it with its
// token, which is shown this once: only its hash is stored (and only the
// hash of its password, if any). It is audited as "admin.add" by actor,
// in the same commit. A reason is required. Errors: ErrInvalid (name,
// role, team, password, reason), ErrConflict (the name is taken, revoked
// credentials included: a name stays unique in the audit log).
func (s *State) CreateAdmin(ctx context.Context, actor, reason string, n NewAdminSpec) (*Admin, string, error) {
	name, role := n.Name, n.Role
	if err := firstErr(checkActor(actor), checkReason(reason), checkText("reason", reason), CheckAdminName(name)); err != nil {
		return nil, "", fmt.Errorf("identity: add admin: %w", err)
	}
	if !role.Valid() {
		return nil, "", fmt.Errorf("identity: add admin %s: %w: role %q: use %q, %q or %q", name, ErrInvalid, role, RoleAdmin, RoleAuditor, RoleLead)
	}
	if err := checkAdminTeam(role, n.Team); err != nil {
		return nil, "", fmt.Errorf("identity: add admin %s: %w", name, err)
	}
	var hash string
	if n.Password != "" {
		if err := CheckPassword(n.Password); err != nil {
			return nil, "", fmt.Errorf("identity: add admin %s: %w", name, err)
		}
		hash = hashPassword(n.Password)
	}
	as, err := s.adminStore()
	if err != nil {
		return nil, "", err
	}
	token := newAdminToken()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil {
		return nil, "", s.broken
	}
	now := s.now().UTC().Round(0)
	a := &Admin{Name: name, Role: role, Team: n.Team, HasPassword: hash != "", CreatedAt: now, CreatedBy: actor}
	e, err := adminAudit(now, actor, ActionAdminAdd, reason, name, adminDetails{Role: role, Team: n.Team, HasPassword: hash != ""})
	if err != nil {
		return nil, "", fmt.Errorf("identity: add admin %s: %w", name, err)
	}
	if err := as.AddAdmin(ctx, a, HashAdminToken(token), hash, []*AuditEntry{e}); err != nil {
		return nil, "", fmt.Errorf("identity: add admin %s: %w", name, err)
	}
	return a, token, nil
}

// checkAdminTeam checks the team of an admin of role: required for a lead,
// refused for the other roles.
func checkAdminTeam(role AdminRole, team string) error {
	switch {
	case role == RoleLead && strings.TrimSpace(team) == "":
		return fmt.Errorf("%w: role %s needs a team (an employee department, e.g. Sales)", ErrInvalid, RoleLead)
	case role == RoleLead && strings.TrimSpace(team) != team:
		return fmt.Errorf("%w: team %q starts or ends with a space", ErrInvalid, team)
	case role != RoleLead && team != "":
		return fmt.Errorf("%w: only role %s has a team; role %s sees every team", ErrInvalid, RoleLead, role)
	}
	return checkText("team", team)
}

// RevokeAdmin revokes the admin called name: its token stops
// authenticating at once. The credential is kept, revoked, so the audit
// log's names stay meaningful. It is audited as "admin.revoke" by actor, in
// the same commit; a reason is required. Errors: ErrInvalid, ErrNotFound,
// ErrConflict (already revoked).
func (s *State) RevokeAdmin(ctx context.Context, actor, reason, name string) (*Admin, error) {
	if err := firstErr(checkActor(actor), checkReason(reason), checkText("reason", reason)); err != nil {
		return nil, fmt.Errorf("identity: revoke admin: %w", err)
	}
	if strings.EqualFold(name, AdminBootstrap) {
		return nil, fmt.Errorf("identity: revoke admin: %w: the bootstrap token is config's admin.token: change or remove it there", ErrInvalid)
	}
	as, err := s.adminStore()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil {
		return nil, s.broken
	}
	// Names match whatever their case; the audit records the name as
	// added. Admin writes hold mu, so the name cannot change meanwhile.
	canonical := func() (*Admin, error) {
		l, err := as.Admins(ctx)
		if err != nil {
			return nil, fmt.Errorf("identity: revoke admin %s: %w", name, err)
		}
		for i := range l {
			if strings.EqualFold(l[i].Name, name) {
				return &l[i], nil
			}
		}
		return nil, fmt.Errorf("identity: revoke admin %s: %w: no admin called %q", name, ErrNotFound, name)
	}
	a, err := canonical()
	if err != nil {
		return nil, err
	}
	now := s.now().UTC().Round(0)
	e, err := adminAudit(now, actor, ActionAdminRevoke, reason, a.Name, nil)
	if err != nil {
		return nil, fmt.Errorf("identity: revoke admin %s: %w", a.Name, err)
	}
	if err := as.RevokeAdmin(ctx, a.Name, now, actor, e); err != nil {
		return nil, fmt.Errorf("identity: revoke admin %s: %w", a.Name, err)
	}
	return canonical()
}

// Admins returns every named admin credential, revoked ones included,
// sorted by name.
func (s *State) Admins(ctx context.Context) ([]Admin, error) {
	as, err := s.adminStore()
	if err != nil {
		return nil, err
	}
	l, err := as.Admins(ctx)
	if err != nil {
		return nil, fmt.Errorf("identity: admins: %w", err)
	}
	return l, nil
}

// AuthenticateAdmin returns the admin whose token is token. It reads the
// store every time, so a revocation holds for the very next request.
// Errors: ErrNotFound (no such token), ErrAdminRevoked.
func (s *State) AuthenticateAdmin(ctx context.Context, token string) (*Admin, error) {
	as, err := s.adminStore()
	if err != nil {
		return nil, err
	}
	a, err := authenticateAdmin(ctx, as, token)
	if err != nil {
		return nil, err
	}
	if now := s.now().UTC(); now.Sub(a.LastUsed) >= adminTouchEvery {
		// Best effort: a failure to note the time must not refuse the
		// request, and the next request tries again.
		if err := as.TouchAdmin(ctx, a.Name, now.Truncate(adminTouchEvery)); err == nil {
			a.LastUsed = now.Truncate(adminTouchEvery)
		}
	}
	return a, nil
}

// authenticateAdmin looks token up in as: ErrNotFound, ErrAdminRevoked or
// its admin.
func authenticateAdmin(ctx context.Context, as AdminStore, token string) (*Admin, error) {
	if !strings.HasPrefix(token, AdminTokenPrefix) {
		return nil, fmt.Errorf("identity: admin token: %w", ErrNotFound)
	}
	a, err := as.AdminByTokenHash(ctx, HashAdminToken(token))
	if err != nil {
		return nil, fmt.Errorf("identity: admin token: %w", err)
	}
	if a.Revoked() {
		return nil, fmt.Errorf("identity: admin token of %s: %w", a.Name, ErrAdminRevoked)
	}
	return a, nil
}

// AdminTokens checks named admin tokens against the admin credentials of
// a PostgreSQL store without opening the store's State: what a standby
// instance, which holds none, needs to know who asks it for its metrics.
// It only reads (it records no last use), and migrates nothing.
type AdminTokens struct{ s *SQLStore }

// OpenAdminTokens opens the admin credentials of the identity store at
// url (a postgres:// URL, schema included, as OpenPostgres takes it).
// Nothing is read until Authenticate, so the store need not be created
// yet.
func OpenAdminTokens(ctx context.Context, url string) (*AdminTokens, error) {
	db, err := sqldb.OpenPostgres(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("identity: admin tokens: %w", err)
	}
	db.SetMaxOpenConns(2)
	return &AdminTokens{s: &SQLStore{d: sqldb.Postgres, name: "postgres", w: db, r: db}}, nil
}

// Authenticate returns the admin whose token is token. Errors:
// ErrNotFound (no such token, or no store yet), ErrAdminRevoked.
func (t *AdminTokens) Authenticate(ctx context.Context, token string) (*Admin, error) {
	a, err := authenticateAdmin(ctx, t.s, token)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table: no instance has been active yet
		return nil, fmt.Errorf("identity: admin token: no admins stored yet: %w", ErrNotFound)
	}
	return a, err
}

// Close closes the connections.
func (t *AdminTokens) Close() error { return t.s.w.Close() }

// adminNamed is the condition that selects the admin called ? whatever
// the case of either: SQLite's column compares NOCASE; PostgreSQL's has
// a unique index on lower(name) (names are ASCII, so both fold alike).
func (s *SQLStore) adminNamed() string {
	if s.d == sqldb.Postgres {
		return `lower(name) = lower(?)`
	}
	return `name = ?`
}

// AddAdmin stores a and appends audit in one transaction.
func (s *SQLStore) AddAdmin(ctx context.Context, a *Admin, tokenHash [32]byte, passwordHash string, audit []*AuditEntry) error {
	taken := func(name string) error {
		return fmt.Errorf("%w: an admin called %q exists already (names are unique, revoked ones included, whatever their case)", ErrConflict, name)
	}
	return s.adminTx(ctx, audit, func(tx *sql.Tx) error {
		var name string
		switch err := tx.QueryRowContext(ctx, s.q(`SELECT name FROM admins WHERE `+s.adminNamed()), a.Name).Scan(&name); {
		case err == nil:
			return taken(name)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		// In PostgreSQL another process may insert the name after the
		// look above; the unique index then refuses this one.
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO admins (name, role, team, password_hash, token_hash, created_at, created_by)
			VALUES (?, ?, ?, ?, ?, ?, ?)`), a.Name, string(a.Role), a.Team, passwordHash, tokenHash[:], unixNano(a.CreatedAt), a.CreatedBy)
		if sqldb.IsUniqueViolation(err) {
			return taken(a.Name)
		}
		return err
	})
}

// RevokeAdmin marks the admin called name revoked and appends audit in one
// transaction.
func (s *SQLStore) RevokeAdmin(ctx context.Context, name string, at time.Time, by string, audit *AuditEntry) error {
	return s.adminTx(ctx, []*AuditEntry{audit}, func(tx *sql.Tx) error {
		var revokedAt int64
		// FOR UPDATE (PostgreSQL): a revocation by another process waits,
		// then finds this one's.
		switch err := tx.QueryRowContext(ctx, s.q(`SELECT revoked_at FROM admins WHERE `+s.adminNamed()+s.d.ForUpdate()), name).Scan(&revokedAt); {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("%w: no admin called %q", ErrNotFound, name)
		case err != nil:
			return err
		case revokedAt != 0:
			return fmt.Errorf("%w: admin %q was revoked already, at %s", ErrConflict, name, fromUnixNano(revokedAt).Format(time.RFC3339))
		}
		_, err := tx.ExecContext(ctx, s.q(`UPDATE admins SET revoked_at = ?, revoked_by = ? WHERE `+s.adminNamed()), unixNano(at), by, name)
		return err
	})
}

// adminTx runs fn and appends audit in one write transaction.
func (s *SQLStore) adminTx(ctx context.Context, audit []*AuditEntry, fn func(tx *sql.Tx) error) (err error) {
	if err := s.check(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// As Commit: once begun, run to the end, so a caller never sees an
	// error for a change that was in fact stored.
	ctx = context.WithoutCancel(ctx)
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tx.Rollback() //nolint:errcheck // the first error is what matters
		}
	}()
	xid, err := s.txID(ctx, tx)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	entries := make([]AuditEntry, len(audit))
	for i, e := range audit {
		entries[i] = *e
	}
	seqs, err := s.insertAudit(ctx, tx, entries)
	if err != nil {
		return err
	}
	if err := s.commitTx(ctx, tx, xid); err != nil {
		return err
	}
	s.lastWrite.Store(time.Now().UnixNano())
	for i, e := range audit {
		e.Seq = seqs[i]
	}
	return nil
}

// adminColumns are what scanAdmin reads: password_hash only to tell
// whether there is one (has_password), never to keep it.
const adminColumns = `name, role, team, password_hash <> '', created_at, created_by, last_used, revoked_at, revoked_by`

func scanAdmin(row interface{ Scan(...any) error }) (*Admin, error) {
	var (
		a                      Admin
		role                   string
		created, used, revoked int64
	)
	if err := row.Scan(&a.Name, &role, &a.Team, &a.HasPassword, &created, &a.CreatedBy, &used, &revoked, &a.RevokedBy); err != nil {
		return nil, err
	}
	a.Role = AdminRole(role)
	a.CreatedAt, a.LastUsed, a.RevokedAt = fromUnixNano(created), fromUnixNano(used), fromUnixNano(revoked)
	return &a, nil
}

// Admins returns every admin credential, sorted by name.
func (s *SQLStore) Admins(ctx context.Context) ([]Admin, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	// lower(name): SQLite's NOCASE order, on both.
	rows, err := s.r.QueryContext(ctx, `SELECT `+adminColumns+` FROM admins ORDER BY lower(name)`)
	if err != nil {
		return nil, fmt.Errorf("identity: %s admins: %w", s.name, err)
	}
	defer rows.Close()
	var out []Admin
	for rows.Next() {
		a, err := scanAdmin(rows)
		if err != nil {
			return nil, fmt.Errorf("identity: %s admins: %w", s.name, err)
		}
		out = append(out, *a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("identity: %s admins: %w", s.name, err)
	}
	return out, nil
}

// AdminByTokenHash returns the admin whose token hashes to h. The lookup
// is by an index on the hash; the stored hash is then compared in
// constant time, as the token was.
func (s *SQLStore) AdminByTokenHash(ctx context.Context, h [32]byte) (*Admin, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	var stored []byte
	row := s.r.QueryRowContext(ctx, s.q(`SELECT token_hash, `+adminColumns+` FROM admins WHERE token_hash = ?`), h[:])
	a, err := scanAdmin(scanFunc(func(dest ...any) error { return row.Scan(append([]any{&stored}, dest...)...) }))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, ErrNotFound
	case err != nil:
		return nil, fmt.Errorf("identity: %s admin: %w", s.name, err)
	case subtle.ConstantTimeCompare(stored, h[:]) != 1:
		return nil, ErrNotFound
	}
	return a, nil
}

// scanFunc adapts a function to scanAdmin's row.
type scanFunc func(dest ...any) error

func (f scanFunc) Scan(dest ...any) error { return f(dest...) }

// TouchAdmin sets the last use of the admin called name, if later.
func (s *SQLStore) TouchAdmin(ctx context.Context, name string, at time.Time) error {
	if err := s.check(); err != nil {
		return err
	}
	_, err := s.w.ExecContext(ctx, s.q(`UPDATE admins SET last_used = ? WHERE `+s.adminNamed()+` AND last_used < ?`), unixNano(at), name, unixNano(at))
	if err != nil {
		return fmt.Errorf("identity: %s admin %s: %w", s.name, name, err)
	}
	return nil
}
