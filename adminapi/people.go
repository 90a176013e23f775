package adminapi

import (
	"fmt"
	"net/http"
	"slices"
	"sort"

	"github.com/kakehashi/kakehashi/identity"
)

// Handlers for employees, personas and the directory.

func (a *Server) listEmployees(w http.ResponseWriter, _ *http.Request, c Caller) error {
	es := a.state.Snapshot().Employees()
	if c.scoped() {
		// A lead sees the members of their team.
		es = slices.DeleteFunc(es, func(e *identity.Employee) bool { return e.Department != c.Team })
	}
	if es == nil {
		es = []*identity.Employee{} // [], as every list, not null
	}
	sort.Slice(es, func(i, j int) bool { return es[i].ID < es[j].ID })
	writeJSON(w, http.StatusOK, es)
	return nil
}

func (a *Server) upsertEmployee(w http.ResponseWriter, r *http.Request, c Caller) error {
	actor := c.Actor
	var req EmployeeRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := a.state.UpsertEmployee(r.Context(), actor, req.Reason, req.Employee); err != nil {
		return err
	}
	e, _ := a.state.Snapshot().Employee(req.Employee.ID)
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (a *Server) depart(w http.ResponseWriter, r *http.Request, c Caller) error {
	actor := c.Actor
	var req DepartRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	id := r.PathValue("id")
	if len(req.Team) > 0 && req.Successor != "" {
		return fmt.Errorf("%w: give a successor or a team, not both", errBadRequest)
	}
	var check func(*identity.Transfer) error
	if c.scoped() {
		tm := a.teamOf(c)
		if err := tm.employee(id, "employee"); err != nil {
			return err
		}
		if err := tm.transferTargets("", req.Successor, req.Team, false); err != nil {
			return err
		}
		check = func(t *identity.Transfer) error { return tm.moves(t, "the departure") }
	}
	strategy := identity.SpreadStrategy(req.Strategy)
	if req.Preview {
		t, err := a.state.PreviewDepart(r.Context(), actor, req.Reason, id, req.Successor, req.Team, strategy, check)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, TransferResult{Transfer: t, Preview: previewOf(t, false)})
		return nil
	}
	if len(req.Team) > 0 {
		// Spread first, then depart: every step is atomic, and messages
		// in between already reach the new owners.
		spread, err := a.state.Transfer(r.Context(), identity.TransferRequest{
			Actor: actor, Reason: req.Reason, From: id, Targets: req.Team, Strategy: strategy, Check: check})
		if err != nil {
			return err
		}
		a.reassigned(r.Context(), spread)
		if _, err := a.state.DepartChecked(r.Context(), actor, req.Reason, id, "", check); err != nil {
			return fmt.Errorf("relationships spread by transfer %s, but the departure failed: %w", spread.ID, err)
		}
		writeJSON(w, http.StatusOK, TransferResult{Transfer: spread})
		return nil
	}
	// A lead's check runs on the planned moves, in the same commit: a
	// departure must not move a relationship outside the team.
	t, err := a.state.DepartChecked(r.Context(), actor, req.Reason, id, req.Successor, check)
	if err != nil {
		return err
	}
	a.reassigned(r.Context(), t)
	writeJSON(w, http.StatusOK, TransferResult{Transfer: t})
	return nil
}

func (a *Server) reactivate(w http.ResponseWriter, r *http.Request, c Caller) error {
	actor := c.Actor
	var req ReasonRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := a.state.Reactivate(r.Context(), actor, req.Reason, r.PathValue("id")); err != nil {
		return err
	}
	e, _ := a.state.Snapshot().Employee(r.PathValue("id"))
	writeJSON(w, http.StatusOK, e)
	return nil
}

func (a *Server) listPersonas(w http.ResponseWriter, _ *http.Request, _ Caller) error {
	ps := a.state.Snapshot().Personas()
	if ps == nil {
		ps = []*identity.Persona{}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].ID < ps[j].ID })
	writeJSON(w, http.StatusOK, ps)
	return nil
}

func (a *Server) upsertPersona(w http.ResponseWriter, r *http.Request, c Caller) error {
	actor := c.Actor
	var req PersonaRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if err := a.state.UpsertPersona(r.Context(), actor, req.Reason, req.Persona); err != nil {
		return err
	}
	p, _ := a.state.Snapshot().Persona(req.Persona.ID)
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (a *Server) importDirectory(w http.ResponseWriter, r *http.Request, c Caller) error {
	actor := c.Actor
	var d Directory
	if err := decode(r, &d); err != nil {
		return err
	}
	if d.Reason == "" {
		d.Reason = "directory import"
	}
	for _, e := range d.Employees {
		if err := a.state.UpsertEmployee(r.Context(), actor, d.Reason, e); err != nil {
			return fmt.Errorf("employee %q: %w", e.ID, err)
		}
	}
	for _, p := range d.Personas {
		if err := a.state.UpsertPersona(r.Context(), actor, d.Reason, p); err != nil {
			return fmt.Errorf("persona %q: %w", p.ID, err)
		}
	}
	writeJSON(w, http.StatusOK, DirectoryResult{Employees: len(d.Employees), Personas: len(d.Personas)})
	return nil
}
