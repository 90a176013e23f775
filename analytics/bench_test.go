package analytics_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/analytics"
	"github.com/kakehashi/kakehashi/gateway"
)

// BenchmarkRecord measures Record on SQLite in batches of 1,000 events
// (a second of a busy gateway): 100 employees in 10 teams, 10,000
// relationships, contacts writing and owners answering in turn.
func BenchmarkRecord(b *testing.B) {
	s, err := analytics.Open(context.Background(), filepath.Join(b.TempDir(), analytics.FileName))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const batch = 1000
	events := make([]gateway.Event, batch)
	t0 := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	n := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range events {
			rel := n % 10000
			kind := gateway.EventIn
			if (n/10000)%2 == 1 {
				kind = gateway.EventOut
			}
			emp := rel % 100
			events[j] = gateway.Event{At: t0.Add(time.Duration(n) * time.Second), Kind: kind, RelationshipID: fmt.Sprint("r", rel),
				OwnerID: fmt.Sprint("e", emp), Team: fmt.Sprint("t", emp%10), Network: "public-xmpp", Source: "inbound"}
			n++
		}
		if err := s.Record(context.Background(), events); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}
