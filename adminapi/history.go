package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/outreach"
)

// Handlers for the transfer history and the broadcast list, read from
// the audit log for every role: a lead sees what concerns only their
// team, by the rules of GET /v1/transfers/{id} and GET
// /v1/broadcasts/{id}.

// Limits of the history lists.
const (
	DefaultHistoryLimit = 100
	MaxHistoryLimit     = 1000
)

// historyChunk is how many audit entries a list reads at once: a
// transfer's details list its moves (about 30 MB for 100,000).
const historyChunk = 32

// The query parameters of GET /v1/transfers and GET /v1/broadcasts.
var (
	historyLimit   = qInt("limit", 1, MaxHistoryLimit, DefaultHistoryLimit, "At most this many.")
	historyBefore  = qSeq("before", "Only those recorded before this sequence number (seq); 0: the newest. The last seq of a page gives the next.")
	historySince   = qTime("since", "Only those at or after this time.")
	historyUntil   = qTime("until", "Only those before this time.")
	transferParams = []param{
		historyBefore, historyLimit,
		qString("employee", "Only transfers from or to this employee (by ID): from, to, one of the targets, or a move's owner before or after."),
		qString("actor", "Only transfers whose actor contains this (case sensitive)."),
		qEnum("kind", []string{string(KindTransfer), string(KindDepart), string(KindRevert)}, "Only transfers of this kind."),
		historySince, historyUntil,
	}
	broadcastParams = []param{historyBefore, historyLimit, historySince, historyUntil}
)

// historyQuery reads what the two lists share: before, limit, since,
// until.
func historyQuery(p params, action string) (identity.AuditQuery, int, error) {
	aq := identity.AuditQuery{Action: action, Newest: true, Limit: historyChunk}
	var err error
	if aq.BeforeSeq, err = p.seq("before"); err != nil {
		return aq, 0, err
	}
	if aq.Since, err = p.time("since"); err != nil {
		return aq, 0, err
	}
	if aq.Until, err = p.time("until"); err != nil {
		return aq, 0, err
	}
	limit, err := p.integer(historyLimit)
	return aq, limit, err
}

// listTransfers answers the transfers, newest first, that pass the
// query's filters (and, for a lead, move only between members of their
// team), each with its kind and what became of it.
func (a *Server) listTransfers(w http.ResponseWriter, r *http.Request, c Caller) error {
	p := queryOf(r)
	aq, limit, err := historyQuery(p, identity.ActionContactsTransfer)
	if err != nil {
		return err
	}
	aq.Actor = p.str("actor")
	employee, kind := p.str("employee"), TransferKind(p.str("kind"))
	if err := p.enum("kind", transferParams); err != nil {
		return err
	}
	var tm *team
	if c.scoped() {
		tm = a.teamOf(c)
		if err := tm.employee(employee, "employee"); err != nil {
			return err
		}
	}
	ctx := r.Context()
	out := []TransferSummary{}
	for len(out) < limit {
		es, err := a.state.Audit(ctx, aq)
		if err != nil {
			return err
		}
		if len(es) == 0 {
			break
		}
		aq.BeforeSeq = es[len(es)-1].Seq
		departs, err := a.departures(r, es)
		if err != nil {
			return err
		}
		for _, e := range es {
			t, err := identity.DecodeTransfer(e.Details)
			if err != nil || t.ID == "" {
				// Recorded before transfers kept their details: nothing to
				// list but what cannot be checked.
				continue
			}
			k := KindTransfer
			switch {
			case t.RevertOf != "":
				k = KindRevert
			case departs[t.ID]:
				k = KindDepart
			}
			if kind != "" && k != kind || employee != "" && !involves(t, employee) || tm != nil && tm.moves(t, "") != nil {
				continue
			}
			s, err := a.summary(r, e.Seq, t, k)
			if err != nil {
				return err
			}
			out = append(out, s)
			if len(out) == limit {
				break
			}
		}
		if len(es) < historyChunk {
			break
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// departures returns the transfers of es (a chunk of transfer entries,
// newest first) that are employees' departures: each is recorded right
// after its "employee.depart" entry, which names it.
func (a *Server) departures(r *http.Request, es []identity.AuditEntry) (map[string]bool, error) {
	first := es[len(es)-1].Seq
	q := identity.AuditQuery{Action: identity.ActionEmployeeDepart, BeforeSeq: es[0].Seq, Limit: identity.MaxAuditLimit}
	if first > 1 {
		q.AfterSeq = first - 2
	}
	ds, err := a.state.Audit(r.Context(), q)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, d := range ds {
		var det struct {
			TransferID string `json:"transfer_id"`
		}
		if json.Unmarshal(d.Details, &det) == nil && det.TransferID != "" {
			out[det.TransferID] = true
		}
	}
	return out, nil
}

// involves reports whether transfer t is from or to employee id.
func involves(t *identity.Transfer, id string) bool {
	if t.From == id || t.To == id || slices.Contains(t.Targets, id) {
		return true
	}
	return slices.ContainsFunc(t.Moves, func(m identity.Move) bool { return m.FromOwner == id || m.ToOwner == id })
}

// summary sums up transfer t (audit entry seq, kind k): the transfer
// without its moves, and what became of it.
func (a *Server) summary(r *http.Request, seq uint64, t *identity.Transfer, k TransferKind) (TransferSummary, error) {
	s := TransferSummary{Seq: seq, Kind: k, ID: t.ID, At: t.At, Actor: t.Actor, Reason: t.Reason, From: t.From, To: t.To,
		Filter: t.Filter, Targets: t.Targets, Strategy: t.Strategy, RevertOf: t.RevertOf, Counts: t.Counts}
	var err error
	s.TransferOutcome, err = a.outcome(r.Context(), t.ID)
	return s, err
}

// outcome reads from the audit log what became of transfer id: whether
// a revert undid it, and whether its contacts were notified.
func (a *Server) outcome(ctx context.Context, id string) (TransferOutcome, error) {
	var o TransferOutcome
	var err error
	if o.RevertedBy, o.Reverted, err = a.state.RevertedBy(ctx, id); err != nil {
		return o, err
	}
	o.Notified, o.Notices, err = a.notified(ctx, id)
	return o, err
}

// listBroadcasts answers the team broadcasts prepared, newest first (for
// a lead, those to members of their team only).
func (a *Server) listBroadcasts(w http.ResponseWriter, r *http.Request, c Caller) error {
	aq, limit, err := historyQuery(queryOf(r), outreach.ActionBroadcastPrepare)
	if err != nil {
		return err
	}
	aq.Limit = identity.MaxAuditLimit // their details are small
	var tm *team
	if c.scoped() {
		tm = a.teamOf(c)
	}
	out := []BroadcastSummary{}
	for len(out) < limit {
		es, err := a.state.Audit(r.Context(), aq)
		if err != nil {
			return err
		}
		if len(es) == 0 {
			break
		}
		aq.BeforeSeq = es[len(es)-1].Seq
		for _, e := range es {
			s := BroadcastSummary{Seq: e.Seq, ID: e.Subject, At: e.At, Actor: e.Actor, Reason: e.Reason, Team: []string{}}
			var det struct {
				Team []string `json:"team"`
				Tag  string   `json:"tag"`
			}
			if json.Unmarshal(e.Details, &det) == nil {
				s.Tag = det.Tag
				if det.Team != nil {
					s.Team = det.Team
				}
			}
			if tm != nil && (len(s.Team) == 0 || slices.ContainsFunc(s.Team, func(id string) bool { return !tm.has(id) })) {
				continue
			}
			out = append(out, s)
			if len(out) == limit {
				break
			}
		}
		if len(es) < aq.Limit {
			break
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// enum refuses a value of parameter name that is not one of those its
// param (in ps) lists; absent is fine.
func (p params) enum(name string, ps []param) error {
	if !p.has(name) {
		return nil
	}
	for _, sp := range ps {
		if sp.name == name && !slices.Contains(sp.values, p.str(name)) {
			return fmt.Errorf("%w: query parameter %s: %q is not one of %v", errBadRequest, name, p.str(name), sp.values)
		}
	}
	return nil
}
