package adminapi

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/outreach"
)

// Handlers for contacts, their transfers and broadcasts to them.

// The query parameters of GET /v1/contacts.
var (
	contactOffset = qInt("offset", 0, math.MaxInt32, 0, "Skip this many matches.")
	contactLimit  = qInt("limit", 1, identity.MaxSearchLimit, identity.MaxSearchLimit, "At most this many matches.")
	contactParams = []param{
		qString("owner", "The relationships of this employee (by ID); empty: those in the unassigned pool. Excludes unassigned."),
		qFlag("unassigned", "Only the relationships in the unassigned pool. Excludes owner."),
		qString("persona", "Only relationships on this persona (by ID)."),
		qString("tag", "Only relationships with this tag (ignoring case)."),
		qString("source", "Only contacts with this source (how they came, e.g. a contact point)."),
		qString("network", "Only contacts on this network."),
		qTime("active_after", "Only relationships with traffic after this time. Excludes active_within."),
		qTime("active_before", "Only relationships without traffic since this time. Excludes idle_for."),
		qDuration("idle_for", "Only relationships without traffic for this long, counted back from the gateway's clock. Excludes active_before."),
		qDuration("active_within", "Only relationships with traffic within this long, counted back from the gateway's clock. Excludes active_after."),
		qString("relationships", "Only these relationships (by ID, comma-separated, at most "+strconv.Itoa(MaxContactIDs)+")."),
		qEnum("order", []string{OrderByID, OrderLastActivity}, "The order of the matches: by relationship ID (the default, stable across pages), "+
			"or the most recently active first (never active last, ties by ID)."),
		contactOffset, contactLimit,
	}
)

// MaxContactIDs is how many relationships GET /v1/contacts?relationships=
// names at most.
const MaxContactIDs = 1000

// listContacts searches relationships: owner, unassigned, persona, tag,
// source, network, relationships, active_after and active_before (RFC
// 3339) or idle_for and active_within (durations back from now), order,
// offset and limit. The total number of matches is in the X-Total-Count header.
//
// A lead sees only the relationships owned by members of their team: an
// owner outside it or the pool is refused, other filters are intersected
// with the team.
func (a *Server) listContacts(w http.ResponseWriter, r *http.Request, c Caller) error {
	p := queryOf(r)
	unassigned, err := p.boolean("unassigned")
	if err != nil {
		return err
	}
	if unassigned && p.str("owner") != "" {
		return fmt.Errorf("%w: query parameters owner and unassigned exclude each other", errBadRequest)
	}
	var tm *team
	if c.scoped() {
		tm = a.teamOf(c)
		switch owner := p.str("owner"); {
		case unassigned || p.has("owner") && owner == "":
			return outsideTeam(c, "the unassigned pool is not team %s's", c.Team)
		case owner != "" && !tm.has(owner):
			return outsideTeam(c, "owner %s is not a member of team %s", owner, c.Team)
		}
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
	if err := p.enum("order", contactParams); err != nil {
		return err
	}
	if p.str("order") == OrderLastActivity {
		query.Order = identity.ByLastActivity
	}
	if p.has("relationships") {
		ids := strings.Split(p.str("relationships"), ",")
		if len(ids) > MaxContactIDs || slices.Contains(ids, "") {
			return fmt.Errorf("%w: query parameter relationships: give 1 to %d relationship IDs, comma-separated", errBadRequest, MaxContactIDs)
		}
		query.Filter.RelationshipIDs = ids
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
	if query.Offset, err = p.integer(contactOffset); err != nil {
		return err
	}
	if query.Limit, err = p.integer(contactLimit); err != nil {
		return err
	}
	snap := a.state.Snapshot()
	if tm != nil {
		snap = tm.snap
		if query.Owners = tm.ids(); len(query.Owners) == 0 {
			w.Header().Set("X-Total-Count", "0")
			writeJSON(w, http.StatusOK, []ContactView{})
			return nil
		}
	}
	res, err := snap.SearchRelationships(query)
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

func (a *Server) transfer(w http.ResponseWriter, r *http.Request, c Caller) error {
	actor := c.Actor
	var req TransferRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	tr := identity.TransferRequest{
		Actor: actor, Reason: req.Reason, From: req.From, To: req.To,
		Targets: req.Team, Strategy: identity.SpreadStrategy(req.Strategy),
		Filter: identity.RelationshipFilter{
			Unassigned: req.Unassigned, PersonaID: req.Persona, Tag: req.Tag, Source: req.Source,
			Network: req.Network, ContactIDs: req.Contacts, RelationshipIDs: req.Relationships,
		},
	}
	if c.scoped() {
		tm := a.teamOf(c)
		if err := tm.transferTargets(req.From, req.To, req.Team, req.Unassigned); err != nil {
			return err
		}
		// Checked on the planned moves, before anything is stored.
		tr.Check = func(t *identity.Transfer) error { return tm.moves(t, "the selection") }
	}
	if req.Preview {
		t, err := a.state.PreviewTransfer(r.Context(), tr)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, TransferResult{Transfer: t, Preview: previewOf(t, req.Notify)})
		return nil
	}
	t, err := a.state.Transfer(r.Context(), tr)
	if err != nil {
		return err
	}
	a.reassigned(r.Context(), t)
	res := TransferResult{Transfer: t}
	if req.Notify {
		if res.Notices, err = a.notify(r.Context(), actor, req.Reason, t); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// transferTargets refuses, for a lead, a transfer from or to anyone
// outside the team, or from or to the pool.
func (t *team) transferTargets(from, to string, targets []string, unassigned bool) error {
	switch {
	case unassigned:
		return outsideTeam(t.c, "the unassigned pool is not team %s's: it may not transfer from it", t.c.Team)
	case to == "" && len(targets) == 0:
		return outsideTeam(t.c, "it may not transfer to the unassigned pool: name a member of team %s (to) or several (team)", t.c.Team)
	}
	if from != "" {
		if err := t.employee(from, "from:"); err != nil {
			return err
		}
	}
	if to != "" {
		if err := t.employee(to, "to:"); err != nil {
			return err
		}
	}
	return t.employees(targets, "team:")
}

// previewOf sums up the planned transfer t.
func previewOf(t *identity.Transfer, notify bool) *Preview {
	p := &Preview{Count: t.Counts.Matched - t.Counts.Unchanged, Notify: notify, Targets: []PreviewTarget{}}
	switch {
	case t.Counts.ByTarget != nil:
		for _, id := range t.Targets {
			p.Targets = append(p.Targets, PreviewTarget{To: id, Count: t.Counts.ByTarget[id]})
		}
		slices.SortFunc(p.Targets, func(x, y PreviewTarget) int { return strings.Compare(x.To, y.To) })
	case p.Count > 0:
		p.Targets = append(p.Targets, PreviewTarget{To: t.To, Count: p.Count})
	}
	return p
}

// notifyDetails is the audit detail of ActionContactsNotify.
type notifyDetails struct {
	Notices int `json:"notices"`
}

// notified reports whether the contacts of transfer id were told of it,
// and how many notices went (from its ActionContactsNotify entry).
func (a *Server) notified(ctx context.Context, id string) (told bool, notices int, err error) {
	es, err := a.state.Audit(ctx, identity.AuditQuery{Action: ActionContactsNotify, Subject: id, Limit: 1})
	if err != nil || len(es) == 0 {
		return false, 0, err
	}
	var d notifyDetails
	_ = json.Unmarshal(es[0].Details, &d) // only for the count shown
	return true, d.Notices, nil
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

func (a *Server) getTransfer(w http.ResponseWriter, r *http.Request, c Caller) error {
	t, err := a.state.LoadTransfer(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if c.scoped() {
		if err := a.teamOf(c).moves(t, "transfer "+t.ID); err != nil {
			return err
		}
	}
	o, err := a.outcome(r.Context(), t.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, TransferView{Transfer: t, TransferOutcome: o})
	return nil
}

func (a *Server) revertTransfer(w http.ResponseWriter, r *http.Request, c Caller) error {
	actor := c.Actor
	var req RevertRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	if c.scoped() {
		orig, err := a.state.LoadTransfer(r.Context(), id)
		if err != nil {
			return err
		}
		if err := a.teamOf(c).moves(orig, "transfer "+id); err != nil {
			return err
		}
	}
	told, notices, err := a.notified(r.Context(), id)
	if err != nil {
		return err
	}
	t, err := a.state.RevertTransfer(r.Context(), actor, req.Reason, id)
	if err != nil {
		return err
	}
	a.reassigned(r.Context(), t)
	res := RevertResult{Transfer: t, ToldAtTransfer: told, NotifiedAtTransfer: notices}
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

func (a *Server) tags(w http.ResponseWriter, r *http.Request, c Caller) error {
	actor := c.Actor
	var req TagsRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	if c.scoped() {
		if err := a.teamOf(c).relationship(id); err != nil {
			return err
		}
	}
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

func (a *Server) remark(w http.ResponseWriter, r *http.Request, c Caller) error {
	actor := c.Actor
	var req RemarkRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if c.scoped() {
		if err := a.teamOf(c).relationship(r.PathValue("id")); err != nil {
			return err
		}
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
func (a *Server) prepareBroadcast(w http.ResponseWriter, r *http.Request, c Caller) error {
	actor := c.Actor
	var req BroadcastRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Reason) == "" {
		return fmt.Errorf("%w: a reason is required, for the audit log", errBadRequest)
	}
	if c.scoped() {
		tm := a.teamOf(c)
		if len(req.Team) == 0 {
			// A lead's broadcast goes to their team unless they narrow it.
			if req.Team = tm.active(); len(req.Team) == 0 {
				return fmt.Errorf("%w: team %s has no active members to broadcast to", errBadRequest, c.Team)
			}
		}
		if err := tm.employees(req.Team, "team:"); err != nil {
			return err
		}
	}
	b, err := a.out.PrepareBroadcast(r.Context(), outreach.BroadcastRequest{Actor: actor, Reason: req.Reason,
		Team: req.Team, Tag: req.Tag, Subject: req.Subject, Body: req.Body})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}

func (a *Server) getBroadcast(w http.ResponseWriter, r *http.Request, c Caller) error {
	b, err := a.out.LoadBroadcast(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if c.scoped() {
		tm := a.teamOf(c)
		who := slices.Clone(b.Team)
		if b.OwnerID != "" {
			who = append(who, b.OwnerID)
		}
		if len(who) == 0 || slices.ContainsFunc(who, func(id string) bool { return !tm.has(id) }) {
			return outsideTeam(c, "broadcast %s is not only team %s's", b.ID, c.Team)
		}
	}
	writeJSON(w, http.StatusOK, b)
	return nil
}
