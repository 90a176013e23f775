package adminapi

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/identity"
)

// Handlers for admin credentials, the audit log and the queue.

// The query parameters of GET /v1/audit.
var (
	auditLimit  = qInt("limit", 1, identity.MaxAuditLimit, identity.DefaultAuditLimit, "At most this many entries.")
	auditParams = []param{
		qSeq("after", "Only entries with a greater sequence number (seq); 0: from the start."),
		qSeq("before", "Only entries with a smaller sequence number (seq); 0: to the end. With newest, the last seq seen pages back."),
		qFlag("newest", "Newest first: the last entries (below before) instead of the first (above after)."),
		auditLimit,
		qString("action", "Only entries of this action (e.g. contacts.transfer)."),
		qString("subject", "Only entries about this subject (an employee ID, a transfer ID…)."),
		qString("actor", "Only entries whose actor contains this (case sensitive): admin:ana exactly, or ana as part of it."),
		qTime("since", "Only entries at or after this time."),
		qTime("until", "Only entries before this time."),
	}
)

// audit answers the audit entries the query selects, oldest first (or
// newest first with newest).
func (a *Server) audit(w http.ResponseWriter, r *http.Request, _ Caller) error {
	aq, err := auditQueryOf(r)
	if err != nil {
		return err
	}
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

// ActionAuditExport is the audit action recording an export of the audit
// log (GET /v1/audit.csv); its details are the filters and how many
// entries were exported.
const ActionAuditExport = "audit.export"

// auditExportDetails is the audit detail of ActionAuditExport: the
// query's filters under their query parameters' names, and what was sent.
type auditExportDetails struct {
	identity.AuditQuery
	// Rows is how many entries the export holds: exactly the rows sent.
	Rows int `json:"rows"`
	// First and Last are the sequence numbers of the first and the last
	// row sent (none: 0).
	First uint64 `json:"first,omitempty"`
	Last  uint64 `json:"last,omitempty"`
}

// auditCSV answers the audit entries GET /v1/audit would, as CSV (RFC
// 4180): time, actor, action, subject, reason and the details as JSON.
// The export is audited before it is sent: who took a copy of the log is
// in the log.
func (a *Server) auditCSV(w http.ResponseWriter, r *http.Request, c Caller) error {
	aq, err := auditQueryOf(r)
	if err != nil {
		return err
	}
	entries, err := a.state.Audit(r.Context(), aq)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write([]string{"time", "actor", "action", "subject", "reason", "detail-json"})
	for _, e := range entries {
		_ = cw.Write([]string{e.At.UTC().Format(time.RFC3339Nano), csvCell(e.Actor), csvCell(e.Action), csvCell(e.Subject),
			csvCell(e.Reason), csvCell(string(e.Details))})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	det := auditExportDetails{AuditQuery: aq, Rows: len(entries)}
	if len(entries) > 0 {
		det.First, det.Last = entries[0].Seq, entries[len(entries)-1].Seq
	}
	if err := a.state.RecordAudit(r.Context(), c.Actor, ActionAuditExport, "", "", det); err != nil {
		return fmt.Errorf("the export could not be audited, so it is not sent: %w", err)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="kakehashi-audit.csv"`)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
	return nil
}

// csvCell guards a cell against formula injection: a spreadsheet would
// run a cell that starts with = + - @ (or a tab or carriage return ahead
// of one) as a formula, so such a cell is prefixed with '.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// auditQueryOf reads the query parameters of GET /v1/audit.
func auditQueryOf(r *http.Request) (identity.AuditQuery, error) {
	p := queryOf(r)
	var aq identity.AuditQuery
	var err error
	if aq.AfterSeq, err = p.seq("after"); err != nil {
		return aq, err
	}
	if aq.BeforeSeq, err = p.seq("before"); err != nil {
		return aq, err
	}
	if aq.Newest, err = p.boolean("newest"); err != nil {
		return aq, err
	}
	if aq.Limit, err = p.integer(auditLimit); err != nil {
		return aq, err
	}
	if aq.Since, err = p.time("since"); err != nil {
		return aq, err
	}
	if aq.Until, err = p.time("until"); err != nil {
		return aq, err
	}
	aq.Action, aq.Subject, aq.Actor = p.str("action"), p.str("subject"), p.str("actor")
	return aq, nil
}

// seq reads an audit sequence number; absent is 0.
func (p params) seq(name string) (uint64, error) {
	if !p.has(name) {
		return 0, nil
	}
	s := p.str(name)
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: query parameter %s: %q is not a sequence number", errBadRequest, name, s)
	}
	return n, nil
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
