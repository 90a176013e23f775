package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"path"
	"strings"

	"github.com/kakehashi/kakehashi/identity"
	"github.com/kakehashi/kakehashi/media/fetch"
	"github.com/kakehashi/kakehashi/media/scrub"
	"github.com/kakehashi/kakehashi/media/spool"
)

// FileOptions configure how the gateway carries files. Files cross as
// bytes, never as the sender's URL: the gateway fetches each file into its
// spool, removes author metadata from what goes outside, and re-hosts it
// where the recipient fetches it (the recipient network's Uploader) or
// hands the bytes to an Attacher (mail).
type FileOptions struct {
	// Spool is where files wait between arrival and delivery; nil refuses
	// every message that carries a file, with a clear answer.
	Spool *spool.Spool
	// MaxFiles is how many files one message may carry (default 10);
	// MaxFileBytes how large each may be (default 50 MiB).
	MaxFiles     int
	MaxFileBytes int64
	// AllowPrivate lets the gateway fetch a file an outside party gave from
	// loopback, private and link-local addresses. Only for tests and
	// demos on loopback: otherwise a contact could make the gateway fetch
	// from the company's own network (server-side request forgery).
	AllowPrivate bool
	// InsideHosts adds host names an employee's file may be fetched from,
	// per inside network, to those its adapter's Uploader reports.
	InsideHosts map[string][]string
	// MaxFilesPerDay and MaxBytesPerDay bound the files one sender
	// address may have accepted in any 24 hours (0: no bound); bytes of a
	// file given by URL count once it was fetched.
	MaxFilesPerDay int
	MaxBytesPerDay int64
	// PassThrough are media types sent outside without cleaning (see
	// scrub.Options); by default a file the gateway cannot clean is not
	// sent, and its author is told why.
	PassThrough []string
}

// errFileRefused marks a message's files the gateway will not carry, as
// opposed to files it could not store for now.
var errFileRefused = errors.New("files refused")

// fileStage holds what the sender needs to carry files.
type fileStage struct {
	o       FileOptions
	outside *fetch.Client
}

func newFileStage(o FileOptions) *fileStage {
	if o.MaxFiles <= 0 {
		o.MaxFiles = 10
	}
	if o.MaxFileBytes <= 0 {
		o.MaxFileBytes = 50 << 20
	}
	return &fileStage{o: o, outside: fetch.New(fetch.Options{AllowPrivate: o.AllowPrivate, MaxBytes: o.MaxFileBytes})}
}

// insideClient fetches an employee's file: only from the hosts of the
// inside network's own upload service (what its adapter reports, and what
// the operator adds). That service may well sit on a private address, so
// addresses are not checked; an employee cannot make the gateway fetch
// anything else inside and carry it out.
func (g *Gateway) insideClient(network string) (*fetch.Client, bool) {
	hosts := append([]string(nil), g.files.o.InsideHosts[network]...)
	if up, ok := g.adapters[network].(Uploader); ok {
		hosts = append(hosts, up.UploadHosts()...)
	}
	if len(hosts) == 0 {
		return nil, false
	}
	return fetch.New(fetch.Options{AllowPrivate: true, Hosts: hosts, MaxBytes: g.files.o.MaxFileBytes}), true
}

// side tells a network's side.
func (g *Gateway) side(network string) identity.Side { return g.top.Networks[network].Side }

// fileError is a file's failure as its author reads it.
func fileError(f *Attachment, err error) error {
	return fmt.Errorf("the file %q could not be sent: %w", displayName(f), err)
}

// displayName is how the author knows a file: its name, else the last
// segment of the URL's path it was shared by.
func displayName(f *Attachment) string {
	if f.Name != "" {
		return f.Name
	}
	for _, raw := range []string{f.URL, f.Source} {
		if u, err := url.Parse(raw); err == nil && strings.Trim(u.Path, "/") != "" {
			if n := cleanFileName(strings.TrimRight(u.Path, "/")); n != "" {
				return n
			}
		}
	}
	return "(unnamed)"
}

// spoolInbound stores the bytes an adapter holds for m's files (a mail's
// parts) before the message is committed, so that nothing the message
// points at is lost once its sender is told it was taken; files given by
// URL are fetched later, by the sender (their fetch is durable as the
// message's row).
func (g *Gateway) spoolInbound(ctx context.Context, m *Message) ([]Attachment, error) {
	if len(m.Files) == 0 {
		return nil, nil
	}
	if g.files == nil {
		return nil, fmt.Errorf("%w: this gateway does not carry files", errFileRefused)
	}
	if len(m.Files) > g.files.o.MaxFiles {
		return nil, fmt.Errorf("%w: a message may carry at most %d files; this one has %d", errFileRefused, g.files.o.MaxFiles, len(m.Files))
	}
	if err := g.checkDailyFiles(ctx, m); err != nil {
		return nil, err
	}
	out := make([]Attachment, 0, len(m.Files))
	for _, f := range m.Files {
		a := Attachment{Name: cleanFileName(f.Name), MediaType: strings.ToLower(f.MediaType), Size: f.Size,
			Description: f.Description}
		switch {
		case f.Open != nil:
			rc, err := f.Open()
			if err != nil {
				return nil, fmt.Errorf("read %q: %w", a.Name, err)
			}
			sf, err := g.files.o.Spool.Put(ctx, rc, f.SHA256, g.files.o.MaxFileBytes)
			rc.Close()
			if errors.Is(err, spool.ErrTooLarge) {
				return nil, fmt.Errorf("%w: the file %q is larger than the %d MiB a file may be", errFileRefused, a.Name, g.files.o.MaxFileBytes>>20)
			}
			if err != nil {
				return nil, fmt.Errorf("store %q: %w", a.Name, err)
			}
			a.SHA256, a.Size = sf.SHA256, sf.Size
		case f.URL != "":
			a.Source = f.URL
			a.SHA256 = f.SHA256 // checked once fetched
		default:
			continue
		}
		if a.Name == "" && a.Source == "" {
			// A file given by URL is named once fetched (its
			// Content-Disposition, its URL).
			a.Name = nameFor(a.MediaType)
		}
		out = append(out, a)
	}
	return out, nil
}

// cleanFileName drops directories and control characters from a name a
// sender gave.
func cleanFileName(n string) string {
	n = strings.ReplaceAll(n, "\\", "/")
	n = path.Base(n)
	if n == "." || n == "/" || n == ".." {
		return ""
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, n)
}

// nameFor names a file that came without a name from its media type.
func nameFor(mediaType string) string {
	if exts, _ := mime.ExtensionsByType(mediaType); len(exts) > 0 {
		return "file" + exts[0]
	}
	return "file"
}

// prepareFiles makes r's files ready for its adapter: fetched into the
// spool, cleaned when they leave for the outside, and re-hosted (or
// opened for an Attacher). Each step's result is kept in the queue, so a
// crash repeats only the step it interrupted. Its errors are *SendErrors
// as Send's are.
func (s *sender) prepareFiles(ctx context.Context, it senderItem) error {
	r := it.rec
	out := &r.Out
	if len(out.Files) == 0 {
		return nil
	}
	g := s.g
	if g.files == nil {
		return Permanent(errors.New("this gateway does not carry files"))
	}
	up, uploads := s.adapter.(Uploader)
	att, attaches := s.adapter.(Attacher)
	if !uploads && !attaches {
		return Permanent(fmt.Errorf("network %s carries no files", out.Network))
	}
	outbound := g.side(r.InNetwork) == identity.Inside && g.side(out.Network) == identity.Outside
	changed := false
	var inline int64
	for i := range out.Files {
		f := &out.Files[i]
		if f.Source != "" {
			if err := g.fetchFile(ctx, r.InNetwork, f); err != nil {
				return err
			}
			changed = true
		}
		if outbound && !f.Cleaned {
			if err := g.cleanFile(ctx, f); err != nil {
				return err
			}
			changed = true
		}
		switch {
		case uploads && f.URL == "":
			url, err := g.uploadFile(ctx, up, out.From, f, nil)
			if err != nil {
				return err
			}
			f.URL = url
			changed = true
		case attaches && f.URL != "":
			// Re-hosted already (too large to attach): the mail links it.
		case attaches:
			if inline+f.Size > att.AttachLimit() {
				url, err := g.linkFor(ctx, out, f)
				if err != nil {
					return err
				}
				f.URL, changed = url, true
				continue
			}
			inline += f.Size
			sha, sp := f.SHA256, g.files.o.Spool
			f.Open = func() (io.ReadCloser, error) { return sp.Open(sha) }
		}
	}
	if changed && it.durable {
		col, err := encodeParts(out)
		if err != nil {
			return err
		}
		if err := g.queue.Exec(ctx, func(ctx context.Context, tx *Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE messages SET parts = ? WHERE seq = ?`, col, r.Seq)
			return err
		}); err != nil {
			return fmt.Errorf("queue: record a file's progress: %w", err)
		}
	}
	return nil
}

// linkFor re-hosts a file too large to attach to a mail on the upload
// service of another outside network where the sending persona has an
// address (its XMPP address, say), and returns the URL the mail links to.
func (g *Gateway) linkFor(ctx context.Context, out *Outgoing, f *Attachment) (string, error) {
	tooLarge := fmt.Errorf("it is larger than the %s one mail carries as attachments", sizeText(g.attachLimit(out.Network)))
	p, ok := g.state.Snapshot().PersonaByAddr(identity.Address{Network: out.Network, Addr: out.From})
	if !ok {
		return "", Permanent(fileError(f, tooLarge))
	}
	for _, a := range p.Addresses {
		up, ok := g.adapters[a.Network].(Uploader)
		if a.Network == out.Network || !ok || g.side(a.Network) != identity.Outside {
			continue
		}
		return g.uploadFile(ctx, up, a.Addr, f, func(err error) error {
			return fmt.Errorf("%w, and a link to it could not be made: %w", tooLarge, err)
		})
	}
	return "", Permanent(fileError(f, fmt.Errorf("%w, and the persona has no address on a network that could host a link to it", tooLarge)))
}

// uploadFile re-hosts a spooled file through up as from and returns its
// URL. A refusal is worded for the file's author (through why, if set)
// and keeps its retry action.
func (g *Gateway) uploadFile(ctx context.Context, up Uploader, from string, f *Attachment, why func(error) error) (string, error) {
	rd, err := g.files.o.Spool.Open(f.SHA256)
	if err != nil {
		return "", fileError(f, fmt.Errorf("the gateway lost its copy: %w", err))
	}
	defer rd.Close()
	url, err := up.Upload(ctx, from, *f, rd)
	var se *SendError
	if errors.As(err, &se) {
		e := se.Err
		if why != nil {
			e = why(e)
		}
		return "", &SendError{Action: se.Action, Err: fileError(f, e)}
	}
	return url, err
}

// attachLimit is the attachment cap of network's adapter, 0 if none.
func (g *Gateway) attachLimit(network string) int64 {
	if a, ok := g.adapters[network].(Attacher); ok {
		return a.AttachLimit()
	}
	return 0
}

// sizeText writes n bytes for people: "12 MiB", "800 KiB", "512 bytes".
func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// fetchFile brings a file given by URL into the spool.
func (g *Gateway) fetchFile(ctx context.Context, network string, f *Attachment) error {
	c := g.files.outside
	if g.side(network) == identity.Inside {
		var ok bool
		if c, ok = g.insideClient(network); !ok {
			return Permanent(fileError(f, errors.New("files are taken only from the company's upload service, and none is configured for this network")))
		}
	}
	p, err := g.files.o.Spool.Create()
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	info, err := c.Get(ctx, f.Source, p)
	if err != nil {
		p.Abort()
		if g.side(network) == identity.Inside && errors.Is(err, fetch.ErrForbidden) {
			// A link to anywhere else inside (an intranet page, a file
			// server) is never fetched and carried out.
			return Permanent(fileError(f, errors.New("files are sent only from your company's upload service: "+
				"share the file from your client (upload), or send the text without the link")))
		}
		if fetch.Permanent(err) {
			return Permanent(fileError(f, err))
		}
		return fmt.Errorf("fetch %q: %w", displayName(f), err)
	}
	sf, err := p.Commit(ctx, f.SHA256)
	if errors.Is(err, spool.ErrHashMismatch) {
		// The sender's client announced a hash the bytes do not have: a
		// truncated or altered file is never relayed.
		return Permanent(fileError(f, errors.New("its content does not match the hash its sender announced")))
	}
	if err != nil {
		return fmt.Errorf("spool %q: %w", displayName(f), err)
	}
	f.SHA256, f.Size, f.Source = sf.SHA256, sf.Size, ""
	if f.MediaType == "" {
		f.MediaType = info.MediaType
	}
	if f.Name == "" {
		f.Name = cleanFileName(info.Name)
	}
	if f.Name == "" {
		f.Name = nameFor(f.MediaType)
	}
	return nil
}

// cleanFile replaces a spooled file by a copy without author metadata.
func (g *Gateway) cleanFile(ctx context.Context, f *Attachment) error {
	sp := g.files.o.Spool
	src, err := sp.Open(f.SHA256)
	if err != nil {
		return fileError(f, fmt.Errorf("the gateway lost its copy: %w", err))
	}
	defer src.Close()
	p, err := sp.Create()
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	rep, err := scrub.Clean(ctx, p, src, f.Size, f.Name, f.MediaType, scrub.Options{PassThrough: g.files.o.PassThrough})
	if err != nil {
		p.Abort()
		if errors.Is(err, scrub.ErrUnsupported) {
			return Permanent(fileError(f, err))
		}
		return fileError(f, err)
	}
	sf, err := p.Commit(ctx, "")
	if err != nil {
		return fmt.Errorf("spool %q: %w", displayName(f), err)
	}
	g.log.Debug("file cleaned", "format", rep.Format, "removed", rep.Removed)
	f.SHA256, f.Size, f.Cleaned = sf.SHA256, sf.Size, true
	return nil
}
