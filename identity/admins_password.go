package identity

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Console passwords: a named admin may have one besides their token, to
// sign in to the web console. Only an argon2id hash is stored, as a PHC
// string ($argon2id$v=19$m=…,t=…,p=…$salt$hash), so that the parameters
// of each hash travel with it and can be raised later without losing the
// passwords set before.

// Password limits.
const (
	// MinPasswordLen is the fewest characters a password has.
	MinPasswordLen = 12
	// MaxPasswordBytes bounds a password, so that hashing one costs what
	// its parameters say and no more.
	MaxPasswordBytes = 1024
)

// The argon2id parameters of new hashes: OWASP's minimum (19 MiB, two
// passes, one lane), some tens of milliseconds a sign-in.
const (
	argonMemory  = 19456 // KiB
	argonTime    = 2
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32
)

// ErrWrongPassword is returned by CheckAdminPassword for a password that
// does not match, and for an admin without one.
var ErrWrongPassword = errors.New("wrong password")

// CheckPassword validates a new password: at least MinPasswordLen
// characters of valid UTF-8, at most MaxPasswordBytes bytes, not all
// white space. The error never repeats the password.
func CheckPassword(pw string) error {
	switch {
	case !utf8.ValidString(pw):
		return fmt.Errorf("%w: the password is not valid UTF-8", ErrInvalid)
	case len(pw) > MaxPasswordBytes:
		return fmt.Errorf("%w: the password is longer than %d bytes", ErrInvalid, MaxPasswordBytes)
	case utf8.RuneCountInString(pw) < MinPasswordLen:
		return fmt.Errorf("%w: the password is shorter than %d characters", ErrInvalid, MinPasswordLen)
	case strings.TrimFunc(pw, unicode.IsSpace) == "":
		return fmt.Errorf("%w: the password is only white space", ErrInvalid)
	}
	return nil
}

var b64 = base64.RawStdEncoding

// hashPassword returns the PHC string of pw with a fresh salt.
func hashPassword(pw string) string {
	salt := make([]byte, argonSaltLen)
	_, _ = rand.Read(salt) // never fails (see newAdminToken)
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// dummyHash is what an unknown admin's password is checked against, so
// that the check takes as long as for a known one.
var dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$" + b64.EncodeToString(make([]byte, argonKeyLen))

// verifyPassword reports whether pw hashes to phc, with phc's own
// parameters. A hash it cannot read matches nothing.
func verifyPassword(phc, pw string) bool {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false
	}
	var m, t uint32
	var p uint8
	if n, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); n != 3 || err != nil || m == 0 || t == 0 || p == 0 || m > 1<<22 || t > 100 {
		return false
	}
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 128 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// SetAdminPassword sets the console password of the admin called name
// (replacing any), audited as "admin.password" by actor in the same
// commit, without the password or its hash. A reason is required. It
// returns the admin. Errors: ErrInvalid (the password, see CheckPassword;
// the reason; a revoked admin), ErrNotFound.
func (s *State) SetAdminPassword(ctx context.Context, actor, reason, name, password string) (*Admin, error) {
	if err := firstErr(checkActor(actor), checkReason(reason), checkText("reason", reason)); err != nil {
		return nil, fmt.Errorf("identity: admin password: %w", err)
	}
	if err := CheckPassword(password); err != nil {
		return nil, fmt.Errorf("identity: admin password of %s: %w", name, err)
	}
	as, err := s.adminStore()
	if err != nil {
		return nil, err
	}
	hash := hashPassword(password) // before the lock: it takes a while
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.broken != nil {
		return nil, s.broken
	}
	a, _, err := as.AdminNamed(ctx, name)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("identity: admin password: %w: no admin called %q", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("identity: admin password of %s: %w", name, err)
	}
	if a.Revoked() {
		return nil, fmt.Errorf("identity: admin password of %s: %w: the admin was revoked", a.Name, ErrInvalid)
	}
	now := s.now().UTC().Round(0)
	e, err := adminAudit(now, actor, ActionAdminPassword, reason, a.Name, nil)
	if err != nil {
		return nil, err
	}
	if err := as.SetAdminPassword(ctx, a.Name, hash, e); err != nil {
		return nil, fmt.Errorf("identity: admin password of %s: %w", a.Name, err)
	}
	a.HasPassword = true
	return a, nil
}

// CheckAdminPassword returns the admin called name if password is theirs.
// Whatever the outcome it hashes once, so its time does not tell whether
// the admin exists or has a password. Errors: ErrNotFound (no such
// admin), ErrWrongPassword (also: no password set), ErrAdminRevoked (the
// password was right, but the admin is revoked).
func (s *State) CheckAdminPassword(ctx context.Context, name, password string) (*Admin, error) {
	as, err := s.adminStore()
	if err != nil {
		return nil, err
	}
	if len(password) > MaxPasswordBytes {
		// Never set (CheckPassword), and not worth hashing; the time
		// spent says nothing of the admin.
		verifyPassword(dummyHash, "")
		return nil, fmt.Errorf("identity: admin %s: %w", name, ErrWrongPassword)
	}
	a, hash, err := as.AdminNamed(ctx, name)
	switch {
	case errors.Is(err, ErrNotFound):
		verifyPassword(dummyHash, password)
		return nil, fmt.Errorf("identity: admin %s: %w", name, ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("identity: admin %s: %w", name, err)
	case hash == "":
		verifyPassword(dummyHash, password)
		return nil, fmt.Errorf("identity: admin %s: %w", name, ErrWrongPassword)
	case !verifyPassword(hash, password):
		return nil, fmt.Errorf("identity: admin %s: %w", name, ErrWrongPassword)
	case a.Revoked():
		return nil, fmt.Errorf("identity: admin %s: %w", a.Name, ErrAdminRevoked)
	}
	return a, nil
}

// AdminNamed returns the admin called name, whatever its case, as stored
// now (a session re-reads its admin with it on each request). Errors:
// ErrNotFound.
func (s *State) AdminNamed(ctx context.Context, name string) (*Admin, error) {
	as, err := s.adminStore()
	if err != nil {
		return nil, err
	}
	a, _, err := as.AdminNamed(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("identity: admin %s: %w", name, err)
	}
	return a, nil
}

// SetAdminPassword stores the password hash of the admin called name and
// appends audit in one transaction.
func (s *SQLStore) SetAdminPassword(ctx context.Context, name, passwordHash string, audit *AuditEntry) error {
	return s.adminTx(ctx, []*AuditEntry{audit}, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE admins SET password_hash = ? WHERE `+s.adminNamed()), passwordHash, name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return fmt.Errorf("%w: no admin called %q", ErrNotFound, name)
		}
		return nil
	})
}

// AdminNamed returns the admin called name and its password hash.
func (s *SQLStore) AdminNamed(ctx context.Context, name string) (*Admin, string, error) {
	if err := s.check(); err != nil {
		return nil, "", err
	}
	var hash string
	row := s.r.QueryRowContext(ctx, s.q(`SELECT password_hash, `+adminColumns+` FROM admins WHERE `+s.adminNamed()), name)
	a, err := scanAdmin(scanFunc(func(dest ...any) error { return row.Scan(append([]any{&hash}, dest...)...) }))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, "", ErrNotFound
	case err != nil:
		return nil, "", fmt.Errorf("identity: %s admin: %w", s.name, err)
	}
	return a, hash, nil
}
