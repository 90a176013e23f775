package identity

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"time"
)

// A transfer's audit details list every move: tens of megabytes of JSON
// for 100,000 relationships, which encoding/json spends about a tenth of a
// second on (reflection, and buffering the result twice). appendTransfer
// writes exactly what json.Marshal(t) does (a test holds them equal), with
// plain appends.

// addTransferAudit appends the "contacts.transfer" audit entry of t.
func (b *batch) addTransferAudit(t *Transfer) error {
	d, err := appendTransfer(make([]byte, 0, 256+300*len(t.Moves)), t)
	if err != nil {
		return err
	}
	b.audit = append(b.audit, AuditEntry{At: b.now, Actor: t.Actor, Action: ActionContactsTransfer,
		Reason: t.Reason, Subject: t.ID, Details: d})
	return nil
}

// jsonEnc appends JSON object members; the first error sticks.
type jsonEnc struct {
	b     []byte
	first bool // no member written yet in the current object
	err   error
}

func (e *jsonEnc) open()  { e.b, e.first = append(e.b, '{'), true }
func (e *jsonEnc) close() { e.b, e.first = append(e.b, '}'), false }

// key writes the separator and "name":.
func (e *jsonEnc) key(name string) {
	if !e.first {
		e.b = append(e.b, ',')
	}
	e.first = false
	e.b = append(e.b, '"')
	e.b = append(e.b, name...)
	e.b = append(e.b, '"', ':')
}

func (e *jsonEnc) str(name, s string) {
	e.key(name)
	e.string(s)
}

func (e *jsonEnc) strOmit(name, s string) {
	if s != "" {
		e.str(name, s)
	}
}

func (e *jsonEnc) uint(name string, v uint64) {
	e.key(name)
	e.b = strconv.AppendUint(e.b, v, 10)
}

func (e *jsonEnc) int(name string, v int) {
	e.key(name)
	e.b = strconv.AppendInt(e.b, int64(v), 10)
}

func (e *jsonEnc) list(name string, l []string) {
	if len(l) == 0 {
		return
	}
	e.key(name)
	e.b = append(e.b, '[')
	for i, s := range l {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.string(s)
	}
	e.b = append(e.b, ']')
}

// string appends s quoted as encoding/json does: strings of printable
// ASCII without the characters it escapes are copied; anything else is
// left to encoding/json.
func (e *jsonEnc) string(s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			j, err := json.Marshal(s)
			if err != nil && e.err == nil {
				e.err = err
			}
			e.b = append(e.b, j...)
			return
		}
	}
	e.b = append(e.b, '"')
	e.b = append(e.b, s...)
	e.b = append(e.b, '"')
}

func appendTransfer(b []byte, t *Transfer) ([]byte, error) {
	e := &jsonEnc{b: b}
	e.open()
	e.str("id", t.ID)
	e.key("at")
	at, err := t.At.MarshalJSON()
	if err != nil {
		return nil, err
	}
	e.b = append(e.b, at...)
	e.str("actor", t.Actor)
	e.str("reason", t.Reason)
	e.str("from", t.From)
	e.strOmit("to", t.To)
	if f := &t.Filter; !f.isZero() {
		e.key("filter")
		e.open()
		if f.Unassigned {
			e.key("unassigned")
			e.b = append(e.b, "true"...)
		}
		e.strOmit("persona_id", f.PersonaID)
		e.strOmit("tag", f.Tag)
		e.strOmit("source", f.Source)
		e.strOmit("network", f.Network)
		e.list("contact_ids", f.ContactIDs)
		e.list("relationship_ids", f.RelationshipIDs)
		e.close()
	}
	e.list("targets", t.Targets)
	e.strOmit("strategy", string(t.Strategy))
	e.strOmit("revert_of", t.RevertOf)
	e.key("counts")
	e.open()
	c := &t.Counts
	e.int("matched", c.Matched)
	if c.Unchanged != 0 {
		e.int("unchanged", c.Unchanged)
	}
	e.int("moved", c.Moved)
	if c.Rehomed != 0 {
		e.int("rehomed", c.Rehomed)
	}
	if c.Merged != 0 {
		e.int("merged", c.Merged)
	}
	if len(c.ByTarget) > 0 {
		e.key("by_target")
		e.open()
		for i, k := range slices.Sorted(maps.Keys(c.ByTarget)) {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.string(k) // employee IDs may need escaping
			e.b = append(e.b, ':')
			e.b = strconv.AppendInt(e.b, int64(c.ByTarget[k]), 10)
		}
		e.close()
	}
	e.close()
	e.key("moves")
	if t.Moves == nil {
		e.b = append(e.b, "null"...)
	} else {
		e.b = append(e.b, '[')
		for i := range t.Moves {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			e.move(&t.Moves[i])
		}
		e.b = append(e.b, ']')
	}
	e.close()
	return e.b, e.err
}

func (e *jsonEnc) move(m *Move) {
	e.open()
	e.str("relationship_id", m.RelationshipID)
	e.str("contact_id", m.ContactID)
	e.strOmit("from_owner", m.FromOwner)
	e.strOmit("to_owner", m.ToOwner)
	e.str("from_persona", m.FromPersona)
	e.str("to_persona", m.ToPersona)
	e.list("from_former_personas", m.FromFormerPersonas)
	e.list("to_former_personas", m.ToFormerPersonas)
	if m.PrevVersion != 0 {
		e.uint("prev_version", m.PrevVersion)
	}
	e.uint("version", m.Version)
	if m.OwnerVersion != 0 {
		e.uint("owner_version", m.OwnerVersion)
	}
	e.strOmit("from_merged_into", m.FromMergedInto)
	e.strOmit("merged_into", m.MergedInto)
	e.close()
}

// isZero reports whether f is its zero value (what omitzero omits).
func (f *RelationshipFilter) isZero() bool {
	return f.empty() && f.ContactIDs == nil && f.RelationshipIDs == nil
}

// Decoding: reverting a transfer of 100,000 relationships reads its audit
// details back, which encoding/json takes half a second to decode.
// decodeTransfer parses the same documents directly. It accepts only what
// it fully understands (the keys of Transfer, once each; strings without
// escapes or non-ASCII bytes, else decoded by encoding/json; no nulls
// except "moves") and reports false otherwise, so that the caller falls
// back to encoding/json: it never decodes a document differently.

// decodeTransfer decodes the JSON of a Transfer, or reports false.
func decodeTransfer(b []byte) (*Transfer, bool) {
	d := &jsonDec{b: b, intern: map[string]string{}}
	t := &Transfer{}
	d.object(func(key string) {
		switch key {
		case "id":
			t.ID = d.str()
		case "at":
			d.time(&t.At)
		case "actor":
			t.Actor = d.str()
		case "reason":
			t.Reason = d.str()
		case "from":
			t.From = d.str()
		case "to":
			t.To = d.str()
		case "filter":
			d.filter(&t.Filter)
		case "targets":
			t.Targets = d.strs()
		case "strategy":
			t.Strategy = SpreadStrategy(d.str())
		case "revert_of":
			t.RevertOf = d.str()
		case "counts":
			d.counts(&t.Counts)
		case "moves":
			if d.null() {
				t.Moves = nil
				return
			}
			// A move takes about 250 bytes of JSON.
			t.Moves = make([]Move, 0, min(len(d.b)/200, 1<<20))
			d.array(func() {
				t.Moves = append(t.Moves, Move{})
				d.move(&t.Moves[len(t.Moves)-1])
			})
		default:
			d.fail()
		}
	})
	d.ws()
	if d.bad || d.i != len(d.b) {
		return nil, false
	}
	return t, true
}

// jsonDec is a cursor over a JSON document; bad sticks once it gives up.
type jsonDec struct {
	b      []byte
	i      int
	bad    bool
	intern map[string]string
}

func (d *jsonDec) fail() { d.bad, d.i = true, len(d.b) }

func (d *jsonDec) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// peek skips white space and returns the next byte (0 at the end).
func (d *jsonDec) peek() byte {
	d.ws()
	if d.i >= len(d.b) {
		return 0
	}
	return d.b[d.i]
}

func (d *jsonDec) expect(c byte) {
	if d.peek() != c {
		d.fail()
		return
	}
	d.i++
}

// null consumes a null if one is next.
func (d *jsonDec) null() bool {
	if d.peek() == 'n' && len(d.b)-d.i >= 4 && string(d.b[d.i:d.i+4]) == "null" {
		d.i += 4
		return true
	}
	return false
}

// object calls member for each key, with the cursor on its value; keys
// may not repeat.
func (d *jsonDec) object(member func(key string)) {
	d.expect('{')
	if d.peek() == '}' {
		d.i++
		return
	}
	var buf [16]string // Move has 13 keys: no allocation
	seen := buf[:0]
	for !d.bad {
		key := d.str()
		for _, k := range seen {
			if k == key {
				d.fail()
				return
			}
		}
		seen = append(seen, key)
		d.expect(':')
		member(key)
		switch d.peek() {
		case ',':
			d.i++
		case '}':
			d.i++
			return
		default:
			d.fail()
		}
	}
}

func (d *jsonDec) array(elem func()) {
	d.expect('[')
	if d.peek() == ']' {
		d.i++
		return
	}
	for !d.bad {
		elem()
		switch d.peek() {
		case ',':
			d.i++
		case ']':
			d.i++
			return
		default:
			d.fail()
		}
	}
}

// token returns the raw string token at the cursor, quotes included, and
// whether it is plain (printable ASCII without escapes).
func (d *jsonDec) token() ([]byte, bool) {
	if d.peek() != '"' {
		d.fail()
		return nil, false
	}
	start, plain := d.i, true
	for d.i++; d.i < len(d.b); d.i++ {
		switch c := d.b[d.i]; {
		case c == '"':
			d.i++
			return d.b[start:d.i], plain
		case c == '\\':
			plain = false
			d.i++
		case c < 0x20 || c >= 0x80:
			plain = false
		}
	}
	d.fail()
	return nil, false
}

func (d *jsonDec) str() string {
	tok, plain := d.token()
	if d.bad {
		return ""
	}
	raw := tok[1 : len(tok)-1]
	if !plain {
		var s string
		if err := json.Unmarshal(tok, &s); err != nil {
			d.fail()
		}
		return s
	}
	// IDs of owners and personas repeat across moves: share them.
	if s, ok := d.intern[string(raw)]; ok {
		return s
	}
	s := string(raw)
	if len(d.intern) < 1024 {
		d.intern[s] = s
	}
	return s
}

func (d *jsonDec) strs() []string {
	l := []string{}
	d.array(func() { l = append(l, d.str()) })
	return l
}

func (d *jsonDec) time(t *time.Time) {
	tok, _ := d.token()
	if !d.bad && t.UnmarshalJSON(tok) != nil {
		d.fail()
	}
}

// number returns the digits of an integer (with a leading minus sign if
// neg is allowed), as encoding/json accepts them for integer fields.
func (d *jsonDec) number(neg bool) string {
	d.ws()
	start := d.i
	if neg && d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	digits := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	n := d.i - digits
	if n == 0 || (n > 1 && d.b[digits] == '0') {
		d.fail()
		return ""
	}
	if d.i < len(d.b) {
		switch d.b[d.i] {
		case '.', 'e', 'E':
			d.fail()
			return ""
		}
	}
	return string(d.b[start:d.i])
}

func (d *jsonDec) uint() uint64 {
	v, err := strconv.ParseUint(d.number(false), 10, 64)
	if err != nil {
		d.fail()
	}
	return v
}

func (d *jsonDec) int() int {
	v, err := strconv.ParseInt(d.number(true), 10, strconv.IntSize)
	if err != nil {
		d.fail()
	}
	return int(v)
}

func (d *jsonDec) bool() bool {
	d.ws()
	switch {
	case len(d.b)-d.i >= 4 && string(d.b[d.i:d.i+4]) == "true":
		d.i += 4
		return true
	case len(d.b)-d.i >= 5 && string(d.b[d.i:d.i+5]) == "false":
		d.i += 5
		return false
	}
	d.fail()
	return false
}

func (d *jsonDec) filter(f *RelationshipFilter) {
	d.object(func(key string) {
		switch key {
		case "unassigned":
			f.Unassigned = d.bool()
		case "persona_id":
			f.PersonaID = d.str()
		case "tag":
			f.Tag = d.str()
		case "source":
			f.Source = d.str()
		case "network":
			f.Network = d.str()
		case "contact_ids":
			f.ContactIDs = d.strs()
		case "relationship_ids":
			f.RelationshipIDs = d.strs()
		default:
			d.fail()
		}
	})
}

func (d *jsonDec) counts(c *TransferCounts) {
	d.object(func(key string) {
		switch key {
		case "matched":
			c.Matched = d.int()
		case "unchanged":
			c.Unchanged = d.int()
		case "moved":
			c.Moved = d.int()
		case "rehomed":
			c.Rehomed = d.int()
		case "merged":
			c.Merged = d.int()
		case "by_target":
			c.ByTarget = map[string]int{}
			d.object(func(key string) { c.ByTarget[key] = d.int() })
		default:
			d.fail()
		}
	})
}

func (d *jsonDec) move(m *Move) {
	d.object(func(key string) {
		switch key {
		case "relationship_id":
			m.RelationshipID = d.str()
		case "contact_id":
			m.ContactID = d.str()
		case "from_owner":
			m.FromOwner = d.str()
		case "to_owner":
			m.ToOwner = d.str()
		case "from_persona":
			m.FromPersona = d.str()
		case "to_persona":
			m.ToPersona = d.str()
		case "from_former_personas":
			m.FromFormerPersonas = d.strs()
		case "to_former_personas":
			m.ToFormerPersonas = d.strs()
		case "prev_version":
			m.PrevVersion = d.uint()
		case "version":
			m.Version = d.uint()
		case "owner_version":
			m.OwnerVersion = d.uint()
		case "from_merged_into":
			m.FromMergedInto = d.str()
		case "merged_into":
			m.MergedInto = d.str()
		default:
			d.fail()
		}
	})
}
