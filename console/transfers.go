package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/identity"
)

// maxHistory is how many transfers the history shows, newest first.
const maxHistory = 200

// transferRow is one transfer of the history.
type transferRow struct {
	ID       string
	At       time.Time
	Actor    string
	Reason   string
	From     string
	To       string
	Moved    int
	RevertOf string
	Reverted bool
}

// transfersData is the transfers page.
type transfersData struct {
	Actor, Employee, From, To string
	Employees                 []choice
	Rows                      []transferRow
	// NoHistory says the caller may not read the audit log the history
	// comes from (a lead): the page offers to open a transfer by ID.
	NoHistory bool
}

// forbidden reports whether err is the API's 403.
func forbidden(err error) bool {
	var ae *adminapi.Error
	return errors.As(err, &ae) && ae.Status == http.StatusForbidden
}

// transferSummary is what the history reads of a transfer's audit
// details: everything but its moves, which it does not keep.
type transferSummary struct {
	ID       string                  `json:"id"`
	At       time.Time               `json:"at"`
	Actor    string                  `json:"actor"`
	Reason   string                  `json:"reason"`
	From     string                  `json:"from"`
	To       string                  `json:"to"`
	Targets  []string                `json:"targets"`
	RevertOf string                  `json:"revert_of"`
	Counts   identity.TransferCounts `json:"counts"`
}

// auditAll reads every audit entry of action, oldest first.
func auditAll(ctx context.Context, api *adminapi.Client, action string) ([]identity.AuditEntry, error) {
	var out []identity.AuditEntry
	var after uint64
	for {
		es, err := api.Audit(ctx, adminapi.AuditQuery{After: after, Limit: identity.MaxAuditLimit, Action: action})
		if err != nil {
			return nil, err
		}
		out = append(out, es...)
		if len(es) < identity.MaxAuditLimit {
			return out, nil
		}
		after = es[len(es)-1].Seq
	}
}

func (q *req) transfers() error {
	d, err := q.directory(false)
	if err != nil {
		return err
	}
	v := q.r.URL.Query()
	data := &transfersData{Actor: strings.TrimSpace(v.Get("actor")), Employee: v.Get("employee"), From: v.Get("from"), To: v.Get("to")}
	data.Employees = d.all(data.Employee)
	from, err1 := parseDay(data.From)
	to, err2 := parseDay(data.To)
	if err1 != nil || err2 != nil {
		q.render("transfers", data, mistake("form.bad_day"))
		return nil
	}
	ctx := q.r.Context()
	if id := strings.TrimSpace(v.Get("id")); id != "" {
		redirect(q.w, q.r, "/console/transfers/"+url.PathEscape(id))
		return nil
	}
	entries, err := auditAll(ctx, q.api, identity.ActionContactsTransfer)
	if forbidden(err) {
		data.NoHistory = true
		q.render("transfers", data)
		return nil
	}
	if err != nil {
		q.render("transfers", data, err)
		return nil
	}
	reverts, err := auditAll(ctx, q.api, identity.ActionContactsRevert)
	if err != nil {
		q.render("transfers", data, err)
		return nil
	}
	reverted := map[string]bool{}
	for _, e := range reverts {
		reverted[e.Subject] = true
	}
	for _, e := range slices.Backward(entries) {
		var t transferSummary
		if err := json.Unmarshal(e.Details, &t); err != nil || t.ID == "" {
			t = transferSummary{ID: e.Subject, At: e.At, Actor: e.Actor, Reason: e.Reason}
		}
		if data.Actor != "" && !strings.Contains(t.Actor, data.Actor) ||
			!from.IsZero() && t.At.Before(from) || !to.IsZero() && !t.At.Before(to.AddDate(0, 0, 1)) ||
			data.Employee != "" && t.From != data.Employee && t.To != data.Employee && !slices.Contains(t.Targets, data.Employee) {
			continue
		}
		row := transferRow{ID: t.ID, At: t.At, Actor: t.Actor, Reason: t.Reason, From: d.name(t.From), Moved: t.Counts.Moved,
			RevertOf: t.RevertOf, Reverted: reverted[t.ID]}
		if t.From == "" {
			row.From = "—"
		}
		switch {
		case len(t.Targets) > 0:
			names := make([]string, len(t.Targets))
			for i, id := range t.Targets {
				names[i] = d.name(id)
			}
			row.To = strings.Join(names, ", ")
		case t.RevertOf != "":
			row.To = "—"
		default:
			row.To = d.name(t.To)
		}
		data.Rows = append(data.Rows, row)
		if len(data.Rows) == maxHistory {
			break
		}
	}
	q.render("transfers", data)
	return nil
}

// moveRow is one move of a transfer.
type moveRow struct {
	Relationship, Contact, From, To, FromPersona, ToPersona, Merged string
}

// transferData is one transfer's page.
type transferData struct {
	T        *identity.Transfer
	From, To string
	Targets  []string
	Moves    []moveRow
	Reverted bool
	Reason   string
}

func (q *req) transferPage() error {
	return q.showTransfer(q.r.PathValue("id"))
}

// showTransfer shows transfer id, and errs.
func (q *req) showTransfer(id string, errs ...error) error {
	d, err := q.directory(true)
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	t, err := q.api.GetTransfer(ctx, id)
	if err != nil {
		return err
	}
	data := &transferData{T: t, From: d.name(t.From), To: d.name(t.To), Reason: q.T("transfers.undo_reason")}
	if t.From == "" {
		data.From = "—"
	}
	for _, id := range t.Targets {
		data.Targets = append(data.Targets, d.name(id))
	}
	if reverts, err := q.api.Audit(ctx, adminapi.AuditQuery{Action: identity.ActionContactsRevert, Subject: t.ID, Limit: 1}); err == nil {
		data.Reverted = len(reverts) > 0
	}
	for _, m := range t.Moves {
		data.Moves = append(data.Moves, moveRow{Relationship: m.RelationshipID, Contact: m.ContactID, From: d.name(m.FromOwner),
			To: d.name(m.ToOwner), FromPersona: d.persona(m.FromPersona), ToPersona: d.persona(m.ToPersona), Merged: m.MergedInto})
	}
	q.render("transfer", data, errs...)
	return nil
}

// revert undoes a transfer; a conflict (a later transfer moved one of
// its relationships, or it was undone already) is shown on its page.
func (q *req) revert() error {
	id := q.r.PathValue("id")
	reason := strings.TrimSpace(q.r.PostFormValue("reason"))
	if reason == "" {
		reason = q.T("transfers.undo_reason")
	}
	res, err := q.api.RevertTransfer(q.r.Context(), id, adminapi.RevertRequest{Reason: reason})
	if err != nil {
		return q.showTransfer(id, err)
	}
	q.flash(q.T("contacts.transfer.undone", id, res.Counts.Moved))
	redirect(q.w, q.r, "/console/transfers/"+res.ID)
	return nil
}
