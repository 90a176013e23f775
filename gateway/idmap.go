package gateway

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// The ID map: every relayed message's row holds the ID its sender gave it
// (in_network, in_from, in_id) and the ID the gateway gave it on the other
// side (out_network, out_id), with its relationship. A reference crosses
// only through that pair, only within the same relationship, so an ID
// from another conversation (or a guessed one) finds nothing and is
// dropped. Ownership changes leave relationship_id as it is: a reply to a
// message Hana sent still maps after the contact moved to Ken. Retention
// blanks out_id with the texts (expireTexts), which prunes the map.

// mapQuerier runs the ID map's lookups: the queue's write transaction (so
// that a reference to a message in the same batch is found) or its
// readers.
type mapQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// byOutIDSQL finds a message the gateway delivered to the referring side:
// the recipient now refers to it by the gateway's ID.
const byOutIDSQL = `SELECT in_network, in_from, in_id, body FROM messages
	WHERE out_network = ? AND out_id = ? AND relationship_id = ? AND in_network <> out_network
	ORDER BY seq DESC LIMIT 1`

// byInIDSQL finds a message the referring sender wrote: it refers to it by
// its own ID.
const byInIDSQL = `SELECT out_network, out_from, out_id, body FROM messages
	WHERE in_network = ? AND in_from = ? AND in_id = ? AND relationship_id = ? AND in_network <> out_network AND out_id <> ''
	ORDER BY seq DESC LIMIT 1`

// translateRefs maps the references of a message from network/from in
// relationship relID to the IDs target knows. A reference the map does not
// know is dropped.
func translateRefs(ctx context.Context, q mapQuerier, network, from, relID, target string, refs []Ref) ([]Ref, error) {
	if relID == "" {
		return nil, nil
	}
	var out []Ref
	for _, r := range refs {
		if r.ID == "" {
			continue
		}
		m, ok, err := mapRef(ctx, q, network, from, relID, target, r.ID)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		m.Kind = r.Kind
		if r.Kind != RefReply {
			m.Quote = ""
		}
		out = append(out, m)
	}
	return out, nil
}

// mapRef translates one ID (see translateRefs).
func mapRef(ctx context.Context, q mapQuerier, network, from, relID, target, id string) (Ref, bool, error) {
	// A message the gateway delivered to this side: the other side knows
	// it by its sender's own ID.
	for _, candidate := range []string{id, BaseID(id)} {
		var inNet, inFrom, inID, body string
		err := q.QueryRowContext(ctx, byOutIDSQL, network, candidate, relID).Scan(&inNet, &inFrom, &inID, &body)
		switch {
		case err == nil:
			if inNet != target || inID == "" {
				// Written by the gateway (a welcome, a broadcast copy) or
				// by someone on a third network: nothing there to point at.
				return Ref{}, false, nil
			}
			return Ref{ID: inID, Author: inFrom, Quote: body}, true, nil
		case !errors.Is(err, sql.ErrNoRows):
			return Ref{}, false, fmt.Errorf("queue: map reference: %w", err)
		}
		if candidate == BaseID(id) {
			break
		}
	}
	// The sender's own earlier message: the other side knows it by the
	// gateway's ID.
	var outNet, outFrom, outID, body string
	err := q.QueryRowContext(ctx, byInIDSQL, network, from, id, relID).Scan(&outNet, &outFrom, &outID, &body)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Ref{}, false, nil
	case err != nil:
		return Ref{}, false, fmt.Errorf("queue: map reference: %w", err)
	case outNet != target:
		return Ref{}, false, nil
	}
	return Ref{ID: outID, Author: outFrom, Quote: body}, true, nil
}

// parts is what the messages table's parts column holds.
type parts struct {
	Files     []Attachment `json:"files,omitempty"`
	Refs      []Ref        `json:"refs,omitempty"`
	Reactions []string     `json:"reactions,omitempty"`
	ChatState ChatState    `json:"chat_state,omitempty"`
}

// encodeParts is out's parts column: "" when it has none.
func encodeParts(out *Outgoing) (string, error) {
	p := parts{Files: out.Files, Refs: out.Refs, Reactions: out.Reactions, ChatState: out.ChatState}
	if len(p.Files) == 0 && len(p.Refs) == 0 && len(p.Reactions) == 0 && p.ChatState == "" {
		return "", nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("queue: encode message parts: %w", err)
	}
	return string(b), nil
}

// decodeParts fills out's parts from the column.
func decodeParts(s string, out *Outgoing) error {
	if s == "" {
		return nil
	}
	var p parts
	if err := json.Unmarshal([]byte(s), &p); err != nil {
		return fmt.Errorf("queue: decode message parts: %w", err)
	}
	out.Files, out.Refs, out.Reactions, out.ChatState = p.Files, p.Refs, p.Reactions, p.ChatState
	return nil
}
