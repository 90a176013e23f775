package identity

import (
	"fmt"
	"math/rand/v2"
	"time"
)

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
