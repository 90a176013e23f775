package gateway

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestTwoBouncesTellTheAuthorOnce: bounces are handled off the read loop,
// so two for one message (say the contact's server and a relay) can
// arrive together; its author is told once.
func TestTwoBouncesTellTheAuthorOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, dir, store string) {
		g := startTestGatewayOn(t, dir, store)
		defer g.stop()
		ctx := context.Background()
		for i, body := range []string{"first", "second", "third"} {
			if err := g.Receive(ctx, &Message{Network: "corp", From: "hana@corp.test/pc", ReplyTo: "hana@corp.test/pc",
				To: `bob\40ext.test@gw.corp.test`, ID: "h" + body, Body: body}); err != nil {
				t.Fatal(err)
			}
			out := recv(t, g.outside.Sent)
			var wg sync.WaitGroup
			for range 2 + i {
				wg.Add(1)
				go func() {
					defer wg.Done()
					g.Failed(ctx, Bounce{Network: "public-xmpp", ID: out.ID, Reason: "service-unavailable"})
				}()
			}
			wg.Wait()
			n := recv(t, g.inside.Sent)
			if !strings.Contains(n.Body, "could not be delivered") || !strings.Contains(n.Body, body) {
				t.Fatalf("notice %+v", n)
			}
			select {
			case o := <-g.inside.Sent:
				t.Fatalf("told twice about %q: %+v", body, o)
			case <-time.After(300 * time.Millisecond):
			}
		}
	})
}
