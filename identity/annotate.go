package identity

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Audit actions of relationship annotations.
const (
	ActionRelationshipTags   = "relationship.tags"
	ActionRelationshipRemark = "relationship.remark"
	ActionRelationshipGone   = "relationship.gone"
	ActionRelationshipBack   = "relationship.back"
)

// Limits of relationship annotations.
const (
	// MaxTags is the most tags one relationship carries.
	MaxTags = 32
	// MaxTagLen is the longest tag, in characters (runes).
	MaxTagLen = 64
	// MaxRemarkLen is the longest remark, in characters (runes).
	MaxRemarkLen = 1000
)

// normalizeTag trims t and checks it: 1 to MaxTagLen characters, printable,
// no commas (so that a list of tags can be written comma-separated, as the
// admin tools do).
func normalizeTag(t string) (string, error) {
	t = strings.TrimSpace(t)
	switch n := utf8.RuneCountInString(t); {
	case !utf8.ValidString(t):
		return "", fmt.Errorf("%w: tag %q is not valid text", ErrInvalid, t)
	case n == 0:
		return "", fmt.Errorf("%w: a tag is empty", ErrInvalid)
	case n > MaxTagLen:
		return "", fmt.Errorf("%w: tag %.20q… is longer than %d characters", ErrInvalid, t, MaxTagLen)
	case strings.ContainsRune(t, ','):
		return "", fmt.Errorf("%w: tag %q contains a comma", ErrInvalid, t)
	case strings.IndexFunc(t, func(r rune) bool { return !unicode.IsGraphic(r) }) >= 0:
		return "", fmt.Errorf("%w: tag %q contains control characters", ErrInvalid, t)
	}
	return t, nil
}

// normalizeTags normalises each tag and returns them sorted, with tags
// that differ only in case merged (the first spelling wins).
func normalizeTags(tags []string) ([]string, error) {
	out := make([]string, 0, len(tags))
	for _, t := range tags {
		t, err := normalizeTag(t)
		if err != nil {
			return nil, err
		}
		if !hasTag(out, t) {
			out = append(out, t)
		}
	}
	if len(out) > MaxTags {
		return nil, fmt.Errorf("%w: %d tags, at most %d allowed", ErrInvalid, len(out), MaxTags)
	}
	sortTags(out)
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// sortTags sorts tags case-insensitively (then by spelling, for a total
// order).
func sortTags(tags []string) {
	slices.SortFunc(tags, func(a, b string) int {
		if c := strings.Compare(strings.ToLower(a), strings.ToLower(b)); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
}

// HasTag reports whether r carries tag t, ignoring case, as transfers and
// searches match tags.
func (r *Relationship) HasTag(t string) bool { return hasTag(r.Tags, t) }

// hasTag reports whether tags contains t, ignoring case.
func hasTag(tags []string, t string) bool {
	return slices.ContainsFunc(tags, func(x string) bool { return strings.EqualFold(x, t) })
}

// normalizeRemark trims r and checks it: at most MaxRemarkLen characters
// of valid text; line breaks and tabs are kept.
func normalizeRemark(r string) (string, error) {
	r = strings.TrimSpace(r)
	switch {
	case !utf8.ValidString(r):
		return "", fmt.Errorf("%w: the remark is not valid text", ErrInvalid)
	case utf8.RuneCountInString(r) > MaxRemarkLen:
		return "", fmt.Errorf("%w: the remark is longer than %d characters", ErrInvalid, MaxRemarkLen)
	case strings.IndexFunc(r, func(c rune) bool { return !unicode.IsGraphic(c) && !unicode.IsSpace(c) }) >= 0:
		return "", fmt.Errorf("%w: the remark contains control characters", ErrInvalid)
	}
	return r, nil
}

// tagsDetails is the audit detail of a "relationship.tags" entry.
type tagsDetails struct {
	Before []string `json:"before"`
	After  []string `json:"after"`
}

// remarkDetails is the audit detail of a "relationship.remark" entry.
type remarkDetails struct {
	Before string `json:"before"`
	After  string `json:"after"`
}

// SetTags replaces the tags of a relationship, audited as
// "relationship.tags" (subject: the relationship; details: the tags before
// and after) by actor (required; reason is optional).
//
// Tags are trimmed and checked (1 to MaxTagLen characters, printable, no
// commas; at most MaxTags). Case is kept but does not distinguish tags:
// "VIP" and "vip" are one tag, spelled as first given. They are stored
// sorted, ignoring case. Tags and remarks are annotations, not ownership:
// they bump Version but not OwnerVersion, so they never stand in the way
// of reverting a transfer.
//
// Permissions are the caller's business (see Snapshot.OwnedBy). Setting
// the tags a relationship already has changes nothing and is not audited.
// The relationship is returned as it is afterwards. Errors: ErrInvalid,
// ErrNotFound (no such relationship), also for merged relationships, which
// are history and take no annotations (ErrInvalid).
func (s *State) SetTags(ctx context.Context, actor, reason, relationshipID string, tags []string) (*Relationship, error) {
	return s.editTags(ctx, actor, reason, relationshipID, tags, func(_, tags []string) []string { return tags })
}

// AddTags adds tags to a relationship's, like SetTags. Tags it already has
// (in any case) keep their spelling.
func (s *State) AddTags(ctx context.Context, actor, reason, relationshipID string, tags []string) (*Relationship, error) {
	return s.editTags(ctx, actor, reason, relationshipID, tags, func(old, tags []string) []string {
		return append(slices.Clone(old), tags...)
	})
}

// RemoveTags removes tags (matched ignoring case) from a relationship's,
// like SetTags. Removing a tag it does not have is not an error.
func (s *State) RemoveTags(ctx context.Context, actor, reason, relationshipID string, tags []string) (*Relationship, error) {
	return s.editTags(ctx, actor, reason, relationshipID, tags, func(old, tags []string) []string {
		return slices.DeleteFunc(slices.Clone(old), func(t string) bool { return hasTag(tags, t) })
	})
}

func (s *State) editTags(ctx context.Context, actor, reason, relationshipID string, tags []string,
	edit func(old, tags []string) []string) (*Relationship, error) {
	var rel *Relationship
	err := checkActor(actor)
	if err == nil {
		tags, err = normalizeTags(tags)
	}
	if err == nil {
		err = s.update(ctx, func(b *batch) error {
			old, err := b.annotatable(relationshipID)
			if err != nil {
				return err
			}
			next, err := normalizeTags(edit(old.Tags, tags))
			if err != nil {
				return err
			}
			if slices.Equal(next, old.Tags) {
				rel = old
				return nil
			}
			rel, _ = b.touchRel(old)
			rel.Tags = next
			return b.addAudit(actor, ActionRelationshipTags, reason, rel.ID, &tagsDetails{Before: nonNil(old.Tags), After: nonNil(next)})
		})
	}
	if err != nil {
		return nil, fmt.Errorf("identity: tag relationship %s: %w", relationshipID, err)
	}
	return rel, nil
}

func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// SetRemark replaces the remark of a relationship ("" clears it), audited
// as "relationship.remark" (subject: the relationship; details: the remark
// before and after) by actor (required; reason is optional). The remark is
// trimmed and may hold at most MaxRemarkLen characters; line breaks are
// kept. Otherwise it behaves like SetTags.
func (s *State) SetRemark(ctx context.Context, actor, reason, relationshipID, remark string) (*Relationship, error) {
	var rel *Relationship
	err := checkActor(actor)
	if err == nil {
		remark, err = normalizeRemark(remark)
	}
	if err == nil {
		err = s.update(ctx, func(b *batch) error {
			old, err := b.annotatable(relationshipID)
			if err != nil {
				return err
			}
			if old.Remark == remark {
				rel = old
				return nil
			}
			rel, _ = b.touchRel(old)
			rel.Remark = remark
			return b.addAudit(actor, ActionRelationshipRemark, reason, rel.ID, &remarkDetails{Before: old.Remark, After: remark})
		})
	}
	if err != nil {
		return nil, fmt.Errorf("identity: remark on relationship %s: %w", relationshipID, err)
	}
	return rel, nil
}

// goneDetails is the audit detail of a "relationship.gone" or
// "relationship.back" entry: the mark before and after.
type goneDetails struct {
	Before string `json:"before"`
	After  string `json:"after"`
}

// SetGone records that the contact of a relationship is out of reach: why
// (required) says how (they removed or blocked the persona, their address
// bounces for good). It is audited as "relationship.gone" by actor,
// typically "contact:<address>" or "gateway", with why as the reason. The
// mark is for people and for broadcasts, which skip such contacts;
// routing ignores it, so a contact who writes again is still delivered.
// Marking what is already marked with the same reason changes nothing.
func (s *State) SetGone(ctx context.Context, actor, relationshipID, why string) (*Relationship, error) {
	if strings.TrimSpace(why) == "" {
		return nil, fmt.Errorf("identity: mark relationship %s gone: %w: say why (ClearGone clears the mark)", relationshipID, ErrInvalid)
	}
	return s.setGone(ctx, actor, relationshipID, why, ActionRelationshipGone)
}

// ClearGone records that the contact of a relationship marked gone is
// back: why (required) says how they showed it ("wrote again",
// "subscribed again"). It is audited as its own act, "relationship.back",
// with why as the reason. A relationship not marked gone is left as it
// is, and nothing is audited.
func (s *State) ClearGone(ctx context.Context, actor, relationshipID, why string) (*Relationship, error) {
	if strings.TrimSpace(why) == "" {
		return nil, fmt.Errorf("identity: clear gone mark of relationship %s: %w: say why", relationshipID, ErrInvalid)
	}
	return s.setGone(ctx, actor, relationshipID, why, ActionRelationshipBack)
}

func (s *State) setGone(ctx context.Context, actor, relationshipID, why, action string) (*Relationship, error) {
	var rel *Relationship
	err := checkActor(actor)
	if err == nil {
		why, err = normalizeRemark(why)
	}
	if err == nil {
		err = s.update(ctx, func(b *batch) error {
			old, err := b.annotatable(relationshipID)
			if err != nil {
				return err
			}
			mark := why
			if action == ActionRelationshipBack {
				mark = ""
			}
			if old.Gone == mark {
				rel = old
				return nil
			}
			rel, _ = b.touchRel(old)
			rel.Gone = mark
			rel.GoneAt = time.Time{}
			if mark != "" {
				rel.GoneAt = b.now.UTC()
			}
			return b.addAudit(actor, action, why, rel.ID, &goneDetails{Before: old.Gone, After: mark})
		})
	}
	if err != nil {
		return nil, fmt.Errorf("identity: %s %s: %w", action, relationshipID, err)
	}
	return rel, nil
}

// annotatable returns the current version of a relationship that may take
// tags and remarks.
func (b *batch) annotatable(id string) (*Relationship, error) {
	r, ok := b.rel(id)
	if !ok {
		return nil, fmt.Errorf("%w: relationship %s", ErrNotFound, id)
	}
	if r.MergedInto != "" {
		return nil, fmt.Errorf("%w: relationship %s was merged into %s; annotate that one", ErrInvalid, id, r.MergedInto)
	}
	return r, nil
}

// TouchRelationships records traffic: each relationship's LastActivity
// becomes the time given for it, if that is later (reports may arrive out
// of order; LastActivity never goes back). Times are stored in UTC, to the
// nanosecond.
//
// It is meant for the gateway to call in batches (say, every few seconds
// with every relationship that saw messages), not once per message: each
// call is one durable commit, and copies the index pages of the
// relationships it changes. It is traffic, not an admin act: not audited,
// and Version, UpdatedAt and OwnerVersion stay, so it never makes a
// transfer unrevertible. All relationships must exist (ErrNotFound, and
// nothing is recorded); merged ones are accepted and recorded too.
func (s *State) TouchRelationships(ctx context.Context, at map[string]time.Time) error {
	if len(at) == 0 {
		return nil
	}
	// Without the lock: most reports are already recorded or repeat.
	sn := s.Snapshot()
	later := false
	for id, t := range at {
		if r, ok := sn.Relationship(id); !ok || r.LastActivity.Before(t) {
			later = true
			break
		}
	}
	if !later {
		return nil
	}
	err := s.update(ctx, func(b *batch) error {
		for _, id := range slices.Sorted(maps.Keys(at)) {
			r, ok := b.rel(id)
			if !ok {
				return fmt.Errorf("%w: relationship %s", ErrNotFound, id)
			}
			if t := at[id].UTC().Round(0); r.LastActivity.Before(t) {
				b.touchRelQuietly(r).LastActivity = t
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("identity: touch relationships: %w", err)
	}
	return nil
}
