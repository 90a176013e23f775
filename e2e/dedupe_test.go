package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/internal/testenv"
)

// send writes a chat message with a chosen stanza ID, as clients that
// reuse IDs (counters) do.
func sendWithID(t *testing.T, c *testenv.Client, to, id, body string) {
	t.Helper()
	if err := c.SendRaw(fmt.Sprintf(`<message type='chat' to='%s' id='%s'><body>%s</body></message>`, to, id, body)); err != nil {
		t.Fatal(err)
	}
}

// expectNext asserts that the next message c receives has body want:
// anything dropped before it would have been received first (one sender
// per network keeps the order).
func expectNext(t *testing.T, c *testenv.Client, want string) {
	t.Helper()
	if got := message(t, c); got.Body != want {
		t.Fatalf("%s got %q (%s), want %q", c.JID, got.Body, got.Raw, want)
	}
}

// metric returns the value of a metric line (name with labels) from the
// gateway's /metrics, "" when it is absent.
func metric(t *testing.T, w *world, line string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", w.gw.adminURL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, line+" "); ok {
			return v
		}
	}
	return ""
}

// TestDeduplicationNeverEatsAnotherMessage: a client that reuses stanza
// IDs (a counter that restarts) loses nothing: the same ID to another
// recipient, with another body, or after a gateway restart with another
// body is delivered; only the same message again (same sender, ID,
// recipient and body) is dropped, and counted.
func TestDeduplicationNeverEatsAnotherMessage(t *testing.T) {
	w := newWorld(t, worldOptions{})
	hana, ken, bob := w.client("hana"), w.client("ken"), w.client("bob")

	sendWithID(t, bob, hanaAddr, "1", "first")
	expectNext(t, hana, "first")
	sendWithID(t, bob, hanaAddr, "1", "first") // redelivered
	sendWithID(t, bob, hanaAddr, "1", "second, same id")
	expectNext(t, hana, "second, same id")
	sendWithID(t, bob, kenAddr, "1", "first") // same id and body, another persona
	expectNext(t, ken, "first")
	sendWithID(t, bob, hanaAddr, "2", "first") // same body, another id
	expectNext(t, hana, "first")

	// Inside to outside: Hana's client reuses an ID too.
	sendWithID(t, hana, bobProxy, "h1", "hello bob")
	expectNext(t, bob, "hello bob")
	sendWithID(t, hana, bobProxy, "h1", "hello bob")
	sendWithID(t, hana, bobProxy, "h1", "hello again bob")
	expectNext(t, bob, "hello again bob")

	if got := metric(t, w, `kakehashi_messages_duplicate_total{network="public-xmpp"}`); got != "1" {
		t.Errorf("public-xmpp duplicates = %q, want 1", got)
	}
	if got := metric(t, w, `kakehashi_messages_duplicate_total{network="corp"}`); got != "1" {
		t.Errorf("corp duplicates = %q, want 1", got)
	}

	// The counter restarts with the client's new session, and the gateway
	// restarts too: ID 1 again is a new message unless it is the same one.
	w.gw.Stop()
	w.gw.Start()
	sendWithID(t, bob, hanaAddr, "1", "a new session")
	expectNext(t, hana, "a new session")
	sendWithID(t, bob, hanaAddr, "1", "first") // the first message, redelivered
	sendWithID(t, bob, hanaAddr, "3", "marker")
	expectNext(t, hana, "marker")
	silent(t, hana, 300*time.Millisecond)
}
