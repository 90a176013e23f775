// Package identity owns Kakehashi's state: employees, personas, contacts,
// relationships (the unit of ownership) and the append-only audit log.
//
// A go-memdb database holds the live, indexed view that the routing hot path
// reads through lock-free snapshots; a durable Store is the system of record.
// There is one write path (State's mutation methods): each mutation is
// committed to the Store first and only then becomes visible in memdb,
// atomically, so readers never see state that a crash could take back.
package identity

import (
	"encoding/json"
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
}

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
	FormerPersonaIDs []string  `json:"former_persona_ids,omitempty"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
	// Version increases with every change; a transfer records the version it
	// moved so a revert can tell whether a later change touched it.
	Version uint64 `json:"version"`
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

// Move records one relationship moved by a transfer.
type Move struct {
	RelationshipID string `json:"relationship_id"`
	ContactID      string `json:"contact_id"`
	FromOwner      string `json:"from_owner,omitempty"`
	ToOwner        string `json:"to_owner,omitempty"`
	FromPersona    string `json:"from_persona"`
	ToPersona      string `json:"to_persona"`
	// Version is the relationship's version after the move.
	Version uint64 `json:"version"`
	// MergedInto is set when the moved relationship was merged into another
	// relationship of the same contact (see Relationship.MergedInto).
	MergedInto string `json:"merged_into,omitempty"`
}

// Transfer is the result of moving relationships from one owner to another.
type Transfer struct {
	ID     string    `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason"`
	From   string    `json:"from"`
	To     string    `json:"to,omitempty"` // empty: to the unassigned pool
	Moves  []Move    `json:"moves"`
}
