package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/identity"
)

// BenchmarkServe1M measures a real `kakehashi serve` over Prosody with a
// million relationships in its SQLite identity store: the time from
// starting the process to /healthz saying every network is connected
// (start-s), its resident memory once started (RSS-MiB) and after
// relaying a burst (RSS-burst-MiB), and the most it held at any point
// (HWM-MiB).
//
// Environment: KAKEHASHI_BENCH_SERVE_N (relationships, default
// 1,000,000), KAKEHASHI_BENCH_N (the burst, default 20,000).
func BenchmarkServe1M(b *testing.B) {
	if testing.Short() {
		b.Skip("a million relationships: not in -short mode")
	}
	n := envInt("KAKEHASHI_BENCH_SERVE_N", 1_000_000)
	burstN := envInt("KAKEHASHI_BENCH_N", 20000)
	w := newWorld(b, worldOptions{logLevel: envStr("KAKEHASHI_BENCH_LOG", "warn")})
	w.gw.Stop()
	fill := time.Now()
	seedIdentity(b, filepath.Join(filepath.Dir(w.gw.cfg), "data", "identity.db"), n)
	b.Logf("%d relationships written in %v", n, time.Since(fill).Round(time.Millisecond))
	// The start measured is a restart's on a settled database, not one
	// the kernel is still writing back the 270 MB of the fill from.
	syscall.Sync()

	var starts, idle, after, hwm []float64
	for range b.N {
		t0 := time.Now()
		w.gw.Start()
		starts = append(starts, time.Since(t0).Seconds())
		pid := w.gw.cmd.Process.Pid
		// What is resident once the start-up work behind /healthz (the
		// check of stored spellings, the first analytics batch) is done.
		time.Sleep(3 * time.Second)
		idle = append(idle, float64(rss(b, pid, "VmRSS"))/1024)
		fmt.Printf("started: anonymous %d MiB (in huge pages %d MiB), file-backed %d MiB; Go heap in use %s MiB\n",
			rss(b, pid, "RssAnon")>>10, procKiB(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "AnonHugePages")>>10,
			rss(b, pid, "RssFile")>>10, goMetric(b, w, "go_memstats_heap_inuse_bytes", 20))
		hana, bob := w.client("hana"), w.client("bob")
		startConversationB(b, hana, bob)
		r := run(b, hana, bob, bobProxy, burstN, 0)
		time.Sleep(time.Second)
		after = append(after, float64(rss(b, pid, "VmRSS"))/1024)
		hwm = append(hwm, float64(rss(b, pid, "VmHWM"))/1024)
		fmt.Printf("serve with %d relationships: healthy after %.2f s, RSS %.0f MiB started, %.0f MiB after %d messages (%.0f msg/s), peak %.0f MiB\n",
			n, starts[len(starts)-1], idle[len(idle)-1], after[len(after)-1], burstN, r.rate, hwm[len(hwm)-1])
		w.gw.Stop()
	}
	b.ReportMetric(slices.Max(starts), "start-s")
	b.ReportMetric(slices.Max(idle), "RSS-MiB")
	b.ReportMetric(slices.Max(after), "RSS-burst-MiB")
	b.ReportMetric(slices.Max(hwm), "HWM-MiB")
}

// seedIdentity adds identity.GenerateDataset(n, 300) to the identity
// store at path (the gateway stopped), in sorted batches, and folds the
// relationship log as a settled installation has it.
func seedIdentity(b *testing.B, path string, n int) {
	b.Helper()
	ctx := context.Background()
	st, err := identity.OpenSQLite(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := identity.WriteDataset(ctx, st, identity.GenerateDataset(n, 300)); err != nil {
		b.Fatal(err)
	}
}

// goMetric reads one of the gateway's Go runtime gauges from /metrics,
// shifted right by shift bits ("?" when it is not there).
func goMetric(b *testing.B, w *world, name string, shift int) string {
	for line := range strings.Lines(metricsText(b, w)) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil {
				return strconv.FormatInt(int64(f)>>shift, 10)
			}
		}
	}
	return "?"
}
