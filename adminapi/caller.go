package adminapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/kakehashi/kakehashi/identity"
)

// Caller is who makes a request of the API: the audit's name of the
// credential's holder, its role and, for identity.RoleLead, its team
// (an identity.Employee's Department). A token names its caller (see
// Tokens); an in-process Client (Server.Client) is given one.
type Caller struct {
	// Actor is the audit log's name of the caller, "admin:NAME".
	Actor string
	Role  identity.AdminRole
	// Team is set for role lead only: the department whose members the
	// lead may see and act on.
	Team string
}

// CallerOf is the Caller of a named admin.
func CallerOf(adm *identity.Admin) Caller {
	return Caller{Actor: adm.Actor(), Role: adm.Role, Team: adm.Team}
}

// check refuses a Caller that names no one, an unknown role, or a lead
// without a team (who would otherwise see the employees without one).
func (c Caller) check() error {
	switch {
	case !strings.HasPrefix(c.Actor, "admin:") || len(c.Actor) == len("admin:"):
		return fmt.Errorf("in-process caller %q: the actor must be admin:NAME", c.Actor)
	case !c.Role.Valid():
		return fmt.Errorf("in-process caller %s: unknown role %q", c.Actor, c.Role)
	case c.Role == identity.RoleLead && c.Team == "":
		return fmt.Errorf("in-process caller %s: role %s needs a team", c.Actor, c.Role)
	case c.Role != identity.RoleLead && c.Team != "":
		return fmt.Errorf("in-process caller %s: only role %s has a team", c.Actor, identity.RoleLead)
	}
	return nil
}

// scoped reports whether c sees only their team: a lead.
func (c Caller) scoped() bool { return c.Role == identity.RoleLead }

// callerKey is the context key of an in-process request's Caller. It is
// unexported, so nothing that arrives over HTTP can set it.
type callerKey struct{}

// errForbidden is the error of a request a lead may not make: outside
// their team. writeError answers it with 403.
var errForbidden = errors.New("forbidden")

// outsideTeam is the 403 error of a lead's request that reaches outside
// their team: what says what.
func outsideTeam(c Caller, format string, args ...any) error {
	return fmt.Errorf("%w: %s has role %s for team %s: %s", errForbidden, c.Actor, c.Role, c.Team, fmt.Sprintf(format, args...))
}

// ErrSignIn is SignIn's and Caller's one answer for a wrong name or
// password, a revoked admin and one without a password alike, so that a
// refusal does not tell which.
var ErrSignIn = errors.New("wrong admin name or password")

// SignIn checks the console password of the admin called name and
// returns their Caller. A wrong or unknown name, a wrong password, an
// admin without one and a revoked admin are all ErrSignIn, and take the
// same time (the password is hashed once whatever the case). Other
// errors are the store's.
func (a *Server) SignIn(ctx context.Context, name, password string) (Caller, error) {
	adm, err := a.state.CheckAdminPassword(ctx, name, password)
	switch {
	case errors.Is(err, identity.ErrNotFound), errors.Is(err, identity.ErrWrongPassword), errors.Is(err, identity.ErrAdminRevoked):
		return Caller{}, ErrSignIn
	case err != nil:
		return Caller{}, err
	}
	return CallerOf(adm), nil
}

// Caller re-reads the admin called name, as stored now: a session calls it
// on each request, so that a revocation or a changed role takes effect at
// once. An unknown or revoked admin is ErrSignIn.
func (a *Server) Caller(ctx context.Context, name string) (Caller, error) {
	adm, err := a.state.AdminNamed(ctx, name)
	switch {
	case errors.Is(err, identity.ErrNotFound):
		return Caller{}, ErrSignIn
	case err != nil:
		return Caller{}, err
	case adm.Revoked():
		return Caller{}, ErrSignIn
	}
	return CallerOf(adm), nil
}

// Client returns a Client whose requests a.Handler() serves in process,
// as c: no token and no network, but every check of a request over HTTP
// (role, a lead's team, strict input) and the audit under c.Actor. A
// Caller that is not valid (an actor that is not admin:NAME, an unknown
// role, a lead without a team) is answered 401.
func (a *Server) Client(c Caller) *Client {
	// One handler for every in-process client: a console makes one per
	// request.
	a.inProcessOnce.Do(func() { a.inProcessHandler = a.Handler() })
	return &Client{base: "http://kakehashi.in-process", http: &http.Client{Transport: inProcess{h: a.inProcessHandler, c: c}}}
}

// inProcess is the RoundTripper of an in-process Client: it runs the
// handler with the request, its caller in the context.
type inProcess struct {
	h http.Handler
	c Caller
}

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(context.WithValue(req.Context(), callerKey{}, t.c))
	if r.Body == nil {
		r.Body = http.NoBody
	}
	r.RequestURI = r.URL.RequestURI()
	r.Header.Del("Authorization")
	rec := &recorder{header: http.Header{}}
	t.h.ServeHTTP(rec, r)
	if req.Body != nil {
		req.Body.Close()
	}
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", rec.status, http.StatusText(rec.status)), StatusCode: rec.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: rec.header, Body: io.NopCloser(bytes.NewReader(rec.body.Bytes())),
		ContentLength: int64(rec.body.Len()), Request: req,
	}, nil
}

// recorder is the http.ResponseWriter of an in-process request: it keeps
// the answer for the Client.
type recorder struct {
	header      http.Header
	status      int
	wroteHeader bool
	body        bytes.Buffer
}

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(status int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader, w.status = true, status
	w.header = w.header.Clone() // later changes are not sent, as over HTTP
}

func (w *recorder) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.body.Write(p)
}

// AuthenticateCaller is Authenticate's Caller: the name, role and team
// of the credential r names.
func (t *Tokens) AuthenticateCaller(r *http.Request) (Caller, int, error) {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || got == "" {
		return Caller{}, http.StatusUnauthorized, errors.New("missing admin token (Authorization: Bearer …)")
	}
	if t.isBootstrap(got) {
		return Caller{Actor: identity.AdminActor(identity.AdminBootstrap), Role: identity.RoleAdmin}, 0, nil
	}
	adm, err := t.named(r.Context(), got)
	switch {
	case errors.Is(err, identity.ErrAdminRevoked):
		return Caller{}, http.StatusUnauthorized, errors.New("this admin token was revoked")
	case errors.Is(err, identity.ErrNotFound):
		return Caller{}, http.StatusUnauthorized, errors.New("wrong admin token")
	case err != nil:
		return Caller{}, http.StatusInternalServerError, err
	}
	return CallerOf(adm), 0, nil
}
