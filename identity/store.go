package identity

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
)

var (
	_ Store = (*MemoryStore)(nil)
	_ Store = (*SQLStore)(nil)
)

// Store is the durable system of record behind State: SQLStore on SQLite
// (the embedded default) or PostgreSQL (when several instances share
// state), or MemoryStore in tests. State is its only writer; it loads the
// whole dataset once at Open and afterwards only appends changesets.
type Store interface {
	// Load returns every stored record.
	Load(ctx context.Context) (*Dataset, error)
	// Commit stores c atomically and durably: when it returns nil, every
	// record and audit entry in c survives a crash; when it returns an error,
	// none of them was stored. Records are upserts, stored whole. Commit
	// assigns each audit entry its sequence number and writes it back into
	// c.Audit[i].Seq.
	Commit(ctx context.Context, c *Changeset) error
	// Audit returns audit entries matching q in sequence order (newest
	// first with q.Newest).
	Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error)
	// Close releases the store.
	Close() error
}

// Dataset is everything a Store holds except the audit log.
type Dataset struct {
	Employees     []Employee
	Personas      []Persona
	Contacts      []Contact
	Relationships []Relationship
}

// Changeset is one atomic write to a Store: records to upsert (stored whole)
// and audit entries to append. Relationships are by pointer, as a bulk
// transfer hands over 100,000 of them; the Store must neither modify nor
// keep them (State publishes the same records to readers).
type Changeset struct {
	Employees     []Employee
	Personas      []Persona
	Contacts      []Contact
	Relationships []*Relationship
	Audit         []AuditEntry
}

// Empty reports whether c holds nothing to write.
func (c *Changeset) Empty() bool {
	return len(c.Employees) == 0 && len(c.Personas) == 0 && len(c.Contacts) == 0 &&
		len(c.Relationships) == 0 && len(c.Audit) == 0
}

// AuditQuery selects audit entries. Zero fields do not filter.
type AuditQuery struct {
	// AfterSeq returns only entries with a sequence number above it; pass the
	// last Seq seen to page through the log.
	AfterSeq uint64 `json:"after,omitempty"`
	// Limit caps the number of entries; 0 means DefaultAuditLimit, and it is
	// capped at MaxAuditLimit.
	Limit int `json:"limit"`
	// Action matches AuditEntry.Action exactly.
	Action string `json:"action,omitempty"`
	// Subject matches AuditEntry.Subject exactly.
	Subject string `json:"subject,omitempty"`
	// Actor matches entries whose AuditEntry.Actor contains it (case
	// sensitive): "admin:alice" exactly, or "alice" as part of it.
	Actor string `json:"actor,omitempty"`
	// Since matches entries at or after it; Until those before it.
	Since time.Time `json:"since,omitzero"`
	Until time.Time `json:"until,omitzero"`
	// BeforeSeq, if not 0, returns only entries with a sequence number
	// below it; with Newest, pass the last Seq seen to page back through
	// the log.
	BeforeSeq uint64 `json:"before,omitempty"`
	// Newest returns the entries newest first (descending sequence
	// numbers): the first Limit matches below BeforeSeq. Otherwise they
	// come oldest first, from AfterSeq on.
	Newest bool `json:"newest,omitempty"`
}

// Audit query limits.
const (
	DefaultAuditLimit = 100
	MaxAuditLimit     = 10000
)

// ErrStoreClosed is returned by a Store that has been closed.
var ErrStoreClosed = errors.New("identity: store closed")

func (q AuditQuery) limit() int {
	switch {
	case q.Limit <= 0:
		return DefaultAuditLimit
	case q.Limit > MaxAuditLimit:
		return MaxAuditLimit
	}
	return q.Limit
}

func (q AuditQuery) match(e *AuditEntry) bool {
	return e.Seq > q.AfterSeq && (q.BeforeSeq == 0 || e.Seq < q.BeforeSeq) &&
		(q.Action == "" || e.Action == q.Action) &&
		(q.Subject == "" || e.Subject == q.Subject) &&
		(q.Actor == "" || strings.Contains(e.Actor, q.Actor)) &&
		(q.Since.IsZero() || !e.At.Before(q.Since)) &&
		(q.Until.IsZero() || e.At.Before(q.Until))
}

// MemoryStore is a Store that keeps everything in memory, for unit tests of
// pure logic and for benchmarks. It is not durable.
type MemoryStore struct {
	mu     sync.Mutex
	closed bool
	ds     Dataset
	// Positions of records in ds by ID, for upserts.
	emp, per, con, rel map[string]int
	audit              []AuditEntry
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{
		emp: map[string]int{},
		per: map[string]int{},
		con: map[string]int{},
		rel: map[string]int{},
	}
}

// Seed upserts every record of ds, as if committed, without audit entries.
// It is meant for setting up tests and benchmarks before Open.
func (m *MemoryStore) Seed(ds *Dataset) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rs := make([]*Relationship, len(ds.Relationships))
	for i := range rs {
		rs[i] = &ds.Relationships[i]
	}
	m.upsert(ds.Employees, ds.Personas, ds.Contacts, rs)
}

func (m *MemoryStore) upsert(es []Employee, ps []Persona, cs []Contact, rs []*Relationship) {
	for _, e := range es {
		m.ds.Employees = upsertAt(m.ds.Employees, m.emp, e.ID, cloneEmployee(e))
	}
	for _, p := range ps {
		m.ds.Personas = upsertAt(m.ds.Personas, m.per, p.ID, clonePersona(p))
	}
	for _, c := range cs {
		c.Tags = slices.Clone(c.Tags)
		m.ds.Contacts = upsertAt(m.ds.Contacts, m.con, c.ID, c)
	}
	for _, r := range rs {
		m.ds.Relationships = upsertAt(m.ds.Relationships, m.rel, r.ID, *cloneRelationship(r))
	}
}

func upsertAt[T any](s []T, pos map[string]int, id string, v T) []T {
	if i, ok := pos[id]; ok {
		s[i] = v
		return s
	}
	pos[id] = len(s)
	return append(s, v)
}

// Load returns a copy of everything stored.
func (m *MemoryStore) Load(ctx context.Context) (*Dataset, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrStoreClosed
	}
	ds := &Dataset{
		Employees:     make([]Employee, len(m.ds.Employees)),
		Personas:      make([]Persona, len(m.ds.Personas)),
		Contacts:      slices.Clone(m.ds.Contacts),
		Relationships: slices.Clone(m.ds.Relationships),
	}
	for i, e := range m.ds.Employees {
		ds.Employees[i] = cloneEmployee(e)
	}
	for i, p := range m.ds.Personas {
		ds.Personas[i] = clonePersona(p)
	}
	// Slices inside contacts and relationships are never mutated in place
	// (State copies before it changes a record), so sharing them is safe.
	return ds, nil
}

// Commit applies c.
func (m *MemoryStore) Commit(ctx context.Context, c *Changeset) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrStoreClosed
	}
	m.upsert(c.Employees, c.Personas, c.Contacts, c.Relationships)
	for i := range c.Audit {
		e := c.Audit[i]
		e.Seq = uint64(len(m.audit)) + 1
		e.Details = slices.Clone(e.Details)
		m.audit = append(m.audit, e)
		c.Audit[i].Seq = e.Seq
	}
	return nil
}

// Audit returns the entries matching q.
func (m *MemoryStore) Audit(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrStoreClosed
	}
	var out []AuditEntry
	add := func(e *AuditEntry) {
		if q.match(e) {
			c := *e
			c.Details = slices.Clone(e.Details)
			out = append(out, c)
		}
	}
	if q.Newest {
		for i := len(m.audit) - 1; i >= 0 && len(out) < q.limit(); i-- {
			add(&m.audit[i])
		}
		return out, nil
	}
	start := min(int(min(q.AfterSeq, uint64(len(m.audit)))), len(m.audit))
	for i := start; i < len(m.audit) && len(out) < q.limit(); i++ {
		add(&m.audit[i])
	}
	return out, nil
}

// Close marks the store closed; further calls fail with ErrStoreClosed.
// Closing twice is not an error.
func (m *MemoryStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
