package identity

import (
	"encoding/json"
	"slices"
	"time"
)

// Side says on which side of the gateway a network or address lives.
type Side string

// The two sides. Messages only ever cross sides.
const (
	Inside  Side = "inside"
	Outside Side = "outside"
)

// Address is an address on one network, e.g. {Network: "public-xmpp",
// Addr: "bob@ext.test"}. Addr is normalised (a bare, lower-case JID for XMPP).
type Address struct {
	Network string `json:"network"`
	Addr    string `json:"addr"`
}

// EmployeeStatus is an employee's lifecycle state.
type EmployeeStatus string

// Employee statuses.
const (
	Active   EmployeeStatus = "active"
	Departed EmployeeStatus = "departed"
)

// Employee is a person of the enterprise. Nothing of an Employee other than
// its personas' outward fields may ever reach the outside.
type Employee struct {
	ID          string         `json:"id"`
	Name        string         `json:"name"` // real name: inside only
	Department  string         `json:"department,omitempty"`
	InsideAddrs []Address      `json:"inside_addrs"` // first is where their messages are delivered
	Status      EmployeeStatus `json:"status"`
	// DefaultPersona is the persona used when the employee starts a new
	// relationship. Empty means the employee may not start new ones.
	DefaultPersona string `json:"default_persona,omitempty"`
	// SuccessorID, set on departure, receives new contacts that write to the
	// departed employee's personas.
	SuccessorID string `json:"successor_id,omitempty"`
}

// PersonaKind distinguishes personal personas from shared team personas.
type PersonaKind string

// Persona kinds.
const (
	Personal PersonaKind = "personal" // belongs to one employee
	Team     PersonaKind = "team"     // shared, e.g. "ACME Support"
)

// Persona is an outward identity: what the outside sees instead of the
// employee.
type Persona struct {
	ID          string      `json:"id"`
	DisplayName string      `json:"display_name"`
	Kind        PersonaKind `json:"kind"`
	// EmployeeID is the owning employee of a personal persona, or the default
	// owner of new relationships on a team persona (may be empty there).
	EmployeeID string `json:"employee_id,omitempty"`
	// Members may send as a team persona.
	Members []string `json:"members,omitempty"`
	// Addresses holds one outside address per outside network.
	Addresses []Address `json:"addresses"`
	// Assign makes a team persona a contact point: a new contact writing
	// to it is assigned to one of Members by this strategy (and stays
	// with them). Empty: new contacts go to EmployeeID.
	Assign AssignStrategy `json:"assign,omitempty"`
	// Welcome, when set, is sent once to every new contact who writes to
	// the persona first.
	Welcome string `json:"welcome,omitempty"`
	// Handover, when set, is the notice a contact gets when a transfer
	// (with notification) moves them onto this persona; "{persona}" is
	// replaced by DisplayName. Empty: a default text.
	Handover string `json:"handover,omitempty"`
}

// WritableBy reports whether the employee may write as p: its own
// employee for a personal persona, and also each member of a team one.
// This is invariant 1's rule; routing and transfers both use it.
func (p *Persona) WritableBy(employeeID string) bool {
	return p.EmployeeID == employeeID || p.Kind == Team && slices.Contains(p.Members, employeeID)
}

// AddressOn returns p's address on network: the first one, when it has
// several there.
func (p *Persona) AddressOn(network string) (string, bool) {
	for _, a := range p.Addresses {
		if a.Network == network {
			return a.Addr, true
		}
	}
	return "", false
}

// AssignStrategy says how a contact point assigns new contacts.
type AssignStrategy string

// Assignment strategies of contact points.
const (
	// AssignRoundRobin gives each new contact to the member who has the
	// fewest relationships on this persona (in turn, when they start
	// equal); ties go to the first in Members order.
	AssignRoundRobin AssignStrategy = "round-robin"
	// AssignLeastLoaded gives each new contact to the member who owns the
	// fewest relationships overall.
	AssignLeastLoaded AssignStrategy = "least-loaded"
)

// MaxPersonaText bounds a persona's Welcome and Handover texts.
const MaxPersonaText = 2000

// Contact is an outside party.
type Contact struct {
	ID          string    `json:"id"`
	Address     Address   `json:"address"`
	DisplayName string    `json:"display_name,omitempty"`
	Source      string    `json:"source,omitempty"` // how the contact came: "inbound", "outreach", a contact point…
	Tags        []string  `json:"tags,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
}

// Relationship is (contact, persona): the unit of ownership. OwnerID is the
// employee who currently receives the contact's messages; empty means the
// relationship sits in the unassigned pool and its messages go to the
// configured fallback.
type Relationship struct {
	ID        string `json:"id"`
	ContactID string `json:"contact_id"`
	PersonaID string `json:"persona_id"` // persona the owner writes as
	OwnerID   string `json:"owner_id,omitempty"`
	// FormerPersonaIDs are personas the relationship was re-homed from; the
	// contact writing to any of them still reaches this relationship's owner.
	FormerPersonaIDs []string `json:"former_persona_ids,omitempty"`
	// Tags label the relationship for finding and moving it (see SetTags):
	// sorted, case-insensitively unique, spelled as first given.
	Tags []string `json:"tags,omitempty"`
	// Remark is a free-text note about the relationship (see SetRemark).
	Remark string `json:"remark,omitempty"`
	// Gone, when set, says why the contact is out of reach on this
	// relationship (they removed or blocked the persona, their address
	// bounces); GoneAt is when that was noticed (see SetGone).
	Gone      string    `json:"gone,omitempty"`
	GoneAt    time.Time `json:"gone_at,omitzero"`
	CreatedAt time.Time `json:"created_at"`
	// UpdatedAt is when Version last changed.
	UpdatedAt time.Time `json:"updated_at"`
	// LastActivity is when the gateway last reported traffic on the
	// relationship (see TouchRelationships); zero if it never did. It is
	// not an admin change: it moves neither Version nor UpdatedAt.
	LastActivity time.Time `json:"last_activity,omitzero"`
	// Version increases with every audited change (ownership, tags,
	// remark).
	Version uint64 `json:"version"`
	// OwnerVersion increases with every change of who owns the
	// relationship or how it routes (OwnerID, PersonaID, FormerPersonaIDs,
	// MergedInto), which only transfers make. A transfer records it in
	// each Move, so a revert can tell whether a later transfer moved the
	// relationship again, while tagging it does not stand in the way.
	// Zero for relationships stored before it existed and not moved since.
	OwnerVersion uint64 `json:"owner_version,omitempty"`
	// LastTransferID names the transfer that last changed OwnerVersion
	// ("" if none since the relationship was created).
	LastTransferID string `json:"last_transfer_id,omitempty"`
	// MergedInto, when set, names the relationship this one was merged into
	// by a transfer (the contact already had a relationship reachable via the
	// persona this one was re-homed onto). A merged relationship is kept for
	// history only: it routes nothing and is listed under no owner (OwnerID
	// keeps the employee it was handed to); its persona and former personas
	// were added to the target's FormerPersonaIDs.
	MergedInto string `json:"merged_into,omitempty"`
}

// AuditEntry is one line of the append-only audit log.
type AuditEntry struct {
	Seq    uint64    `json:"seq"` // assigned by the store, strictly increasing
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"` // e.g. "employee.upsert", "contacts.transfer", "employee.depart"
	Reason string    `json:"reason,omitempty"`
	// Subject names what the action was about (an employee ID, a transfer ID…).
	Subject string `json:"subject,omitempty"`
	// Details is a JSON document with what changed (e.g. each relationship moved).
	Details json.RawMessage `json:"details,omitempty"`
}

// Move records one relationship changed by a transfer: its state before
// and after. Relationships merged into by a transfer are moves too.
type Move struct {
	RelationshipID string `json:"relationship_id"`
	ContactID      string `json:"contact_id"`
	FromOwner      string `json:"from_owner,omitempty"`
	ToOwner        string `json:"to_owner,omitempty"`
	FromPersona    string `json:"from_persona"`
	// ToPersona is the persona the relationship is on afterwards or, when
	// it was merged, the persona of the relationship it was merged into.
	ToPersona string `json:"to_persona"`
	// FromFormerPersonas and ToFormerPersonas are the relationship's
	// FormerPersonaIDs before and after; a revert restores the former.
	FromFormerPersonas []string `json:"from_former_personas,omitempty"`
	ToFormerPersonas   []string `json:"to_former_personas,omitempty"`
	// PrevVersion and Version are the relationship's Version before and
	// after the move.
	PrevVersion uint64 `json:"prev_version,omitempty"`
	Version     uint64 `json:"version"`
	// OwnerVersion is the relationship's OwnerVersion after the move: if
	// it is still the same, no later transfer has touched the relationship.
	// Zero in transfers recorded before revert existed.
	OwnerVersion uint64 `json:"owner_version,omitempty"`
	// FromMergedInto and MergedInto are the relationship's MergedInto
	// before and after: MergedInto is set when the moved relationship was
	// merged into another relationship of the same contact (see
	// Relationship.MergedInto); FromMergedInto only in a revert that
	// unmerged it.
	FromMergedInto string `json:"from_merged_into,omitempty"`
	MergedInto     string `json:"merged_into,omitempty"`
}

// SpreadStrategy says how a transfer to several employees shares the
// relationships out.
type SpreadStrategy string

// Spread strategies. Either way, all the relationships of one contact that
// a transfer moves go to the same employee, and the relationships are
// taken in ID order, so the outcome is deterministic.
const (
	// RoundRobin hands the contacts to the targets in turn, in the order
	// the targets are listed.
	RoundRobin SpreadStrategy = "round-robin"
	// LeastLoaded hands each contact to the target owning the fewest
	// relationships at that point (counting those it received so far in
	// the transfer: all the contact's moving relationships count as soon
	// as the contact is handed over); ties go to the target with the
	// smallest ID.
	LeastLoaded SpreadStrategy = "least-loaded"
)

// RelationshipFilter selects relationships for a transfer or a search. Set
// fields combine with AND; zero fields do not filter. Merged relationships
// (history only) never match.
type RelationshipFilter struct {
	// Unassigned matches only relationships in the unassigned pool.
	Unassigned bool `json:"unassigned,omitempty"`
	// PersonaID matches the relationship's current persona (not former
	// ones).
	PersonaID string `json:"persona_id,omitempty"`
	// Tag matches relationships carrying the tag, ignoring case.
	Tag string `json:"tag,omitempty"`
	// Source matches the contact's Source exactly.
	Source string `json:"source,omitempty"`
	// Network matches the network of the contact's address.
	Network string `json:"network,omitempty"`
	// ContactIDs matches relationships of these contacts.
	ContactIDs []string `json:"contact_ids,omitempty"`
	// RelationshipIDs matches these relationships.
	RelationshipIDs []string `json:"relationship_ids,omitempty"`
}

// TransferCounts sums up a transfer.
type TransferCounts struct {
	// Matched is how many relationships the transfer selected.
	Matched int `json:"matched"`
	// Unchanged is how many of them already belonged to the target (or to
	// one of the targets of a spread) and stayed where they were.
	Unchanged int `json:"unchanged,omitempty"`
	// Moved is how many relationships changed: len(Moves). Relationships
	// merged into are counted, so it may exceed Matched.
	Moved int `json:"moved"`
	// Rehomed is how many moved onto another persona, Merged how many were
	// merged into another relationship.
	Rehomed int `json:"rehomed,omitempty"`
	Merged  int `json:"merged,omitempty"`
	// ByTarget is, for a spread, how many selected relationships each
	// target received.
	ByTarget map[string]int `json:"by_target,omitempty"`
}

// Transfer is the record of moving relationships from their owners to
// others: returned by Transfer, Depart and RevertTransfer, and stored as
// the details of its "contacts.transfer" audit entry.
type Transfer struct {
	ID     string    `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason"`
	// From is the owner whose relationships were selected ("" if the
	// transfer did not select by owner).
	From string `json:"from"`
	// To is the employee who received them. Empty To with no Targets
	// means the unassigned pool, except in a revert (RevertOf set), where
	// each move says where its relationship went.
	To string `json:"to,omitempty"`
	// Filter is the rest of the selection.
	Filter RelationshipFilter `json:"filter,omitzero"`
	// Targets and Strategy describe a spread over several employees.
	Targets  []string       `json:"targets,omitempty"`
	Strategy SpreadStrategy `json:"strategy,omitempty"`
	// RevertOf names the transfer this one reverted.
	RevertOf string         `json:"revert_of,omitempty"`
	Counts   TransferCounts `json:"counts"`
	// Moves lists every relationship changed, sorted by relationship ID.
	Moves []Move `json:"moves"`
}
