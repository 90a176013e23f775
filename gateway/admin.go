package gateway

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/identity"
)

// AdminAPI serves the authenticated admin HTTP API. The CLI's admin
// subcommands are its clients; nothing else writes the identity state.
type AdminAPI struct {
	gw    *Gateway
	token []byte
	log   *slog.Logger
}

// NewAdminAPI returns the admin API of gw, accepting bearer token.
func NewAdminAPI(gw *Gateway, token string, log *slog.Logger) (*AdminAPI, error) {
	if len(token) < 16 {
		return nil, errors.New("admin API: token must be at least 16 characters")
	}
	if log == nil {
		log = slog.Default()
	}
	return &AdminAPI{gw: gw, token: []byte(token), log: log}, nil
}

// Serve listens on addr until ctx ends. ready, if not nil, receives the
// bound address once listening.
func (a *AdminAPI) Serve(ctx context.Context, addr string, ready chan<- string) error {
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

// Handler returns the API's HTTP handler.
func (a *AdminAPI) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		h := a.gw.Health()
		status := http.StatusOK
		if h.Status != "ok" {
			status = http.StatusServiceUnavailable
		}
		writeJSON(w, status, h)
	})
	auth := func(h func(w http.ResponseWriter, r *http.Request, actor string) error) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), a.token) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="kakehashi"`)
				writeJSON(w, http.StatusUnauthorized, apiError{"missing or wrong admin token (Authorization: Bearer …)"})
				return
			}
			actor := r.Header.Get("X-Kakehashi-Actor")
			if actor == "" {
				actor = "admin"
			}
			r.Body = http.MaxBytesReader(w, r.Body, 8<<20)
			if err := h(w, r, "admin:"+actor); err != nil {
				a.writeError(w, r, err)
			}
		}
	}
	mux.Handle("GET /metrics", auth(func(w http.ResponseWriter, r *http.Request, _ string) error {
		a.gw.metrics.Handler().ServeHTTP(w, r)
		return nil
	}))
	mux.HandleFunc("GET /v1/employees", auth(a.listEmployees))
	mux.HandleFunc("POST /v1/employees", auth(a.upsertEmployee))
	mux.HandleFunc("POST /v1/employees/{id}/depart", auth(a.depart))
	mux.HandleFunc("POST /v1/employees/{id}/reactivate", auth(a.reactivate))
	mux.HandleFunc("GET /v1/personas", auth(a.listPersonas))
	mux.HandleFunc("POST /v1/personas", auth(a.upsertPersona))
	mux.HandleFunc("GET /v1/contacts", auth(a.listContacts))
	mux.HandleFunc("POST /v1/transfers", auth(a.transfer))
	mux.HandleFunc("GET /v1/transfers/{id}", auth(a.getTransfer))
	mux.HandleFunc("POST /v1/transfers/{id}/revert", auth(a.revertTransfer))
	mux.HandleFunc("POST /v1/relationships/{id}/tags", auth(a.tags))
	mux.HandleFunc("POST /v1/relationships/{id}/remark", auth(a.remark))
	mux.HandleFunc("POST /v1/broadcasts", auth(a.prepareBroadcast))
	mux.HandleFunc("GET /v1/broadcasts/{id}", auth(a.getBroadcast))
	mux.HandleFunc("POST /v1/directory", auth(a.importDirectory))
	mux.HandleFunc("GET /v1/audit", auth(a.audit))
	mux.HandleFunc("GET /v1/queue", auth(a.queueStats))
	return mux
}

type apiError struct {
	Error string `json:"error"`
}

func (a *AdminAPI) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.Is(err, identity.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, identity.ErrInvalid), errors.As(err, &se), errors.As(err, &te), errors.Is(err, errBadRequest),
		errors.Is(err, ErrBroadcast):
		status = http.StatusBadRequest
	case errors.Is(err, identity.ErrConflict):
		status = http.StatusConflict
	case errors.As(err, &mbe):
		status = http.StatusRequestEntityTooLarge
	}
	if status == http.StatusInternalServerError {
		a.log.Error("admin API", "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, apiError{err.Error()})
}

var errBadRequest = errors.New("bad request")

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func decode(r *http.Request, v any) error {
	d := json.NewDecoder(r.Body)
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: request body: %w", errBadRequest, err)
	}
	return nil
}

func (a *AdminAPI) listEmployees(w http.ResponseWriter, _ *http.Request, _ string) error {
	es := a.gw.state.Snapshot().Employees()
	sort.Slice(es, func(i, j int) bool { return es[i].ID < es[j].ID })
	writeJSON(w, http.StatusOK, es)
	return nil
}

// EmployeeRequest is the body of POST /v1/employees.
type EmployeeRequest struct {
	Employee identity.Employee `json:"employee"`
	Reason   string            `json:"reason"`
}

func (a *AdminAPI) upsertEmployee(w http.ResponseWriter, r *http.Request, actor string) error {
	var req EmployeeRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := a.gw.state.UpsertEmployee(r.Context(), actor, req.Reason, req.Employee); err != nil {
		return err
	}
	e, _ := a.gw.state.Snapshot().Employee(req.Employee.ID)
	writeJSON(w, http.StatusOK, e)
	return nil
}

// DepartRequest is the body of POST /v1/employees/{id}/depart.
type DepartRequest struct {
	Successor string `json:"successor,omitempty"`
	// Team spreads the employee's relationships over these employees (by
	// Strategy) instead of handing them to one successor.
	Team     []string `json:"team,omitempty"`
	Strategy string   `json:"strategy,omitempty"`
	Reason   string   `json:"reason"`
}

func (a *AdminAPI) depart(w http.ResponseWriter, r *http.Request, actor string) error {
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
		spread, err := a.gw.state.Transfer(r.Context(), identity.TransferRequest{
			Actor: actor, Reason: req.Reason, From: id, Targets: req.Team, Strategy: identity.SpreadStrategy(req.Strategy)})
		if err != nil {
			return err
		}
		if _, err := a.gw.state.Depart(r.Context(), actor, req.Reason, id, ""); err != nil {
			return fmt.Errorf("relationships spread by transfer %s, but the departure failed: %w", spread.ID, err)
		}
		writeJSON(w, http.StatusOK, spread)
		return nil
	}
	t, err := a.gw.state.Depart(r.Context(), actor, req.Reason, id, req.Successor)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

// ReasonRequest is the body of calls that only need a reason.
type ReasonRequest struct {
	Reason string `json:"reason"`
}

func (a *AdminAPI) reactivate(w http.ResponseWriter, r *http.Request, actor string) error {
	var req ReasonRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := a.gw.state.Reactivate(r.Context(), actor, req.Reason, r.PathValue("id")); err != nil {
		return err
	}
	e, _ := a.gw.state.Snapshot().Employee(r.PathValue("id"))
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (a *AdminAPI) listPersonas(w http.ResponseWriter, _ *http.Request, _ string) error {
	ps := a.gw.state.Snapshot().Personas()
	sort.Slice(ps, func(i, j int) bool { return ps[i].ID < ps[j].ID })
	writeJSON(w, http.StatusOK, ps)
	return nil
}

// PersonaRequest is the body of POST /v1/personas.
type PersonaRequest struct {
	Persona identity.Persona `json:"persona"`
	Reason  string           `json:"reason"`
}

func (a *AdminAPI) upsertPersona(w http.ResponseWriter, r *http.Request, actor string) error {
	var req PersonaRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := a.gw.state.UpsertPersona(r.Context(), actor, req.Reason, req.Persona); err != nil {
		return err
	}
	p, _ := a.gw.state.Snapshot().Persona(req.Persona.ID)
	writeJSON(w, http.StatusOK, p)
	return nil
}

// ContactView is one relationship as the contacts listing shows it.
type ContactView struct {
	Contact      identity.Contact      `json:"contact"`
	Relationship identity.Relationship `json:"relationship"`
}

// listContacts searches relationships: owner, unassigned, persona, tag,
// source, network, active_after and active_before (RFC 3339), offset and
// limit. The total number of matches is in the X-Total-Count header.
func (a *AdminAPI) listContacts(w http.ResponseWriter, r *http.Request, _ string) error {
	q := r.URL.Query()
	query := identity.RelationshipQuery{
		OwnerID: q.Get("owner"),
		Filter: identity.RelationshipFilter{
			Unassigned: q.Has("unassigned") || (q.Has("owner") && q.Get("owner") == ""),
			PersonaID:  q.Get("persona"),
			Tag:        q.Get("tag"),
			Source:     q.Get("source"),
			Network:    q.Get("network"),
		},
		Limit: identity.MaxSearchLimit,
	}
	for key, dst := range map[string]*time.Time{"active_after": &query.ActiveAfter, "active_before": &query.ActiveBefore} {
		if v := q.Get(key); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return fmt.Errorf("%w: %s: %q is not an RFC 3339 time (e.g. 2026-11-01T00:00:00Z)", errBadRequest, key, v)
			}
			*dst = t
		}
	}
	for key, dst := range map[string]*int{"offset": &query.Offset, "limit": &query.Limit} {
		if v := q.Get(key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fmt.Errorf("%w: %s: %q is not a number", errBadRequest, key, v)
			}
			*dst = n
		}
	}
	res, err := a.gw.state.Snapshot().SearchRelationships(query)
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

// TransferRequest is the body of POST /v1/transfers: which relationships
// (From and the filter fields, combined with AND) go where (To, the pool
// when empty, or spread over Team by Strategy).
type TransferRequest struct {
	From          string   `json:"from,omitempty"`
	To            string   `json:"to,omitempty"`
	Team          []string `json:"team,omitempty"`
	Strategy      string   `json:"strategy,omitempty"`
	Persona       string   `json:"persona,omitempty"`
	Tag           string   `json:"tag,omitempty"`
	Source        string   `json:"source,omitempty"`
	Network       string   `json:"network,omitempty"`
	Unassigned    bool     `json:"unassigned,omitempty"`
	Contacts      []string `json:"contacts,omitempty"`
	Relationships []string `json:"relationships,omitempty"`
	// Notify sends each moved contact a handover notice from their new
	// persona (see Persona.Handover).
	Notify bool   `json:"notify,omitempty"`
	Reason string `json:"reason"`
}

// TransferResult is a transfer and how many handover notices it queued.
type TransferResult struct {
	*identity.Transfer
	Notices int `json:"notices,omitempty"`
}

func (a *AdminAPI) transfer(w http.ResponseWriter, r *http.Request, actor string) error {
	var req TransferRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	t, err := a.gw.state.Transfer(r.Context(), identity.TransferRequest{
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
		res.Notices = a.gw.NotifyHandover(r.Context(), t)
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

func (a *AdminAPI) getTransfer(w http.ResponseWriter, r *http.Request, _ string) error {
	t, err := a.gw.state.LoadTransfer(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (a *AdminAPI) revertTransfer(w http.ResponseWriter, r *http.Request, actor string) error {
	var req ReasonRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	t, err := a.gw.state.RevertTransfer(r.Context(), actor, req.Reason, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

// TagsRequest is the body of POST /v1/relationships/{id}/tags: Set
// replaces all tags when not nil; Add and Remove edit them.
type TagsRequest struct {
	Set    []string `json:"set,omitempty"`
	Add    []string `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
	Reason string   `json:"reason,omitempty"`
}

func (a *AdminAPI) tags(w http.ResponseWriter, r *http.Request, actor string) error {
	var req TagsRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	var rel *identity.Relationship
	var err error
	if req.Set != nil {
		rel, err = a.gw.state.SetTags(r.Context(), actor, req.Reason, id, req.Set)
	}
	if err == nil && len(req.Add) > 0 {
		rel, err = a.gw.state.AddTags(r.Context(), actor, req.Reason, id, req.Add)
	}
	if err == nil && len(req.Remove) > 0 {
		rel, err = a.gw.state.RemoveTags(r.Context(), actor, req.Reason, id, req.Remove)
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

// RemarkRequest is the body of POST /v1/relationships/{id}/remark.
type RemarkRequest struct {
	Remark string `json:"remark"`
	Reason string `json:"reason,omitempty"`
}

func (a *AdminAPI) remark(w http.ResponseWriter, r *http.Request, actor string) error {
	var req RemarkRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	rel, err := a.gw.state.SetRemark(r.Context(), actor, req.Reason, r.PathValue("id"), req.Remark)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rel)
	return nil
}

// Directory is a batch of employees and personas to create or update.
type Directory struct {
	Employees []identity.Employee `json:"employees"`
	Personas  []identity.Persona  `json:"personas"`
	Reason    string              `json:"reason,omitempty"`
}

// prepareBroadcast stores a team broadcast (BroadcastRequest: team, tag,
// subject, body, reason) for each member to confirm.
func (a *AdminAPI) prepareBroadcast(w http.ResponseWriter, r *http.Request, actor string) error {
	var req BroadcastRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Reason) == "" {
		return fmt.Errorf("%w: a reason is required, for the audit log", errBadRequest)
	}
	req.Actor = actor
	b, err := a.gw.PrepareBroadcast(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (a *AdminAPI) getBroadcast(w http.ResponseWriter, r *http.Request, _ string) error {
	b, err := a.gw.LoadBroadcast(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (a *AdminAPI) importDirectory(w http.ResponseWriter, r *http.Request, actor string) error {
	var d Directory
	if err := decode(r, &d); err != nil {
		return err
	}
	if d.Reason == "" {
		d.Reason = "directory import"
	}
	for _, e := range d.Employees {
		if err := a.gw.state.UpsertEmployee(r.Context(), actor, d.Reason, e); err != nil {
			return fmt.Errorf("employee %q: %w", e.ID, err)
		}
	}
	for _, p := range d.Personas {
		if err := a.gw.state.UpsertPersona(r.Context(), actor, d.Reason, p); err != nil {
			return fmt.Errorf("persona %q: %w", p.ID, err)
		}
	}
	writeJSON(w, http.StatusOK, map[string]int{"employees": len(d.Employees), "personas": len(d.Personas)})
	return nil
}

func (a *AdminAPI) audit(w http.ResponseWriter, r *http.Request, _ string) error {
	q := r.URL.Query()
	var aq identity.AuditQuery
	if s := q.Get("after"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%w: after=%q is not a sequence number", errBadRequest, s)
		}
		aq.AfterSeq = n
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 10000 {
			return fmt.Errorf("%w: limit=%q must be 0..10000", errBadRequest, s)
		}
		aq.Limit = n
	}
	aq.Action, aq.Subject = q.Get("action"), q.Get("subject")
	entries, err := a.gw.state.Audit(r.Context(), aq)
	if err != nil {
		return err
	}
	if entries == nil {
		entries = []identity.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, entries)
	return nil
}

func (a *AdminAPI) queueStats(w http.ResponseWriter, r *http.Request, _ string) error {
	st, err := a.gw.queue.Stats(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}
