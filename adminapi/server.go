package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/kakehashi/kakehashi/analytics"
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
//
// GET /v1/openapi.json describes every route in OpenAPI 3.0, made from
// the route table (routes) that Handler serves.
type Server struct {
	gw     *gateway.Gateway
	out    *outreach.Service
	state  *identity.State
	tokens *Tokens // the bootstrap token (config's admin.token) and the named ones
	log    *slog.Logger
	stats  *analytics.Store // nil: no analytics (SetAnalytics)

	inProcessOnce    sync.Once
	inProcessHandler http.Handler // what the clients of Client call
}

// MaxAdminBody is the largest request body the admin API reads (a
// directory import of some thousands of employees fits).
const MaxAdminBody = 8 << 20

// NewServer returns the admin API of gw and its outreach service out,
// accepting the bootstrap token and the named admin tokens kept by gw's
// identity store.
func NewServer(gw *gateway.Gateway, out *outreach.Service, token string, log *slog.Logger) (*Server, error) {
	tokens, err := NewTokens(token, nil)
	if err != nil {
		return nil, err
	}
	tokens.named = gw.State().AuthenticateAdmin
	if log == nil {
		log = slog.Default()
	}
	return &Server{gw: gw, out: out, state: gw.State(), tokens: tokens, log: log}, nil
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

// access is what a route needs of its caller.
type access int

const (
	read      access = iota // a credential that sees everything: roles admin and auditor
	write                   // a credential of a role that can write everything (identity.RoleAdmin)
	public                  // no credential: the route holds no data
	teamRead                // read, and a lead's too: its handler narrows the answer to the lead's team
	teamWrite               // write, and a lead's too: its handler refuses what is outside the lead's team
)

// roles are the roles of admin credentials, for the OpenAPI document and
// the checks of serve (see access.allows). A new role belongs here.
var roles = []identity.AdminRole{identity.RoleAdmin, identity.RoleAuditor, identity.RoleLead}

// allows reports whether a credential of role r may call a route of
// access ac at all. On teamRead and teamWrite routes the handler then
// checks a lead's scope (Caller.scoped).
func (ac access) allows(r identity.AdminRole) bool {
	switch ac {
	case public:
		return true
	case read:
		return r == identity.RoleAdmin || r == identity.RoleAuditor
	case write:
		return r.CanWrite()
	case teamRead:
		return r.Valid()
	case teamWrite:
		return r.CanWrite() || r == identity.RoleLead
	}
	return false
}

// allowed returns the roles that may call a route of access ac (none
// needed for a public one).
func (ac access) allowed() []identity.AdminRole {
	if ac == public {
		return nil
	}
	var out []identity.AdminRole
	for _, r := range roles {
		if ac.allows(r) {
			out = append(out, r)
		}
	}
	return out
}

// handlerFunc serves one request of c (the credential's holder; zero on a
// public route), its query parameters already checked against the
// route's list. A handler of a teamRead or teamWrite route checks a
// lead's scope itself.
type handlerFunc func(a *Server, w http.ResponseWriter, r *http.Request, c Caller) error

// route is one endpoint: what it needs, what it reads and answers, and
// its handler. The OpenAPI document (GET /v1/openapi.json) is made from
// the routes alone, so it describes what is served.
type route struct {
	// pattern is the endpoint's http.ServeMux pattern, "METHOD /path"; a
	// path parameter ({id}) is described by pathParam.
	pattern   string
	pathParam string
	// op names the operation (the document's operationId); summary says
	// what it does in a line, doc more if need be.
	op, summary, doc string
	access           access
	params           []param
	// body is the Go type of the request body (a JSON object); nil: the
	// route takes no body.
	body reflect.Type
	// answer is the Go type of the JSON answer of status (200 if 0) and
	// of the statuses in answers; text instead names the media type of an
	// answer that is not JSON.
	answer  reflect.Type
	status  int
	answers []int
	text    string
	headers []header
	// errors are the error statuses this route can answer beyond those
	// every route of its access can (400, 401, 403 for write routes, 413
	// with a body, 500).
	errors []int
	// local says that every instance of several over one store answers
	// the route itself: a standby forwards the others to the active
	// instance (502 and 503 when it cannot).
	local bool
	serve handlerFunc
}

// errActorHeader is the error of a request that names its actor in the
// X-Kakehashi-Actor header, which the audit no longer takes.
var errActorHeader = errors.New("the X-Kakehashi-Actor header is not accepted: the audit log names the holder of the token; give each admin their own (kakehashi admins add NAME)")

// routes is the API: every endpoint Handler serves, and nothing else.
func routes() []route {
	t := func(v any) reflect.Type { return reflect.TypeOf(v) }
	return []route{
		{pattern: "GET /healthz", op: "health", access: public, answer: t(Health{}), answers: []int{503}, local: true, serve: (*Server).health,
			summary: "Whether every network is connected and the queue can store messages",
			doc: "200 when status is \"ok\", 503 when it is \"degraded\" (with the same body). With several instances over one PostgreSQL store, " +
				"kakehashi serve adds each instance's role (active or standby) and election term."},
		{pattern: "GET /v1/openapi.json", op: "openAPI", access: public, answer: t(map[string]any{}), serve: (*Server).openAPI,
			summary: "This document: the admin API described in OpenAPI 3.0",
			doc:     "It describes the API and holds no data, so it needs no credential."},
		{pattern: "GET /metrics", op: "metrics", access: read, text: "text/plain", local: true, serve: (*Server).metrics,
			summary: "The gateway's metrics in the Prometheus text format"},
		{pattern: "GET /v1/employees", op: "listEmployees", access: teamRead, answer: t([]identity.Employee{}), serve: (*Server).listEmployees,
			summary: "Every employee, departed ones too, by ID"},
		{pattern: "POST /v1/employees", op: "upsertEmployee", access: write, body: t(EmployeeRequest{}), answer: t(identity.Employee{}),
			errors: []int{409}, serve: (*Server).upsertEmployee,
			summary: "Create or update an employee; the answer is the employee as stored"},
		{pattern: "POST /v1/employees/{id}/depart", pathParam: "the employee's ID", op: "depart", access: teamWrite,
			body: t(DepartRequest{}), answer: t(TransferResult{}), errors: []int{404}, serve: (*Server).depart,
			summary: "Mark an employee departed and hand their relationships on",
			doc: "To a successor, spread over a team, or (neither) to the unassigned pool. The answer is the transfer that moved them, which a revert can undo. " +
				"With preview, nothing changes and nothing is audited: the answer is the transfer that would be made (without an ID) and its preview."},
		{pattern: "POST /v1/employees/{id}/reactivate", pathParam: "the employee's ID", op: "reactivate", access: write,
			body: t(ReasonRequest{}), answer: t(identity.Employee{}), errors: []int{404}, serve: (*Server).reactivate,
			summary: "Make a departed employee active again"},
		{pattern: "GET /v1/personas", op: "listPersonas", access: teamRead, answer: t([]identity.Persona{}), serve: (*Server).listPersonas,
			summary: "Every persona, by ID"},
		{pattern: "POST /v1/personas", op: "upsertPersona", access: write, body: t(PersonaRequest{}), answer: t(identity.Persona{}),
			errors: []int{404, 409}, serve: (*Server).upsertPersona,
			summary: "Create or update a persona; the answer is the persona as stored"},
		{pattern: "GET /v1/contacts", op: "listContacts", access: teamRead, params: contactParams, answer: t([]ContactView{}),
			headers: []header{{"X-Total-Count", "integer", "How many relationships match in all (the answer is one page of them)."}},
			serve:   (*Server).listContacts,
			summary: "Search relationships (a contact and their relationship with one persona)",
			doc:     "The parameters given are combined with AND."},
		{pattern: "POST /v1/transfers", op: "transfer", access: teamWrite, body: t(TransferRequest{}), answer: t(TransferResult{}),
			errors: []int{404}, serve: (*Server).transfer,
			summary: "Move the relationships the request selects to an employee, the pool, or spread over a team",
			doc: "The answer is the transfer, which a revert can undo, and how many handover notices it queued. " +
				"With preview, nothing changes, nobody is notified and nothing is audited: the answer is the transfer that would be made (without an ID) and its preview, planned as the real one."},
		{pattern: "GET /v1/transfers", op: "listTransfers", access: teamRead, params: transferParams, answer: t([]TransferSummary{}),
			serve:   (*Server).listTransfers,
			summary: "Transfers (departures' and reverts' too), newest first, without their moves",
			doc: "Each with its kind, whether it was reverted and whether its contacts were notified. The parameters given are combined with AND. " +
				"A lead sees only the transfers whose every move is between members of their team (as GET /v1/transfers/{id} shows them one)."},
		{pattern: "GET /v1/transfers/{id}", pathParam: "the transfer's ID", op: "getTransfer", access: teamRead,
			answer: t(TransferView{}), errors: []int{404}, serve: (*Server).getTransfer,
			summary: "A transfer (a departure's or a revert's too), every move, and what became of it (reverted, notified)"},
		{pattern: "POST /v1/transfers/{id}/revert", pathParam: "the transfer's ID", op: "revertTransfer", access: teamWrite,
			body: t(RevertRequest{}), answer: t(RevertResult{}), errors: []int{404, 409}, serve: (*Server).revertTransfer,
			summary: "Move a transfer's relationships back",
			doc:     "Refused with 409 if a later transfer moved one of them again, or the transfer was reverted already."},
		{pattern: "POST /v1/relationships/{id}/tags", pathParam: "the relationship's ID", op: "editTags", access: teamWrite,
			body: t(TagsRequest{}), answer: t(identity.Relationship{}), errors: []int{404}, serve: (*Server).tags,
			summary: "Set, add or remove a relationship's tags; the answer is the relationship"},
		{pattern: "POST /v1/relationships/{id}/remark", pathParam: "the relationship's ID", op: "setRemark", access: teamWrite,
			body: t(RemarkRequest{}), answer: t(identity.Relationship{}), errors: []int{404}, serve: (*Server).remark,
			summary: "Set (or, empty, clear) a relationship's remark; the answer is the relationship"},
		{pattern: "POST /v1/broadcasts", op: "prepareBroadcast", access: teamWrite, body: t(BroadcastRequest{}), answer: t(Broadcast{}),
			serve:   (*Server).prepareBroadcast,
			summary: "Prepare a team broadcast, which each member confirms before their copy goes to their own contacts with the tag"},
		{pattern: "GET /v1/broadcasts", op: "listBroadcasts", access: teamRead, params: broadcastParams, answer: t([]BroadcastSummary{}),
			serve:   (*Server).listBroadcasts,
			summary: "Team broadcasts prepared, newest first",
			doc:     "A lead sees only those to members of their team (as GET /v1/broadcasts/{id} shows them one)."},
		{pattern: "GET /v1/broadcasts/{id}", pathParam: "the broadcast's ID", op: "getBroadcast", access: teamRead,
			answer: t(Broadcast{}), errors: []int{404}, serve: (*Server).getBroadcast,
			summary: "A broadcast and its outcome so far"},
		{pattern: "POST /v1/directory", op: "importDirectory", access: write, body: t(Directory{}), answer: t(DirectoryResult{}),
			errors: []int{404, 409}, serve: (*Server).importDirectory,
			summary: "Create or update a batch of employees and personas",
			doc:     "They are written one by one: on an error, those before it are stored."},
		{pattern: "GET /v1/audit", op: "audit", access: read, params: auditParams, answer: t([]identity.AuditEntry{}), serve: (*Server).audit,
			summary: "Audit log entries, oldest first (newest first with newest)"},
		{pattern: "GET /v1/audit.csv", op: "auditCSV", access: read, params: auditParams, text: "text/csv", serve: (*Server).auditCSV,
			summary: "Audit log entries, oldest first (newest first with newest), as CSV (RFC 4180) to download",
			doc: "The entries GET /v1/audit answers, one a row under a header: time, actor, action, subject, reason, detail-json (the details as JSON). " +
				"A cell that starts with = + - @, a tab or a carriage return is prefixed with ' so that a spreadsheet does not run it as a formula. " +
				"The export is itself audited (" + ActionAuditExport + ", with the filters, the row count and the first and last row's seq) before it is sent."},
		{pattern: "GET /v1/queue", op: "queueStats", access: teamRead, answer: t(QueueStats{}), serve: (*Server).queueStats,
			summary: "How many messages the durable queue holds in each state (pending, sent, failed; a state without messages is absent)",
			doc:     "Operational totals only, no message or contact: a lead reads the same numbers as everyone (the gateway's queue is not divided by team)."},
		{pattern: "GET /v1/stats/overview", op: "statsOverview", access: teamRead, params: statsParams, answer: t(analytics.Overview{}),
			errors: []int{501}, serve: (*Server).statsOverview,
			summary: "Messages in and out, new contacts by contact point and source, contacts gone, reply rate and first-response times, per day",
			doc: "Counted as the gateway relays (they outlive the queue's retention), per UTC day, for everyone or a team or an employee. " +
				"A conversation waits from a contact's message that starts or resumes it (nobody was waiting: the owner wrote last, or nobody had) " +
				"until the owner's first answer; the wait is counted on the answer's day for the owner who answered, and as replied on the day it began. " +
				"Medians are read from a log-scale histogram, within about 2.5 %. A period has 1 to " + strconv.Itoa(analytics.MaxOverviewDays) + " days."},
		{pattern: "GET /v1/waiting", op: "waiting", access: teamRead, params: waitingParams, answer: t([]analytics.Waiting{}),
			errors: []int{501}, serve: (*Server).waiting,
			summary: "Conversations where the contact wrote last and nobody has answered, oldest first, with their owner"},
		{pattern: "GET /v1/admins", op: "listAdmins", access: read, answer: t([]identity.Admin{}), errors: []int{501}, serve: (*Server).listAdmins,
			summary: "The named admin credentials, revoked ones too (never their tokens)"},
		{pattern: "POST /v1/admins", op: "addAdmin", access: write, body: t(AdminRequest{}), answer: t(NewAdmin{}), status: http.StatusCreated,
			headers: []header{{"Cache-Control", "string", "no-store: the token must not linger in caches."}},
			errors:  []int{409, 501}, serve: (*Server).addAdmin,
			summary: "Create a named admin credential; the answer holds its token, shown this once"},
		{pattern: "POST /v1/admins/{name}/password", pathParam: "the admin's name", op: "setAdminPassword", access: write,
			body: t(PasswordRequest{}), answer: t(identity.Admin{}), errors: []int{404, 501}, serve: (*Server).setAdminPassword,
			summary: "Set a named admin's console password (replacing any); the answer is the admin, never the password or its hash",
			doc: "The password has at least " + strconv.Itoa(identity.MinPasswordLen) + " characters, at most " + strconv.Itoa(identity.MaxPasswordBytes) +
				" bytes, and is not all white space. Only an argon2id hash is stored; the audit log records that it was set (admin.password), nothing of it."},
		{pattern: "POST /v1/admins/{name}/revoke", pathParam: "the admin's name", op: "revokeAdmin", access: write,
			body: t(ReasonRequest{}), answer: t(identity.Admin{}), errors: []int{404, 409, 501}, serve: (*Server).revokeAdmin,
			summary: "Revoke a named admin credential: its token is refused from then on"},
	}
}

// Handler returns the API's HTTP handler.
func (a *Server) Handler() http.Handler {
	mux, _ := a.mux()
	return mux
}

// mux serves routes(), and returns the patterns it registered.
func (a *Server) mux() (*http.ServeMux, []string) {
	mux := http.NewServeMux()
	var patterns []string
	for _, rt := range routes() {
		mux.HandleFunc(rt.pattern, a.serve(rt))
		patterns = append(patterns, rt.pattern)
	}
	return mux, patterns
}

func (a *Server) health(w http.ResponseWriter, _ *http.Request, _ Caller) error {
	h := a.gw.Health()
	status := http.StatusOK
	if h.Status != "ok" {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, h)
	return nil
}

func (a *Server) metrics(w http.ResponseWriter, r *http.Request, _ Caller) error {
	a.gw.Metrics().Handler().ServeHTTP(w, r)
	return nil
}

// serve authenticates a request (unless rt is public), checks its role,
// query parameters and body against rt, and runs its handler.
func (a *Server) serve(rt route) http.HandlerFunc {
	names := make([]string, len(rt.params))
	for i, p := range rt.params {
		names[i] = p.name
	}
	return func(w http.ResponseWriter, r *http.Request) {
		var c Caller
		if rt.access != public {
			var status int
			var err error
			c, status, err = a.authenticate(r)
			if status == http.StatusUnauthorized {
				Refuse(w, status, err)
				return
			}
			if err != nil {
				a.writeError(w, r, err)
				return
			}
		}
		if !rt.access.allows(c.Role) {
			writeJSON(w, http.StatusForbidden, ErrorBody{refusal(c, rt.access)})
			return
		}
		if err := checkQuery(r, names); err != nil {
			a.writeError(w, r, err)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxAdminBody)
		if rt.body == nil {
			if err := noBody(r); err != nil {
				a.writeError(w, r, err)
				return
			}
		}
		if err := rt.serve(a, w, r, c); err != nil {
			a.writeError(w, r, err)
		}
	}
}

// authenticate names the caller: the one an in-process Client put in the
// request's context (Server.Client), else the holder of the token in the
// Authorization header (see Tokens.Authenticate).
func (a *Server) authenticate(r *http.Request) (Caller, int, error) {
	if c, ok := r.Context().Value(callerKey{}).(Caller); ok {
		if err := c.check(); err != nil {
			return Caller{}, http.StatusUnauthorized, err
		}
		return c, 0, nil
	}
	c, status, err := a.tokens.AuthenticateCaller(r)
	if err != nil {
		return Caller{}, status, err
	}
	// Checked once the caller is known, so that probing without a token
	// learns nothing.
	if _, ok := r.Header["X-Kakehashi-Actor"]; ok {
		return Caller{}, http.StatusBadRequest, fmt.Errorf("%w: %w", errBadRequest, errActorHeader)
	}
	return c, 0, nil
}

// refusal says why c may not call a route of access ac.
func refusal(c Caller, ac access) string {
	switch {
	case c.Role == identity.RoleLead:
		return fmt.Sprintf("%s has role %s (team %s): it reads and changes only what concerns its team's members; this needs role %s or %s",
			c.Actor, c.Role, c.Team, identity.RoleAdmin, identity.RoleAuditor)
	case ac == write || ac == teamWrite:
		return fmt.Sprintf("%s has role %s: it can read (lists, audit, queue, transfers, broadcasts, metrics) but not change anything; this needs role %s",
			c.Actor, c.Role, identity.RoleAdmin)
	}
	return fmt.Sprintf("%s has role %s, which may not call this", c.Actor, c.Role)
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
		errors.Is(err, outreach.ErrBroadcast), errors.Is(err, analytics.ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, errForbidden):
		status = http.StatusForbidden
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
