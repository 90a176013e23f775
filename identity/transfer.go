package identity

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// TransferRequest asks to move relationships to other owners.
//
// It selects relationships by From (their current owner) and Filter, which
// combine with AND; at least one of them must select something (moving
// every relationship at once is not a thing to do by accident). It moves
// them to To, to the unassigned pool (To empty and no Targets), or spreads
// them over Targets by Strategy.
type TransferRequest struct {
	// Actor and Reason are recorded in the audit log; both are required.
	Actor, Reason string
	// From selects the relationships owned by this employee.
	From string
	// Filter narrows the selection further (or makes it, without From).
	Filter RelationshipFilter
	// To is the active employee who receives the relationships; "" with no
	// Targets means the unassigned pool.
	To string
	// Targets spreads the relationships over these active employees
	// instead (To must be empty), by Strategy (default RoundRobin).
	Targets  []string
	Strategy SpreadStrategy
	// Check, if not nil, sees the planned transfer (every move, before
	// anything is stored) and may refuse it with an error, which Transfer
	// returns as it is wrapped: what a caller allowed to move only some
	// relationships checks, atomically with the move.
	Check func(*Transfer) error `json:"-"`
}

// Transfer moves the relationships r selects in one atomic, durable step,
// audited as one "contacts.transfer" entry whose subject is the transfer's
// ID and whose details are the returned Transfer as JSON. A snapshot sees
// either all relationships moved or none. Selecting nothing is not an
// error: the transfer is recorded with no moves, so an admin sees it ran.
//
// Relationships already owned by the target (or by any target of a spread)
// stay where they are (Counts.Unchanged). How the others move depends on
// their persona:
//
//   - To the pool: only the owner changes (to none).
//   - On a team persona, or on a personal persona of the new owner: only
//     the owner changes; the outside sees nothing.
//   - On a personal persona of someone else (typically the old owner's):
//     the relationship is re-homed onto the new owner's DefaultPersona, and
//     the old persona joins FormerPersonaIDs, so the contact writing to the
//     old address still reaches the new owner. If the contact already has
//     a relationship reachable through that default persona, the moved
//     relationship is merged into that one instead: its persona and former
//     personas join the other's FormerPersonaIDs, the new owner becomes the
//     other's owner (and if the other is on someone else's personal
//     persona, it is re-homed too), and the moved one is kept for history
//     with MergedInto set.
//
// Every changed relationship gets Version+1, OwnerVersion+1, UpdatedAt and
// LastTransferID; each is listed in Transfer.Moves with its state before
// and after, which is what RevertTransfer undoes.
//
// Errors: ErrInvalid (missing actor or reason, nothing selecting, To and
// Targets both set, a target that is departed or is From, an unknown
// strategy, a target without a usable default persona while personal
// relationships move to it, a merged relationship named in
// Filter.RelationshipIDs, an invalid tag), ErrNotFound (unknown From,
// target, contact or relationship named in the request).
func (s *State) Transfer(ctx context.Context, r TransferRequest) (*Transfer, error) {
	var t *Transfer
	err := firstErr(checkActor(r.Actor), checkReason(r.Reason))
	if err == nil {
		err = s.update(ctx, func(b *batch) error {
			var err error
			if t, err = b.transfer(r); err != nil {
				return err
			}
			if r.Check != nil {
				if err := r.Check(t); err != nil {
					return err
				}
			}
			return b.addTransferAudit(t)
		})
	}
	if err != nil {
		return nil, fmt.Errorf("identity: transfer %s: %w", describeTransfer(r), err)
	}
	return t, nil
}

// PreviewTransfer plans r exactly as Transfer would, against the state
// as it is now, and returns the transfer it would record (without an ID),
// changing and auditing nothing: which relationships would move where,
// by the same spread. r.Check runs as it would. Errors: those of
// Transfer.
func (s *State) PreviewTransfer(ctx context.Context, r TransferRequest) (*Transfer, error) {
	var t *Transfer
	err := firstErr(checkActor(r.Actor), checkReason(r.Reason), ctx.Err())
	if err == nil {
		err = s.dryRun(func(b *batch) error {
			var err error
			if t, err = b.transfer(r); err != nil {
				return err
			}
			if r.Check != nil {
				return r.Check(t)
			}
			return nil
		})
	}
	if err != nil {
		return nil, fmt.Errorf("identity: preview transfer %s: %w", describeTransfer(r), err)
	}
	t.ID = ""
	return t, nil
}

// PreviewDepart plans the departure of employeeID exactly as Depart
// would (to successorID, or the pool when ""), or, with targets, as a
// spread of their relationships over targets by strategy followed by the
// departure, and returns the transfer that would move their
// relationships (without an ID), changing and auditing nothing. check, if
// not nil, sees that transfer first and may refuse it. Errors: those of
// Depart and Transfer.
func (s *State) PreviewDepart(ctx context.Context, actor, reason, employeeID, successorID string, targets []string, strategy SpreadStrategy, check func(*Transfer) error) (*Transfer, error) {
	var t *Transfer
	err := firstErr(checkActor(actor), checkReason(reason), ctx.Err())
	if err == nil {
		err = s.dryRun(func(b *batch) error {
			var err error
			if len(targets) > 0 {
				if t, err = b.transfer(TransferRequest{Actor: actor, Reason: reason, From: employeeID, Targets: targets, Strategy: strategy}); err != nil {
					return err
				}
				_, err = b.depart(actor, reason, employeeID, "")
			} else {
				t, err = b.depart(actor, reason, employeeID, successorID)
			}
			if err == nil && check != nil {
				err = check(t)
			}
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("identity: preview depart %s: %w", employeeID, err)
	}
	t.ID = ""
	return t, nil
}

// dryRun plans a mutation as update does, against the current snapshot,
// and drops it: nothing is stored, indexed or audited. Snapshots are
// immutable, so it needs no lock.
func (s *State) dryRun(fn func(b *batch) error) error {
	return fn(newBatch(s.Snapshot(), s.l, s.now().UTC().Round(0)))
}

// describeTransfer names a request in error messages.
func describeTransfer(r TransferRequest) string {
	from := "selected relationships"
	if r.From != "" {
		from = "from " + r.From
	}
	if len(r.Targets) > 0 {
		return from + " to " + strings.Join(r.Targets, ", ")
	}
	return from + " to " + poolName(r.To)
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
// The departure's transfer can be reverted (RevertTransfer) once the
// employee has been reactivated.
//
// Errors: ErrInvalid (missing actor or reason, employee already departed,
// successor departed or the employee themselves), ErrNotFound.
func (s *State) Depart(ctx context.Context, actor, reason, employeeID, successorID string) (*Transfer, error) {
	return s.DepartChecked(ctx, actor, reason, employeeID, successorID, nil)
}

// DepartChecked is Depart whose transfer check, if not nil, sees first
// (every planned move, before anything is stored) and may refuse, as
// TransferRequest.Check does for a transfer.
func (s *State) DepartChecked(ctx context.Context, actor, reason, employeeID, successorID string, check func(*Transfer) error) (*Transfer, error) {
	var t *Transfer
	err := firstErr(checkActor(actor), checkReason(reason))
	if err == nil {
		err = s.update(ctx, func(b *batch) error {
			var err error
			if t, err = b.depart(actor, reason, employeeID, successorID); err == nil && check != nil {
				err = check(t)
			}
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
	if err := b.addTransferAudit(t); err != nil {
		return nil, err
	}
	return t, nil
}

// transfer plans the moves of a transfer into b (see State.Transfer). It
// does not write the audit entry.
func (b *batch) transfer(r TransferRequest) (*Transfer, error) {
	if r.From != "" {
		if _, ok := b.employee(r.From); !ok {
			return nil, fmt.Errorf("%w: employee %s", ErrNotFound, r.From)
		}
	}
	f, err := normalizeFilter(r.Filter)
	if err != nil {
		return nil, err
	}
	if r.From == "" && f.empty() {
		return nil, fmt.Errorf("%w: choose the relationships to move: the employee to transfer from or a filter is required", ErrInvalid)
	}
	if r.From != "" && f.Unassigned {
		return nil, fmt.Errorf("%w: relationships owned by %s are not in the unassigned pool", ErrInvalid, r.From)
	}
	sp, err := b.spreadFor(r, f)
	if err != nil {
		return nil, err
	}
	sel, err := b.selectRels(r.From, f)
	if err != nil {
		return nil, err
	}
	sp.prepare(sel)
	t := &Transfer{ID: newID("t"), At: b.now, Actor: r.Actor, Reason: r.Reason, From: r.From, To: r.To,
		Filter: f, Targets: slices.Clone(r.Targets)}
	if len(r.Targets) > 0 {
		t.Strategy = sp.strategy
		t.Counts.ByTarget = map[string]int{}
	}
	t.Counts.Matched = len(sel)
	m := newMover(b, t.ID, len(sel))
	for _, rel := range sel {
		// A merge earlier in this loop may have changed rel.
		if ch, ok := b.rels[rel.ID]; ok {
			rel = ch.new
		}
		to, moves := sp.assign(rel)
		if !moves {
			t.Counts.Unchanged++
			continue
		}
		if t.Counts.ByTarget != nil {
			t.Counts.ByTarget[to.ID]++
		}
		if err := m.move(rel, to); err != nil {
			return nil, err
		}
	}
	t.Moves = m.moves()
	t.countMoves()
	return t, nil
}

// countMoves fills the counts that follow from t.Moves.
func (t *Transfer) countMoves() {
	t.Counts.Moved = len(t.Moves)
	for i := range t.Moves {
		switch mv := &t.Moves[i]; {
		case mv.MergedInto != "":
			t.Counts.Merged++
		case mv.FromPersona != mv.ToPersona:
			t.Counts.Rehomed++
		}
	}
}

// spread decides where each selected relationship goes.
type spread struct {
	// targets are the receiving employees; a single nil target is the
	// unassigned pool.
	targets  []*Employee
	strategy SpreadStrategy
	// load is, for LeastLoaded, each target's relationships so far.
	load []int
	// next is RoundRobin's next target.
	next int
	// byContact keeps all the relationships of one contact together: it
	// maps each contact to its target, once assigned.
	byContact map[string]int
	// group is, for LeastLoaded, how many relationships of each contact
	// move: a contact's target takes on all of them at once.
	group map[string]int
}

// spreadFor validates the target of r and prepares the spread.
func (b *batch) spreadFor(r TransferRequest, f RelationshipFilter) (*spread, error) {
	sp := &spread{strategy: r.Strategy}
	switch {
	case len(r.Targets) > 0 && r.To != "":
		return nil, fmt.Errorf("%w: transfer to one employee (To) or spread over several (Targets), not both", ErrInvalid)
	case len(r.Targets) == 0 && r.Strategy != "":
		return nil, fmt.Errorf("%w: a spread strategy needs targets", ErrInvalid)
	case len(r.Targets) == 0 && r.To == "":
		if f.Unassigned {
			return nil, fmt.Errorf("%w: relationships in the unassigned pool are already there", ErrInvalid)
		}
		sp.targets = []*Employee{nil}
		return sp, nil
	}
	ids := r.Targets
	if r.To != "" {
		ids = []string{r.To}
	}
	switch sp.strategy {
	case "":
		sp.strategy = RoundRobin
	case RoundRobin, LeastLoaded:
	default:
		return nil, fmt.Errorf("%w: spread strategy %q is neither %q nor %q", ErrInvalid, r.Strategy, RoundRobin, LeastLoaded)
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		switch {
		case id == "":
			return nil, fmt.Errorf("%w: a target employee ID is empty", ErrInvalid)
		case seen[id]:
			return nil, fmt.Errorf("%w: target employee %s is listed twice", ErrInvalid, id)
		case id == r.From:
			return nil, fmt.Errorf("%w: cannot transfer from employee %s to themselves", ErrInvalid, id)
		}
		seen[id] = true
		e, ok := b.employee(id)
		if !ok {
			return nil, fmt.Errorf("%w: employee %s", ErrNotFound, id)
		}
		if e.Status != Active {
			return nil, fmt.Errorf("%w: employee %s is %s; only active employees can receive relationships", ErrInvalid, e.ID, e.Status)
		}
		sp.targets = append(sp.targets, e)
	}
	if len(sp.targets) > 1 {
		sp.byContact = map[string]int{}
		if sp.strategy == LeastLoaded {
			sp.load = make([]int, len(sp.targets))
			for i, e := range sp.targets {
				sp.load[i] = b.base.OwnedCount(e.ID)
			}
		}
	}
	return sp, nil
}

// prepare counts, for LeastLoaded, the relationships of each contact
// among sel that will move.
func (sp *spread) prepare(sel []*Relationship) {
	if sp.load == nil {
		return
	}
	sp.group = map[string]int{}
	for _, r := range sel {
		if !sp.owns(r) {
			sp.group[r.ContactID]++
		}
	}
}

// owns reports whether rel already belongs to a target.
func (sp *spread) owns(rel *Relationship) bool {
	for _, e := range sp.targets {
		if (e == nil && rel.OwnerID == "") || (e != nil && rel.OwnerID == e.ID) {
			return true
		}
	}
	return false
}

// assign returns where rel goes (nil: the pool), or false if it already
// belongs to a target and stays.
func (sp *spread) assign(rel *Relationship) (*Employee, bool) {
	if sp.owns(rel) {
		return nil, false
	}
	if len(sp.targets) == 1 {
		return sp.targets[0], true
	}
	i, ok := sp.byContact[rel.ContactID]
	if !ok {
		switch sp.strategy {
		case LeastLoaded:
			i = 0
			for j := 1; j < len(sp.targets); j++ {
				if sp.load[j] < sp.load[i] || (sp.load[j] == sp.load[i] && sp.targets[j].ID < sp.targets[i].ID) {
					i = j
				}
			}
			sp.load[i] += max(sp.group[rel.ContactID], 1)
		default:
			i = sp.next
			sp.next = (sp.next + 1) % len(sp.targets)
		}
		sp.byContact[rel.ContactID] = i
	}
	return sp.targets[i], true
}

// mover applies the moves of one transfer to a batch and remembers each
// touched relationship's state before it.
type mover struct {
	b          *batch
	transferID string
	touched    []moveStart
	personas   map[string]*Persona
	// homes caches each target's checked default persona.
	homes map[string]*Persona
}

// moveStart is a relationship's new version and the version before (the
// committed one, which nothing modifies).
type moveStart struct {
	nr, before *Relationship
}

func newMover(b *batch, transferID string, n int) *mover {
	if len(b.rels) == 0 {
		b.rels = make(map[string]*change[Relationship], n)
	}
	return &mover{b: b, transferID: transferID, touched: make([]moveStart, 0, n),
		personas: map[string]*Persona{}, homes: map[string]*Persona{}}
}

// touch returns the batch's new version of rel, marking it changed by this
// transfer.
func (m *mover) touch(rel *Relationship) *Relationship {
	n, first := m.b.touchRel(rel)
	if n.LastTransferID != m.transferID {
		if first {
			m.touched = append(m.touched, moveStart{nr: n, before: rel})
		}
		n.OwnerVersion++
		n.LastTransferID = m.transferID
	}
	return n
}

func (m *mover) persona(id string) (*Persona, error) {
	if p, ok := m.personas[id]; ok {
		return p, nil
	}
	p, ok := m.b.persona(id)
	if !ok {
		return nil, fmt.Errorf("%w: persona %s", ErrNotFound, id)
	}
	m.personas[id] = p
	return p, nil
}

// home returns to's default persona, checked for use.
func (m *mover) home(to *Employee) (*Persona, error) {
	if p, ok := m.homes[to.ID]; ok {
		return p, nil
	}
	p, err := defaultPersona(to, m.persona)
	if err != nil {
		return nil, err
	}
	m.homes[to.ID] = p
	return p, nil
}

// move gives rel to (nil: the pool).
func (m *mover) move(rel *Relationship, to *Employee) error {
	nr := m.touch(rel)
	if to == nil {
		nr.OwnerID = ""
		return nil
	}
	p, err := m.persona(nr.PersonaID)
	if err != nil {
		return fmt.Errorf("relationship %s: %w", nr.ID, err)
	}
	if p.Kind != Personal || p.EmployeeID == to.ID {
		nr.OwnerID = to.ID
		return nil
	}
	home, err := m.home(to)
	if err != nil {
		return fmt.Errorf("re-homing personal relationships (e.g. %s on persona %s): %w", nr.ID, nr.PersonaID, err)
	}
	if other, ok := m.b.relationshipFor(nr.ContactID, home.ID); ok && other.ID != nr.ID {
		into := m.touch(other)
		into.FormerPersonaIDs = addFormer(into.PersonaID, into.FormerPersonaIDs,
			append([]string{nr.PersonaID}, nr.FormerPersonaIDs...))
		into.OwnerID = to.ID
		// The target reaches to's default persona, but may be on someone
		// else's personal persona (it reaches the default as a former
		// one): to cannot write as that, so it moves home too.
		ip, err := m.persona(into.PersonaID)
		if err != nil {
			return fmt.Errorf("relationship %s: %w", into.ID, err)
		}
		if ip.Kind == Personal && ip.EmployeeID != to.ID {
			into.FormerPersonaIDs = addFormer(home.ID, into.FormerPersonaIDs, []string{into.PersonaID})
			into.PersonaID = home.ID
		}
		nr.OwnerID = to.ID
		nr.MergedInto = into.ID
		return nil
	}
	nr.FormerPersonaIDs = addFormer(home.ID, nr.FormerPersonaIDs, []string{nr.PersonaID})
	nr.PersonaID = home.ID
	nr.OwnerID = to.ID
	return nil
}

// moves returns the Moves of everything touched, sorted by relationship
// ID.
func (m *mover) moves() []Move {
	// Relationships are touched in ID order, except merge targets: usually
	// there is nothing to sort.
	if !slices.IsSortedFunc(m.touched, byStartID) {
		slices.SortFunc(m.touched, byStartID)
	}
	out := make([]Move, len(m.touched))
	for i := range m.touched {
		st := &m.touched[i]
		nr, was := st.nr, st.before
		mv := &out[i]
		*mv = Move{
			RelationshipID:     nr.ID,
			ContactID:          nr.ContactID,
			FromOwner:          was.OwnerID,
			ToOwner:            nr.OwnerID,
			FromPersona:        was.PersonaID,
			ToPersona:          nr.PersonaID,
			FromFormerPersonas: was.FormerPersonaIDs,
			ToFormerPersonas:   nr.FormerPersonaIDs,
			PrevVersion:        was.Version,
			Version:            nr.Version,
			OwnerVersion:       nr.OwnerVersion,
			FromMergedInto:     was.MergedInto,
			MergedInto:         nr.MergedInto,
		}
		if nr.MergedInto != "" {
			if into, ok := m.b.rel(nr.MergedInto); ok {
				mv.ToPersona = into.PersonaID
			}
		}
	}
	return out
}

func byStartID(a, b moveStart) int { return strings.Compare(a.nr.ID, b.nr.ID) }

// defaultPersona returns to's default persona, checked for use.
func defaultPersona(to *Employee, persona func(string) (*Persona, error)) (*Persona, error) {
	if to.DefaultPersona == "" {
		return nil, fmt.Errorf("%w: employee %s has no default persona", ErrInvalid, to.ID)
	}
	p, err := persona(to.DefaultPersona)
	if err != nil {
		return nil, fmt.Errorf("%w: default persona %s of employee %s does not exist", ErrInvalid, to.DefaultPersona, to.ID)
	}
	if !p.WritableBy(to.ID) {
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
