package outreach

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// TestBroadcastsOfAnOldQueueSurvive: a queue.db written before numbered
// migrations already has the broadcasts table; outreach records it as
// migrated without touching it, and its broadcasts still load.
func TestBroadcastsOfAnOldQueueSurvive(t *testing.T) {
	dir := t.TempDir()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "queue.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE broadcasts (
		id TEXT PRIMARY KEY, parent TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL, actor TEXT NOT NULL,
		reason TEXT NOT NULL DEFAULT '', owner_id TEXT NOT NULL, team TEXT NOT NULL DEFAULT '', tag TEXT NOT NULL DEFAULT '',
		relationships TEXT NOT NULL DEFAULT '', subject TEXT NOT NULL DEFAULT '', body TEXT NOT NULL, state TEXT NOT NULL,
		decided_at INTEGER NOT NULL DEFAULT 0, queued INTEGER NOT NULL DEFAULT 0, skipped_cap INTEGER NOT NULL DEFAULT 0,
		skipped_gone INTEGER NOT NULL DEFAULT 0, skipped_unreachable INTEGER NOT NULL DEFAULT 0, reported INTEGER NOT NULL DEFAULT 0);
		INSERT INTO broadcasts (id, created_at, actor, owner_id, body, state, reported) VALUES ('b-old', 1, 'employee:hana', 'hana', 'Sale', 'sent', 1);`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for range 2 { // the second start finds it migrated
		g := startTestWorld(t, dir)
		b, err := g.LoadBroadcast(context.Background(), "b-old")
		if err != nil || b.Body != "Sale" || b.OwnerID != "hana" {
			t.Fatalf("old broadcast: %+v, %v", b, err)
		}
		var n int
		if err := g.Queue().Reader().QueryRow(`SELECT count(*) FROM outreach_migrations`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("outreach migrations recorded: %d, %v", n, err)
		}
		g.Stop()
	}
}

// TestBroadcastTablesMigrateOnce: on either store, the first start
// creates outreach's tables with its dialect's migrations and the second
// finds them migrated; a broadcast stored by the first is read by the
// second.
func TestBroadcastTablesMigrateOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, dir, store string) {
		var id string
		for i := range 2 {
			g := startTestWorldOn(t, dir, store)
			var n int
			if err := g.Queue().Reader().QueryRow(`SELECT count(*) FROM outreach_migrations`).Scan(&n); err != nil || n != 1 {
				t.Fatalf("start %d: outreach migrations recorded: %d, %v", i, n, err)
			}
			if i == 0 {
				withContacts(t, g, 2)
				b, err := g.SendBroadcast(context.Background(), BroadcastRequest{Actor: "employee:hana", OwnerID: "hana", Tag: "vip", Body: "Sale"})
				if err != nil || b.Queued != 2 {
					t.Fatalf("broadcast: %+v, %v", b, err)
				}
				id = b.ID
				collectSent(t, g.Outside.Sent, 2)
				g.Settle(t)
			} else if b, err := g.LoadBroadcast(context.Background(), id); err != nil || b.Body != "Sale" || b.Queued != 2 {
				t.Fatalf("after a restart: %+v, %v", b, err)
			}
			g.Stop()
		}
	})
}
