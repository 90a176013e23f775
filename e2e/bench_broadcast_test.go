package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/internal/testenv"
)

// BenchmarkRelayDuringBroadcast measures what one employee's long command
// does to everyone else's messages: Ken's paced messages to alice, first
// alone (the baseline, same run), then while Hana's "Send a broadcast"
// command queues a broadcast to her 10,000 tagged contacts. Before the
// command left the component's read loop, every stanza behind it waited
// for it.
//
//	go test ./e2e -run '^$' -bench RelayDuringBroadcast -benchtime 1x -v
//
// Environment: KAKEHASHI_BENCH_CONTACTS (default 10000),
// KAKEHASHI_BENCH_PACED_N (default 400) and KAKEHASHI_BENCH_RATE
// (default 200 msg/s).
func BenchmarkRelayDuringBroadcast(b *testing.B) {
	contacts := envInt("KAKEHASHI_BENCH_CONTACTS", 10000)
	n := envInt("KAKEHASHI_BENCH_PACED_N", 400)
	rate := envInt("KAKEHASHI_BENCH_RATE", 200)
	w := newWorld(b, worldOptions{logLevel: "warn"})
	seedTaggedContacts(b, w, contacts, "expo")
	hana, ken, alice := w.client("hana"), w.client("ken"), w.client("alice")
	if err := ken.Send(`alice\40ext.test@gw.corp.test`, "warm-up"); err != nil {
		b.Fatal(err)
	}
	message(b, alice)

	for i := 0; i < b.N; i++ {
		alone := run(b, ken, alice, `alice\40ext.test@gw.corp.test`, n, rate)

		// Hana starts the broadcast; its answer arrives whenever the
		// command is done, on its own goroutine.
		note := make(chan string, 1)
		took := make(chan time.Duration, 1)
		go func() {
			began := time.Now()
			note <- broadcastByCommand(hana, "expo", fmt.Sprintf("Spring catalogue %d", i))
			took <- time.Since(began)
		}()
		during := run(b, ken, alice, `alice\40ext.test@gw.corp.test`, n, rate)
		var cmdTook time.Duration
		select {
		case s := <-note:
			cmdTook = <-took
			if !strings.Contains(s, fmt.Sprintf("%d queued", contacts)) {
				b.Fatalf("broadcast: %s", s)
			}
		case <-time.After(5 * time.Minute):
			b.Fatal("the broadcast command did not answer")
		}

		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "run\tmessages\tmsg/s\tp50\tp99")
		fmt.Fprintf(tw, "alone\t%d\t%.0f\t%v\t%v\n", alone.n, alone.rate, alone.p50, alone.p99)
		fmt.Fprintf(tw, "during a %d-contact broadcast\t%d\t%.0f\t%v\t%v\n", contacts, during.n, during.rate, during.p50, during.p99)
		_ = tw.Flush()
		fmt.Printf("broadcast command answered in %v; during/alone p50 %.2f, p99 %.2f\n", cmdTook.Round(time.Millisecond),
			float64(during.p50)/float64(alone.p50), float64(during.p99)/float64(alone.p99))
		b.ReportMetric(float64(during.p50)/float64(alone.p50), "p50-ratio")
		b.ReportMetric(float64(during.p99)/float64(alone.p99), "p99-ratio")
		b.ReportMetric(cmdTook.Seconds(), "command-s")
	}
}

// seedTaggedContacts gives Hana n contacts on public-xmpp, tagged tag,
// written straight into the stopped gateway's identity store (going
// through traffic would take minutes), then starts the gateway again.
// The addresses have no account on Prosody: their copies bounce, as some
// do in life.
func seedTaggedContacts(b *testing.B, w *world, n int, tag string) {
	b.Helper()
	w.gw.Stop()
	ctx := context.Background()
	store, err := identity.OpenSQLite(ctx, filepath.Join(filepath.Dir(w.gw.cfg), "data", "identity.db"))
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	cs := &identity.Changeset{}
	for i := range n {
		cid, rid := fmt.Sprintf("c-bench%07d", i), fmt.Sprintf("r-bench%07d", i)
		cs.Contacts = append(cs.Contacts, identity.Contact{ID: cid, CreatedAt: now, Source: "outreach",
			Address: identity.Address{Network: "public-xmpp", Addr: fmt.Sprintf("cust%07d@ext.test", i)}})
		cs.Relationships = append(cs.Relationships, &identity.Relationship{ID: rid, ContactID: cid, PersonaID: "hana.sales",
			OwnerID: "hana", Tags: []string{tag}, CreatedAt: now, UpdatedAt: now, Version: 1})
	}
	if err := store.Commit(ctx, cs); err != nil {
		b.Fatal(err)
	}
	if err := store.Close(); err != nil {
		b.Fatal(err)
	}
	w.gw.Start()
}

// broadcastByCommand runs "Send a broadcast" as c to the contacts tagged
// tag and returns the command's note (or what went wrong).
func broadcastByCommand(c *testenv.Client, tag, text string) string {
	const ns = `http://jabber.org/protocol/commands`
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ask := func(id, payload string) (testenv.Stanza, error) {
		if err := c.SendRaw(`<iq type="set" to="gw.corp.test" id="` + id + `">` + payload + `</iq>`); err != nil {
			return testenv.Stanza{}, err
		}
		for {
			s, err := c.Receive(ctx)
			if err != nil {
				return s, err
			}
			if s.Kind == "iq" && s.ID == id {
				return s, nil
			}
		}
	}
	form, err := ask("bc-1", `<command xmlns="`+ns+`" node="broadcast" action="execute"/>`)
	session := sessionRE.FindStringSubmatch(form.Raw)
	if err != nil || session == nil {
		return fmt.Sprintf("form: %v %s", err, form.Raw)
	}
	done, err := ask("bc-2", `<command xmlns="`+ns+`" node="broadcast" sessionid="`+session[1]+`" action="complete">`+
		`<x xmlns="jabber:x:data" type="submit"><field var="message"><value>`+text+`</value></field>`+
		`<field var="tag"><value>`+tag+`</value></field></x></command>`)
	if err != nil {
		return fmt.Sprintf("submit: %v", err)
	}
	if m := noteRE.FindStringSubmatch(done.Raw); m != nil {
		return m[1]
	}
	return done.Raw
}
