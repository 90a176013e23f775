package console

import (
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/outreach"
)

// broadcastForm is the form that prepares a team broadcast.
type broadcastForm struct {
	Department string
	Members    []string
	Tag        string
	Subject    string
	Body       string
	Reason     string
}

// broadcastRow is one broadcast of the list.
type broadcastRow struct {
	ID     string
	At     time.Time
	Actor  string
	Tag    string
	Reason string
	Team   string
}

// broadcastsData is the broadcasts page.
type broadcastsData struct {
	Form    broadcastForm
	Teams   []choice
	Members []choice
	Rows    []broadcastRow
}

func (q *req) broadcasts() error {
	return q.broadcastsPage(broadcastForm{})
}

// broadcastsPage lists the broadcasts prepared (the API's list, newest
// first) with the form form, and errs.
func (q *req) broadcastsPage(form broadcastForm, errs ...error) error {
	d, err := q.directory(false)
	if err != nil {
		return err
	}
	data := &broadcastsData{Form: form, Teams: d.teamChoices(form.Department), Members: d.active("", form.Members...)}
	if d.team != "" {
		data.Teams = d.teamChoices(d.team)
	}
	// The API's list: a lead's is their team's.
	list, err := q.api.ListBroadcasts(q.r.Context(), adminapi.BroadcastListQuery{Limit: maxHistory})
	if err != nil {
		errs = append(errs, err)
	}
	for _, b := range list {
		names := make([]string, len(b.Team))
		for i, id := range b.Team {
			names[i] = d.name(id)
		}
		data.Rows = append(data.Rows, broadcastRow{ID: b.ID, At: b.At, Actor: b.Actor, Reason: b.Reason, Tag: b.Tag,
			Team: strings.Join(names, ", ")})
	}
	q.render("broadcasts", data, errs...)
	return nil
}

// prepareBroadcast prepares a team broadcast: each member confirms their
// copy before it goes out.
func (q *req) prepareBroadcast() error {
	f := q.r.PostForm
	form := broadcastForm{Department: f.Get("department"), Members: f["member"], Tag: strings.TrimSpace(f.Get("tag")),
		Subject: strings.TrimSpace(f.Get("subject")), Body: f.Get("body"), Reason: strings.TrimSpace(f.Get("reason"))}
	team := form.Members
	if len(team) == 0 && form.Department != "" {
		d, err := q.directory(false)
		if err != nil {
			return err
		}
		for _, c := range d.active(form.Department) {
			team = append(team, c.ID)
		}
	}
	if strings.TrimSpace(form.Body) == "" {
		return q.broadcastsPage(form, mistake("broadcasts.body.empty"))
	}
	b, err := q.api.PrepareBroadcast(q.r.Context(), adminapi.BroadcastRequest{Team: team, Tag: form.Tag, Subject: form.Subject,
		Body: form.Body, Reason: form.Reason})
	if err != nil {
		return q.broadcastsPage(form, err)
	}
	q.flash(q.T("broadcasts.created", b.ID))
	redirect(q.w, q.r, "/console/broadcasts/"+b.ID)
	return nil
}

// memberRow is one member's copy of a team broadcast.
type memberRow struct {
	Member                            string
	State                             string
	Queued, Sent, Failed, Pending     int
	SkippedCap, SkippedGone, SkippedU int
}

// broadcastData is one broadcast's page.
type broadcastData struct {
	B                                        *adminapi.Broadcast
	Members                                  []memberRow
	Sent, Skipped, Failed, Pending, Awaiting int
}

func (q *req) broadcastPage() error {
	d, err := q.directory(false)
	if err != nil {
		return err
	}
	b, err := q.api.GetBroadcast(q.r.Context(), q.r.PathValue("id"))
	if err != nil {
		return err
	}
	data := &broadcastData{B: b}
	copies := b.Members
	if len(copies) == 0 {
		copies = []*outreach.Broadcast{b}
	}
	for _, m := range copies {
		data.Members = append(data.Members, memberRow{Member: d.name(m.OwnerID), State: q.broadcastState(m.State),
			Queued: m.Queued, Sent: m.Sent, Failed: m.Failed, Pending: m.Pending,
			SkippedCap: m.SkippedCap, SkippedGone: m.SkippedGone, SkippedU: m.SkippedUnreachable})
		data.Sent += m.Sent
		data.Failed += m.Failed
		data.Pending += m.Pending
		data.Skipped += m.SkippedCap + m.SkippedGone + m.SkippedUnreachable
		if m.State == adminapi.BroadcastAwaiting {
			data.Awaiting++
		}
	}
	q.render("broadcast", data)
	return nil
}

// broadcastState names a broadcast's state in the page's language.
func (q *req) broadcastState(s string) string {
	switch s {
	case adminapi.BroadcastAwaiting:
		return q.T("broadcasts.status.waiting")
	case adminapi.BroadcastSent:
		return q.T("broadcasts.status.done")
	case adminapi.BroadcastDeclined:
		return q.T("broadcasts.status.declined")
	case adminapi.BroadcastPrepared:
		return q.T("broadcasts.status.prepared")
	}
	return s
}
