package e2e

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/internal/testenv"
	"github.com/kakehashi/kakehashi/internal/testfiles"
)

// BenchmarkFileRelay is the end-to-end file benchmark (issue 11): a photo
// of about 10 MiB shared the way clients share it (XEP-0363 upload, then
// the URL in body and OOB), timed from the start of the upload to the
// recipient's last byte fetched. Through the gateway (fetched from the
// inside upload service, spooled, cleaned of its EXIF, uploaded to the
// outside one, sent) against the same share directly between two users of
// the same Prosody, alternating, in the same run. Then the gateway's
// resident memory while it relays ten such files at once.
//
//	go test ./e2e -run '^$' -bench FileRelay -benchtime 1x -v   (part of make bench-e2e)
//
// KAKEHASHI_BENCH_FILE_N sets the shares per path (default 5).
func BenchmarkFileRelay(b *testing.B) {
	n := envInt("KAKEHASHI_BENCH_FILE_N", 5)
	w := newWorld(b, worldOptions{logLevel: "warn"})
	w.inside.Register(b, "bob", "corp.test", password)
	hana, bob := w.client("hana"), w.client("bob")
	direct := testenv.Dial(b, w.inside, "bob@corp.test", password)
	startConversationB(b, hana, bob)
	data := noisyPhoto(b, 10<<20)

	share := func(to string, rcpt *testenv.Client) time.Duration {
		start := time.Now()
		u := upload(b, hana, w.inside.InsideUpload, "IMG_4032.jpg", "image/jpeg", data)
		if _, err := hana.SendFile(to, u, ""); err != nil {
			b.Fatal(err)
		}
		_, got := fileMessage(b, rcpt)
		body := fetch(b, got)
		d := time.Since(start)
		if len(body) < len(data)-4096 || len(body) > len(data) {
			b.Fatalf("%s got %d bytes of %d", to, len(body), len(data))
		}
		return d
	}
	var dd, gd []time.Duration
	for range b.N {
		for range n {
			dd = append(dd, share("bob@corp.test", direct))
			gd = append(gd, share(bobProxy, bob))
		}
	}
	slices.Sort(dd)
	slices.Sort(gd)
	med := func(s []time.Duration) time.Duration { return s[len(s)/2] }
	fmt.Printf("file %.1f MiB, %d shares per path\n", float64(len(data))/(1<<20), len(dd))
	fmt.Printf("direct  share+fetch: min %v median %v max %v\n", dd[0], med(dd), dd[len(dd)-1])
	fmt.Printf("gateway share+fetch: min %v median %v max %v\n", gd[0], med(gd), gd[len(gd)-1])
	fmt.Printf("gateway/direct file relay time (median): %.2f\n", float64(med(gd))/float64(med(dd)))
	b.ReportMetric(float64(med(gd))/float64(med(dd)), "file-ratio")

	// Ten at once: how far the gateway's resident memory grows.
	pid := w.gw.cmd.Process.Pid
	before := rss(b, pid, "VmRSS")
	var urls []string
	for i := range 10 {
		urls = append(urls, upload(b, hana, w.inside.InsideUpload, fmt.Sprintf("IMG_%d.jpg", 5000+i), "image/jpeg", data))
	}
	peak := before
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if v := rss(b, pid, "VmRSS"); v > 0 {
					mu.Lock()
					peak = max(peak, v)
					mu.Unlock()
				}
			}
		}
	})
	for _, u := range urls {
		if _, err := hana.SendFile(bobProxy, u, ""); err != nil {
			b.Fatal(err)
		}
	}
	for range urls {
		fileMessage(b, bob)
	}
	close(stop)
	wg.Wait()
	growth := float64(peak-before) / 1024
	fmt.Printf("gateway RSS relaying ten %.0f MiB files at once: %.0f MiB before, peak growth %.1f MiB\n",
		float64(len(data))/(1<<20), float64(before)/1024, growth)
	b.ReportMetric(growth, "rss-growth-MiB")
}

// noisyPhoto is a JPEG of random pixels (photos hardly compress) of at
// least size bytes, with EXIF naming its author.
func noisyPhoto(b testing.TB, size int) []byte {
	for side := 256; ; side = side * 5 / 4 {
		data, err := testfiles.Photo(testfiles.Noise(side*4/3, side, 7), 90, "Hana Sato")
		if err != nil {
			b.Fatal(err)
		}
		if len(data) >= size {
			return data
		}
	}
}

// rss reads a field (VmRSS, VmHWM) of /proc/PID/status in KiB.
func rss(b testing.TB, pid int, field string) int64 {
	return procKiB(fmt.Sprintf("/proc/%d/status", pid), field)
}

// procKiB reads a "Field:   N kB" line of a /proc file (0 when it is not
// there).
func procKiB(path, field string) int64 {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
