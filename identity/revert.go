package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// ActionContactsRevert is the audit action recording that a transfer was
// reverted; its subject is the reverted transfer, so looking it up tells
// whether a transfer has been reverted.
const ActionContactsRevert = "contacts.revert"

// revertDetails is the audit detail of a "contacts.revert" entry.
type revertDetails struct {
	// TransferID is the transfer that did the revert.
	TransferID string `json:"transfer_id"`
	Moved      int    `json:"moved"`
}

// RevertedBy reports whether transfer transferID was reverted, and by
// which transfer (read from its "contacts.revert" audit entry).
func (s *State) RevertedBy(ctx context.Context, transferID string) (by string, reverted bool, err error) {
	by, reverted, err = revertedBy(ctx, s.store, transferID)
	if err != nil {
		return "", false, fmt.Errorf("identity: audit: %w", err)
	}
	return by, reverted, nil
}

func revertedBy(ctx context.Context, store Store, transferID string) (string, bool, error) {
	done, err := store.Audit(ctx, AuditQuery{Action: ActionContactsRevert, Subject: transferID, Limit: 1})
	if err != nil || len(done) == 0 {
		return "", false, err
	}
	var d revertDetails
	_ = json.Unmarshal(done[0].Details, &d) // a detail unread still says it was reverted
	return d.TransferID, true, nil
}

// RevertConflict is the error of a revert refused because relationships
// of the transfer were moved again since. It wraps ErrConflict.
type RevertConflict struct {
	// TransferID is the transfer that was to be reverted.
	TransferID string
	// RelationshipIDs are its relationships moved since, sorted.
	RelationshipIDs []string
	// LaterTransfers are the transfers that last moved them, sorted: revert
	// those first (newest first), or move the relationships with Transfer.
	LaterTransfers []string
}

// Error names the transfer, the later transfers and (some of) the
// relationships.
func (e *RevertConflict) Error() string {
	const show = 10
	ids := strings.Join(e.RelationshipIDs[:min(show, len(e.RelationshipIDs))], ", ")
	if len(e.RelationshipIDs) > show {
		ids += fmt.Sprintf(" and %d more", len(e.RelationshipIDs)-show)
	}
	by := ""
	if len(e.LaterTransfers) > 0 {
		by = " by transfer " + strings.Join(e.LaterTransfers, ", ")
	}
	return fmt.Sprintf("%v: transfer %s cannot be reverted: %d of its relationships were moved again since%s (%s); revert that first or transfer instead",
		ErrConflict, e.TransferID, len(e.RelationshipIDs), by, ids)
}

// Unwrap makes errors.Is(err, ErrConflict) hold.
func (e *RevertConflict) Unwrap() error { return ErrConflict }

// LoadTransfer returns a recorded transfer (including reverts and the
// transfers of departures) from the audit log. Errors: ErrNotFound.
func (s *State) LoadTransfer(ctx context.Context, transferID string) (*Transfer, error) {
	l, err := s.store.Audit(ctx, AuditQuery{Action: ActionContactsTransfer, Subject: transferID, Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("identity: load transfer %s: %w", transferID, err)
	}
	if len(l) == 0 {
		return nil, fmt.Errorf("identity: load transfer %s: %w: no such transfer", transferID, ErrNotFound)
	}
	t, err := DecodeTransfer(l[0].Details)
	if err != nil {
		return nil, fmt.Errorf("identity: load transfer %s: audit details: %w", transferID, err)
	}
	return t, nil
}

// DecodeTransfer decodes the details of a "contacts.transfer" audit
// entry: the transfer as it was recorded, moves and all.
func DecodeTransfer(details []byte) (*Transfer, error) {
	if t, ok := decodeTransfer(details); ok {
		return t, nil
	}
	var t Transfer
	if err := json.Unmarshal(details, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// RevertTransfer undoes a transfer in one atomic, durable step: every
// relationship it changed gets back the owner, persona, former personas
// and merge state it had before (merged ones are unmerged); tags, remark
// and activity stay as they are now. The revert is itself a transfer,
// with RevertOf naming the reverted one, audited as
// "contacts.revert" (subject: the reverted transfer) followed by
// "contacts.transfer" (subject: the new transfer). Departures' transfers
// can be reverted too, once the employee has been reactivated.
//
// It is refused, changing nothing, when:
//
//   - any of the transfer's relationships has been moved since: its
//     OwnerVersion differs from the one the transfer recorded, and it is
//     not back where the transfer left it (as after reverting the later
//     transfers, newest first). A *RevertConflict (ErrConflict) names them
//     and the transfers that last moved them. Tags, remarks and activity
//     do not count: they do not move OwnerVersion.
//   - the transfer was already reverted (ErrConflict);
//   - a previous owner is no longer active (ErrInvalid, naming them:
//     reactivate them first, or transfer the relationships instead);
//   - the transfer was recorded before transfers could be reverted
//     (ErrInvalid), or does not exist (ErrNotFound).
//
// actor and reason are required (ErrInvalid).
func (s *State) RevertTransfer(ctx context.Context, actor, reason, transferID string) (*Transfer, error) {
	t, err := s.revertTransfer(ctx, actor, reason, transferID)
	if err != nil {
		return nil, fmt.Errorf("identity: revert transfer %s: %w", transferID, err)
	}
	return t, nil
}

func (s *State) revertTransfer(ctx context.Context, actor, reason, transferID string) (*Transfer, error) {
	if err := firstErr(checkActor(actor), checkReason(reason)); err != nil {
		return nil, err
	}
	// The record is immutable: read and decode it before taking the lock.
	orig, err := s.LoadTransfer(ctx, transferID)
	if err != nil {
		return nil, err
	}
	for i := range orig.Moves {
		if orig.Moves[i].OwnerVersion == 0 {
			return nil, fmt.Errorf("%w: transfer %s was recorded before transfers could be reverted; transfer the relationships instead", ErrInvalid, transferID)
		}
	}
	var t *Transfer
	err = s.update(ctx, func(b *batch) error {
		// Under the lock, so two reverts of one transfer cannot both pass.
		by, done, err := revertedBy(ctx, s.store, transferID)
		if err != nil {
			return err
		}
		if done {
			return fmt.Errorf("%w: transfer %s was already reverted by transfer %s", ErrConflict, transferID, by)
		}
		if t, err = b.revert(orig, actor, reason); err != nil {
			return err
		}
		if err := b.addAudit(actor, ActionContactsRevert, reason, orig.ID, &revertDetails{TransferID: t.ID, Moved: len(t.Moves)}); err != nil {
			return err
		}
		return b.addTransferAudit(t)
	})
	return t, err
}

// revert plans the revert of orig into b.
func (b *batch) revert(orig *Transfer, actor, reason string) (*Transfer, error) {
	cur := make([]*Relationship, len(orig.Moves))
	conflict := &RevertConflict{TransferID: orig.ID}
	for i := range orig.Moves {
		m := &orig.Moves[i]
		r, ok := b.rel(m.RelationshipID)
		if !ok {
			return nil, fmt.Errorf("%w: relationship %s of transfer %s", ErrNotFound, m.RelationshipID, orig.ID)
		}
		if r.OwnerVersion != m.OwnerVersion && !leftAsMoved(r, m) {
			conflict.RelationshipIDs = append(conflict.RelationshipIDs, r.ID)
			if r.LastTransferID != "" && !slices.Contains(conflict.LaterTransfers, r.LastTransferID) {
				conflict.LaterTransfers = append(conflict.LaterTransfers, r.LastTransferID)
			}
		}
		cur[i] = r
	}
	if len(conflict.RelationshipIDs) > 0 {
		slices.Sort(conflict.RelationshipIDs)
		slices.Sort(conflict.LaterTransfers)
		return nil, conflict
	}
	var gone []string
	for i := range orig.Moves {
		id := orig.Moves[i].FromOwner
		if id == "" || slices.Contains(gone, id) {
			continue
		}
		e, ok := b.employee(id)
		if !ok {
			return nil, fmt.Errorf("%w: previous owner %s", ErrNotFound, id)
		}
		if e.Status != Active {
			gone = append(gone, id)
		}
	}
	if len(gone) > 0 {
		slices.Sort(gone)
		who := "previous owner " + gone[0] + " has"
		if len(gone) > 1 {
			who = "previous owners " + strings.Join(gone, ", ") + " have"
		}
		return nil, fmt.Errorf("%w: %s departed since; reactivate first, or transfer the relationships instead", ErrInvalid, who)
	}

	t := &Transfer{ID: newID("t"), At: b.now, Actor: actor, Reason: reason, RevertOf: orig.ID}
	mv := newMover(b, t.ID, len(orig.Moves))
	for i := range orig.Moves {
		m := &orig.Moves[i]
		nr := mv.touch(cur[i])
		nr.OwnerID = m.FromOwner
		nr.PersonaID = m.FromPersona
		nr.FormerPersonaIDs = slices.Clone(m.FromFormerPersonas)
		nr.MergedInto = m.FromMergedInto
	}
	// Restoring exactly the earlier state of relationships nothing moved
	// since cannot make two relationships of a contact route one persona;
	// checked anyway, as the write path's invariant.
	checked := make(map[string]bool, len(orig.Moves))
	for i := range orig.Moves {
		c := orig.Moves[i].ContactID
		if checked[c] {
			continue
		}
		checked[c] = true
		if err := b.checkContactRoutes(c); err != nil {
			return nil, err
		}
	}
	t.Moves = mv.moves()
	t.Counts.Matched = len(orig.Moves)
	t.countMoves()
	return t, nil
}

// leftAsMoved reports whether r routes exactly as move m left it: later
// transfers moved it, but others (typically their reverts) brought it back.
// Reverting m then undoes nobody's later work.
func leftAsMoved(r *Relationship, m *Move) bool {
	return r.OwnerID == m.ToOwner && r.MergedInto == m.MergedInto &&
		slices.Equal(r.FormerPersonaIDs, m.ToFormerPersonas) &&
		// A merged relationship's persona routes nothing (and m.ToPersona
		// is then the merge target's).
		(r.MergedInto != "" || r.PersonaID == m.ToPersona)
}

// checkContactRoutes returns ErrConflict if two unmerged relationships of
// the contact reach the same persona in b.
func (b *batch) checkContactRoutes(contactID string) error {
	var rels []*Relationship
	b.eachRelOfContact(contactID, func(r *Relationship) bool {
		if r.MergedInto == "" {
			rels = append(rels, r)
		}
		return true
	})
	for i, a := range rels {
		for _, o := range rels[i+1:] {
			for _, p := range append([]string{a.PersonaID}, a.FormerPersonaIDs...) {
				if o.reaches(p) {
					return fmt.Errorf("%w: relationships %s and %s of contact %s would both route persona %s", ErrConflict, a.ID, o.ID, contactID, p)
				}
			}
		}
	}
	return nil
}
