package adminapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/kakehashi/kakehashi/identity"
)

// Tokens names the caller of an admin request from its bearer token:
// the bootstrap token (config's admin.token, acting as
// "admin:bootstrap", role admin) or a named admin's, looked up by named
// (identity.State.AuthenticateAdmin on the active instance,
// identity.AdminTokens.Authenticate on a standby).
type Tokens struct {
	bootstrap []byte // SHA-256 of the bootstrap token
	named     func(ctx context.Context, token string) (*identity.Admin, error)
}

// NewTokens checks the bootstrap token and returns the Tokens that accept
// it and the named tokens named knows.
func NewTokens(bootstrap string, named func(ctx context.Context, token string) (*identity.Admin, error)) (*Tokens, error) {
	if len(bootstrap) < 16 {
		return nil, errors.New("admin API: token must be at least 16 characters")
	}
	if strings.HasPrefix(bootstrap, identity.AdminTokenPrefix) {
		// It would be looked up as a named token and never match.
		return nil, fmt.Errorf("admin API: the bootstrap token must not start with %q, the prefix of named admin tokens", identity.AdminTokenPrefix)
	}
	// Only the token's hash is kept and compared: equal lengths, so the
	// comparison's time says nothing of the token's length either.
	h := sha256.Sum256([]byte(bootstrap))
	return &Tokens{bootstrap: h[:], named: named}, nil
}

// Authenticate returns the audit name and role of r's caller. status is
// 401 for a missing, wrong or revoked token, 500 when the named tokens
// cannot be read. AuthenticateCaller says the team of a lead too.
func (t *Tokens) Authenticate(r *http.Request) (actor string, role identity.AdminRole, status int, err error) {
	c, status, err := t.AuthenticateCaller(r)
	return c.Actor, c.Role, status, err
}

// isBootstrap reports whether token is the bootstrap token.
func (t *Tokens) isBootstrap(token string) bool {
	return subtle.ConstantTimeCompare(sha256Of(token), t.bootstrap) == 1
}

// Refuse answers a request Authenticate refused with status and err: a
// 401 asks for a bearer token.
func Refuse(w http.ResponseWriter, status int, err error) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="kakehashi"`)
	}
	writeJSON(w, status, ErrorBody{err.Error()})
}

func sha256Of(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}
