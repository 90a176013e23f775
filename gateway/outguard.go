package gateway

import (
	"strings"

	"github.com/kakehashi/kakehashi/guard"
	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/routing"
)

// SendAnyway starts a message an employee sends although the outbound
// guard held it: the guard lets it pass, the marker is removed, and the
// release is audited. It is what the hold's answer tells the employee
// to write.
const SendAnyway = "!send "

// guardHold is what the outbound guard decided for an employee's text.
type guardHold struct {
	hits     []guard.Hit
	released bool // the employee wrote SendAnyway: sent, and audited
	inFile   bool // a file's caption hit, which clients cannot mark
}

// checkOutbound runs the outbound guard over the text of an employee's
// message to the outside: its subject, body and each file's caption,
// which the contact reads. A file's name is the employee's own choice and
// passes; its contents are cleaned of metadata, not read. It strips a
// SendAnyway marker from m.
func (g *Gateway) checkOutbound(m *Message, d routing.Decision) guardHold {
	if g.guard == nil || g.side(m.Network) != identity.Inside || g.side(d.Target.Network) != identity.Outside {
		return guardHold{}
	}
	released := false
	if rest, ok := strings.CutPrefix(m.Body, SendAnyway); ok {
		m.Body, released = rest, true
	} else if m.Body == strings.TrimSpace(SendAnyway) {
		m.Body, released = "", true
	}
	emp, _, ok := g.EmployeeAt(m.Network, m.From)
	if !ok {
		return guardHold{}
	}
	p := guard.Person{Name: emp.Name}
	for _, a := range emp.InsideAddrs {
		p.Addresses = append(p.Addresses, a.Addr)
	}
	// The persona's own name is public: its words pass (the first name
	// in "ACME Sales · Hana").
	p.Allowed = strings.Fields(strings.NewReplacer("·", " ", ",", " ", "/", " ").Replace(d.Target.Nick))
	hits := g.guard.Check(m.Subject+"\n"+m.Body, p)
	var files []string
	for _, f := range m.Files {
		files = append(files, f.Description)
	}
	fileHits := g.guard.Check(strings.Join(files, "\n"), p)
	if len(hits)+len(fileHits) == 0 {
		return guardHold{}
	}
	return guardHold{hits: append(hits, fileHits...), released: released, inFile: len(fileHits) > 0}
}

// holdText is the answer to a held message: what was found, and how to
// send it anyway.
func holdText(h guardHold) string {
	if h.inFile {
		// A client shares a file without a text of its own to mark.
		return "Not sent: " + guard.Describe(h.hits) + " in a file's caption. The contact sees only your persona. " +
			"Change the caption and share the file again."
	}
	hits := h.hits
	return "Not sent: " + guard.Describe(hits) + ". The contact sees only your persona. " +
		"Edit the message, or to send it exactly as it is, send it again starting with \"" + SendAnyway + "\"."
}

// heldTerms lists the terms found, for the audit log.
func heldTerms(hits []guard.Hit) []string {
	var out []string
	for _, h := range hits {
		out = append(out, h.Term+" ("+h.Why.String()+")")
	}
	return out
}
