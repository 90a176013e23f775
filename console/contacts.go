package console

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/identity"
)

// contactsPerPage is how many relationships the contacts page lists at
// once.
const contactsPerPage = 50

// poolOwner is the owner filter's value for the unassigned pool.
const poolOwner = "-"

// contactFilter is the contacts page's search, as its form spells it.
type contactFilter struct {
	Owner, Persona, Tag, Source, Network string
	// ActiveAfter and ActiveBefore are days (YYYY-MM-DD).
	ActiveAfter, ActiveBefore string
	Page                      int
}

// filterOf reads the search from a form or a query.
func filterOf(v url.Values) contactFilter {
	f := contactFilter{Owner: v.Get("owner"), Persona: v.Get("persona"), Tag: strings.TrimSpace(v.Get("tag")),
		Source: strings.TrimSpace(v.Get("source")), Network: strings.TrimSpace(v.Get("network")),
		ActiveAfter: v.Get("active_after"), ActiveBefore: v.Get("active_before")}
	f.Page, _ = strconv.Atoi(v.Get("page"))
	f.Page = max(f.Page, 1)
	return f
}

// values is the search as query parameters, without the page.
func (f contactFilter) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"owner": f.Owner, "persona": f.Persona, "tag": f.Tag, "source": f.Source,
		"network": f.Network, "active_after": f.ActiveAfter, "active_before": f.ActiveBefore} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// href is the contacts page of the search at page.
func (f contactFilter) href(page int) string {
	v := f.values()
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return "/console/contacts"
	}
	return "/console/contacts?" + v.Encode()
}

// query is the API's query of the search, from offset, at most limit.
func (f contactFilter) query(offset, limit int) (adminapi.ContactQuery, error) {
	q := adminapi.ContactQuery{Persona: f.Persona, Tag: f.Tag, Source: f.Source, Network: f.Network, Offset: offset, Limit: limit}
	switch f.Owner {
	case "":
	case poolOwner:
		q.Unassigned = true
	default:
		q.Owner = f.Owner
	}
	var err error
	if q.ActiveAfter, err = parseDay(f.ActiveAfter); err != nil {
		return q, mistake("form.bad_day")
	}
	if q.ActiveBefore, err = parseDay(f.ActiveBefore); err != nil {
		return q, mistake("form.bad_day")
	}
	return q, nil
}

// contactRow is one relationship of the list.
type contactRow struct {
	ID           string
	ContactID    string
	Address      string
	Network      string
	Name         string
	Persona      string
	Owner        string
	Source       string
	Tags         []string
	Remark       string
	Gone         string
	LastActivity time.Time
	Checked      bool
}

// transferForm is the transfer form's values, kept when the page is
// shown again.
type transferForm struct {
	Selected []string
	All      bool
	Mode     string // "to", "team" or "pool"
	To       string
	Team     []string
	Strategy string
	Notify   bool
	Reason   string
}

// contactsData is the contacts page.
type contactsData struct {
	F        contactFilter
	Filter   url.Values
	Owners   []choice
	Personas []choice
	Targets  []choice
	Spread   []choice
	Rows     []contactRow
	Total    int
	Pages    int
	Prev     string
	Next     string
	Edit     *contactRow
	Form     transferForm
	Back     string
	// EditBase is the page's link that opens a row's edit form, but for
	// the row's ID.
	EditBase string
}

func (q *req) contacts() error {
	f := filterOf(q.r.URL.Query())
	return q.contactsPage(f, transferForm{Mode: "to", Strategy: string(identity.RoundRobin)}, q.r.URL.Query().Get("edit"))
}

// contactsPage shows the contacts of f with the transfer form form (and
// the edit form of relationship edit), and errs.
func (q *req) contactsPage(f contactFilter, form transferForm, edit string, errs ...error) error {
	d, err := q.directory(true)
	if err != nil {
		return err
	}
	data := &contactsData{F: f, Filter: f.values(), Form: form, Back: f.href(f.Page)}
	data.EditBase = data.Back + "?edit="
	if strings.Contains(data.Back, "?") {
		data.EditBase = data.Back + "&edit="
	}
	data.Owners = d.all(f.Owner)
	data.Personas = d.personaChoices(f.Persona)
	data.Targets = d.active("", form.To)
	data.Spread = d.active("", form.Team...)
	cq, err := f.query((f.Page-1)*contactsPerPage, contactsPerPage)
	if err == nil {
		var page *adminapi.ContactPage
		page, err = q.api.ListContacts(q.r.Context(), cq)
		if err == nil {
			data.Total = page.Total
			data.Pages = max(1, (page.Total+contactsPerPage-1)/contactsPerPage)
			for _, cv := range page.Contacts {
				row := rowOf(d, cv)
				row.Checked = slices.Contains(form.Selected, row.ID)
				data.Rows = append(data.Rows, row)
				if row.ID == edit {
					data.Edit = &row
				}
			}
		}
	}
	if f.Page > 1 {
		data.Prev = f.href(f.Page - 1)
	}
	if f.Page < data.Pages {
		data.Next = f.href(f.Page + 1)
	}
	q.render("contacts", data, append(errs, err)...)
	return nil
}

func rowOf(d *directory, cv adminapi.ContactView) contactRow {
	r, c := cv.Relationship, cv.Contact
	return contactRow{ID: r.ID, ContactID: c.ID, Address: c.Address.Addr, Network: c.Address.Network, Name: c.DisplayName,
		Persona: d.persona(r.PersonaID), Owner: d.name(r.OwnerID), Source: c.Source, Tags: r.Tags, Remark: r.Remark,
		Gone: r.Gone, LastActivity: r.LastActivity}
}

// transferFormOf reads the transfer form.
func transferFormOf(v url.Values) transferForm {
	return transferForm{Selected: v["rel"], All: v.Get("all") == "1", Mode: v.Get("mode"), To: v.Get("to"),
		Team: v["team"], Strategy: v.Get("strategy"), Notify: v.Get("notify") == "1", Reason: strings.TrimSpace(v.Get("reason"))}
}

// transfer previews (step=preview) or carries out (step=confirm) a
// transfer of the selected contacts.
func (q *req) transfer() error {
	if q.r.PostFormValue("step") == "confirm" {
		return q.confirm()
	}
	f := filterOf(q.r.PostForm)
	form := transferFormOf(q.r.PostForm)
	ids := form.Selected
	if form.All {
		var err error
		if ids, err = q.allMatching(f); err != nil {
			return q.contactsPage(f, form, "", err)
		}
	}
	if len(ids) == 0 {
		return q.contactsPage(f, form, "", mistake("contacts.transfer.none"))
	}
	tr := adminapi.TransferRequest{Relationships: ids, Notify: form.Notify, Reason: form.Reason}
	switch form.Mode {
	case "to":
		if form.To == "" {
			return q.contactsPage(f, form, "", mistake("contacts.transfer.no_target"))
		}
		tr.To = form.To
	case "team":
		if len(form.Team) == 0 {
			return q.contactsPage(f, form, "", mistake("contacts.transfer.no_target"))
		}
		tr.Team, tr.Strategy = form.Team, form.Strategy
	case "pool":
	default:
		return q.contactsPage(f, form, "", mistake("contacts.transfer.no_target"))
	}
	if form.Reason == "" {
		return q.contactsPage(f, form, "", mistake("form.reason_missing"))
	}
	res, err := q.api.PreviewTransfer(q.r.Context(), tr)
	if err != nil {
		return q.contactsPage(f, form, "", err)
	}
	key := q.c.addPending(q.s, &pendingAction{transfer: &tr, back: f.href(f.Page)})
	return q.showPreview(key, res, "", f.href(f.Page))
}

// allMatching returns the IDs of every relationship the search selects
// (the activity bounds too, which a transfer's filter lacks).
func (q *req) allMatching(f contactFilter) ([]string, error) {
	var ids []string
	for off := 0; ; off += identity.MaxSearchLimit {
		cq, err := f.query(off, identity.MaxSearchLimit)
		if err != nil {
			return nil, err
		}
		page, err := q.api.ListContacts(q.r.Context(), cq)
		if err != nil {
			return nil, err
		}
		for _, cv := range page.Contacts {
			ids = append(ids, cv.Relationship.ID)
		}
		if len(page.Contacts) < identity.MaxSearchLimit || off+len(page.Contacts) >= page.Total {
			return ids, nil
		}
	}
}

// previewData is a transfer's or a departure's preview.
type previewData struct {
	Key      string
	Employee string // a departure's employee
	Matched  int
	Moving   int
	Targets  []targetCount
	Notify   bool
	Back     string
}

// targetCount is how many relationships go to one owner.
type targetCount struct {
	Owner string
	Count int
	Pool  bool
}

// showPreview shows the planned transfer or departure res and the form
// that confirms the pending action key.
func (q *req) showPreview(key string, res *adminapi.TransferResult, employee, back string) error {
	d, err := q.directory(false)
	if err != nil {
		return err
	}
	data := &previewData{Key: key, Back: back}
	if employee != "" {
		data.Employee = d.name(employee)
	}
	if res.Transfer != nil {
		data.Matched = res.Counts.Matched
	}
	if p := res.Preview; p != nil {
		data.Moving, data.Notify = p.Count, p.Notify
		for _, t := range p.Targets {
			data.Targets = append(data.Targets, targetCount{Owner: d.name(t.To), Count: t.Count, Pool: t.To == ""})
		}
	}
	q.render("preview", data)
	return nil
}

// doneData is a transfer's or a departure's outcome.
type doneData struct {
	T        *identity.Transfer
	Employee string
	Notices  int
	Back     string
}

// confirm carries out the pending action the form names: what its
// preview showed, whatever else the form says.
func (q *req) confirm() error {
	p, ok := q.c.takePending(q.s, q.r.PostFormValue("pending"))
	if !ok {
		return mistake("form.preview_gone")
	}
	data := &doneData{Back: p.back}
	if p.depart != nil {
		d, err := q.directory(false)
		if err != nil {
			return err
		}
		data.Employee = d.name(p.employee)
		t, err := q.api.Depart(q.r.Context(), p.employee, *p.depart)
		if err != nil {
			q.render("done", data, err)
			return nil
		}
		data.T = t
	} else {
		res, err := q.api.Transfer(q.r.Context(), *p.transfer)
		if err != nil {
			q.render("done", data, err)
			return nil
		}
		data.T, data.Notices = res.Transfer, res.Notices
	}
	q.render("done", data)
	return nil
}

// editContact sets a relationship's tags and remark.
func (q *req) editContact() error {
	f := filterOf(q.r.PostForm)
	rel := q.r.PostFormValue("rel")
	tags := splitTags(q.r.PostFormValue("tags"))
	reason := strings.TrimSpace(q.r.PostFormValue("reason"))
	tr := adminapi.TagsRequest{Set: tags, Reason: reason}
	if len(tags) == 0 {
		// An empty Set is no Set at all in the request: remove the tags
		// the form showed instead.
		tr = adminapi.TagsRequest{Remove: splitTags(q.r.PostFormValue("old_tags")), Reason: reason}
	}
	ctx := q.r.Context()
	if _, err := q.api.EditTags(ctx, rel, tr); err != nil {
		return q.contactsPage(f, transferForm{Mode: "to"}, rel, err)
	}
	if _, err := q.api.SetRemark(ctx, rel, adminapi.RemarkRequest{Remark: q.r.PostFormValue("remark"), Reason: reason}); err != nil {
		return q.contactsPage(f, transferForm{Mode: "to"}, rel, err)
	}
	q.flash(q.T("contacts.saved"))
	redirect(q.w, q.r, f.href(f.Page))
	return nil
}

// splitTags reads a list of tags separated by commas or spaces.
func splitTags(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '、' || r == '\n' || r == '\r' || r == '\t' })
}
