// Package identity owns Kakehashi's state: employees, personas, contacts,
// relationships (the unit of ownership: a contact reaching an owner
// through a persona), the transfers that move them, admin credentials and
// the append-only audit log. It has four parts.
//
// # The single writer
//
// State is the only writer of everything here. Each mutation (its
// methods: UpsertEmployee, EnsureRelationship, Transfer, RevertTransfer,
// SetTags…) is planned against the committed state in a batch, validated,
// committed to the Store with its audit entries in one transaction, and
// only then made visible, atomically; mutations are serialised. A reader
// never sees a change that a crash could take back, nor half of one.
//
// # The durable store
//
// A Store (Store, SQLStore) is the system of record: State loads it in
// full at Open and afterwards only appends changesets to it. SQLStore
// keeps one SQLite database file (WAL, synchronous=FULL; OpenSQLite) or a
// PostgreSQL database (OpenPostgres; OpenStore chooses by URL), with the
// same code and statements on both (internal/sqldb). Each dialect's
// schema is its own numbered migrations, in migrations/sqlite and
// migrations/postgres, applied in order by internal/migrate and recorded
// in schema_migrations (see SQLiteSchemaVersion, PostgresSchemaVersion).
// Bulk relationship writes go to a log that a background folder applies
// to the relationships table (see SQLStore). MemoryStore is for tests and
// benchmarks.
//
// # The snapshot for the hot path
//
// Each commit publishes an immutable Snapshot, which readers take without
// a lock. Routing's lookups (an employee or persona by address, a contact
// by address, the relationship a contact reaches through a persona) read
// only plain maps over the employees and personas and arrays of hashed
// pages of contacts and relationships, with fingerprints (see view.go and
// schema.go): a decision takes a microsecond or two, where one go-memdb
// lookup takes 0.5–1 µs.
//
// # The memdb view for admin queries
//
// The same records and pages are indexed in go-memdb, whose read
// transaction each Snapshot also holds, committed in the same step as the
// page arrays. It serves what admins ask and transfers select: an owner's
// relationships (pages keyed by owner prefix: RelationshipsOwnedBy,
// OwnedCount, searches and transfers from an owner) and the sorted
// listings and counts of every table. Filters by tag, source, network or
// activity are applied to the candidates that the owner, contact or
// relationship IDs give, or else to every relationship (tens of
// milliseconds at a million).
//
// # Encodings
//
// Each encoding below is the cheapest one found for its use; where a
// simpler one would do, it is used. The figures were measured on the
// development machine (2 vCPU, shared with other work) in one session,
// the candidates side by side.
//
//   - In memory (Snapshot, memdb, batches): the Go structs of model.go;
//     their JSON form (struct tags) is what the admin API shows.
//   - Employees and personas in the database (SQLite or PostgreSQL):
//     JSON documents (encoding/json). They are few and change shape as
//     the product grows.
//   - Contacts and relationships in the database: one column per field
//     (times in Unix nanoseconds, lists as JSON arrays), so that the
//     tables can be queried and migrated in SQL. The statements that
//     write them are the same on both (SQL literals are quoted alike:
//     single quotes doubled, as PostgreSQL's standard_conforming_strings,
//     on by default, reads them).
//   - Writing them: multi-row INSERTs of SQL literals (insertLiteralRows;
//     text quoted, NUL refused). The driver prepares every statement it
//     executes, prepared or not, and binds parameters in time quadratic in
//     their number. Upserting 2,048 relationships (one step of folding the
//     log) took a median 33 ms with literals, 42 ms through json_each over
//     one JSON array parameter (49 ms with JSON objects for rows), 54 ms as
//     prepared 16-row statements: 27 to 64 % more for each of the 49 steps
//     that fold a 100,000-relationship transfer.
//   - Reading them: the text fields joined with NULs into one column per
//     row, built by SQL (concat_ws) and split in Go (splitFields), and
//     the integers every row sets (times, version) as columns of their
//     own, which spares SQLite rendering them as text in a buffer it
//     allocates (mostly zero integers ride in the text, empty when zero).
//     The driver locks and allocates per column: loading a million
//     relationships took a median 2.9 s (min 1.8 s) with everything in
//     one column and 4.4 s (min 3.2 s) as sixteen columns, and it is most
//     of a cold start. A table of 100,000 relationships or more, with
//     an empty relationship log, is read in two halves on two
//     connections, split at its middle ID (splitLoad), beside the
//     contacts: at a million on two cores that took the open from
//     2.5–2.75 s to 2.28–2.33 s. IDs and contact addresses are copied
//     into shared blocks (stringArena), and a relationship's ContactID
//     is its contact's own ID string. The records' arrays are marked for
//     transparent huge pages before they are written (package hugepage):
//     in a fresh process their first write was 70,000 page faults and
//     1.5 s of CPU at a million.
//     PostgreSQL is read with pgx itself, one column per field in
//     binary format, each row's bytes as pgx received them (RawValues,
//     see pgRead): concatenating the fields there (their lengths first,
//     as its text holds no NUL) cost the server twice as long as sending
//     the columns, and a cold start at a million took 4.9-6.5 s against
//     3.4-4.1 s now (same runs, load 3.5-4). A State opened on a million
//     relationships holds 564 B/rel of heap either way (SQLite: 566).
//   - The relationship log: binary chunks (relcodec.go). Encoding 100,000
//     relationships takes 9–18 ms and 64 bytes each; encoding/json took
//     99–189 ms and 149 bytes each, where the whole transfer takes about
//     0.5 s in memory.
//   - Audit details: JSON documents, written by encoding/json (a
//     transfer's moves in segments, see transferJSON: 45 ms for 100,000).
//     A transfer's details are read back for a revert by a decoder of
//     their own (decodeTransfer), held to encoding/json's results by a
//     fuzz test: 100,000 moves decode in a median 91 ms, against 444 ms
//     with encoding/json, where the whole revert takes about 0.6 s.
package identity
