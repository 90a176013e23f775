package adminapi

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/kakehashi/kakehashi/identity"
)

// Handlers for admin credentials, the audit log and the queue.

// The query parameters of GET /v1/audit.
var (
	auditLimit  = qInt("limit", 1, identity.MaxAuditLimit, identity.DefaultAuditLimit, "At most this many entries.")
	auditParams = []param{
		qSeq("after", "Only entries with a greater sequence number (seq); 0: from the start."),
		auditLimit,
		qString("action", "Only entries of this action (e.g. contacts.transfer)."),
		qString("subject", "Only entries about this subject (an employee ID, a transfer ID…)."),
	}
)

func (a *Server) audit(w http.ResponseWriter, r *http.Request, _ Caller) error {
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
	if aq.Limit, err = p.integer(auditLimit); err != nil {
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

func (a *Server) queueStats(w http.ResponseWriter, r *http.Request, _ Caller) error {
	st, err := a.gw.Queue().Stats(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (a *Server) listAdmins(w http.ResponseWriter, r *http.Request, _ Caller) error {
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

func (a *Server) addAdmin(w http.ResponseWriter, r *http.Request, c Caller) error {
	actor := c.Actor
	var req AdminRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Role == "" {
		return fmt.Errorf("%w: role is required: %q, %q or %q", errBadRequest, identity.RoleAdmin, identity.RoleAuditor, identity.RoleLead)
	}
	adm, token, err := a.state.CreateAdmin(r.Context(), actor, req.Reason,
		identity.NewAdminSpec{Name: req.Name, Role: req.Role, Team: req.Team, Password: req.Password})
	if err != nil {
		return err
	}
	// The token must not linger in caches between here and its holder.
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, NewAdmin{Admin: *adm, Token: token})
	return nil
}

func (a *Server) revokeAdmin(w http.ResponseWriter, r *http.Request, c Caller) error {
	actor := c.Actor
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

func (a *Server) setAdminPassword(w http.ResponseWriter, r *http.Request, c Caller) error {
	var req PasswordRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	adm, err := a.state.SetAdminPassword(r.Context(), c.Actor, req.Reason, r.PathValue("name"), req.Password)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, adm)
	return nil
}
