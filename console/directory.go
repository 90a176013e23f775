package console

import (
	"slices"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/identity"
)

// directory is the employees and personas a page names and offers as
// choices, as the API showed them to the caller.
type directory struct {
	employees []identity.Employee
	byID      map[string]identity.Employee
	personas  map[string]identity.Persona
	teams     []string
	// team is the caller's team when they are a lead: their choices are
	// its members.
	team string
	// unassigned is how the pool is named in the page's language.
	unassigned string
}

// directory reads the employees (and, with personas, the personas).
func (q *req) directory(personas bool) (*directory, error) {
	es, err := q.api.ListEmployees(q.r.Context())
	if err != nil {
		return nil, err
	}
	d := &directory{employees: es, byID: map[string]identity.Employee{}, personas: map[string]identity.Persona{},
		unassigned: q.T("common.unassigned")}
	if q.who.Role == roleLead {
		d.team = q.who.Team
	}
	for _, e := range es {
		d.byID[e.ID] = e
		if e.Department != "" && !slices.Contains(d.teams, e.Department) {
			d.teams = append(d.teams, e.Department)
		}
	}
	slices.Sort(d.teams)
	if personas {
		ps, err := q.api.ListPersonas(q.r.Context())
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			d.personas[p.ID] = p
		}
	}
	return d, nil
}

// name is how a page names employee id: their name and ID, the pool
// for "".
func (d *directory) name(id string) string {
	if id == "" {
		return d.unassigned
	}
	if e, ok := d.byID[id]; ok && e.Name != "" {
		return e.Name + " (" + id + ")"
	}
	return id
}

// persona is how a page names persona id.
func (d *directory) persona(id string) string {
	if p, ok := d.personas[id]; ok && p.DisplayName != "" {
		return p.DisplayName
	}
	return id
}

// ours reports whether persona p belongs to the caller's team (a
// lead's): its employee or one of its members is in the team.
func (d *directory) ours(p identity.Persona) bool {
	if e, ok := d.byID[p.EmployeeID]; ok && e.Department == d.team {
		return true
	}
	for _, m := range p.Members {
		if e, ok := d.byID[m]; ok && e.Department == d.team {
			return true
		}
	}
	return false
}

// choice is an employee offered in a select.
type choice struct {
	ID, Label string
	Selected  bool
}

// active returns the active employees the caller may choose (a lead:
// their team's), of team if not empty, with selected marked.
func (d *directory) active(team string, selected ...string) []choice {
	var out []choice
	for _, e := range d.employees {
		if e.Status != identity.Active || d.team != "" && e.Department != d.team || team != "" && e.Department != team {
			continue
		}
		out = append(out, choice{ID: e.ID, Label: d.name(e.ID), Selected: slices.Contains(selected, e.ID)})
	}
	return out
}

// all returns every employee the caller may choose as a filter
// (departed ones too), with selected marked.
func (d *directory) all(selected string) []choice {
	var out []choice
	for _, e := range d.employees {
		if d.team != "" && e.Department != d.team {
			continue
		}
		out = append(out, choice{ID: e.ID, Label: d.name(e.ID), Selected: e.ID == selected})
	}
	return out
}

// teamChoices are the teams offered in a select, with selected marked.
func (d *directory) teamChoices(selected string) []choice {
	var out []choice
	for _, t := range d.teams {
		out = append(out, choice{ID: t, Label: t, Selected: t == selected})
	}
	return out
}

// personaChoices are the personas offered in a select, by ID.
func (d *directory) personaChoices(selected string) []choice {
	var out []choice
	for _, p := range d.personas {
		if d.team != "" && !d.ours(p) {
			continue
		}
		out = append(out, choice{ID: p.ID, Label: d.persona(p.ID) + " (" + p.ID + ")", Selected: p.ID == selected})
	}
	slices.SortFunc(out, func(a, b choice) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// parseDay reads a date input (YYYY-MM-DD); empty is zero.
func parseDay(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.DateOnly, s)
}
