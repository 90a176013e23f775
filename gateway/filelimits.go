package gateway

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// dayWindow is the span the daily file limits count over.
const dayWindow = 24 * time.Hour

// checkDailyFiles refuses m's files when its sender (any resource of an
// XMPP address) has had more files, or more bytes of files as far as they
// are known, accepted in the last day than FileOptions allow. It counts
// the queue's own rows, so a restart forgets nothing. Bytes of a file
// given by URL count once it was fetched.
func (g *Gateway) checkDailyFiles(ctx context.Context, m *Message) error {
	o := g.files.o
	if o.MaxFilesPerDay <= 0 && o.MaxBytesPerDay <= 0 {
		return nil
	}
	bare, _, _ := strings.Cut(m.From, "/")
	// in_from is bare or bare/resource: both sort in [bare, bare+"0"),
	// since '/' comes just before '0'; others in that range are dropped
	// below.
	rows, err := g.queue.ro.QueryContext(ctx, `SELECT in_from, parts FROM messages
		WHERE in_network = ? AND in_from >= ? AND in_from < ? AND received_at > ? AND parts <> ''`,
		m.Network, bare, bare+"0", g.now().Add(-dayWindow).UnixNano())
	if err != nil {
		return fmt.Errorf("queue: count a sender's files: %w", err)
	}
	defer rows.Close()
	files, size := len(m.Files), int64(0)
	for _, f := range m.Files {
		size += max(f.Size, 0)
	}
	for rows.Next() {
		var from, col string
		if err := rows.Scan(&from, &col); err != nil {
			return fmt.Errorf("queue: count a sender's files: %w", err)
		}
		if from != bare && !strings.HasPrefix(from, bare+"/") {
			continue
		}
		var out Outgoing
		if decodeParts(col, &out) != nil {
			continue
		}
		files += len(out.Files)
		for _, f := range out.Files {
			size += max(f.Size, 0)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("queue: count a sender's files: %w", err)
	}
	switch {
	case o.MaxFilesPerDay > 0 && files > o.MaxFilesPerDay:
		return fmt.Errorf("%w: at most %d files a day may be sent from one address; try again tomorrow, or send fewer", errFileRefused, o.MaxFilesPerDay)
	case o.MaxBytesPerDay > 0 && size > o.MaxBytesPerDay:
		return fmt.Errorf("%w: at most %s of files a day may be sent from one address; try again tomorrow, or send smaller files", errFileRefused, sizeText(o.MaxBytesPerDay))
	}
	return nil
}
