package console

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/identity"
)

// employeeRow is one employee of the list.
type employeeRow struct {
	ID, Name, Team string
	Active         bool
	Contacts       int
	LastActivity   time.Time
}

// departForm is the departure form's values, kept when the page is
// shown again.
type departForm struct {
	Employee  string
	Mode      string // "successor", "team" or "pool"
	Successor string
	Team      []string
	Strategy  string
	Reason    string
}

// employeesPerPage is how many employees the list shows at once: each
// costs a search of their relationships (answering one).
const employeesPerPage = 50

// employeesData is the employees page.
type employeesData struct {
	Rows       []employeeRow
	Page       int
	Pages      int
	Prev, Next string
	Form       departForm
	Departing  []choice
	Successors []choice
	Spread     []choice
}

func (q *req) employees() error {
	v := q.r.URL.Query()
	return q.employeesPage(departForm{Employee: v.Get("depart"), Mode: "successor", Strategy: string(identity.RoundRobin)})
}

// pageOf reads the page number of a list from ?page= (1 if none).
func pageOf(v url.Values) int {
	n, _ := strconv.Atoi(v.Get("page"))
	return max(n, 1)
}

// employeesPage lists the employees the caller sees, with the departure
// form form and errs.
func (q *req) employeesPage(form departForm, errs ...error) error {
	d, err := q.directory(false)
	if err != nil {
		return err
	}
	data := &employeesData{Form: form, Page: pageOf(q.r.URL.Query())}
	ctx := q.r.Context()
	var list []identity.Employee
	for _, e := range d.employees {
		if d.team == "" || e.Department == d.team {
			list = append(list, e)
		}
	}
	data.Pages = max(1, (len(list)+employeesPerPage-1)/employeesPerPage)
	data.Page = min(data.Page, data.Pages)
	if data.Page > 1 {
		data.Prev = "/console/employees?page=" + strconv.Itoa(data.Page-1)
	}
	if data.Page < data.Pages {
		data.Next = "/console/employees?page=" + strconv.Itoa(data.Page+1)
	}
	for _, e := range list[(data.Page-1)*employeesPerPage : min(len(list), data.Page*employeesPerPage)] {
		row := employeeRow{ID: e.ID, Name: e.Name, Team: e.Department, Active: e.Status == identity.Active}
		// The number of the employee's relationships, and the most
		// recently active of them: one, whatever their number.
		page, err := q.api.ListContacts(ctx, adminapi.ContactQuery{Owner: e.ID, Order: adminapi.OrderLastActivity, Limit: 1})
		if err != nil {
			errs = append(errs, err)
			break
		}
		row.Contacts = page.Total
		if len(page.Contacts) > 0 {
			row.LastActivity = page.Contacts[0].Relationship.LastActivity
		}
		data.Rows = append(data.Rows, row)
	}
	for _, e := range d.employees {
		if e.Status == identity.Active && (d.team == "" || e.Department == d.team) {
			data.Departing = append(data.Departing, choice{ID: e.ID, Label: d.name(e.ID), Selected: e.ID == form.Employee})
		}
	}
	data.Successors = d.active("", form.Successor)
	data.Spread = d.active("", form.Team...)
	q.render("employees", data, errs...)
	return nil
}

// departFormOf reads the departure form.
func departFormOf(v url.Values) departForm {
	return departForm{Employee: v.Get("employee"), Mode: v.Get("mode"), Successor: v.Get("successor"), Team: v["team"],
		Strategy: v.Get("strategy"), Reason: strings.TrimSpace(v.Get("reason"))}
}

// depart previews (step=preview) or carries out (step=confirm) an
// employee's departure.
func (q *req) depart() error {
	if q.r.PostFormValue("step") == "confirm" {
		return q.confirm()
	}
	form := departFormOf(q.r.PostForm)
	if form.Employee == "" {
		return q.employeesPage(form, mistake("employees.depart.no_employee"))
	}
	dr := adminapi.DepartRequest{Reason: form.Reason}
	switch form.Mode {
	case "successor":
		if form.Successor == "" {
			return q.employeesPage(form, mistake("contacts.transfer.no_target"))
		}
		dr.Successor = form.Successor
	case "team":
		if len(form.Team) == 0 {
			return q.employeesPage(form, mistake("contacts.transfer.no_target"))
		}
		dr.Team, dr.Strategy = form.Team, form.Strategy
	case "pool":
	default:
		return q.employeesPage(form, mistake("contacts.transfer.no_target"))
	}
	if form.Reason == "" {
		return q.employeesPage(form, mistake("form.reason_missing"))
	}
	res, err := q.api.PreviewDepart(q.r.Context(), form.Employee, dr)
	if err != nil {
		return q.employeesPage(form, err)
	}
	back := "/console/employees"
	key := q.c.addPending(q.s, &pendingAction{depart: &dr, employee: form.Employee, back: back})
	return q.showPreview(key, res, form.Employee, back)
}
