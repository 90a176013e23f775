package adminapi

import (
	"slices"
	"strings"

	"github.com/kakehashi/kakehashi/identity"
)

// A lead's scope: the members of their team, the employees whose
// Department is the lead's Team (departed ones too: their relationships
// are still the team's to hand on). Each teamRead and teamWrite handler
// narrows or refuses with these; the route table only says that a lead
// may call it.

// team is a lead's team as of one snapshot.
type team struct {
	c       Caller
	snap    *identity.Snapshot
	members map[string]bool
}

// teamOf returns c's team as the state is now.
func (a *Server) teamOf(c Caller) *team {
	t := &team{c: c, snap: a.state.Snapshot(), members: map[string]bool{}}
	for _, e := range t.snap.Employees() {
		if e.Department == c.Team {
			t.members[e.ID] = true
		}
	}
	return t
}

// has reports whether employee id is a member.
func (t *team) has(id string) bool { return id != "" && t.members[id] }

// ids returns the members, sorted.
func (t *team) ids() []string {
	out := make([]string, 0, len(t.members))
	for id := range t.members {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// active returns the active members, sorted.
func (t *team) active() []string {
	var out []string
	for _, id := range t.ids() {
		if e, ok := t.snap.Employee(id); ok && e.Status == identity.Active {
			out = append(out, id)
		}
	}
	return out
}

// employee refuses employee id (what for says the role it plays) unless
// it is a member. An employee that does not exist is let through, for the
// handler to answer 404 as it does anyone.
func (t *team) employee(id, what string) error {
	if _, ok := t.snap.Employee(id); !ok || t.has(id) {
		return nil
	}
	return outsideTeam(t.c, "%s %s is not a member of team %s", what, id, t.c.Team)
}

// employees refuses any of ids that is not a member.
func (t *team) employees(ids []string, what string) error {
	for _, id := range ids {
		if err := t.employee(id, what); err != nil {
			return err
		}
	}
	return nil
}

// relationship refuses relationship id unless a member owns it. One that
// does not exist is let through (404 from the handler).
func (t *team) relationship(id string) error {
	r, ok := t.snap.Relationship(id)
	switch {
	case !ok:
		return nil
	case r.OwnerID == "":
		return outsideTeam(t.c, "relationship %s is in the unassigned pool, not owned by a member of team %s", id, t.c.Team)
	case !t.has(r.OwnerID):
		return outsideTeam(t.c, "relationship %s is owned by %s, who is not a member of team %s", id, r.OwnerID, t.c.Team)
	}
	return nil
}

// moves refuses a transfer (planned or done) unless each of its moves is
// from a member to a member: what says what it is ("the transfer", "the
// selection").
func (t *team) moves(tr *identity.Transfer, what string) error {
	var outside []string
	for _, m := range tr.Moves {
		for _, o := range []string{m.FromOwner, m.ToOwner} {
			if !t.has(o) {
				outside = append(outside, m.RelationshipID+" ("+poolOr(o)+")")
				break
			}
		}
	}
	if len(outside) == 0 {
		if len(tr.Moves) == 0 && tr.From != "" && !t.has(tr.From) {
			return outsideTeam(t.c, "%s is from %s, who is not a member of team %s", what, tr.From, t.c.Team)
		}
		return nil
	}
	more := ""
	if len(outside) > 3 {
		more = " …"
		outside = outside[:3]
	}
	return outsideTeam(t.c, "%s moves relationships from or to owners outside team %s: %s%s", what, t.c.Team, strings.Join(outside, ", "), more)
}

func poolOr(owner string) string {
	if owner == "" {
		return "the unassigned pool"
	}
	return owner
}
