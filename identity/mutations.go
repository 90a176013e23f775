package identity

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"
)

// Audit actions.
const (
	ActionEmployeeUpsert     = "employee.upsert"
	ActionEmployeeDepart     = "employee.depart"
	ActionEmployeeReactivate = "employee.reactivate"
	ActionPersonaUpsert      = "persona.upsert"
	ActionContactsTransfer   = "contacts.transfer"
)

func checkActor(actor string) error {
	if strings.TrimSpace(actor) == "" {
		return fmt.Errorf("%w: an actor is required", ErrInvalid)
	}
	return nil
}

func checkReason(reason string) error {
	if strings.TrimSpace(reason) == "" {
		return fmt.Errorf("%w: a reason is required", ErrInvalid)
	}
	return nil
}

// checkText validates free text that is stored (names, sources): valid
// UTF-8 without NUL bytes.
func checkText(what, s string) error {
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return fmt.Errorf("%w: %s %q is not valid text", ErrInvalid, what, s)
	}
	return nil
}

// UpsertEmployee creates or replaces an employee, audited as
// "employee.upsert" by actor (required; reason is optional).
//
// ID and Name are required, and at least one inside address; addresses are
// normalised, and one used by another employee is ErrConflict. Status and
// SuccessorID change only through Depart and Reactivate: Status "" keeps
// the current status (Active for a new employee) and SuccessorID "" keeps
// the current successor; any other value must equal the current one
// (ErrInvalid otherwise).
//
// DefaultPersona is checked when it is used (by a transfer that re-homes
// relationships onto it), not here, so employees and their personas can be
// created in either order.
//
// Upserting an employee exactly as stored changes nothing and is not
// audited.
func (s *State) UpsertEmployee(ctx context.Context, actor, reason string, e Employee) error {
	if err := s.upsertEmployee(ctx, actor, reason, e); err != nil {
		return fmt.Errorf("identity: upsert employee %s: %w", e.ID, err)
	}
	return nil
}

func (s *State) upsertEmployee(ctx context.Context, actor, reason string, e Employee) error {
	if err := checkActor(actor); err != nil {
		return err
	}
	e = cloneEmployee(e)
	if err := checkID("employee", e.ID); err != nil {
		return err
	}
	if strings.TrimSpace(e.Name) == "" {
		return fmt.Errorf("%w: a name is required", ErrInvalid)
	}
	if err := firstErr(checkText("employee name", e.Name), checkText("department", e.Department)); err != nil {
		return err
	}
	if e.DefaultPersona != "" {
		if err := checkID("default persona", e.DefaultPersona); err != nil {
			return err
		}
	}
	var err error
	if e.InsideAddrs, err = s.normalizeAddresses("inside", e.InsideAddrs); err != nil {
		return err
	}
	if len(e.InsideAddrs) == 0 {
		return fmt.Errorf("%w: an inside address is required", ErrInvalid)
	}
	return s.update(ctx, func(b *batch) error {
		old, exists := b.employee(e.ID)
		if !exists {
			switch {
			case e.Status != "" && e.Status != Active:
				return fmt.Errorf("%w: a new employee must be %s", ErrInvalid, Active)
			case e.SuccessorID != "":
				return fmt.Errorf("%w: a new employee has no successor", ErrInvalid)
			}
			e.Status = Active
		} else {
			switch {
			case e.Status == "":
				e.Status = old.Status
			case e.Status != old.Status:
				return fmt.Errorf("%w: the employee is %s; change status with Depart or Reactivate", ErrInvalid, old.Status)
			}
			switch {
			case e.SuccessorID == "":
				e.SuccessorID = old.SuccessorID
			case e.SuccessorID != old.SuccessorID:
				return fmt.Errorf("%w: the successor is set by Depart", ErrInvalid)
			}
		}
		if other, ok := b.base.employeeByAddrs(e.InsideAddrs, e.ID); ok {
			return fmt.Errorf("%w: an inside address is already used by employee %s", ErrConflict, other.ID)
		}
		if exists && reflect.DeepEqual(*old, e) {
			return nil
		}
		b.putEmployee(&e)
		return b.addAudit(actor, ActionEmployeeUpsert, reason, e.ID, &e)
	})
}

// UpsertPersona creates or replaces a persona, audited as "persona.upsert"
// by actor (required; reason is optional).
//
// ID, DisplayName, Kind and at least one outside address are required.
// A personal persona needs EmployeeID; EmployeeID (if set) and every member
// must be existing employees (ErrNotFound otherwise). Addresses are
// normalised; one used by another persona is ErrConflict.
//
// Upserting a persona exactly as stored changes nothing and is not audited.
func (s *State) UpsertPersona(ctx context.Context, actor, reason string, p Persona) error {
	if err := s.upsertPersona(ctx, actor, reason, p); err != nil {
		return fmt.Errorf("identity: upsert persona %s: %w", p.ID, err)
	}
	return nil
}

func (s *State) upsertPersona(ctx context.Context, actor, reason string, p Persona) error {
	if err := checkActor(actor); err != nil {
		return err
	}
	p = clonePersona(p)
	if err := checkID("persona", p.ID); err != nil {
		return err
	}
	if strings.TrimSpace(p.DisplayName) == "" {
		return fmt.Errorf("%w: a display name is required", ErrInvalid)
	}
	if err := checkText("display name", p.DisplayName); err != nil {
		return err
	}
	switch p.Kind {
	case Personal:
		if p.EmployeeID == "" {
			return fmt.Errorf("%w: a personal persona needs an employee", ErrInvalid)
		}
	case Team:
	default:
		return fmt.Errorf("%w: kind %q is neither %q nor %q", ErrInvalid, p.Kind, Personal, Team)
	}
	var err error
	if p.Addresses, err = s.normalizeAddresses("outside", p.Addresses); err != nil {
		return err
	}
	if len(p.Addresses) == 0 {
		return fmt.Errorf("%w: an outside address is required", ErrInvalid)
	}
	p.Members = slices.Compact(slices.Sorted(slices.Values(p.Members)))
	switch p.Assign {
	case "":
	case AssignRoundRobin, AssignLeastLoaded:
		if p.Kind != Team || len(p.Members) == 0 {
			return fmt.Errorf("%w: assign %q needs a team persona with members", ErrInvalid, p.Assign)
		}
	default:
		return fmt.Errorf("%w: assign %q is neither %q nor %q (or empty for the persona's employee)", ErrInvalid, p.Assign, AssignRoundRobin, AssignLeastLoaded)
	}
	for name, text := range map[string]string{"welcome": p.Welcome, "handover": p.Handover} {
		if len(text) > MaxPersonaText {
			return fmt.Errorf("%w: the %s text is %d bytes; at most %d", ErrInvalid, name, len(text), MaxPersonaText)
		}
	}
	return s.update(ctx, func(b *batch) error {
		for _, id := range append([]string{p.EmployeeID}, p.Members...) {
			if id == "" {
				continue
			}
			if _, ok := b.employee(id); !ok {
				return fmt.Errorf("%w: employee %s", ErrNotFound, id)
			}
		}
		if other, ok := b.base.personaByAddrs(p.Addresses, p.ID); ok {
			return fmt.Errorf("%w: an outside address is already used by persona %s", ErrConflict, other.ID)
		}
		if old, ok := b.persona(p.ID); ok && reflect.DeepEqual(*old, p) {
			return nil
		}
		b.putPersona(&p)
		return b.addAudit(actor, ActionPersonaUpsert, reason, p.ID, &p)
	})
}

// NewRelationship describes a relationship for EnsureRelationship.
type NewRelationship struct {
	// Contact is the outside party's address (normalised before use).
	Contact Address
	// DisplayName and Source are recorded on a new contact.
	DisplayName, Source string
	// PersonaID is the persona the contact writes to, or is written to as.
	PersonaID string
	// OwnerID owns a new relationship: an active employee, or "" for the
	// unassigned pool.
	OwnerID string
}

// EnsureRelationship returns the relationship between the contact at
// n.Contact and n.PersonaID, creating the contact and the relationship
// (owned by n.OwnerID) if needed. It is idempotent: if the contact already
// reaches a relationship through n.PersonaID (as its persona or a former
// one), that relationship is returned with created=false and n.OwnerID is
// ignored. It is traffic, not an admin act, so it is not audited.
func (s *State) EnsureRelationship(ctx context.Context, n NewRelationship) (rel *Relationship, c *Contact, created bool, err error) {
	addr, aerr := s.canonical("contact", n.Contact)
	if err := firstErr(aerr, checkID("persona", n.PersonaID),
		checkText("contact display name", n.DisplayName), checkText("contact source", n.Source)); err != nil {
		return nil, nil, false, fmt.Errorf("identity: ensure relationship of %s with %s: %w", addr.Addr, n.PersonaID, err)
	}
	// Fast path, without the write lock: the relationship exists.
	sn := s.Snapshot()
	if c, ok := sn.ContactByAddr(addr); ok {
		if r, ok := sn.RelationshipFor(c.ID, n.PersonaID); ok {
			return r, c, false, nil
		}
	}
	err = s.update(ctx, func(b *batch) error {
		if _, ok := b.persona(n.PersonaID); !ok {
			return fmt.Errorf("%w: persona %s", ErrNotFound, n.PersonaID)
		}
		var ok bool
		if c, ok = b.contactByAddr(addr); ok {
			if rel, ok = b.relationshipFor(c.ID, n.PersonaID); ok {
				return nil // created meanwhile
			}
		}
		if n.OwnerID != "" {
			o, ok := b.employee(n.OwnerID)
			if !ok {
				return fmt.Errorf("%w: owner: employee %s", ErrNotFound, n.OwnerID)
			}
			if o.Status != Active {
				return fmt.Errorf("%w: owner: employee %s is %s", ErrInvalid, o.ID, o.Status)
			}
		}
		if c == nil {
			c = &Contact{
				ID:          newUniqueID("c", b.contactIDFree),
				Address:     addr,
				DisplayName: n.DisplayName,
				Source:      n.Source,
				CreatedAt:   b.now,
			}
			b.addContact(c)
		}
		rel = &Relationship{
			ID:           newUniqueID("r", b.relIDFree),
			ContactID:    c.ID,
			PersonaID:    n.PersonaID,
			OwnerID:      n.OwnerID,
			CreatedAt:    b.now,
			UpdatedAt:    b.now,
			Version:      1,
			OwnerVersion: 1,
		}
		b.addRel(rel)
		created = true
		return nil
	})
	if err != nil {
		return nil, nil, false, fmt.Errorf("identity: ensure relationship of %s with %s: %w", addr.Addr, n.PersonaID, err)
	}
	return rel, c, created, nil
}

// newUniqueID returns a generated ID for which free reports true.
func newUniqueID(prefix string, free func(string) bool) string {
	for {
		if id := newID(prefix); free(id) {
			return id
		}
	}
}

// Reactivate makes a departed employee active again and clears their
// successor, audited as "employee.reactivate" by actor with reason (both
// required). Relationships moved away on departure stay where they are;
// move them back with Transfer.
func (s *State) Reactivate(ctx context.Context, actor, reason, employeeID string) error {
	err := firstErr(checkActor(actor), checkReason(reason))
	if err == nil {
		err = s.update(ctx, func(b *batch) error {
			return b.reactivate(actor, reason, employeeID)
		})
	}
	if err != nil {
		return fmt.Errorf("identity: reactivate %s: %w", employeeID, err)
	}
	return nil
}

func (b *batch) reactivate(actor, reason, employeeID string) error {
	e, ok := b.employee(employeeID)
	if !ok {
		return fmt.Errorf("%w: employee %s", ErrNotFound, employeeID)
	}
	if e.Status != Departed {
		return fmt.Errorf("%w: employee %s is %s, not departed", ErrInvalid, e.ID, e.Status)
	}
	n := cloneEmployee(*e)
	n.Status, n.SuccessorID = Active, ""
	b.putEmployee(&n)
	return b.addAudit(actor, ActionEmployeeReactivate, reason, n.ID, nil)
}

// firstErr returns the first non-nil error.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
