package identity

import (
	"context"
	"fmt"
	"slices"
)

// TransferRequest asks to move every relationship owned by From to To.
type TransferRequest struct {
	// Actor and Reason are recorded in the audit log; both are required.
	Actor, Reason string
	// From is the employee whose relationships move.
	From string
	// To is the active employee who receives them, or "" for the unassigned
	// pool.
	To string
}

// Transfer moves every relationship owned by r.From to r.To in one atomic,
// durable step, audited as one "contacts.transfer" entry whose subject is
// the transfer's ID and whose details are the returned Transfer as JSON.
// A snapshot sees either all relationships moved or none.
//
// How a relationship moves depends on its persona:
//
//   - To the pool (To ""): only the owner changes (to none).
//   - On a team persona, or on a personal persona of To: only the owner
//     changes; the outside sees nothing.
//   - On a personal persona of someone else (typically From's): the
//     relationship is re-homed onto To's DefaultPersona, and the old persona
//     joins FormerPersonaIDs, so the contact writing to the old address
//     still reaches To. If the contact already has a relationship reachable
//     through To's default persona, the moved relationship is merged into
//     that one instead: its persona and former personas join the other's
//     FormerPersonaIDs, To becomes the other's owner (and if the other is on
//     someone else's personal persona, it is re-homed too), and the moved
//     one is kept for history with MergedInto set.
//
// Every changed relationship gets Version+1 and UpdatedAt; each is listed in
// Transfer.Moves. Errors: ErrInvalid (missing actor or reason, From == To,
// To departed, To without a usable default persona while personal
// relationships move), ErrNotFound (unknown From or To).
func (s *State) Transfer(ctx context.Context, r TransferRequest) (*Transfer, error) {
	var t *Transfer
	err := firstErr(checkActor(r.Actor), checkReason(r.Reason))
	if err == nil {
		err = s.update(ctx, func(b *batch) error {
			var err error
			if t, err = b.transfer(r); err != nil {
				return err
			}
			return b.addAudit(r.Actor, ActionContactsTransfer, r.Reason, t.ID, t)
		})
	}
	if err != nil {
		return nil, fmt.Errorf("identity: transfer from %s to %s: %w", r.From, poolName(r.To), err)
	}
	return t, nil
}

func poolName(id string) string {
	if id == "" {
		return "the pool"
	}
	return id
}

// departDetails is the audit detail of an "employee.depart" entry.
type departDetails struct {
	SuccessorID string `json:"successor_id,omitempty"`
	TransferID  string `json:"transfer_id"`
	// Predecessors are departed employees whose successor was the departing
	// employee and is now the departing employee's successor.
	Predecessors []string `json:"predecessors,omitempty"`
}

// Depart marks an active employee departed and, in the same atomic commit,
// transfers all their relationships to successorID (or the pool when "")
// exactly as Transfer does. It is audited as "employee.depart" (subject: the
// employee) followed by "contacts.transfer" (subject: the transfer).
// Departed employees whose successor was this employee get successorID as
// their successor, so a successor is always active or none.
//
// Errors: ErrInvalid (missing actor or reason, employee already departed,
// successor departed or the employee themselves), ErrNotFound.
func (s *State) Depart(ctx context.Context, actor, reason, employeeID, successorID string) (*Transfer, error) {
	var t *Transfer
	err := firstErr(checkActor(actor), checkReason(reason))
	if err == nil {
		err = s.update(ctx, func(b *batch) error {
			var err error
			t, err = b.depart(actor, reason, employeeID, successorID)
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("identity: depart %s: %w", employeeID, err)
	}
	return t, nil
}

func (b *batch) depart(actor, reason, employeeID, successorID string) (*Transfer, error) {
	e, ok := b.employee(employeeID)
	if !ok {
		return nil, fmt.Errorf("%w: employee %s", ErrNotFound, employeeID)
	}
	if e.Status == Departed {
		return nil, fmt.Errorf("%w: employee %s has already departed", ErrInvalid, employeeID)
	}
	if successorID == employeeID {
		return nil, fmt.Errorf("%w: employee %s cannot be their own successor", ErrInvalid, employeeID)
	}
	t, err := b.transfer(TransferRequest{Actor: actor, Reason: reason, From: employeeID, To: successorID})
	if err != nil {
		return nil, err
	}
	n := cloneEmployee(*e)
	n.Status, n.SuccessorID = Departed, successorID
	b.putEmployee(&n)
	details := departDetails{SuccessorID: successorID, TransferID: t.ID}
	for _, p := range b.base.Employees() {
		if p.Status == Departed && p.SuccessorID == employeeID {
			np := cloneEmployee(*p)
			np.SuccessorID = successorID
			b.putEmployee(&np)
			details.Predecessors = append(details.Predecessors, p.ID)
		}
	}
	if err := b.addAudit(actor, ActionEmployeeDepart, reason, employeeID, &details); err != nil {
		return nil, err
	}
	if err := b.addAudit(actor, ActionContactsTransfer, reason, t.ID, t); err != nil {
		return nil, err
	}
	return t, nil
}

// canWriteAs reports whether employee e may write as persona p.
func canWriteAs(e *Employee, p *Persona) bool {
	if p.Kind == Personal {
		return p.EmployeeID == e.ID
	}
	return p.EmployeeID == e.ID || slices.Contains(p.Members, e.ID)
}

// transfer plans the moves of a transfer into b (see State.Transfer). It
// does not write the audit entry.
func (b *batch) transfer(r TransferRequest) (*Transfer, error) {
	switch {
	case r.From == "":
		return nil, fmt.Errorf("%w: the employee to transfer from is required", ErrInvalid)
	case r.From == r.To:
		return nil, fmt.Errorf("%w: cannot transfer from employee %s to themselves", ErrInvalid, r.From)
	}
	if _, ok := b.employee(r.From); !ok {
		return nil, fmt.Errorf("%w: employee %s", ErrNotFound, r.From)
	}
	var to *Employee
	if r.To != "" {
		var ok bool
		if to, ok = b.employee(r.To); !ok {
			return nil, fmt.Errorf("%w: employee %s", ErrNotFound, r.To)
		}
		if to.Status != Active {
			return nil, fmt.Errorf("%w: employee %s is %s", ErrInvalid, to.ID, to.Status)
		}
	}
	t := &Transfer{ID: newID("t"), At: b.now, Actor: r.Actor, Reason: r.Reason, From: r.From, To: r.To}

	owned := b.relsOwnedBy(r.From)
	if len(b.rels) == 0 {
		b.rels = make(map[string]*change[Relationship], len(owned))
	}
	// before holds the owner and persona of each touched relationship as
	// they were before this transfer, for its Move.
	type was struct{ owner, persona string }
	before := make(map[string]was, len(owned))
	touched := make([]string, 0, len(owned))
	touch := func(rel *Relationship) *Relationship {
		if _, ok := before[rel.ID]; !ok {
			before[rel.ID] = was{rel.OwnerID, rel.PersonaID}
			touched = append(touched, rel.ID)
		}
		return b.touchRel(rel)
	}
	personas := map[string]*Persona{}
	persona := func(id string) (*Persona, error) {
		if p, ok := personas[id]; ok {
			return p, nil
		}
		p, ok := b.persona(id)
		if !ok {
			return nil, fmt.Errorf("%w: persona %s", ErrNotFound, id)
		}
		personas[id] = p
		return p, nil
	}
	var home *Persona // To's default persona, resolved when first needed
	for _, rel := range owned {
		// A merge earlier in this loop may have changed rel.
		if ch, ok := b.rels[rel.ID]; ok {
			rel = ch.new
		}
		nr := touch(rel)
		if r.To == "" {
			nr.OwnerID = ""
			continue
		}
		p, err := persona(nr.PersonaID)
		if err != nil {
			return nil, fmt.Errorf("relationship %s: %w", nr.ID, err)
		}
		if p.Kind != Personal || p.EmployeeID == r.To {
			nr.OwnerID = r.To
			continue
		}
		if home == nil {
			if home, err = defaultPersona(to, persona); err != nil {
				return nil, fmt.Errorf("re-homing personal relationships (e.g. %s on persona %s): %w", nr.ID, nr.PersonaID, err)
			}
		}
		if other, ok := b.relationshipFor(nr.ContactID, home.ID); ok && other.ID != nr.ID {
			into := touch(other)
			into.FormerPersonaIDs = addFormer(into.PersonaID, into.FormerPersonaIDs,
				append([]string{nr.PersonaID}, nr.FormerPersonaIDs...))
			into.OwnerID = r.To
			// The target reaches To's default persona, but may be on
			// someone else's personal persona (it reaches the default as a
			// former one): To cannot write as that, so it moves home too.
			ip, err := persona(into.PersonaID)
			if err != nil {
				return nil, fmt.Errorf("relationship %s: %w", into.ID, err)
			}
			if ip.Kind == Personal && ip.EmployeeID != r.To {
				into.FormerPersonaIDs = addFormer(home.ID, into.FormerPersonaIDs, []string{into.PersonaID})
				into.PersonaID = home.ID
			}
			nr.OwnerID = r.To
			nr.MergedInto = into.ID
			continue
		}
		nr.FormerPersonaIDs = addFormer(home.ID, nr.FormerPersonaIDs, []string{nr.PersonaID})
		nr.PersonaID = home.ID
		nr.OwnerID = r.To
	}

	if !slices.IsSorted(touched) { // merges may touch out of order
		slices.Sort(touched)
	}
	t.Moves = make([]Move, 0, len(touched))
	for _, id := range touched {
		nr := b.rels[id].new
		m := Move{
			RelationshipID: id,
			ContactID:      nr.ContactID,
			FromOwner:      before[id].owner,
			ToOwner:        nr.OwnerID,
			FromPersona:    before[id].persona,
			ToPersona:      nr.PersonaID,
			Version:        nr.Version,
			MergedInto:     nr.MergedInto,
		}
		if nr.MergedInto != "" {
			if into, ok := b.rel(nr.MergedInto); ok {
				m.ToPersona = into.PersonaID
			}
		}
		t.Moves = append(t.Moves, m)
	}
	return t, nil
}

// defaultPersona returns to's default persona, checked for use.
func defaultPersona(to *Employee, persona func(string) (*Persona, error)) (*Persona, error) {
	if to.DefaultPersona == "" {
		return nil, fmt.Errorf("%w: employee %s has no default persona", ErrInvalid, to.ID)
	}
	p, err := persona(to.DefaultPersona)
	if err != nil {
		return nil, fmt.Errorf("%w: default persona %s of employee %s does not exist", ErrInvalid, to.DefaultPersona, to.ID)
	}
	if !canWriteAs(to, p) {
		return nil, fmt.Errorf("%w: employee %s may not write as their default persona %s", ErrInvalid, to.ID, p.ID)
	}
	return p, nil
}

// addFormer returns former plus the personas in add it lacks, without
// primary (a relationship does not list its own persona as former).
func addFormer(primary string, former, add []string) []string {
	out := make([]string, 0, len(former)+len(add))
	for _, l := range [][]string{former, add} {
		for _, p := range l {
			if p != primary && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
