package identity

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// generatorVersion names the output of GenerateDataset in cached benchmark
// databases (CachedDataset, and PostgreSQL templates in the benchmarks);
// bump it when GenerateDataset changes.
const generatorVersion = 1

// GenerateDataset returns a deterministic synthetic dataset for tests and
// benchmarks: employees employees (at least one), each with a personal
// persona that is also their default; one team persona per twenty employees
// (at least one), shared by its members; n contacts, alternately on the
// networks "public-xmpp" and "mail"; and one relationship per contact,
// owned by an employee chosen at random, four in five on the owner's
// personal persona and the rest on the owner's team persona.
//
// Contact and relationship IDs have the shape of generated ones ("c-" or
// "r-" and 12 base32 characters, in no useful order), so index and load
// costs measured with them are those of real data.
func GenerateDataset(n, employees int) *Dataset {
	employees = max(employees, 1)
	teams := max(employees/20, 1)
	rng := rand.New(rand.NewPCG(uint64(n), uint64(employees)))
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	ds := &Dataset{
		Employees:     make([]Employee, employees),
		Personas:      make([]Persona, 0, employees+teams),
		Contacts:      make([]Contact, n),
		Relationships: make([]Relationship, n),
	}
	for t := range teams {
		ds.Personas = append(ds.Personas, Persona{
			ID:          fmt.Sprintf("p-team-%02d", t),
			DisplayName: fmt.Sprintf("ACME Team %d", t),
			Kind:        Team,
			EmployeeID:  fmt.Sprintf("emp-%04d", t),
			Addresses: []Address{
				{Network: "public-xmpp", Addr: fmt.Sprintf("team%02d@contact.acme.example", t)},
				{Network: "mail", Addr: fmt.Sprintf("team%02d@acme.example", t)},
			},
		})
	}
	for i := range employees {
		id := fmt.Sprintf("emp-%04d", i)
		ds.Employees[i] = Employee{
			ID:             id,
			Name:           fmt.Sprintf("Employee %d", i),
			Department:     fmt.Sprintf("Sales %d", i%teams),
			InsideAddrs:    []Address{{Network: "corp", Addr: fmt.Sprintf("emp%04d@corp.example", i)}},
			Status:         Active,
			DefaultPersona: "p-" + id,
		}
		ds.Personas = append(ds.Personas, Persona{
			ID:          "p-" + id,
			DisplayName: fmt.Sprintf("ACME Sales · Employee %d", i),
			Kind:        Personal,
			EmployeeID:  id,
			Addresses: []Address{
				{Network: "public-xmpp", Addr: fmt.Sprintf("emp%04d.sales@contact.acme.example", i)},
				{Network: "mail", Addr: fmt.Sprintf("emp%04d@acme.example", i)},
			},
		})
		team := &ds.Personas[i%teams]
		team.Members = append(team.Members, id)
	}
	networks := [...]string{"public-xmpp", "mail"}
	const source = "inbound"
	for i := range n {
		at := base.Add(time.Duration(i) * time.Second)
		owner := rng.IntN(employees)
		c := &ds.Contacts[i]
		*c = Contact{
			ID:          scrambledID("c", uint64(i), 0x5bd1e995),
			Address:     Address{Network: networks[i%2], Addr: fmt.Sprintf("customer%07d@ext%02d.example", i, i%97)},
			DisplayName: fmt.Sprintf("Customer %d", i),
			Source:      source,
			CreatedAt:   at,
		}
		persona := ds.Employees[owner].DefaultPersona
		if rng.IntN(5) == 0 {
			persona = ds.Personas[owner%teams].ID
		}
		ds.Relationships[i] = Relationship{
			ID:        scrambledID("r", uint64(i), 0x27d4eb2f),
			ContactID: c.ID,
			PersonaID: persona,
			OwnerID:   ds.Employees[owner].ID,
			CreatedAt: at,
			UpdatedAt: at,
			Version:   1,
		}
	}
	return ds
}

// scrambledID maps i one-to-one onto an ID that looks random: multiplying
// by an odd constant is a bijection modulo 2^60, as is the xor.
func scrambledID(prefix string, i, salt uint64) string {
	const mask = 1<<60 - 1
	x := ((i+1)*0x9e3779b97f4a7c15 ^ salt) & mask
	var b [idRandomChars]byte
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	for k := idRandomChars - 1; k >= 0; k-- {
		b[k] = alphabet[x&31]
		x >>= 5
	}
	return prefix + "-" + string(b[:])
}

// WriteDataset commits ds to st (none of its IDs stored yet) the way a
// large dataset goes in fastest: rows sorted by ID (it sorts ds's contacts
// and relationships in place), in commits of 50,000, then the relationship
// log folded, so that st is as settled as a long-running installation's
// store.
func WriteDataset(ctx context.Context, st *SQLStore, ds *Dataset) error {
	// Each commit takes the contacts of its relationships: one each, as
	// GenerateDataset makes them.
	if len(ds.Contacts) != len(ds.Relationships) {
		return errors.New("identity: write dataset: contacts and relationships differ in number")
	}
	slices.SortFunc(ds.Contacts, func(x, y Contact) int { return strings.Compare(x.ID, y.ID) })
	slices.SortFunc(ds.Relationships, func(x, y Relationship) int { return strings.Compare(x.ID, y.ID) })
	if err := st.Commit(ctx, &Changeset{Employees: ds.Employees, Personas: ds.Personas}); err != nil {
		return fmt.Errorf("identity: write dataset: %w", err)
	}
	const batch = 50_000
	n := len(ds.Relationships)
	rels := make([]*Relationship, 0, min(n, batch))
	for i := 0; i < n; i += batch {
		j := min(i+batch, n)
		rels = rels[:0]
		for k := i; k < j; k++ {
			rels = append(rels, &ds.Relationships[k])
		}
		if err := st.Commit(ctx, &Changeset{Contacts: ds.Contacts[i:j], Relationships: rels}); err != nil {
			return fmt.Errorf("identity: write dataset: %w", err)
		}
	}
	if err := st.Flush(ctx); err != nil {
		return fmt.Errorf("identity: write dataset: %w", err)
	}
	return nil
}

// CachedDataset returns the path of a SQLite store in dir holding
// GenerateDataset(n, employees), written by WriteDataset the first time
// it is asked for and kept for later calls and processes. The file's name
// carries SQLiteSchemaVersion and the generator's version, so a change to
// either builds a new one. Callers only read it: a caller that writes
// copies it first.
func CachedDataset(ctx context.Context, dir string, n, employees int) (string, error) {
	path := filepath.Join(dir, fmt.Sprintf("kakehashi-identity-bench-s%d-g%d-%d-%d.db",
		SQLiteSchemaVersion, generatorVersion, n, employees))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	// Each builder writes its own file and renames it into place, so two
	// processes building at once (packages' benchmarks run in parallel)
	// neither collide nor leave a half-written file under the name.
	tmp := fmt.Sprintf("%s.%d.building", path, os.Getpid())
	removeSQLite(tmp)
	st, err := OpenSQLite(ctx, tmp)
	if err != nil {
		removeSQLite(tmp)
		return "", fmt.Errorf("identity: cached dataset: %w", err)
	}
	err = WriteDataset(ctx, st, GenerateDataset(n, employees))
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		removeSQLite(tmp)
		return "", fmt.Errorf("identity: cached dataset: %w", err)
	}
	return path, nil
}

// removeSQLite removes a SQLite database file and its WAL and shared
// memory files.
func removeSQLite(path string) {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
}
