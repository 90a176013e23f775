package adminapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/outreach"
)

// Server serves the authenticated admin HTTP API. The CLI's admin
// subcommands are its clients; nothing else writes the identity state.
//
// Every request names its caller by its credential: the bootstrap token
// from config (audited as "admin:bootstrap", role admin) or a named admin
// token (identity.Admin, audited as "admin:NAME", with its role). Input is
// strict: an unknown, repeated or unparsable query parameter, a body that
// is not exactly one JSON object of the expected fields, or a body where
// none is taken is refused with 400 naming the problem; nothing is
// silently ignored.
type Server struct {
	gw    *gateway.Gateway
	out   *outreach.Service
	state *identity.State
	token []byte // SHA-256 of the bootstrap token (config's admin.token)
	log   *slog.Logger
}

// MaxAdminBody is the largest request body the admin API reads (a
// directory import of some thousands of employees fits).
const MaxAdminBody = 8 << 20

// NewServer returns the admin API of gw and its outreach service out,
// accepting the bootstrap token and the named admin tokens kept by gw's
// identity store.
func NewServer(gw *gateway.Gateway, out *outreach.Service, token string, log *slog.Logger) (*Server, error) {
	if len(token) < 16 {
		return nil, errors.New("admin API: token must be at least 16 characters")
	}
	if strings.HasPrefix(token, identity.AdminTokenPrefix) {
		// It would be looked up as a named token and never match.
		return nil, fmt.Errorf("admin API: the bootstrap token must not start with %q, the prefix of named admin tokens", identity.AdminTokenPrefix)
	}
	if log == nil {
		log = slog.Default()
	}
	// Only the token's hash is kept and compared: equal lengths, so the
	// comparison's time says nothing of the token's length either.
	h := sha256.Sum256([]byte(token))
	return &Server{gw: gw, out: out, state: gw.State(), token: h[:], log: log}, nil
}

// Serve listens on addr until ctx ends. ready, if not nil, receives the
// bound address once listening.
func (a *Server) Serve(ctx context.Context, addr string, ready chan<- string) error {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("admin API: listen on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if ready != nil {
		ready <- ln.Addr().String()
	}
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin API: %w", err)
	}
	return nil
}

// access is what a route needs of its caller's role.
type access int

const (
	read  access = iota // any role
	write               // identity.RoleAdmin
)

// caller is who sent a request, from its credential.
type caller struct {
	actor string
	role  identity.AdminRole
}

// handlerFunc serves one authenticated request of actor (the audit's
// name of the credential), its query parameters already checked against
// the route's list.
type handlerFunc func(w http.ResponseWriter, r *http.Request, actor string) error

// route is one endpoint: what it needs, the query parameters it reads
// and whether it reads a body.
type route struct {
	access access
	params []string
	body   bool
}

// errActorHeader is the error of a request that names its actor in the
// X-Kakehashi-Actor header, which the audit no longer takes.
var errActorHeader = errors.New("the X-Kakehashi-Actor header is not accepted: the audit log names the holder of the token; give each admin their own (kakehashi admins add NAME)")

// Handler returns the API's HTTP handler.
func (a *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		h := a.gw.Health()
		status := http.StatusOK
		if h.Status != "ok" {
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, h)
	})
	handle := func(pattern string, rt route, h handlerFunc) {
		mux.HandleFunc(pattern, a.serve(rt, h))
	}
	get := func(params ...string) route { return route{access: read, params: params} }
	post := route{access: write, body: true}
	handle("GET /metrics", get(), func(w http.ResponseWriter, r *http.Request, _ string) error {
		a.gw.Metrics().Handler().ServeHTTP(w, r)
		return nil
	})
	handle("GET /v1/employees", get(), a.listEmployees)
	handle("POST /v1/employees", post, a.upsertEmployee)
	handle("POST /v1/employees/{id}/depart", post, a.depart)
	handle("POST /v1/employees/{id}/reactivate", post, a.reactivate)
	handle("GET /v1/personas", get(), a.listPersonas)
	handle("POST /v1/personas", post, a.upsertPersona)
	handle("GET /v1/contacts", get(contactParams...), a.listContacts)
	handle("POST /v1/transfers", post, a.transfer)
	handle("GET /v1/transfers/{id}", get(), a.getTransfer)
	handle("POST /v1/transfers/{id}/revert", post, a.revertTransfer)
	handle("POST /v1/relationships/{id}/tags", post, a.tags)
	handle("POST /v1/relationships/{id}/remark", post, a.remark)
	handle("POST /v1/broadcasts", post, a.prepareBroadcast)
	handle("GET /v1/broadcasts/{id}", get(), a.getBroadcast)
	handle("POST /v1/directory", post, a.importDirectory)
	handle("GET /v1/audit", get("after", "limit", "action", "subject"), a.audit)
	handle("GET /v1/queue", get(), a.queueStats)
	handle("GET /v1/admins", get(), a.listAdmins)
	handle("POST /v1/admins", post, a.addAdmin)
	handle("POST /v1/admins/{name}/revoke", post, a.revokeAdmin)
	return mux
}

// serve authenticates a request, checks its role, query parameters and
// body against rt, and runs h.
func (a *Server) serve(rt route, h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, status, err := a.authenticate(r)
		if err != nil {
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="kakehashi"`)
				writeJSON(w, status, ErrorBody{err.Error()})
				return
			}
			a.writeError(w, r, err)
			return
		}
		if rt.access == write && !c.role.CanWrite() {
			writeJSON(w, http.StatusForbidden, ErrorBody{fmt.Sprintf(
				"%s has role %s: it can read (lists, audit, queue, transfers, broadcasts, metrics) but not change anything; this needs role %s",
				c.actor, c.role, identity.RoleAdmin)})
			return
		}
		if err := checkQuery(r, rt.params); err != nil {
			a.writeError(w, r, err)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxAdminBody)
		if !rt.body {
			if err := noBody(r); err != nil {
				a.writeError(w, r, err)
				return
			}
		}
		if err := h(w, r, c.actor); err != nil {
			a.writeError(w, r, err)
		}
	}
}

// authenticate names the caller from the Authorization header. status is
// 401 for a missing, wrong or revoked token.
func (a *Server) authenticate(r *http.Request) (caller, int, error) {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || got == "" {
		return caller{}, http.StatusUnauthorized, errors.New("missing admin token (Authorization: Bearer …)")
	}
	var c caller
	switch {
	case subtle.ConstantTimeCompare(sha256Of(got), a.token) == 1:
		c = caller{actor: identity.AdminActor(identity.AdminBootstrap), role: identity.RoleAdmin}
	default:
		adm, err := a.state.AuthenticateAdmin(r.Context(), got)
		switch {
		case errors.Is(err, identity.ErrAdminRevoked):
			return caller{}, http.StatusUnauthorized, errors.New("this admin token was revoked")
		case errors.Is(err, identity.ErrNotFound):
			return caller{}, http.StatusUnauthorized, errors.New("wrong admin token")
		case err != nil:
			return caller{}, http.StatusInternalServerError, err
		}
		c = caller{actor: adm.Actor(), role: adm.Role}
	}
	// Checked once the caller is known, so that probing without a token
	// learns nothing.
	if _, ok := r.Header["X-Kakehashi-Actor"]; ok {
		return caller{}, http.StatusBadRequest, fmt.Errorf("%w: %w", errBadRequest, errActorHeader)
	}
	return c, 0, nil
}

func (a *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		status = http.StatusRequestEntityTooLarge
	case errors.Is(err, identity.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, identity.ErrInvalid), errors.As(err, &se), errors.As(err, &te), errors.Is(err, errBadRequest),
		errors.Is(err, outreach.ErrBroadcast):
		status = http.StatusBadRequest
	case errors.Is(err, identity.ErrConflict):
		status = http.StatusConflict
	case errors.Is(err, errors.ErrUnsupported):
		status = http.StatusNotImplemented
	}
	if status == http.StatusInternalServerError {
		a.log.Error("admin API", "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, ErrorBody{err.Error()})
}

var errBadRequest = errors.New("bad request")

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
