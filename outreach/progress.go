package outreach

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/gateway"
)

// progressDelay batches the checks of a broadcast's progress: one check
// per broadcast per delay, however many copies went out meanwhile.
const progressDelay = 200 * time.Millisecond

// scheduleProgress has broadcastProgress run for id soon, unless a run is
// already due. A copy done after the due run has started schedules another.
func (s *Service) scheduleProgress(ctx context.Context, id string) {
	if !s.progressDue.Claim(id) {
		return
	}
	if !s.gw.AfterFunc(progressDelay, func() {
		s.progressDue.Release(id)
		s.broadcastProgress(ctx, id)
	}) {
		// Stopping: the next start reports broadcasts left unreported.
		s.progressDue.Release(id)
	}
}

// broadcastProgress checks a broadcast whose copies were being sent: when
// none is pending any more, the owner gets the report, once.
func (s *Service) broadcastProgress(ctx context.Context, id string) {
	// A read first: while copies are out, no write transaction is needed.
	switch pending, err := s.gw.Queue().BroadcastPending(ctx, id); {
	case err != nil:
		s.log.Warn("could not follow a broadcast", "broadcast", id, "err", err)
		return
	case pending:
		return // still sending
	}
	var report bool
	err := s.gw.PostBatch(ctx, func(ctx context.Context, tx *gateway.Tx) ([]*gateway.Record, error) {
		// Claimed once, and only when nothing is pending at the commit.
		res, err := tx.ExecContext(ctx, `UPDATE broadcasts SET reported = 1 WHERE id = ? AND reported = 0 AND `+gateway.PendingCopiesSQL, id, id)
		if err != nil {
			return nil, fmt.Errorf("queue: broadcast progress: %w", err)
		}
		n, err := res.RowsAffected()
		report = n == 1
		return nil, err
	})
	if err != nil {
		s.log.Warn("could not follow a broadcast", "broadcast", id, "err", err)
		return
	}
	if !report {
		return
	}
	b, err := s.LoadBroadcast(ctx, id)
	if err != nil {
		s.log.Warn("could not report a broadcast", "broadcast", id, "err", err)
		return
	}
	s.noticeEmployee(ctx, b.OwnerID, "Your broadcast "+quoteStart(b.Body)+" is out: "+b.Summary()+".")
}

// Summary words a broadcast's counts for its owner.
func (b *Broadcast) Summary() string {
	parts := []string{fmt.Sprintf("%d sent", b.Sent)}
	if b.Pending > 0 {
		parts = append(parts, fmt.Sprintf("%d still sending", b.Pending))
	}
	if b.Failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", b.Failed))
	}
	parts = append(parts, fmt.Sprintf("%d skipped (cap)", b.SkippedCap), fmt.Sprintf("%d skipped (gone)", b.SkippedGone))
	if b.SkippedUnreachable > 0 {
		parts = append(parts, fmt.Sprintf("%d skipped (no longer yours or unreachable)", b.SkippedUnreachable))
	}
	return strings.Join(parts, ", ")
}

// quoteStart is the start of a text, quoted, for notices.
func quoteStart(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if r := []rune(line); len(r) > 40 {
		line = string(r[:40]) + "…"
	}
	return "«" + line + "»"
}

// noticeEmployee queues a notice from the gateway itself (its inside
// domain) to an employee's first inside address.
func (s *Service) noticeEmployee(ctx context.Context, employeeID, body string) {
	e, ok := s.state.Snapshot().Employee(employeeID)
	if !ok || len(e.InsideAddrs) == 0 {
		return
	}
	to := e.InsideAddrs[0]
	net, ok := s.top.Networks[to.Network]
	if !ok || net.Domain == "" {
		return
	}
	rec := &gateway.Record{
		ReceivedAt: s.gw.Now(), InNetwork: to.Network, InFrom: net.Domain, InReply: net.Domain, InTo: to.Addr, OwnerID: e.ID,
		Out: gateway.Outgoing{Network: to.Network, From: net.Domain, To: to.Addr, ID: gateway.NewID(), Body: body, Nick: "Kakehashi", Kind: gateway.KindNotice},
	}
	s.gw.Post(ctx, rec, "a notice to "+employeeID)
}
