package e2e

import (
	"os"
	"testing"

	"github.com/kakehashi/kakehashi/internal/testenv"
)

// serverEnv names the environment variable that picks the XMPP server of a
// world whose options name none: "prosody" (the default) or "ejabberd".
// KAKEHASHI_E2E_SERVER=ejabberd go test ./e2e runs any test on ejabberd.
const serverEnv = "KAKEHASHI_E2E_SERVER"

// serverStarter returns what starts the XMPP server called name, or the
// one $KAKEHASHI_E2E_SERVER names when name is empty. testenv.StartProsody
// and testenv.StartEjabberd take the same options and return the same
// type, so a world is built the same way on either.
func serverStarter(t testing.TB, name string) func(testing.TB, testenv.ProsodyOptions) *testenv.Prosody {
	t.Helper()
	if name == "" {
		name = os.Getenv(serverEnv)
	}
	switch name {
	case "", "prosody":
		return testenv.StartProsody
	case "ejabberd":
		return testenv.StartEjabberd
	}
	t.Fatalf("XMPP server %q (worldOptions.server or $%s): want prosody or ejabberd", name, serverEnv)
	return nil
}

// TestEjabberd runs the core relay tests, unchanged, on ejabberd instead
// of Prosody, to show that the gateway's components are not
// Prosody-specific: text both ways with the persona hiding everything
// inside, deduplicated redelivery, and a contact's message reaching the
// new owner after a transfer, who answers as his own persona.
//
// Files cross both ways through ejabberd's upload service, whose slots
// name no headers. Left out for now: the outage tests (ejabberd
// may deliver a message that arrives while it hands a user his offline
// messages before them).
func TestEjabberd(t *testing.T) {
	testenv.RequireEjabberd(t)
	// Every world the tests below build is on ejabberd. Setenv forbids
	// t.Parallel, which these tests do not use.
	t.Setenv(serverEnv, "ejabberd")
	for _, tc := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"RelayBothWaysWithoutLeak", TestRelayBothWaysWithoutLeak},
		{"RedeliveryDeduplicated", TestRedeliveryDeduplicated},
		{"TransferIsInstantAndAudited", TestTransferIsInstantAndAudited},
		{"FileEmployeeToContactIsRehostedAndCleaned", TestFileEmployeeToContactIsRehostedAndCleaned},
		{"FileContactToEmployeeIsRehostedInside", TestFileContactToEmployeeIsRehostedInside},
		{"ReferencesMapBothWays", TestReferencesMapBothWays},
	} {
		t.Run(tc.name, tc.run)
	}
}
