// Package adminapi is the admin HTTP API of a running gateway as its
// clients see it: the JSON body of every request and answer, and a typed
// Client. `kakehashi serve` serves the API; the other kakehashi
// subcommands are its clients.
//
// Where the server answers with identity's own types (employees,
// personas, relationships, transfers, audit entries, admin credentials)
// this package uses them as they are; everything else the API reads or
// writes is defined here, with the JSON names the server uses.
package adminapi

import (
	"time"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/outreach"
)

// ActionContactsNotify is the audit action recording that a transfer's
// contacts were sent handover notices; its subject is the transfer, so a
// revert can tell whether the contacts were told.
const ActionContactsNotify = "contacts.notify"

// ErrorBody is the body of every answer that is not a success: the
// server's own account of what was wrong.
type ErrorBody struct {
	Error string `json:"error"`
}

// Health is the answer to GET /healthz (200 when Status is "ok", 503 when
// it is "degraded").
type Health = gateway.Health

// EmployeeRequest is the body of POST /v1/employees, which creates or
// updates one employee. The answer is the employee as stored.
type EmployeeRequest struct {
	Employee identity.Employee `json:"employee"`
	Reason   string            `json:"reason"`
}

// DepartRequest is the body of POST /v1/employees/{id}/depart. The answer
// is the transfer that moved the employee's relationships.
type DepartRequest struct {
	// Successor takes over the employee's relationships, and new contacts
	// who write to the employee's personas. Empty with no Team: the
	// unassigned pool.
	Successor string `json:"successor,omitempty"`
	// Team spreads the employee's relationships over these employees (by
	// Strategy) instead of handing them to one successor.
	Team     []string `json:"team,omitempty"`
	Strategy string   `json:"strategy,omitempty"`
	Reason   string   `json:"reason"`
	// Preview asks what the departure would move, without departing or
	// moving anything (see TransferResult.Preview).
	Preview bool `json:"preview,omitempty"`
}

// ReasonRequest is the body of calls that only need a reason for the
// audit log (POST /v1/employees/{id}/reactivate, POST
// /v1/admins/{name}/revoke).
type ReasonRequest struct {
	Reason string `json:"reason"`
}

// PersonaRequest is the body of POST /v1/personas, which creates or
// updates one persona. The answer is the persona as stored.
type PersonaRequest struct {
	Persona identity.Persona `json:"persona"`
	Reason  string           `json:"reason"`
}

// ContactView is one relationship as the contacts listing (GET
// /v1/contacts) shows it: the contact and their relationship with one
// persona.
type ContactView struct {
	Contact      identity.Contact      `json:"contact"`
	Relationship identity.Relationship `json:"relationship"`
}

// ContactQuery selects relationships for GET /v1/contacts; the fields set
// are combined with AND, and zero fields select nothing out.
type ContactQuery struct {
	// Owner selects the relationships of one employee; Unassigned those in
	// the unassigned pool. They exclude each other.
	Owner      string
	Unassigned bool
	Persona    string
	Tag        string
	Source     string
	Network    string
	// ActiveAfter and ActiveBefore bound the relationships' last traffic.
	ActiveAfter, ActiveBefore time.Time
	// IdleFor selects relationships without traffic for this long, and
	// ActiveWithin those with traffic within this long, counted back from
	// the gateway's clock (not the caller's). IdleFor excludes
	// ActiveBefore, ActiveWithin excludes ActiveAfter.
	IdleFor, ActiveWithin time.Duration
	// Relationships, if not empty, selects only these (by ID; at most
	// MaxContactIDs).
	Relationships []string
	// Order is OrderByID (also "") or OrderLastActivity.
	Order string
	// Offset skips that many matches; Limit caps the answer (0: the
	// server's maximum, identity.MaxSearchLimit).
	Offset, Limit int
}

// Orders of GET /v1/contacts (ContactQuery.Order).
const (
	// OrderByID orders by relationship ID: stable, so pages do not
	// overlap while nothing changes. The default.
	OrderByID = "id"
	// OrderLastActivity puts the most recently active first (never
	// active last), ties by relationship ID: with limit 1, an owner's
	// latest activity.
	OrderLastActivity = "last_activity"
)

// ContactPage is the answer to GET /v1/contacts: one page of matches and
// how many there are in all (the X-Total-Count header).
type ContactPage struct {
	Contacts []ContactView
	Total    int
}

// TransferRequest is the body of POST /v1/transfers: which relationships
// (From and the filter fields, combined with AND) go where (To, the pool
// when empty, or spread over Team by Strategy).
type TransferRequest struct {
	From          string   `json:"from,omitempty"`
	To            string   `json:"to,omitempty"`
	Team          []string `json:"team,omitempty"`
	Strategy      string   `json:"strategy,omitempty"`
	Persona       string   `json:"persona,omitempty"`
	Tag           string   `json:"tag,omitempty"`
	Source        string   `json:"source,omitempty"`
	Network       string   `json:"network,omitempty"`
	Unassigned    bool     `json:"unassigned,omitempty"`
	Contacts      []string `json:"contacts,omitempty"`
	Relationships []string `json:"relationships,omitempty"`
	// Notify sends each moved contact a handover notice from their new
	// persona (see identity.Persona.Handover).
	Notify bool   `json:"notify,omitempty"`
	Reason string `json:"reason"`
	// Preview asks what the transfer would move, without moving,
	// notifying or auditing anything (see TransferResult.Preview).
	Preview bool `json:"preview,omitempty"`
}

// TransferResult is the answer to POST /v1/transfers and POST
// /v1/employees/{id}/depart: the transfer and how many handover notices
// it queued; or, for a request with preview, the transfer that would be
// made (without an ID: nothing is stored) and Preview.
type TransferResult struct {
	*identity.Transfer
	Notices int `json:"notices,omitempty"`
	// Preview is set, and only set, for a request with preview.
	Preview *Preview `json:"preview,omitempty"`
}

// Preview sums up what a transfer or a departure would do, planned
// exactly as the real one (the same selection and spread) against the
// state at the time of asking: nothing changes, nothing is audited.
type Preview struct {
	// Count is how many of the selected relationships would change
	// owner (those a target owns already stay). The transfer's Moves list
	// every relationship that would change, merge targets too.
	Count int `json:"count"`
	// Targets are the receiving employees (To "" is the unassigned pool)
	// and how many relationships each would receive, by To.
	Targets []PreviewTarget `json:"targets"`
	// Notify says whether the moved contacts would be sent handover
	// notices (TransferRequest.Notify; a departure sends none).
	Notify bool `json:"notify"`
}

// PreviewTarget is one receiver of a Preview.
type PreviewTarget struct {
	// To is the employee's ID; "" the unassigned pool.
	To    string `json:"to"`
	Count int    `json:"count"`
}

// RevertRequest is the body of POST /v1/transfers/{id}/revert.
type RevertRequest struct {
	Reason string `json:"reason"`
	// Notify tells the contacts moved back who looks after them now. Nil:
	// yes if the transfer told them (TransferRequest.Notify), as they
	// would otherwise still believe the transfer's owner looks after them.
	Notify *bool `json:"notify,omitempty"`
}

// RevertResult is the answer to POST /v1/transfers/{id}/revert: the
// revert (a transfer whose RevertOf names the one undone) and what its
// contacts were told.
type RevertResult struct {
	*identity.Transfer
	// NotifiedAtTransfer is how many handover notices the reverted
	// transfer sent (0: it sent none).
	NotifiedAtTransfer int `json:"notified_at_transfer"`
	// ToldAtTransfer says whether the reverted transfer notified.
	ToldAtTransfer bool `json:"told_at_transfer"`
	// Notified says whether the revert sent notices, and Notices how many.
	Notified bool `json:"notified"`
	Notices  int  `json:"notices"`
}

// TransferKind is what made a transfer (TransferSummary.Kind).
type TransferKind string

// Transfer kinds.
const (
	KindTransfer TransferKind = "transfer" // POST /v1/transfers (or a departure's spread over a team)
	KindDepart   TransferKind = "depart"   // an employee's departure
	KindRevert   TransferKind = "revert"   // the revert of another transfer
)

// TransferSummary is one transfer of GET /v1/transfers: the transfer
// without its moves (GET /v1/transfers/{id} has them), its kind, and
// what became of it.
type TransferSummary struct {
	// Seq is the sequence number of the transfer's audit entry: the last
	// of a page, as TransferListQuery.Before, gives the next page.
	Seq      uint64                      `json:"seq"`
	Kind     TransferKind                `json:"kind"`
	ID       string                      `json:"id"`
	At       time.Time                   `json:"at"`
	Actor    string                      `json:"actor"`
	Reason   string                      `json:"reason"`
	From     string                      `json:"from"`
	To       string                      `json:"to,omitempty"`
	Filter   identity.RelationshipFilter `json:"filter,omitzero"`
	Targets  []string                    `json:"targets,omitempty"`
	Strategy identity.SpreadStrategy     `json:"strategy,omitempty"`
	RevertOf string                      `json:"revert_of,omitempty"`
	Counts   identity.TransferCounts     `json:"counts"`
	TransferOutcome
}

// TransferOutcome is what became of a transfer.
type TransferOutcome struct {
	// Reverted says whether a revert undid it, and RevertedBy names that
	// revert.
	Reverted   bool   `json:"reverted"`
	RevertedBy string `json:"reverted_by,omitempty"`
	// Notified says whether its contacts were sent handover notices, and
	// Notices how many: a revert notifies by default if it did
	// (RevertRequest.Notify).
	Notified bool `json:"notified"`
	Notices  int  `json:"notices"`
}

// TransferView is the answer to GET /v1/transfers/{id}: the transfer,
// every move, and what became of it.
type TransferView struct {
	*identity.Transfer
	TransferOutcome
}

// TransferListQuery selects transfers for GET /v1/transfers, newest
// first; the fields set are combined with AND.
type TransferListQuery struct {
	// Before returns only transfers recorded before this sequence number
	// (TransferSummary.Seq; 0: the newest).
	Before uint64
	// Limit caps the answer (0: DefaultHistoryLimit; at most
	// MaxHistoryLimit).
	Limit int
	// Employee selects transfers from or to this employee; Actor those
	// whose actor contains it; Kind those of this kind.
	Employee, Actor string
	Kind            TransferKind
	// Since and Until bound the time of the transfer.
	Since, Until time.Time
}

// BroadcastSummary is one team broadcast of GET /v1/broadcasts, as it was
// prepared (GET /v1/broadcasts/{id} has its outcome).
type BroadcastSummary struct {
	// Seq is the sequence number of its audit entry: the last of a page,
	// as BroadcastListQuery.Before, gives the next page.
	Seq    uint64    `json:"seq"`
	ID     string    `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason"`
	// Team are the members asked to confirm it.
	Team []string `json:"team"`
	Tag  string   `json:"tag,omitempty"`
}

// BroadcastListQuery selects broadcasts for GET /v1/broadcasts, newest
// first.
type BroadcastListQuery struct {
	Before       uint64
	Limit        int
	Since, Until time.Time
}

// TagsRequest is the body of POST /v1/relationships/{id}/tags: Set
// replaces all tags when not nil; Add and Remove edit them. The answer is
// the relationship.
type TagsRequest struct {
	Set    []string `json:"set,omitempty"`
	Add    []string `json:"add,omitempty"`
	Remove []string `json:"remove,omitempty"`
	Reason string   `json:"reason,omitempty"`
}

// RemarkRequest is the body of POST /v1/relationships/{id}/remark; an
// empty Remark clears it. The answer is the relationship.
type RemarkRequest struct {
	Remark string `json:"remark"`
	Reason string `json:"reason,omitempty"`
}

// Directory is the body of POST /v1/directory: a batch of employees and
// personas to create or update. The directory files `kakehashi directory
// import` reads have the same fields.
type Directory struct {
	Employees []identity.Employee `json:"employees"`
	Personas  []identity.Persona  `json:"personas"`
	// Reason is recorded in the audit log; empty: "directory import".
	Reason string `json:"reason,omitempty"`
}

// DirectoryResult is the answer to POST /v1/directory: how many of each
// were created or updated.
type DirectoryResult struct {
	Employees int `json:"employees"`
	Personas  int `json:"personas"`
}

// BroadcastRequest is the body of POST /v1/broadcasts: a team broadcast,
// which each member of Team confirms (or declines) before their copy goes
// to their own contacts with Tag. Reason is required.
type BroadcastRequest struct {
	Reason  string   `json:"reason,omitempty"`
	Team    []string `json:"team,omitempty"`
	Tag     string   `json:"tag,omitempty"`
	Subject string   `json:"subject,omitempty"`
	Body    string   `json:"body"`
}

// Broadcast states (see Broadcast.State).
const (
	BroadcastAwaiting = outreach.BroadcastAwaiting
	BroadcastSent     = outreach.BroadcastSent
	BroadcastDeclined = outreach.BroadcastDeclined
	BroadcastPrepared = outreach.BroadcastPrepared
)

// Broadcast is a broadcast and its outcome so far: the answer to POST
// /v1/broadcasts and GET /v1/broadcasts/{id}.
type Broadcast = outreach.Broadcast

// AuditQuery selects audit entries for GET /v1/audit.
type AuditQuery struct {
	// After returns only entries with a greater sequence number (0: from
	// the start).
	After uint64
	// Limit caps the answer (0: the server's default,
	// identity.DefaultAuditLimit; at most identity.MaxAuditLimit).
	Limit int
	// Before returns only entries with a smaller sequence number (0: to
	// the end); Newest returns the entries newest first, the last Limit
	// below Before. Pass the last Seq seen as Before to page back.
	Before uint64
	Newest bool
	// Action and Subject, when set, select entries of that action or
	// about that subject.
	Action, Subject string
	// Actor, when set, selects entries whose actor contains it (case
	// sensitive).
	Actor string
	// Since and Until, when set, select entries at or after Since and
	// before Until.
	Since, Until time.Time
}

// QueueStats is the answer to GET /v1/queue: how many messages the durable
// queue holds in each state ("pending", "sent", "failed"; a state without
// messages is absent).
type QueueStats map[string]int64

// AdminRequest is the body of POST /v1/admins, which creates a named
// admin credential.
type AdminRequest struct {
	Name string `json:"name"`
	// Role is identity.RoleAdmin (reads and changes everything),
	// identity.RoleAuditor (reads only) or identity.RoleLead (only what
	// concerns its Team); required.
	Role identity.AdminRole `json:"role"`
	// Team is the team of a lead (an employee department): required for
	// role lead, refused for the others.
	Team string `json:"team,omitempty"`
	// Password, if set, is the admin's console password (see
	// PasswordRequest); only its hash is stored.
	Password string `json:"password,omitempty"`
	Reason   string `json:"reason"`
}

// PasswordRequest is the body of POST /v1/admins/{name}/password, which
// sets a named admin's console password: at least
// identity.MinPasswordLen characters, at most identity.MaxPasswordBytes
// bytes, not all white space. The answer is the admin.
type PasswordRequest struct {
	Password string `json:"password"`
	Reason   string `json:"reason"`
}

// NewAdmin is the answer to POST /v1/admins: the credential and its
// token, which is shown this once (only its hash is kept).
type NewAdmin struct {
	Admin identity.Admin `json:"admin"`
	Token string         `json:"token"`
}
