package identity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// A transfer's audit details are the Transfer as encoding/json writes it,
// listing every move: about 30 MB for 100,000 relationships.

// addTransferAudit appends the "contacts.transfer" audit entry of t.
func (b *batch) addTransferAudit(t *Transfer) error {
	d, err := transferJSON(t)
	if err != nil {
		return fmt.Errorf("identity: audit details of transfer %s: %w", t.ID, err)
	}
	b.audit = append(b.audit, AuditEntry{At: b.now, Actor: t.Actor, Action: ActionContactsTransfer,
		Reason: t.Reason, Subject: t.ID, Details: d})
	return nil
}

// movesPerSegment is how many moves transferJSON hands encoding/json at
// once: about 150 kB of JSON.
const movesPerSegment = 512

// transferJSON returns json.Marshal(t), with the moves encoded in
// segments straight into a buffer sized for them. One json.Marshal of
// 100,000 moves grows its buffer by doubling up to 32 MB, then copies it:
// that took a median 190 ms after a GC, against 45 ms this way (and 28 ms
// for the hand-written encoder this replaced). Moves is the last field of
// Transfer, so the document is the rest of t, whose "moves" is null, with
// the array in place of the null.
func transferJSON(t *Transfer) ([]byte, error) {
	rest := *t
	rest.Moves = nil
	head, err := json.Marshal(&rest)
	if err != nil {
		return nil, err
	}
	const null = `null}`
	if len(t.Moves) == 0 || !bytes.HasSuffix(head, []byte(`"moves":`+null)) {
		// Nothing to split, or Transfer no longer ends with its moves.
		return json.Marshal(t)
	}
	out := make([]byte, 0, len(head)+300*len(t.Moves))
	out = append(out, head[:len(head)-len(null)]...)
	enc := json.NewEncoder(appender{&out})
	for i := 0; i < len(t.Moves); i += movesPerSegment {
		// Each segment arrives as "[m,m,…]\n": the first one's bracket
		// opens the array, the others' becomes the comma between two moves.
		start := len(out)
		if err := enc.Encode(t.Moves[i:min(i+movesPerSegment, len(t.Moves))]); err != nil {
			return nil, err
		}
		if i > 0 {
			out[start] = ','
		}
		out = out[:len(out)-len("]\n")]
	}
	return append(out, "]}"...), nil
}

// appender is an io.Writer that appends to a byte slice.
type appender struct{ b *[]byte }

func (a appender) Write(p []byte) (int, error) {
	*a.b = append(*a.b, p...)
	return len(p), nil
}

// Decoding: reverting a transfer of 100,000 relationships reads its audit
// details back, which encoding/json took a median 444 ms to decode, and
// decodeTransfer 91 ms: it parses the same documents directly, without
// reflection, and shares the owner and persona IDs that repeat. It accepts only what
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
