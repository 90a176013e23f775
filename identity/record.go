package identity

import (
	"context"
	"fmt"
	"strings"
)

// RecordAudit appends an entry for an act that happened outside the
// directory (a broadcast sent, say) to the same audit log, so one log
// tells who did what. action must be a dotted name ("broadcast.send");
// details, when not nil, are stored as JSON. Nothing else changes.
func (s *State) RecordAudit(ctx context.Context, actor, action, reason, subject string, details any) error {
	if err := checkActor(actor); err != nil {
		return err
	}
	if !strings.Contains(action, ".") || strings.TrimSpace(action) != action {
		return fmt.Errorf("%w: audit action %q: want a dotted name such as broadcast.send", ErrInvalid, action)
	}
	if err := checkText("reason", reason); err != nil {
		return err
	}
	err := s.update(ctx, func(b *batch) error {
		return b.addAudit(actor, action, reason, subject, details)
	})
	if err != nil {
		return fmt.Errorf("identity: record %s: %w", action, err)
	}
	return nil
}
