package adminapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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

// checkQuery refuses a query string that does not parse, a parameter the
// route does not read, and a parameter given more than once.
func checkQuery(r *http.Request, allowed []string) error {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return fmt.Errorf("%w: query string: %w", errBadRequest, err)
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		if !slices.Contains(allowed, k) {
			takes := "takes no query parameters"
			if len(allowed) > 0 {
				takes = "takes " + strings.Join(allowed, ", ")
			}
			return fmt.Errorf("%w: unknown query parameter %q (%s %s)", errBadRequest, k, r.URL.Path, takes)
		}
		if n := len(q[k]); n > 1 {
			return fmt.Errorf("%w: query parameter %s is given %d times; give it once", errBadRequest, k, n)
		}
	}
	return nil
}

// noBody refuses a body on a route that reads none: what it asked for
// would be ignored.
func noBody(r *http.Request) error {
	var b [1]byte
	n, err := io.ReadFull(r.Body, b[:])
	if n > 0 {
		return fmt.Errorf("%w: %s %s takes no request body", errBadRequest, r.Method, r.URL.Path)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: request body: %w", errBadRequest, err)
	}
	return nil
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

// decode reads the request body into v, which must point to a struct:
// the body must be exactly one JSON object (not null, an array or a
// scalar; nothing after it), valid UTF-8, with each key once and spelled
// exactly as one of v's fields (encoding/json alone would take "REASON"
// for "reason", keep the last of two "reason"s and ignore a second
// object). Every handler that reads a body reads it through decode.
func decode(r *http.Request, v any) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("request body is larger than %d bytes: %w", mbe.Limit, err)
		}
		return fmt.Errorf("%w: request body: %w", errBadRequest, err)
	}
	if !utf8.Valid(data) {
		return fmt.Errorf("%w: request body is not valid UTF-8", errBadRequest)
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return fmt.Errorf("%w: request body is empty: send a JSON object", errBadRequest)
	}
	if trimmed[0] != '{' {
		return fmt.Errorf("%w: request body must be a JSON object, not %s", errBadRequest, jsonKind(trimmed[0]))
	}
	d := json.NewDecoder(bytes.NewReader(data))
	if err := checkKeys(d, reflect.TypeOf(v), "request body"); err != nil {
		if errors.Is(err, errBadRequest) {
			return err
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the object ended early
		}
		return fmt.Errorf("%w: request body: %w", errBadRequest, err)
	}
	d = json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: request body: %w", errBadRequest, err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: request body: data after the JSON object (send exactly one object)", errBadRequest)
	}
	return nil
}

// jsonKind names the kind of JSON value that starts with c.
func jsonKind(c byte) string {
	switch c {
	case 'n':
		return "null"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	}
	if c == '-' || c >= '0' && c <= '9' {
		return "a number"
	}
	return fmt.Sprintf("%q", c)
}

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

// checkKeys reads one JSON value from d and refuses an object that repeats
// a key and, where t (the Go type the value decodes into) is a struct, a
// key that is not one of its JSON field names spelled exactly. path names
// the value in errors. A type with its own UnmarshalJSON is only checked
// for repeated keys.
func checkKeys(d *json.Decoder, t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		t = nil
	}
	tok, err := d.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		var fields map[string]reflect.Type
		var elem reflect.Type
		if t != nil {
			switch t.Kind() {
			case reflect.Struct:
				fields = jsonFields(t)
			case reflect.Map:
				elem = t.Elem()
			}
		}
		seen := map[string]bool{}
		for d.More() {
			kt, err := d.Token()
			if err != nil {
				return err
			}
			k, _ := kt.(string)
			if seen[k] {
				return fmt.Errorf("%w: %s: field %q is given twice", errBadRequest, path, k)
			}
			seen[k] = true
			ft := elem
			if fields != nil {
				var ok bool
				if ft, ok = fields[k]; !ok {
					hint := ""
					for name := range fields {
						if strings.EqualFold(name, k) {
							hint = fmt.Sprintf(" (did you mean %q?)", name)
						}
					}
					return fmt.Errorf("%w: %s: unknown field %q%s", errBadRequest, path, k, hint)
				}
			}
			if err := checkKeys(d, ft, path+"."+k); err != nil {
				return err
			}
		}
		_, err := d.Token()
		return err
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; d.More(); i++ {
			if err := checkKeys(d, elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		_, err := d.Token()
		return err
	}
	return nil
}

// jsonFields returns the JSON names of t's fields as encoding/json decodes
// them (tags, promoted fields of embedded structs) with their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for _, f := range reflect.VisibleFields(t) {
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			// Its fields are promoted (and listed by VisibleFields).
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, dup := out[name]; !dup || len(f.Index) == 1 {
			out[name] = f.Type
		}
	}
	return out
}

// params reads a request's checked query parameters, with errors that
// name the parameter and what it takes.
type params struct{ q url.Values }

func queryOf(r *http.Request) params { return params{r.URL.Query()} }

func (p params) has(name string) bool   { return p.q.Has(name) }
func (p params) str(name string) string { return p.q.Get(name) }

// boolean reads a flag: absent is false; present without a value (or
// with an empty one) is true; otherwise true/false/1/0.
func (p params) boolean(name string) (bool, error) {
	if !p.q.Has(name) {
		return false, nil
	}
	v := p.q.Get(name)
	if v == "" {
		return true, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%w: query parameter %s: %q is not true or false", errBadRequest, name, v)
	}
	return b, nil
}

// time reads an RFC 3339 time; absent is zero.
func (p params) time(name string) (time.Time, error) {
	if !p.q.Has(name) {
		return time.Time{}, nil
	}
	v := p.q.Get(name)
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: query parameter %s: %q is not an RFC 3339 time (e.g. 2026-11-01T00:00:00Z)", errBadRequest, name, v)
	}
	return t, nil
}

// duration reads a positive Go duration (720h, 90m); absent is zero.
func (p params) duration(name string) (time.Duration, error) {
	if !p.q.Has(name) {
		return 0, nil
	}
	v := p.q.Get(name)
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%w: query parameter %s: %q is not a positive duration (e.g. 720h, 90m)", errBadRequest, name, v)
	}
	return d, nil
}

// integer reads a whole number in [lo, hi]; absent is def.
func (p params) integer(name string, lo, hi, def int) (int, error) {
	if !p.q.Has(name) {
		return def, nil
	}
	v := p.q.Get(name)
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%w: query parameter %s: %q is not a whole number from %d to %d", errBadRequest, name, v, lo, hi)
	}
	return n, nil
}

func (a *Server) listEmployees(w http.ResponseWriter, _ *http.Request, _ string) error {
	es := a.state.Snapshot().Employees()
	sort.Slice(es, func(i, j int) bool { return es[i].ID < es[j].ID })
	writeJSON(w, http.StatusOK, es)
	return nil
}

func (a *Server) upsertEmployee(w http.ResponseWriter, r *http.Request, actor string) error {
	var req EmployeeRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := a.state.UpsertEmployee(r.Context(), actor, req.Reason, req.Employee); err != nil {
		return err
	}
	e, _ := a.state.Snapshot().Employee(req.Employee.ID)
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (a *Server) depart(w http.ResponseWriter, r *http.Request, actor string) error {
	var req DepartRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	if len(req.Team) > 0 {
		if req.Successor != "" {
			return fmt.Errorf("%w: give a successor or a team, not both", errBadRequest)
		}
		// Spread first, then depart: every step is atomic, and messages
		// in between already reach the new owners.
		spread, err := a.state.Transfer(r.Context(), identity.TransferRequest{
			Actor: actor, Reason: req.Reason, From: id, Targets: req.Team, Strategy: identity.SpreadStrategy(req.Strategy)})
		if err != nil {
			return err
		}
		if _, err := a.state.Depart(r.Context(), actor, req.Reason, id, ""); err != nil {
			return fmt.Errorf("relationships spread by transfer %s, but the departure failed: %w", spread.ID, err)
		}
		writeJSON(w, http.StatusOK, spread)
		return nil
	}
	t, err := a.state.Depart(r.Context(), actor, req.Reason, id, req.Successor)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (a *Server) reactivate(w http.ResponseWriter, r *http.Request, actor string) error {
	var req ReasonRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := a.state.Reactivate(r.Context(), actor, req.Reason, r.PathValue("id")); err != nil {
		return err
	}
	e, _ := a.state.Snapshot().Employee(r.PathValue("id"))
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (a *Server) listPersonas(w http.ResponseWriter, _ *http.Request, _ string) error {
	ps := a.state.Snapshot().Personas()
	sort.Slice(ps, func(i, j int) bool { return ps[i].ID < ps[j].ID })
	writeJSON(w, http.StatusOK, ps)
	return nil
}

func (a *Server) upsertPersona(w http.ResponseWriter, r *http.Request, actor string) error {
	var req PersonaRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := a.state.UpsertPersona(r.Context(), actor, req.Reason, req.Persona); err != nil {
		return err
	}
	p, _ := a.state.Snapshot().Persona(req.Persona.ID)
	writeJSON(w, http.StatusOK, p)
	return nil
}

// contactParams are the query parameters of GET /v1/contacts.
var contactParams = []string{"owner", "unassigned", "persona", "tag", "source", "network",
	"active_after", "active_before", "idle_for", "active_within", "offset", "limit"}

// listContacts searches relationships: owner, unassigned, persona, tag,
// source, network, active_after and active_before (RFC 3339) or
// idle_for and active_within (durations back from now), offset and
// limit. The total number of matches is in the X-Total-Count header.
func (a *Server) listContacts(w http.ResponseWriter, r *http.Request, _ string) error {
	p := queryOf(r)
	unassigned, err := p.boolean("unassigned")
	if err != nil {
		return err
	}
	if unassigned && p.str("owner") != "" {
		return fmt.Errorf("%w: query parameters owner and unassigned exclude each other", errBadRequest)
	}
	query := identity.RelationshipQuery{
		OwnerID: p.str("owner"),
		Filter: identity.RelationshipFilter{
			// An empty owner= is the pool too, as the owner of a pooled
			// relationship is "".
			Unassigned: unassigned || (p.has("owner") && p.str("owner") == ""),
			PersonaID:  p.str("persona"),
			Tag:        p.str("tag"),
			Source:     p.str("source"),
			Network:    p.str("network"),
		},
	}
	if query.ActiveAfter, err = p.time("active_after"); err != nil {
		return err
	}
	if query.ActiveBefore, err = p.time("active_before"); err != nil {
		return err
	}
	now := a.gw.Now()
	for _, c := range []struct {
		name, excludes string
		dst            *time.Time
	}{{"idle_for", "active_before", &query.ActiveBefore}, {"active_within", "active_after", &query.ActiveAfter}} {
		d, err := p.duration(c.name)
		if err != nil {
			return err
		}
		if d > 0 {
			if p.has(c.excludes) {
				return fmt.Errorf("%w: query parameters %s and %s exclude each other", errBadRequest, c.name, c.excludes)
			}
			*c.dst = now.Add(-d)
		}
	}
	if query.Offset, err = p.integer("offset", 0, math.MaxInt32, 0); err != nil {
		return err
	}
	if query.Limit, err = p.integer("limit", 1, identity.MaxSearchLimit, identity.MaxSearchLimit); err != nil {
		return err
	}
	res, err := a.state.Snapshot().SearchRelationships(query)
	if err != nil {
		return err
	}
	out := make([]ContactView, 0, len(res.Items))
	for _, it := range res.Items {
		out = append(out, ContactView{Contact: *it.Contact, Relationship: *it.Relationship})
	}
	w.Header().Set("X-Total-Count", strconv.Itoa(res.Total))
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *Server) transfer(w http.ResponseWriter, r *http.Request, actor string) error {
	var req TransferRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	t, err := a.state.Transfer(r.Context(), identity.TransferRequest{
		Actor: actor, Reason: req.Reason, From: req.From, To: req.To,
		Targets: req.Team, Strategy: identity.SpreadStrategy(req.Strategy),
		Filter: identity.RelationshipFilter{
			Unassigned: req.Unassigned, PersonaID: req.Persona, Tag: req.Tag, Source: req.Source,
			Network: req.Network, ContactIDs: req.Contacts, RelationshipIDs: req.Relationships,
		},
	})
	if err != nil {
		return err
	}
	res := TransferResult{Transfer: t}
	if req.Notify {
		if res.Notices, err = a.notify(r.Context(), actor, req.Reason, t); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// notifyDetails is the audit detail of ActionContactsNotify.
type notifyDetails struct {
	Notices int `json:"notices"`
}

// notify sends the handover notices of t and records that it did, so that
// its revert knows the contacts were told.
func (a *Server) notify(ctx context.Context, actor, reason string, t *identity.Transfer) (int, error) {
	n := a.out.NotifyHandover(ctx, t)
	if err := a.state.RecordAudit(ctx, actor, ActionContactsNotify, reason, t.ID, notifyDetails{Notices: n}); err != nil {
		return n, fmt.Errorf("transfer %s: %d handover notice(s) queued, but recording them failed: %w", t.ID, n, err)
	}
	return n, nil
}

func (a *Server) getTransfer(w http.ResponseWriter, r *http.Request, _ string) error {
	t, err := a.state.LoadTransfer(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (a *Server) revertTransfer(w http.ResponseWriter, r *http.Request, actor string) error {
	var req RevertRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	told, err := a.state.Audit(r.Context(), identity.AuditQuery{Action: ActionContactsNotify, Subject: id, Limit: 1})
	if err != nil {
		return err
	}
	t, err := a.state.RevertTransfer(r.Context(), actor, req.Reason, id)
	if err != nil {
		return err
	}
	res := RevertResult{Transfer: t, ToldAtTransfer: len(told) > 0}
	if res.ToldAtTransfer {
		var d notifyDetails
		_ = json.Unmarshal(told[0].Details, &d) // only for the count shown
		res.NotifiedAtTransfer = d.Notices
	}
	res.Notified = res.ToldAtTransfer
	if req.Notify != nil {
		res.Notified = *req.Notify
	}
	if res.Notified {
		again := t
		if res.ToldAtTransfer && (req.Notify == nil || *req.Notify) {
			// Re-tell the contacts the transfer told: those it gave an owner
			// other than the one they had (NotifyHandover's rule).
			orig, err := a.state.LoadTransfer(r.Context(), id)
			if err != nil {
				return err
			}
			toldRel := map[string]bool{}
			for _, m := range orig.Moves {
				if m.ToOwner != "" && m.ToOwner != m.FromOwner {
					toldRel[m.RelationshipID] = true
				}
			}
			sub := *t
			sub.Moves = slices.DeleteFunc(slices.Clone(t.Moves), func(m identity.Move) bool { return !toldRel[m.RelationshipID] })
			again = &sub
		}
		n := a.out.NotifyHandover(r.Context(), again)
		res.Notices = n
		if err := a.state.RecordAudit(r.Context(), actor, ActionContactsNotify, req.Reason, t.ID, notifyDetails{Notices: n}); err != nil {
			return fmt.Errorf("revert %s: %d handover notice(s) queued, but recording them failed: %w", t.ID, n, err)
		}
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (a *Server) tags(w http.ResponseWriter, r *http.Request, actor string) error {
	var req TagsRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	var rel *identity.Relationship
	var err error
	if req.Set != nil {
		rel, err = a.state.SetTags(r.Context(), actor, req.Reason, id, req.Set)
	}
	if err == nil && len(req.Add) > 0 {
		rel, err = a.state.AddTags(r.Context(), actor, req.Reason, id, req.Add)
	}
	if err == nil && len(req.Remove) > 0 {
		rel, err = a.state.RemoveTags(r.Context(), actor, req.Reason, id, req.Remove)
	}
	if err != nil {
		return err
	}
	if rel == nil {
		return fmt.Errorf("%w: give set, add or remove", errBadRequest)
	}
	writeJSON(w, http.StatusOK, rel)
	return nil
}

func (a *Server) remark(w http.ResponseWriter, r *http.Request, actor string) error {
	var req RemarkRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	rel, err := a.state.SetRemark(r.Context(), actor, req.Reason, r.PathValue("id"), req.Remark)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rel)
	return nil
}

// prepareBroadcast stores a team broadcast (BroadcastRequest: team, tag,
// subject, body, reason) for each member to confirm.
func (a *Server) prepareBroadcast(w http.ResponseWriter, r *http.Request, actor string) error {
	var req BroadcastRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Reason) == "" {
		return fmt.Errorf("%w: a reason is required, for the audit log", errBadRequest)
	}
	b, err := a.out.PrepareBroadcast(r.Context(), outreach.BroadcastRequest{Actor: actor, Reason: req.Reason,
		Team: req.Team, Tag: req.Tag, Subject: req.Subject, Body: req.Body})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (a *Server) getBroadcast(w http.ResponseWriter, r *http.Request, _ string) error {
	b, err := a.out.LoadBroadcast(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (a *Server) importDirectory(w http.ResponseWriter, r *http.Request, actor string) error {
	var d Directory
	if err := decode(r, &d); err != nil {
		return err
	}
	if d.Reason == "" {
		d.Reason = "directory import"
	}
	for _, e := range d.Employees {
		if err := a.state.UpsertEmployee(r.Context(), actor, d.Reason, e); err != nil {
			return fmt.Errorf("employee %q: %w", e.ID, err)
		}
	}
	for _, p := range d.Personas {
		if err := a.state.UpsertPersona(r.Context(), actor, d.Reason, p); err != nil {
			return fmt.Errorf("persona %q: %w", p.ID, err)
		}
	}
	writeJSON(w, http.StatusOK, map[string]int{"employees": len(d.Employees), "personas": len(d.Personas)})
	return nil
}

func (a *Server) audit(w http.ResponseWriter, r *http.Request, _ string) error {
	p := queryOf(r)
	var aq identity.AuditQuery
	if p.has("after") {
		s := p.str("after")
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%w: query parameter after: %q is not a sequence number", errBadRequest, s)
		}
		aq.AfterSeq = n
	}
	var err error
	if aq.Limit, err = p.integer("limit", 1, identity.MaxAuditLimit, identity.DefaultAuditLimit); err != nil {
		return err
	}
	aq.Action, aq.Subject = p.str("action"), p.str("subject")
	entries, err := a.state.Audit(r.Context(), aq)
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []identity.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, entries)
	return nil
}

func (a *Server) queueStats(w http.ResponseWriter, r *http.Request, _ string) error {
	st, err := a.gw.Queue().Stats(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (a *Server) listAdmins(w http.ResponseWriter, r *http.Request, _ string) error {
	l, err := a.state.Admins(r.Context())
	if err != nil {
		return err
	}
	if l == nil {
		l = []identity.Admin{}
	}
	writeJSON(w, http.StatusOK, l)
	return nil
}

func (a *Server) addAdmin(w http.ResponseWriter, r *http.Request, actor string) error {
	var req AdminRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Role == "" {
		return fmt.Errorf("%w: role is required: %q or %q", errBadRequest, identity.RoleAdmin, identity.RoleAuditor)
	}
	adm, token, err := a.state.AddAdmin(r.Context(), actor, req.Reason, req.Name, req.Role)
	if err != nil {
		return err
	}
	// The token must not linger in caches between here and its holder.
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, NewAdmin{Admin: *adm, Token: token})
	return nil
}

func (a *Server) revokeAdmin(w http.ResponseWriter, r *http.Request, actor string) error {
	var req ReasonRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	adm, err := a.state.RevokeAdmin(r.Context(), actor, req.Reason, r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, adm)
	return nil
}

func sha256Of(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}
