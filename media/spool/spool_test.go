package spool

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// names lists dir's entries.
func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func open(t *testing.T) (*Spool, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "spool")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func TestPutOpenRoundTrip(t *testing.T) {
	s, dir := open(t)
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("spool directory: %v, mode %v; want 0700", err, fi.Mode())
	}
	content := []byte("見積もりをお送りします")
	f, err := s.Put(context.Background(), bytes.NewReader(content), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := (File{SHA256: hexSHA(content), Size: int64(len(content))}); f != want {
		t.Errorf("Put = %+v, want %+v", f, want)
	}
	r, err := s.Open(f.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || !bytes.Equal(got, content) {
		t.Errorf("read back %q, %v", got, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, f.SHA256)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file: %v, mode %v; want 0600", err, fi.Mode())
	}

	// The same content again, announced this time: stored once.
	f2, err := s.Put(context.Background(), bytes.NewReader(content), f.SHA256, int64(len(content)))
	if err != nil || f2 != f {
		t.Errorf("second Put = %+v, %v", f2, err)
	}
	if n := names(t, dir); len(n) != 1 || n[0] != f.SHA256 {
		t.Errorf("directory holds %v, want only %s", n, f.SHA256)
	}
}

func TestPutEmpty(t *testing.T) {
	s, _ := open(t)
	f, err := s.Put(context.Background(), strings.NewReader(""), "", 0)
	if err != nil || f.Size != 0 || f.SHA256 != hexSHA(nil) {
		t.Errorf("empty Put = %+v, %v", f, err)
	}
}

func TestHashMismatchKeepsNothing(t *testing.T) {
	s, dir := open(t)
	wrong := hexSHA([]byte("something else"))
	_, err := s.Put(context.Background(), strings.NewReader("the real content"), wrong, 0)
	if !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("got %v, want ErrHashMismatch", err)
	}
	if n := names(t, dir); len(n) != 0 {
		t.Errorf("directory holds %v after a mismatch", n)
	}
	for _, bad := range []string{"ABC", strings.ToUpper(wrong), wrong + "0", "../" + wrong[3:]} {
		if _, err := s.Put(context.Background(), strings.NewReader("x"), bad, 0); !errors.Is(err, ErrInvalidHash) {
			t.Errorf("want %q: got %v, want ErrInvalidHash", bad, err)
		}
	}
	if n := names(t, dir); len(n) != 0 {
		t.Errorf("directory holds %v", n)
	}
}

func TestTooLargeKeepsNothing(t *testing.T) {
	s, dir := open(t)
	content := bytes.Repeat([]byte("x"), 3*copyBuffer)
	if _, err := s.Put(context.Background(), bytes.NewReader(content), "", int64(len(content))-1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("got %v, want ErrTooLarge", err)
	}
	if n := names(t, dir); len(n) != 0 {
		t.Errorf("directory holds %v after ErrTooLarge", n)
	}
	if f, err := s.Put(context.Background(), bytes.NewReader(content), "", int64(len(content))); err != nil || f.Size != int64(len(content)) {
		t.Errorf("exactly at the cap: %+v, %v", f, err)
	}
}

// truncating gives n bytes and then the error a broken download gives.
type truncating struct {
	r io.Reader
}

func (t *truncating) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err == io.EOF {
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

func TestTruncatedDownloadKeepsNothing(t *testing.T) {
	s, dir := open(t)
	content := bytes.Repeat([]byte("y"), 1000)
	_, err := s.Put(context.Background(), &truncating{bytes.NewReader(content[:600])}, hexSHA(content), 0)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("got %v, want the reader's error", err)
	}
	_, err = s.Put(context.Background(), &truncating{bytes.NewReader(content[:600])}, "", 0)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("without want: got %v, want the reader's error", err)
	}
	if n := names(t, dir); len(n) != 0 {
		t.Errorf("directory holds %v after a truncated download", n)
	}
}

// cancelling cancels its context after the first read.
type cancelling struct {
	cancel context.CancelFunc
	reads  int
}

func (c *cancelling) Read(p []byte) (int, error) {
	c.reads++
	c.cancel()
	return copy(p, "chunk"), nil
}

func TestContextCancel(t *testing.T) {
	s, dir := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	r := &cancelling{cancel: cancel}
	if _, err := s.Put(ctx, r, "", 0); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	if r.reads != 1 {
		t.Errorf("%d reads after cancel, want 1", r.reads)
	}
	// Already over before the first read.
	if _, err := s.Put(ctx, strings.NewReader("x"), "", 0); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
	// Over by Commit.
	p, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(p, "content")
	if _, err := p.Commit(ctx, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit: got %v, want context.Canceled", err)
	}
	if n := names(t, dir); len(n) != 0 {
		t.Errorf("directory holds %v after cancellation", n)
	}
}

func TestCrashLeftoversRemoved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spool")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	kept, err := s.Put(context.Background(), strings.NewReader("kept"), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	// A crash mid-write: the Pending is never committed or aborted.
	p, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(p, "half a fi")
	p.f.Close()
	if err := os.WriteFile(filepath.Join(dir, ".tmp-12345"), []byte("partial"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("not ours"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err != nil {
		t.Fatal(err)
	}
	want := []string{"README", kept.SHA256}
	sort.Strings(want)
	if n := names(t, dir); strings.Join(n, " ") != strings.Join(want, " ") {
		t.Errorf("after reopening: %v, want %v", n, want)
	}
}

func TestOpenRefusesPathTricks(t *testing.T) {
	s, dir := open(t)
	f, err := s.Put(context.Background(), strings.NewReader("x"), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	// A file outside the spool that a crafted name might reach.
	if err := os.WriteFile(filepath.Join(filepath.Dir(dir), "secret"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		"",
		"../secret",
		"../../../../etc/passwd",
		"/etc/passwd",
		strings.ToUpper(f.SHA256),
		f.SHA256[:63],
		f.SHA256 + "0",
		f.SHA256[:61] + "/..",
		"../" + f.SHA256[:61],
		f.SHA256[:63] + "\n",
		f.SHA256[:63] + "\x00",
		".tmp-" + f.SHA256[:59],
		strings.Repeat("g", 64),
	} {
		if r, err := s.Open(bad); !errors.Is(err, ErrInvalidHash) {
			if r != nil {
				r.Close()
			}
			t.Errorf("Open(%q): got %v, want ErrInvalidHash", bad, err)
		}
		if err := s.Remove(bad); !errors.Is(err, ErrInvalidHash) {
			t.Errorf("Remove(%q): got %v, want ErrInvalidHash", bad, err)
		}
	}
	if _, err := s.Open(hexSHA([]byte("absent"))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open of an absent hash: got %v, want fs.ErrNotExist", err)
	}
}

func TestRemove(t *testing.T) {
	s, dir := open(t)
	f, err := s.Put(context.Background(), strings.NewReader("gone soon"), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(f.SHA256); err != nil {
		t.Fatal(err)
	}
	if n := names(t, dir); len(n) != 0 {
		t.Errorf("directory holds %v", n)
	}
	if err := s.Remove(f.SHA256); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("second Remove: got %v, want fs.ErrNotExist", err)
	}
}

func TestPending(t *testing.T) {
	s, dir := open(t)
	content := "written in three pieces"
	p, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	for _, piece := range []string{content[:7], content[7:13], content[13:]} {
		if _, err := io.WriteString(p, piece); err != nil {
			t.Fatal(err)
		}
	}
	if n := names(t, dir); len(n) != 1 || !strings.HasPrefix(n[0], tempPrefix) {
		t.Errorf("while writing the directory holds %v, want one temporary file", n)
	}
	f, err := p.Commit(context.Background(), hexSHA([]byte(content)))
	if err != nil || f.Size != int64(len(content)) {
		t.Fatalf("Commit = %+v, %v", f, err)
	}
	if err := p.Abort(); err != nil {
		t.Errorf("Abort after Commit: %v", err)
	}
	if n := names(t, dir); len(n) != 1 || n[0] != f.SHA256 {
		t.Errorf("after Commit and Abort the directory holds %v", n)
	}
	if _, err := io.WriteString(p, "more"); !errors.Is(err, ErrFinished) {
		t.Errorf("Write after Commit: %v", err)
	}
	if _, err := p.Commit(context.Background(), ""); !errors.Is(err, ErrFinished) {
		t.Errorf("Commit after Commit: %v", err)
	}

	p, err = s.Create()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(p, "abandoned")
	if err := p.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := p.Abort(); err != nil {
		t.Errorf("second Abort: %v", err)
	}
	if _, err := p.Commit(context.Background(), ""); !errors.Is(err, ErrFinished) {
		t.Errorf("Commit after Abort: %v", err)
	}
	if n := names(t, dir); len(n) != 1 {
		t.Errorf("after Abort the directory holds %v", n)
	}

	p, err = s.Create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(context.Background(), "nothex"); !errors.Is(err, ErrInvalidHash) {
		t.Errorf("Commit with an invalid hash: %v", err)
	}
	if n := names(t, dir); len(n) != 1 {
		t.Errorf("after a refused Commit the directory holds %v", n)
	}
}

func TestWriteFailureKeepsNothing(t *testing.T) {
	s, dir := open(t)
	p, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(p, "start")
	p.f.Close() // the disk goes away
	if _, err := io.WriteString(p, "more"); err == nil {
		t.Fatal("write to a closed file succeeded")
	}
	if _, err := io.WriteString(p, "still more"); err == nil {
		t.Error("a write after a failed one succeeded")
	}
	if _, err := p.Commit(context.Background(), ""); err == nil {
		t.Error("Commit after a failed write succeeded")
	}
	if n := names(t, dir); len(n) != 0 {
		t.Errorf("directory holds %v", n)
	}
}

func TestPrune(t *testing.T) {
	s, dir := open(t)
	put := func(content string, age time.Duration) File {
		t.Helper()
		f, err := s.Put(context.Background(), strings.NewReader(content), "", 0)
		if err != nil {
			t.Fatal(err)
		}
		when := time.Now().Add(-age)
		if err := os.Chtimes(filepath.Join(dir, f.SHA256), when, when); err != nil {
			t.Fatal(err)
		}
		return f
	}
	oldGone := put("old and unclaimed", 48*time.Hour)
	oldKept := put("old but still claimed", 48*time.Hour)
	fresh := put("fresh", time.Minute)
	stale := filepath.Join(dir, ".tmp-abandoned")
	if err := os.WriteFile(stale, []byte("abandoned write"), 0o600); err != nil {
		t.Fatal(err)
	}
	when := time.Now().Add(-48 * time.Hour)
	os.Chtimes(stale, when, when)
	foreign := filepath.Join(dir, "notes.txt")
	os.WriteFile(foreign, []byte("not ours"), 0o600)
	os.Chtimes(foreign, when, when)
	os.Mkdir(filepath.Join(dir, strings.Repeat("a", 64)), 0o700) // a directory under a hash name

	var asked []string
	n, size, err := s.Prune(context.Background(), func(sha string) bool {
		asked = append(asked, sha)
		return sha == oldKept.SHA256
	}, time.Now().Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || size != oldGone.Size+int64(len("abandoned write")) {
		t.Errorf("Prune removed %d files, %d bytes; want 2, %d", n, size, oldGone.Size+int64(len("abandoned write")))
	}
	got := strings.Join(names(t, dir), " ")
	want := []string{"notes.txt", oldKept.SHA256, fresh.SHA256, strings.Repeat("a", 64)}
	sort.Strings(want)
	if got != strings.Join(want, " ") {
		t.Errorf("after Prune: %s\nwant %v", got, want)
	}
	for _, sha := range asked {
		if !validHash(sha) {
			t.Errorf("keep was asked about %q", sha)
		}
	}

	// Storing an old file again refreshes it.
	put("old but still claimed", 48*time.Hour)
	if _, err := s.Put(context.Background(), strings.NewReader("old but still claimed"), "", 0); err != nil {
		t.Fatal(err)
	}
	n, _, err = s.Prune(context.Background(), nil, time.Now().Add(-24*time.Hour))
	if err != nil || n != 0 {
		t.Errorf("Prune after a refresh removed %d, %v", n, err)
	}
	// nil keep claims nothing.
	n, _, err = s.Prune(context.Background(), nil, time.Now().Add(time.Hour))
	if err != nil || n != 2 {
		t.Errorf("Prune of everything removed %d, %v; want 2", n, err)
	}
}

func TestPruneContext(t *testing.T) {
	s, dir := open(t)
	for i := range 5 {
		if _, err := s.Put(context.Background(), strings.NewReader(strings.Repeat("z", i+1)), "", 0); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n, _, err := s.Prune(ctx, nil, time.Now().Add(time.Hour))
	if !errors.Is(err, context.Canceled) || n != 0 {
		t.Errorf("got %d, %v; want 0, context.Canceled", n, err)
	}
	if len(names(t, dir)) != 5 {
		t.Errorf("a cancelled Prune removed files")
	}
}

func TestOpenErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := Open(file); err == nil {
		t.Error("Open of a regular file succeeded")
	}
	if _, err := Open(filepath.Join(file, "sub")); err == nil {
		t.Error("Open under a regular file succeeded")
	}
}

func TestRelativeDir(t *testing.T) {
	t.Chdir(t.TempDir())
	s, err := Open("rel")
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.Put(context.Background(), strings.NewReader("x"), "", 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir()) // the spool keeps its own directory
	r, err := s.Open(f.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
}

func TestConcurrentPuts(t *testing.T) {
	s, dir := open(t)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			content := strings.Repeat("c", 1000+i%4) // four distinct contents
			f, err := s.Put(context.Background(), strings.NewReader(content), hexSHA([]byte(content)), 0)
			if err != nil {
				t.Error(err)
				return
			}
			r, err := s.Open(f.SHA256)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(r)
			r.Close()
			if string(b) != content {
				t.Errorf("read back %d bytes, want %d", len(b), len(content))
			}
		})
	}
	wg.Wait()
	if n := names(t, dir); len(n) != 4 {
		t.Errorf("directory holds %d files, want 4", len(n))
	}
}

func BenchmarkSpoolPut10MiB(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	content := make([]byte, 10<<20)
	rng := rand.NewChaCha8([32]byte{1})
	rng.Read(content)
	want := hexSHA(content)
	b.SetBytes(int64(len(content)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Put(context.Background(), bytes.NewReader(content), want, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDirectoryGone: when the spool's directory vanishes (an operator's
// rm -rf, a lost mount), every call fails with an error and none panics.
func TestDirectoryGone(t *testing.T) {
	s, dir := open(t)
	p, err := s.Create()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(p, "content")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(context.Background(), ""); err == nil {
		t.Error("Commit into a removed directory succeeded")
	}
	if _, err := s.Put(context.Background(), strings.NewReader("x"), "", 0); err == nil {
		t.Error("Put into a removed directory succeeded")
	}
	if _, err := s.Create(); err == nil {
		t.Error("Create in a removed directory succeeded")
	}
	if _, _, err := s.Prune(context.Background(), nil, time.Now()); err == nil {
		t.Error("Prune of a removed directory succeeded")
	}
	if err := syncDir(dir); err == nil {
		t.Error("syncDir of a removed directory succeeded")
	}
}
