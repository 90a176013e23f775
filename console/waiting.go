package console

import (
	"net/url"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/adminapi"
)

// defaultWaiting is the waiting list's default threshold, as its form
// spells it.
const defaultWaiting = "1h"

// waitingRow is one conversation waiting for an answer.
type waitingRow struct {
	RelationshipID string
	Contact        string
	Persona        string
	Network        string
	Owner          string
	OwnerID        string
	Team           string
	Since          time.Time
	Waited         string
	Choices        []choice
}

// waitingData is the waiting page.
type waitingData struct {
	Older     string
	Team      string
	TeamFixed bool
	Teams     []choice
	Employee  string
	Employees []choice
	Rows      []waitingRow
	Back      string
	Reason    string
}

func (q *req) waiting() error {
	return q.waitingPage(q.r.URL.Query())
}

// waitingPage shows the waiting list of the filter in v (older, team,
// employee) and errs.
func (q *req) waitingPage(v url.Values, errs ...error) error {
	d, err := q.directory(true)
	if err != nil {
		return err
	}
	data := &waitingData{Older: v.Get("older"), Team: v.Get("team"), Employee: v.Get("employee"), Reason: q.T("waiting.reassign.reason")}
	if q.who.Role == roleLead {
		data.Team, data.TeamFixed = q.who.Team, true
	}
	if data.Older == "" {
		data.Older = defaultWaiting
	}
	back := url.Values{"older": {data.Older}}
	if data.Team != "" && !data.TeamFixed {
		back.Set("team", data.Team)
	}
	if data.Employee != "" {
		back.Set("employee", data.Employee)
	}
	data.Back = "/console/waiting?" + back.Encode()
	data.Teams = d.teamChoices(data.Team)
	data.Employees = d.all(data.Employee)
	older, perr := time.ParseDuration(strings.TrimSpace(data.Older))
	if perr != nil || older < 0 {
		q.render("waiting", data, append(errs, mistake("waiting.bad_threshold"))...)
		return nil
	}
	ctx := q.r.Context()
	list, err := q.api.Waiting(ctx, adminapi.WaitingQuery{OlderThan: older, Team: data.Team, Employee: data.Employee, Limit: adminapi.MaxWaitingLimit})
	if err != nil {
		q.render("waiting", data, append(errs, err)...)
		return nil
	}
	// Each conversation's contact and persona: its relationship, by ID.
	views := map[string]adminapi.ContactView{}
	var ids []string
	for _, w := range list {
		ids = append(ids, w.RelationshipID)
	}
	for len(ids) > 0 {
		n := min(len(ids), adminapi.MaxContactIDs)
		page, err := q.api.ListContacts(ctx, adminapi.ContactQuery{Relationships: ids[:n], Limit: n})
		if err != nil {
			errs = append(errs, err)
			break
		}
		for _, cv := range page.Contacts {
			views[cv.Relationship.ID] = cv
		}
		ids = ids[n:]
	}
	now := q.c.now()
	for _, w := range list {
		row := waitingRow{RelationshipID: w.RelationshipID, Network: w.Network, Owner: d.name(w.Owner), OwnerID: w.Owner, Team: w.Team,
			Since: w.Since, Waited: q.duration(now.Sub(w.Since))}
		if cv, ok := views[w.RelationshipID]; ok {
			row.Contact = cv.Contact.Address.Addr
			if cv.Contact.DisplayName != "" {
				row.Contact += " (" + cv.Contact.DisplayName + ")"
			}
			row.Persona = d.persona(cv.Relationship.PersonaID)
		} else {
			row.Contact = w.RelationshipID
		}
		for _, c := range d.active("") {
			if c.ID != w.Owner {
				row.Choices = append(row.Choices, c)
			}
		}
		data.Rows = append(data.Rows, row)
	}
	q.render("waiting", data, errs...)
	return nil
}

// reassign moves one waiting conversation's relationship to another
// owner.
func (q *req) reassign() error {
	f := q.r.PostForm
	filter := url.Values{"older": {f.Get("older")}, "team": {f.Get("team")}, "employee": {f.Get("employee")}}
	rel, to := f.Get("rel"), f.Get("to")
	reason := strings.TrimSpace(f.Get("reason"))
	if rel == "" || to == "" {
		return q.waitingPage(filter, mistake("contacts.transfer.no_target"))
	}
	if reason == "" {
		reason = q.T("waiting.reassign.reason")
	}
	res, err := q.api.Transfer(q.r.Context(), adminapi.TransferRequest{Relationships: []string{rel}, To: to, Reason: reason})
	if err != nil {
		return q.waitingPage(filter, err)
	}
	d, err := q.directory(false)
	if err != nil {
		return err
	}
	q.flash(q.T("waiting.reassigned", d.name(to), res.ID))
	back := url.Values{}
	for k, v := range filter {
		if v[0] != "" {
			back.Set(k, v[0])
		}
	}
	redirect(q.w, q.r, "/console/waiting?"+back.Encode())
	return nil
}
