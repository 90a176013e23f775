// Package spool is the gateway's durable store of files in transit: a file
// fetched from one side waits here until it has been uploaded to the other,
// across restarts. Files are named by the SHA-256 of their content, so the
// same file sent twice is stored once and a name is a promise about the
// bytes behind it: content is written under a temporary name, synced, checked
// against the hash the sender announced, and only then renamed into place
// (and the directory synced), so neither a crash nor a truncated download
// ever leaves a file under a hash it does not have. Files are streamed, never
// held whole in memory.
//
// One Spool owns its directory: Open removes temporary files it finds there,
// which would break a second Spool, in this process or another, writing to
// the same directory.
package spool

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// sentinel is the type of this package's error values. Being a string
// constant rather than a variable, none of them can be reassigned: the
// package keeps no mutable state.
type sentinel string

// Error returns the text of the sentinel.
func (e sentinel) Error() string { return string(e) }

const (
	// ErrHashMismatch means the content's SHA-256 is not the one the
	// caller expected: the download was truncated or altered, and nothing
	// was kept.
	ErrHashMismatch = sentinel("spool: content does not have the expected SHA-256")
	// ErrTooLarge means the content is larger than the cap Put was given;
	// nothing was kept.
	ErrTooLarge = sentinel("spool: file too large")
	// ErrInvalidHash means a hash argument is not 64 lower-case hex
	// digits. Names come from outside (a message's hash element, a
	// database row); refusing anything else keeps them from naming a path
	// outside the spool.
	ErrInvalidHash = sentinel("spool: not a SHA-256 in lower-case hex")
	// ErrFinished means a Pending was used after Commit or Abort.
	ErrFinished = sentinel("spool: pending file already committed or aborted")
)

// tempPrefix starts the name of every file still being written. No hash
// name starts with a dot, so the two kinds cannot be confused.
const tempPrefix = ".tmp-"

// copyBuffer is how much Put reads at a time.
const copyBuffer = 256 << 10

// Spool is a directory of files named by their SHA-256. It is safe for
// concurrent use.
type Spool struct {
	dir string
	// mu orders renames into the spool against Prune's and Remove's
	// removals, so a file renamed into place just now is never removed on
	// the strength of a look at the older file it replaced.
	mu sync.Mutex
}

// File is a file in the spool.
type File struct {
	// SHA256 is the hex SHA-256 of the content, and the file's name.
	SHA256 string
	// Size is the content's length in bytes.
	Size int64
}

// Open opens the spool in dir, creating it (mode 0700: files in transit are
// private messages) if needed, and removes temporary files a crash left
// behind. It is meant to be called once per directory, at start-up.
func Open(dir string) (*Spool, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tempPrefix) {
			if err := os.Remove(filepath.Join(abs, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("spool: removing a leftover temporary file: %w", err)
			}
		}
	}
	return &Spool{dir: abs}, nil
}

// Put streams r into the spool and returns the stored file. If want is not
// "", the content's SHA-256 must equal it, else Put fails with
// ErrHashMismatch. If maxBytes > 0, content longer than that fails with
// ErrTooLarge. On any failure, including ctx ending (checked between reads;
// r should honour ctx itself to interrupt a blocked read), nothing is kept.
func (s *Spool) Put(ctx context.Context, r io.Reader, want string, maxBytes int64) (File, error) {
	if want != "" && !validHash(want) {
		return File{}, ErrInvalidHash
	}
	p, err := s.Create()
	if err != nil {
		return File{}, err
	}
	defer p.Abort() // no-op once committed
	buf := make([]byte, copyBuffer)
	for {
		if err := ctx.Err(); err != nil {
			return File{}, err
		}
		n, rerr := r.Read(buf)
		if n > 0 {
			if maxBytes > 0 && p.size+int64(n) > maxBytes {
				return File{}, ErrTooLarge
			}
			if _, err := p.Write(buf[:n]); err != nil {
				return File{}, err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return File{}, fmt.Errorf("spool: reading: %w", rerr)
		}
	}
	return p.Commit(ctx, want)
}

// Create starts a file to be written piece by piece, for a download that
// streams straight into the spool. The caller writes, then calls Commit or,
// on failure, Abort; until Commit the content is under a temporary name no
// reader will see.
func (s *Spool) Create() (*Pending, error) {
	f, err := os.CreateTemp(s.dir, tempPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	return &Pending{s: s, f: f, h: sha256.New()}, nil
}

// Open opens the file named sha for reading. The name must be 64
// lower-case hex digits (ErrInvalidHash otherwise); a missing file gives an
// error wrapping fs.ErrNotExist.
func (s *Spool) Open(sha string) (*os.File, error) {
	if !validHash(sha) {
		return nil, ErrInvalidHash
	}
	return os.Open(filepath.Join(s.dir, sha))
}

// Remove removes the file named sha, once nothing needs it. A missing file
// gives an error wrapping fs.ErrNotExist, which a caller cleaning up may
// ignore.
func (s *Spool) Remove(sha string) error {
	if !validHash(sha) {
		return ErrInvalidHash
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return os.Remove(filepath.Join(s.dir, sha))
}

// Prune removes the files that keep does not claim (nil keep claims none)
// and whose modification time is before cutoff, and returns how many files
// and bytes it removed. Storing a file again refreshes its time, so a file
// being stored as Prune runs survives. Temporary files older than cutoff
// go too: they are writes abandoned without Abort. Files whose names are
// neither hashes nor temporary are left alone. Prune stops early, with
// ctx's error, when ctx ends; after a failed removal it goes on with the
// rest and returns the first error.
func (s *Spool) Prune(ctx context.Context, keep func(sha string) bool, cutoff time.Time) (int, int64, error) {
	d, err := os.Open(s.dir)
	if err != nil {
		return 0, 0, fmt.Errorf("spool: %w", err)
	}
	defer d.Close()
	var (
		count int
		bytes int64
		first error
	)
	for {
		entries, rerr := d.ReadDir(256)
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return count, bytes, err
			}
			name := e.Name()
			temp := strings.HasPrefix(name, tempPrefix)
			if !temp && (!validHash(name) || (keep != nil && keep(name))) {
				continue
			}
			size, removed, err := s.removeOld(name, cutoff)
			if err != nil && first == nil {
				first = fmt.Errorf("spool: %w", err)
			}
			if removed {
				count++
				bytes += size
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return count, bytes, fmt.Errorf("spool: %w", rerr)
		}
	}
	return count, bytes, first
}

// removeOld removes name if it is a regular file changed before cutoff,
// looking at it under the lock that Commit renames under.
func (s *Spool) removeOld(name string, cutoff time.Time) (int64, bool, error) {
	p := filepath.Join(s.dir, name)
	s.mu.Lock()
	defer s.mu.Unlock()
	info, err := os.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	if !info.Mode().IsRegular() || !info.ModTime().Before(cutoff) {
		return 0, false, nil
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, false, err
	}
	return info.Size(), true, nil
}

// Pending is a file being written into the spool, under a temporary name
// until Commit. It is an io.Writer; it is not safe for concurrent use.
type Pending struct {
	s    *Spool
	f    *os.File // nil once committed or aborted
	h    hash.Hash
	size int64
	err  error // the first write error: the content is incomplete
}

// Write appends b to the content. After a failed write every later Write
// and the Commit fail too: the content is incomplete.
func (p *Pending) Write(b []byte) (int, error) {
	if p.f == nil {
		return 0, ErrFinished
	}
	if p.err != nil {
		return 0, p.err
	}
	n, err := p.f.Write(b)
	p.h.Write(b[:n])
	p.size += int64(n)
	if err != nil {
		p.err = fmt.Errorf("spool: %w", err)
		return n, p.err
	}
	return n, nil
}

// Commit makes the written content a file of the spool: it checks the hash
// against want (when not ""), syncs the content, renames it to its hash and
// syncs the directory, so the file survives a crash from then on. On
// failure—ctx ended, a write failed, ErrHashMismatch, ErrInvalidHash—the
// temporary file is removed and nothing is kept; the one exception is a
// failed sync of the directory after the rename, when the file, correct
// under its name, stays but its survival of a crash is not assured.
func (p *Pending) Commit(ctx context.Context, want string) (File, error) {
	if p.f == nil {
		return File{}, ErrFinished
	}
	fail := func(err error) (File, error) {
		p.Abort()
		return File{}, err
	}
	if want != "" && !validHash(want) {
		return fail(ErrInvalidHash)
	}
	if p.err != nil {
		return fail(p.err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	sum := hex.EncodeToString(p.h.Sum(nil))
	if want != "" && sum != want {
		return fail(fmt.Errorf("%w: got %s, want %s", ErrHashMismatch, sum, want))
	}
	if err := p.f.Sync(); err != nil {
		return fail(fmt.Errorf("spool: %w", err))
	}
	tmp := p.f.Name()
	err := p.f.Close()
	p.f = nil
	if err != nil {
		os.Remove(tmp)
		return File{}, fmt.Errorf("spool: %w", err)
	}
	p.s.mu.Lock()
	err = os.Rename(tmp, filepath.Join(p.s.dir, sum))
	p.s.mu.Unlock()
	if err != nil {
		os.Remove(tmp)
		return File{}, fmt.Errorf("spool: %w", err)
	}
	if err := syncDir(p.s.dir); err != nil {
		return File{}, err
	}
	return File{SHA256: sum, Size: p.size}, nil
}

// Abort discards the content and removes the temporary file. It is safe to
// call more than once and after Commit, where it does nothing, so a caller
// may defer it.
func (p *Pending) Abort() error {
	if p.f == nil {
		return nil
	}
	tmp := p.f.Name()
	cerr := p.f.Close()
	p.f = nil
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("spool: %w", err)
	}
	if cerr != nil && !errors.Is(cerr, fs.ErrClosed) {
		return fmt.Errorf("spool: %w", cerr)
	}
	return nil
}

// syncDir makes a rename in dir durable: on POSIX file systems a rename is
// only certain to survive a crash once the directory itself is synced.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("spool: syncing the directory: %w", err)
	}
	return nil
}

// validHash reports whether s is 64 lower-case hex digits, the only names
// the spool gives its files.
func validHash(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
