package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/internal/testfiles"
	"github.com/kakehashi/kakehashi/media/spool"
)

// fileHost is an HTTP upload service on loopback: what Upload stores, GET
// serves.
type fileHost struct {
	// slow holds GETs of paths with "slow" in them until it is closed.
	slow  chan struct{}
	srv   *httptest.Server
	mu    sync.Mutex
	files map[string][]byte
	puts  int
}

func newFileHost(t testing.TB) *fileHost {
	h := &fileHost{files: map[string][]byte{}, slow: make(chan struct{})}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "slow") {
			select {
			case <-h.slow:
			case <-r.Context().Done():
				return
			}
		}
		h.mu.Lock()
		b, ok := h.files[r.URL.Path]
		h.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(b)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *fileHost) put(name string, b []byte) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.puts++
	p := fmt.Sprintf("/share/%d/%s", h.puts, name)
	h.files[p] = b
	return h.srv.URL + (&url.URL{Path: p}).EscapedPath()
}

func (h *fileHost) get(t testing.TB, u string) []byte {
	t.Helper()
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	b, ok := h.files[pu.Path]
	if !ok {
		t.Fatalf("%s was not uploaded here", u)
	}
	return b
}

// uploading is an in-process adapter whose network has an upload service.
type uploading struct {
	*memAdapter
	host *fileHost
}

func (u uploading) Upload(ctx context.Context, from string, f Attachment, r io.Reader) (string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	if int64(len(b)) != f.Size {
		return "", Permanent(fmt.Errorf("size %d, announced %d", len(b), f.Size))
	}
	return u.host.put(f.Name, b), nil
}

func (u uploading) UploadHosts() []string {
	pu, _ := url.Parse(u.host.srv.URL)
	return []string{pu.Host}
}

type fileWorld struct {
	*testGateway
	in, out *fileHost
}

// startFileWorld starts a gateway whose networks have upload services:
// hosts[0] inside and hosts[1] outside, new ones when not given.
func startFileWorld(t testing.TB, dir string, hosts ...*fileHost) *fileWorld {
	return startFileWorldMax(t, dir, 1<<20, hosts...)
}

// startFileWorldMax is startFileWorld with files up to maxBytes.
func startFileWorldMax(t testing.TB, dir string, maxBytes int64, hosts ...*fileHost) *fileWorld {
	return startFileWorldWith(t, dir, func(o *FileOptions) { o.MaxFileBytes = maxBytes }, hosts...)
}

// startFileWorldWith is startFileWorld with file options set by opt.
func startFileWorldWith(t testing.TB, dir string, opt func(*FileOptions), hosts ...*fileHost) *fileWorld {
	sp, err := spool.Open(filepath.Join(dir, "files"))
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) == 0 {
		hosts = []*fileHost{newFileHost(t), newFileHost(t)}
	}
	w := &fileWorld{in: hosts[0], out: hosts[1]}
	w.testGateway = startTestGateway(t, dir, func(o *Options) {
		in, out := o.Adapters[0].(*memAdapter), o.Adapters[1].(*memAdapter)
		o.Adapters = []Adapter{uploading{in, w.in}, uploading{out, w.out}}
		// The contacts' "servers" are on loopback here.
		o.Files = &FileOptions{Spool: sp, AllowPrivate: true, MaxFileBytes: 1 << 20}
		opt(o.Files)
	})
	return w
}

// photo is a JPEG whose EXIF and XMP name its author.
func photo(t testing.TB, author string) []byte {
	b, err := testfiles.Photo(testfiles.Gradient(16, 16), 75, author)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestEmployeeFileIsCleanedAndRehosted pins the outbound file path: the
// employee's upload URL never crosses, the contact gets a URL on the
// outside service, and the bytes there carry no author.
func TestEmployeeFileIsCleanedAndRehosted(t *testing.T) {
	w := startFileWorld(t, t.TempDir())
	defer w.stop()
	src := w.in.put("IMG_0042.jpg", photo(t, "Hana Sato"))
	receiveOK(t, w.testGateway, &Message{Network: "corp", From: hanaIn, ReplyTo: hanaIn, To: bobProxy, ID: "h1",
		Files: []Attachment{{URL: src}}})
	o := recv(t, w.outside.Sent)
	if len(o.Files) != 1 || o.Body != "" {
		t.Fatalf("outward: %+v", o)
	}
	f := o.Files[0]
	if !strings.HasPrefix(f.URL, w.out.srv.URL) || strings.Contains(f.URL, w.in.srv.URL) || f.Source != "" {
		t.Fatalf("file URL %q (source %q): not re-hosted outside", f.URL, f.Source)
	}
	got := w.out.get(t, f.URL)
	if bytes.Contains(got, []byte("Hana Sato")) {
		t.Fatal("the re-hosted photo still names its author")
	}
	if _, _, err := image.Decode(bytes.NewReader(got)); err != nil {
		t.Fatalf("the cleaned photo does not decode: %v", err)
	}
	sum := sha256.Sum256(got)
	if f.Name != "IMG_0042.jpg" || f.Size != int64(len(got)) || f.SHA256 != hex.EncodeToString(sum[:]) || !f.Cleaned {
		t.Fatalf("file: %+v", f)
	}
}

// TestContactFileIsRehostedInside pins the inbound path: the employee's
// client fetches from the inside service only, and gets the bytes as
// sent (the company keeps the file; nothing is cleaned inbound).
func TestContactFileIsRehostedInside(t *testing.T) {
	w := startFileWorld(t, t.TempDir())
	defer w.stop()
	// Bob's own server: any loopback HTTP server (AllowPrivate).
	bobs := newFileHost(t)
	data := photo(t, "Bob Jones")
	src := bobs.put("broken part.jpg", data)
	receiveOK(t, w.testGateway, &Message{Network: "public-xmpp", From: bobOut, ReplyTo: bobOut, To: hanaSales, ID: "b1",
		Body: "see the photo", Files: []Attachment{{URL: src, Description: "the crack"}}})
	o := recv(t, w.inside.Sent)
	if len(o.Files) != 1 || o.Body != "see the photo" {
		t.Fatalf("inward: %+v", o)
	}
	f := o.Files[0]
	if !strings.HasPrefix(f.URL, w.in.srv.URL) || !bytes.Equal(w.in.get(t, f.URL), data) || f.Name != "broken part.jpg" || f.Description != "the crack" {
		t.Fatalf("file: %+v", f)
	}
}

// TestFilesTheGatewayWillNotCarry pins that a file that cannot go is
// never sent half-way, and its author is told which file and why.
func TestFilesTheGatewayWillNotCarry(t *testing.T) {
	w := startFileWorld(t, t.TempDir())
	defer w.stop()
	other := newFileHost(t)
	zip := []byte("PK\x03\x04" + strings.Repeat("x", 100))
	for _, tc := range []struct {
		name string
		file Attachment
		why  string
	}{
		{"not the upload service", Attachment{URL: other.put("payroll.pdf", []byte("%PDF-1.4"))}, "payroll.pdf"},
		{"an intranet link", Attachment{URL: other.srv.URL + "/wiki/Plans"}, "only from your company's upload service"},
		{"cannot be cleaned", Attachment{URL: w.in.put("archive.zip", zip)}, "archive.zip"},
		{"hash announced differs", Attachment{URL: w.in.put("quote.txt", []byte("total 100")), SHA256: strings.Repeat("ab", 32)}, "does not match"},
		{"too large", Attachment{URL: w.in.put("big.txt", bytes.Repeat([]byte("a"), 2<<20))}, "big.txt"},
	} {
		receiveOK(t, w.testGateway, &Message{Network: "corp", From: hanaIn, ReplyTo: hanaIn, To: bobProxy, ID: "h-" + tc.name,
			Files: []Attachment{tc.file}})
		o := recv(t, w.inside.Sent)
		if o.Kind != KindNotice || o.To != hanaIn || !strings.Contains(o.Body, tc.why) {
			t.Fatalf("%s: the author was told %+v", tc.name, o)
		}
	}
	quiet(t, w.outside.Sent, 100*time.Millisecond)
}

// TestFileSurvivesRestart pins that a file message taken while the
// outside was away is delivered once, whole, after a restart.
func TestFileSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	w := startFileWorld(t, dir)
	data := []byte("quote: 3 parts, 12,000 yen\n")
	src := w.in.put("quote.txt", data)
	w.outside.SetDown(true)
	receiveOK(t, w.testGateway, &Message{Network: "corp", From: hanaIn, ReplyTo: hanaIn, To: bobProxy, ID: "h1",
		Files: []Attachment{{URL: src, Name: "quote.txt", MediaType: "text/plain"}}})
	time.Sleep(100 * time.Millisecond)
	w.stop()
	w2 := startFileWorld(t, dir, w.in, w.out)
	defer w2.stop()
	o := recv(t, w2.outside.Sent)
	if len(o.Files) != 1 || !bytes.Equal(w2.out.get(t, o.Files[0].URL), data) {
		t.Fatalf("after restart: %+v", o)
	}
	quiet(t, w2.outside.Sent, 200*time.Millisecond)
}

// TestSpoolKeepsOnlyWhatIsPending pins that relayed files leave the
// gateway's disk, and a file still waiting to be sent stays.
func TestSpoolKeepsOnlyWhatIsPending(t *testing.T) {
	dir := t.TempDir()
	w := startFileWorld(t, dir)
	defer w.stop()
	receiveOK(t, w.testGateway, &Message{Network: "corp", From: hanaIn, ReplyTo: hanaIn, To: bobProxy, ID: "h1",
		Files: []Attachment{{URL: w.in.put("a.txt", []byte("sent already"))}}})
	sent := recv(t, w.outside.Sent).Files[0].SHA256
	w.outside.SetDown(true)
	receiveOK(t, w.testGateway, &Message{Network: "corp", From: hanaIn, ReplyTo: hanaIn, To: bobProxy, ID: "h2",
		Files: []Attachment{{URL: w.in.put("b.txt", []byte("still waiting"))}}})
	time.Sleep(200 * time.Millisecond)
	w.pruneSpool(context.Background(), time.Now().Add(time.Minute))
	if f, err := w.files.o.Spool.Open(sent); err == nil {
		f.Close()
		t.Fatal("a sent file stayed in the spool")
	}
	w.outside.SetDown(false)
	w.NetworkUp("public-xmpp")
	o := recv(t, w.outside.Sent)
	if string(w.out.get(t, o.Files[0].URL)) != "still waiting" {
		t.Fatalf("pending file: %+v", o)
	}
}

// TestDisplayName: the author reads a file's name, else its URL's last
// path segment, decoded.
func TestDisplayName(t *testing.T) {
	for _, tc := range []struct {
		f    Attachment
		want string
	}{
		{Attachment{Name: "quote.pdf", URL: "http://x/a/b.pdf"}, "quote.pdf"},
		{Attachment{URL: "https://intranet.corp.test/secret"}, "secret"},
		{Attachment{URL: "https://h/file_share/1/%E8%A6%8B%E7%A9%8D.pdf?x=1#f"}, "見積.pdf"},
		{Attachment{Source: "https://h/dir/"}, "dir"},
		{Attachment{URL: "https://h/"}, "(unnamed)"},
		{Attachment{URL: "::bad"}, "(unnamed)"},
		{Attachment{}, "(unnamed)"},
	} {
		if got := displayName(&tc.f); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.f, got, tc.want)
		}
	}
}

// noisePhoto is a JPEG of w×h random pixels (incompressible, as photos
// nearly are) whose EXIF names its author.
func noisePhoto(b testing.TB, w, h int) []byte {
	data, err := testfiles.Photo(testfiles.Noise(w, h, 1), 85, "Hana Sato")
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkFileRelay measures what a photo costs to cross the gateway,
// employee to contact: fetched from the inside service, spooled and
// hash-checked, cleaned of its EXIF, uploaded outside. "direct" is the
// baseline in the same run: the share a client does without the gateway
// (the upload service stores it, the recipient's client fetches it).
// Both include the recipient's download.
func BenchmarkFileRelay(b *testing.B) {
	data := noisePhoto(b, 1600, 1200)
	b.Logf("photo: %d bytes", len(data))
	b.Run("direct", func(b *testing.B) {
		h := newFileHost(b)
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			u := h.put("photo.jpg", append([]byte(nil), data...))
			resp, err := http.Get(u)
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if n != int64(len(data)) {
				b.Fatalf("got %d bytes", n)
			}
		}
	})
	b.Run("relayed", func(b *testing.B) {
		w := startFileWorldMax(b, b.TempDir(), 64<<20)
		defer w.stop()
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			src := w.in.put("photo.jpg", data)
			if err := w.Receive(context.Background(), &Message{Network: "corp", From: hanaIn, ReplyTo: hanaIn, To: bobProxy,
				ID: fmt.Sprint("b", i), Files: []Attachment{{URL: src}}}); err != nil {
				b.Fatal(err)
			}
			o := recv(b, w.outside.Sent)
			resp, err := http.Get(o.Files[0].URL)
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if n == 0 || n > int64(len(data)) {
				b.Fatalf("got %d bytes", n)
			}
		}
	})
}

// TestSlowFileHoldsUpOnlyItsConversation pins that files are made ready
// off the send loop: while one contact's file is slow to fetch, another
// contact's messages go at once, and the same contact's later message
// waits and follows the file, in order.
func TestSlowFileHoldsUpOnlyItsConversation(t *testing.T) {
	w := startFileWorld(t, t.TempDir())
	defer w.stop()
	carol := `carol\40ext.test@gw.corp.test`
	receiveOK(t, w.testGateway, &Message{Network: "corp", From: hanaIn, ReplyTo: hanaIn, To: bobProxy, ID: "f1",
		Files: []Attachment{{URL: w.in.put("slow-drawing.txt", []byte("the drawing"))}}})
	receiveOK(t, w.testGateway, &Message{Network: "corp", From: hanaIn, ReplyTo: hanaIn, To: bobProxy, ID: "f2", Body: "the caption"})
	receiveOK(t, w.testGateway, &Message{Network: "corp", From: hanaIn, ReplyTo: hanaIn, To: carol, ID: "c1", Body: "hello Carol"})
	if o := recv(t, w.outside.Sent); o.To != "carol@ext.test" || o.Body != "hello Carol" {
		t.Fatalf("first out: %+v, want Carol's message, not held up by bob's file", o)
	}
	quiet(t, w.outside.Sent, 150*time.Millisecond)
	close(w.in.slow)
	if o := recv(t, w.outside.Sent); o.To != "bob@ext.test" || len(o.Files) != 1 {
		t.Fatalf("then %+v, want bob's file", o)
	}
	if o := recv(t, w.outside.Sent); o.To != "bob@ext.test" || o.Body != "the caption" {
		t.Fatalf("then %+v, want bob's caption after his file", o)
	}
}

// TestDailyFileLimits pins the per-sender daily limits: files are counted
// over every message the sender had accepted in the last day (any
// resource, any recipient), bytes as far as they are known; another
// sender is not affected; a refusal tells the sender why.
func TestDailyFileLimits(t *testing.T) {
	w := startFileWorldWith(t, t.TempDir(), func(o *FileOptions) { o.MaxFilesPerDay, o.MaxBytesPerDay = 3, 20 })
	defer w.stop()
	carol := `carol\40ext.test@gw.corp.test`
	send := func(id, from, to string, sizes ...int) *Outgoing {
		t.Helper()
		m := &Message{Network: "corp", From: from, ReplyTo: from, To: to, ID: id}
		for i, n := range sizes {
			m.Files = append(m.Files, Attachment{URL: w.in.put(fmt.Sprintf("%s-%d.txt", id, i), bytes.Repeat([]byte("a"), n))})
		}
		receiveOK(t, w.testGateway, m)
		select {
		case o := <-w.outside.Sent:
			return o
		case o := <-w.inside.Sent:
			return o
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: nothing sent", id)
			return nil
		}
	}
	if o := send("d1", hanaIn, bobProxy, 15); len(o.Files) != 1 {
		t.Fatalf("first file: %+v", o)
	}
	// Its 15 bytes are known now; this one's 10 are not yet: 15 <= 20.
	if o := send("d2", "hana@corp.test/phone", carol, 10); len(o.Files) != 1 {
		t.Fatalf("second file, another resource and contact: %+v", o)
	}
	// 15 + 10 > 20 bytes (this one's own count once fetched).
	if o := send("d3", hanaIn, bobProxy, 20); o.Kind != KindRefusal || o.Refusal == nil || !strings.Contains(o.Refusal.Text, "a day") {
		t.Fatalf("over the daily bytes: %+v", o)
	}
	// 2 + 2 > 3 files.
	if o := send("d4", hanaIn, bobProxy, 1, 1); o.Kind != KindRefusal || !strings.Contains(o.Refusal.Text, "3 files a day") {
		t.Fatalf("over the daily count: %+v", o)
	}
	// bob's own files are his to count.
	m := &Message{Network: "public-xmpp", From: bobOut, ReplyTo: bobOut, To: hanaSales, ID: "b1",
		Files: []Attachment{{URL: w.out.put("b.txt", []byte("bob's own"))}}}
	receiveOK(t, w.testGateway, m)
	if o := recv(t, w.inside.Sent); len(o.Files) != 1 {
		t.Fatalf("another sender: %+v", o)
	}
}
