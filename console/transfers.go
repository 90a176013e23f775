package console

import (
	"net/url"
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
	Depart   bool
}

// transfersData is the transfers page.
type transfersData struct {
	Actor, Employee, From, To string
	Employees                 []choice
	// Kinds are the kinds of transfer the filter offers, the one chosen
	// selected.
	Kinds []choice
	Rows  []transferRow
}

func (q *req) transfers() error {
	d, err := q.directory(false)
	if err != nil {
		return err
	}
	v := q.r.URL.Query()
	data := &transfersData{Actor: strings.TrimSpace(v.Get("actor")), Employee: v.Get("employee"), From: v.Get("from"), To: v.Get("to")}
	data.Employees = d.all(data.Employee)
	kind := adminapi.TransferKind(v.Get("kind"))
	for _, k := range []adminapi.TransferKind{adminapi.KindTransfer, adminapi.KindDepart, adminapi.KindRevert} {
		data.Kinds = append(data.Kinds, choice{ID: string(k), Label: q.T("transfers.kind." + string(k)), Selected: k == kind})
	}
	from, err1 := parseDay(data.From)
	to, err2 := parseDay(data.To)
	if err1 != nil || err2 != nil {
		q.render("transfers", data, mistake("form.bad_day"))
		return nil
	}
	if id := strings.TrimSpace(v.Get("id")); id != "" {
		redirect(q.w, q.r, "/console/transfers/"+url.PathEscape(id))
		return nil
	}
	// The API filters (a lead's list is their team's transfers).
	tq := adminapi.TransferListQuery{Limit: maxHistory, Employee: data.Employee, Actor: data.Actor, Kind: kind, Since: from}
	if !to.IsZero() {
		tq.Until = to.AddDate(0, 0, 1)
	}
	list, err := q.api.ListTransfers(q.r.Context(), tq)
	if err != nil {
		q.render("transfers", data, err)
		return nil
	}
	for _, t := range list {
		row := transferRow{ID: t.ID, At: t.At, Actor: t.Actor, Reason: t.Reason, From: d.name(t.From), Moved: t.Counts.Moved,
			RevertOf: t.RevertOf, Reverted: t.Reverted, Depart: t.Kind == adminapi.KindDepart}
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
	// Reverted says a revert (RevertedBy) undid it.
	Reverted   bool
	RevertedBy string
	// Notified says the transfer told its contacts (Notices: how many);
	// Notify is the undo form's choice to tell them again, by default
	// as the API does: if the transfer told them.
	Notified bool
	Notices  int
	Notify   bool
	Reason   string
}

func (q *req) transferPage() error {
	return q.showTransfer(q.r.PathValue("id"), nil)
}

// showTransfer shows transfer id, and errs; notify, if not nil, is the
// undo form's choice as it was sent.
func (q *req) showTransfer(id string, notify *bool, errs ...error) error {
	d, err := q.directory(true)
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	tv, err := q.api.GetTransferView(ctx, id)
	if err != nil {
		return err
	}
	t := tv.Transfer
	data := &transferData{T: t, From: d.name(t.From), To: d.name(t.To), Reason: q.T("transfers.undo_reason"),
		Reverted: tv.Reverted, RevertedBy: tv.RevertedBy, Notified: tv.Notified, Notices: tv.Notices}
	if notify != nil {
		data.Notify = *notify
	} else {
		// As the API's default: tell the contacts again if the transfer
		// told them.
		data.Notify = tv.Notified
	}
	if t.From == "" {
		data.From = "—"
	}
	for _, id := range t.Targets {
		data.Targets = append(data.Targets, d.name(id))
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
	req := adminapi.RevertRequest{Reason: reason}
	if q.r.PostForm.Has("notify_choice") {
		// The form says what it chose: the box ticked or not.
		notify := q.r.PostFormValue("notify") != ""
		req.Notify = &notify
	}
	res, err := q.api.RevertTransfer(q.r.Context(), id, req)
	if err != nil {
		return q.showTransfer(id, req.Notify, err)
	}
	q.flash(q.T("contacts.transfer.undone", id, res.Counts.Moved))
	if res.Notified {
		q.flash(q.T("transfers.revert.done", id, res.Notices))
	}
	redirect(q.w, q.r, "/console/transfers/"+res.ID)
	return nil
}
