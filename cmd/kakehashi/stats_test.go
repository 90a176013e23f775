package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/adminapi/apitest"
	"github.com/kakehashi/kakehashi/gateway"
)

// TestStatsAndWaiting runs kakehashi stats and waiting against a server
// whose analytics store holds a known day: bob writes to ken at 09:00,
// ken answers at 11:30; carol, from the contact point desk with source
// expo, writes at 12:00 and waits.
func TestStatsAndWaiting(t *testing.T) {
	srv := apitest.Start(t)
	t.Setenv("KAKEHASHI_ADMIN_URL", srv.URL)
	t.Setenv("KAKEHASHI_ADMIN_TOKEN", apitest.Token)
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	ev := func(kind gateway.EventKind, h, m int, rel string) gateway.Event {
		e := gateway.Event{At: day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute), Kind: kind, RelationshipID: rel,
			OwnerID: "ken", Team: "sales", Network: "public-xmpp", Source: "inbound"}
		if rel == "r-carol" {
			e.ContactPoint, e.Source = "desk", "expo"
		}
		return e
	}
	if err := srv.Analytics.Record(context.Background(), []gateway.Event{
		ev(gateway.EventNew, 9, 0, "r-bob"), ev(gateway.EventIn, 9, 0, "r-bob"), ev(gateway.EventOut, 11, 30, "r-bob"),
		ev(gateway.EventNew, 12, 0, "r-carol"), ev(gateway.EventIn, 12, 0, "r-carol"),
	}); err != nil {
		t.Fatal(err)
	}
	out, _, err := cli("stats", "--from", "2026-11-02", "--to", "2026-11-03", "--team", "sales")
	if err != nil {
		t.Fatal(err)
	}
	// The median of 2h30m is read from its histogram bucket: 2h29m.
	want := "DAY         IN  OUT  NEW  GONE  WAITS  REPLIED  REPLY RATE  ANSWERS  MEDIAN   <1H  1-4H  4-8H  8-24H  >24H\n" +
		"2026-11-02  2   1    2    0     2      1        50.0%       1        2h29m0s  0    1     0     0      0\n" +
		"2026-11-03  0   0    0    0     0      0        -           0        -        0    0     0     0      0\n" +
		"total       2   1    2    0     2      1        50.0%       1        2h29m0s  0    1     0     0      0\n" +
		"\n" +
		"NEW CONTACTS BY  CONTACT POINT  SOURCE   COUNT\n" +
		"2026-11-02       -              inbound  1\n" +
		"2026-11-02       desk           expo     1\n"
	if out != want {
		t.Errorf("stats:\n%s\nwant\n%s", out, want)
	}
	if out, _, err := cli("stats", "--from", "2026-11-02", "--to", "2026-11-02", "--employee", "mei"); err != nil ||
		!strings.Contains(out, "2026-11-02  0   0    0    0     0      0        -") {
		t.Errorf("mei's stats: %v\n%s", err, out)
	}
	out, _, err = cli("waiting", "--older-than", "4h", "--employee", "ken")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "RELATIONSHIP") ||
		!strings.HasPrefix(lines[1], "r-carol       ken    sales  public-xmpp  2026-11-02T12:00:00Z") {
		t.Errorf("waiting:\n%s", out)
	}
	for _, bad := range []struct {
		args []string
		says string
	}{
		{[]string{"stats", "--from", "2026-11-31"}, "give a day as YYYY-MM-DD"},
		{[]string{"stats", "--from", "2026-11-03", "--to", "2026-11-02"}, "give 1 to 366"},
		{[]string{"waiting", "--older-than", "-4h"}, "give a positive duration"},
		{[]string{"waiting", "--limit", "5000"}, "not a whole number from 1 to 1000"},
	} {
		if _, _, err := cli(bad.args...); err == nil || !strings.Contains(err.Error(), bad.says) {
			t.Errorf("%v: %v, want an error saying %q", bad.args, err, bad.says)
		}
	}
}
