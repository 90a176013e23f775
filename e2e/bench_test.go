package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/kakehashi/kakehashi/internal/testenv"
)

// BenchmarkRelay is the end-to-end relay benchmark: N messages from an
// employee's client through the gateway to a customer's client over a real
// Prosody, against the direct client-to-client baseline over the same
// Prosody, measured in the same run. Durability is on (the queue commits
// with synchronous=FULL before anything is sent).
//
//	make bench-e2e    (go test ./e2e -run '^$' -bench Relay -benchtime 1x -v)
//
// Environment: KAKEHASHI_BENCH_N (burst size, default 20000),
// KAKEHASHI_BENCH_PACED_N (default 2000), KAKEHASHI_BENCH_RATE (paced
// msg/s, default 200), KAKEHASHI_BENCH_UNCONFIRMED (1: the outside
// component's confirmation off, to measure what it costs) and
// KAKEHASHI_BENCH_STORE (postgres: the gateway's store in a PostgreSQL
// database of the test's own; default the SQLite files).
func BenchmarkRelay(b *testing.B) {
	burstN := envInt("KAKEHASHI_BENCH_N", 20000)
	pacedN := envInt("KAKEHASHI_BENCH_PACED_N", 2000)
	rate := envInt("KAKEHASHI_BENCH_RATE", 200)
	o := worldOptions{logLevel: "warn", unconfirmed: os.Getenv("KAKEHASHI_BENCH_UNCONFIRMED") == "1"}
	if os.Getenv("KAKEHASHI_BENCH_STORE") == "postgres" {
		o.store = testenv.SharedPostgres(b).NewDatabase(b)
	}
	w := newWorld(b, o)
	w.inside.Register(b, "bob", "corp.test", password) // a direct peer on the same server
	hana, bob := w.client("hana"), w.client("bob")
	// Direct baseline: hana@corp.test → bob@corp.test over the same Prosody.
	direct := testenv.Dial(b, w.inside, "bob@corp.test", password)
	startConversationB(b, hana, bob)

	type row struct {
		name string
		r    result
	}
	var rows []row
	var cpu []cpuUse // per run: the direct burst's, the gateway burst's
	for i := 0; i < b.N; i++ {
		c0 := w.cpuNow()
		db := run(b, hana, direct, "bob@corp.test", burstN, 0)
		c1 := w.cpuNow()
		gb := run(b, hana, bob, bobProxy, burstN, 0)
		cpu = append(cpu, c1.since(c0), w.cpuNow().since(c1))
		rows = append(rows,
			row{"direct burst", db},
			row{"gateway burst", gb},
			row{"direct paced", run(b, hana, direct, "bob@corp.test", pacedN, rate)},
			row{"gateway paced", run(b, hana, bob, bobProxy, pacedN, rate)},
		)
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "run\tmessages\tmsg/s\tp50\tp99")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%v\t%v\n", r.name, r.r.n, r.r.rate, r.r.p50, r.r.p99)
	}
	tw.Flush()
	db, gb, dp, gp := rows[0].r, rows[1].r, rows[2].r, rows[3].r
	// Where a burst's CPU goes, on a machine whose cores it fills: the
	// servers' share is Prosody's (one thread), the test process's is the
	// two clients'.
	fmt.Printf("CPU during the direct burst: %v\n", cpu[0])
	fmt.Printf("CPU during the gateway burst: %v\n", cpu[1])
	fmt.Printf("gateway/direct burst throughput: %.2f\n", gb.rate/db.rate)
	fmt.Printf("gateway/direct paced p50 latency: %.2f (p99 %.2f)\n", float64(gp.p50)/float64(dp.p50), float64(gp.p99)/float64(dp.p99))
	fmt.Print(relayMetrics(b, w))
	b.ReportMetric(gb.rate, "gw-msg/s")
	b.ReportMetric(db.rate, "direct-msg/s")
	b.ReportMetric(gb.rate/db.rate, "burst-ratio")
	b.ReportMetric(float64(gp.p50)/float64(dp.p50), "paced-p50-ratio")
}

func startConversationB(b *testing.B, hana, bob *testenv.Client) {
	if err := hana.Send(bobProxy, "warm-up"); err != nil {
		b.Fatal(err)
	}
	message(b, bob)
}

type result struct {
	n        int
	rate     float64
	p50, p99 time.Duration
}

// run sends n messages from → to (rate 0: as fast as possible) and measures
// at the receiver.
func run(b *testing.B, from, recv *testenv.Client, to string, n, rate int) result {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tag := strconv.FormatInt(time.Now().UnixNano(), 36)
	lat := make([]time.Duration, 0, n)
	done := make(chan error, 1)
	var last time.Time
	go func() {
		for len(lat) < n {
			s, err := recv.Receive(ctx)
			if err != nil {
				done <- err
				return
			}
			parts := strings.Split(s.Body, " ")
			if s.Kind != "message" || len(parts) != 3 || parts[0] != tag {
				continue
			}
			sent, _ := strconv.ParseInt(parts[2], 10, 64)
			last = time.Now()
			lat = append(lat, last.Sub(time.Unix(0, sent)))
		}
		done <- nil
	}()
	start := time.Now()
	var tick *time.Ticker
	if rate > 0 {
		tick = time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
	}
	for i := 0; i < n; i++ {
		if tick != nil {
			<-tick.C
		}
		if err := from.Send(to, fmt.Sprintf("%s %d %d", tag, i, time.Now().UnixNano())); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatalf("received %d of %d: %v", len(lat), n, err)
	}
	slices.Sort(lat)
	return result{
		n:    n,
		rate: float64(n) / last.Sub(start).Seconds(),
		p50:  lat[len(lat)/2],
		p99:  lat[len(lat)*99/100],
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// relayMetrics returns the gateway's own relay latency histogram summary
// (receive → adapter wrote it, durable commit included).
func relayMetrics(b *testing.B, w *world) string {
	var out strings.Builder
	for _, line := range strings.Split(metricsText(b, w), "\n") {
		if strings.HasPrefix(line, "kakehashi_relay_seconds") {
			out.WriteString(line + "\n")
		}
	}
	return out.String()
}

// metricsText is the gateway's /metrics page.
func metricsText(b *testing.B, w *world) string {
	req, _ := http.NewRequest("GET", w.gw.adminURL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return string(data)
}
