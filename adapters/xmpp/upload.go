package xmpp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"mellium.im/xmpp"
	"mellium.im/xmpp/disco"
	"mellium.im/xmpp/disco/info"
	"mellium.im/xmpp/disco/items"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
	"mellium.im/xmpp/upload"

	"github.com/kakehashi/kakehashi/gateway"
)

// Uploads: the gateway re-hosts a file on the server's XEP-0363 service
// before it sends a message pointing at it. The component asks for a slot
// as the gateway address the file is sent from (a component may send from
// any address of its domain; Prosody's mod_http_file_share takes it) and
// PUTs the bytes itself.

// Bounds of an upload's HTTP timeout: at least minPutTime, and longer for
// a large file, as if it went no faster than putRate bytes a second.
const (
	minPutTime = 2 * time.Minute
	putRate    = 128 << 10
)

var (
	_ gateway.Uploader = (*Component)(nil)
	_ gateway.Uploader = (*Network)(nil)
)

// uploadService is what a component knows of its server's upload service.
type uploadService struct {
	mu     sync.Mutex // held while it is learnt, so that it is asked once
	learnt learntService
}

// learntService is an upload service as learnt on one connection.
type learntService struct {
	session *xmpp.Session // the connection it was learnt on; nil: nothing known
	addr    jid.JID       // the service; empty when the server has none
	maxSize int64         // the largest file it takes, 0 when it does not say
}

// hostSet are the hosts of the URLs an upload service gave, shared by a
// network's components.
type hostSet struct {
	mu    sync.Mutex
	hosts []string
}

func (h *hostSet) add(host string) {
	host = strings.ToLower(host)
	h.mu.Lock()
	defer h.mu.Unlock()
	if host != "" && !slices.Contains(h.hosts, host) {
		h.hosts = append(h.hosts, host)
	}
}

func (h *hostSet) list() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.hosts)
}

// UploadHosts implements gateway.Uploader: the configured hosts and those
// of the URLs the service has given so far.
func (c *Component) UploadHosts() []string {
	var out []string
	for _, h := range slices.Concat(c.cfg.UploadHosts, c.hosts.list()) {
		h = strings.ToLower(strings.TrimSpace(h))
		if h != "" && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

// Upload implements gateway.Uploader: it asks the server's upload service
// for a slot as from, one of this component's addresses, and PUTs the
// f.Size bytes read from r there.
func (c *Component) Upload(ctx context.Context, from string, f gateway.Attachment, r io.Reader) (string, error) {
	c.mu.Lock()
	s := c.session
	c.mu.Unlock()
	if s == nil {
		return "", gateway.NotConnected(nil)
	}
	name := uploadName(f.Name)
	sender, err := checked(from)
	if err != nil || !strings.EqualFold(sender.Domainpart(), c.cfg.Domain) {
		return "", gateway.Permanent(fmt.Errorf("upload of %q: %s is not an address of component %s", name, from, c.cfg.Domain))
	}
	if f.Size < 0 {
		return "", gateway.Permanent(fmt.Errorf("upload of %q: size unknown", name))
	}
	svc, limit, err := c.uploadService(ctx, s)
	if err != nil {
		return "", err
	}
	if limit > 0 && f.Size > limit {
		return "", gateway.Permanent(fmt.Errorf("%q is %s; the upload service on %s takes files up to %s", name, sizeText(f.Size), c.cfg.Network, sizeText(limit)))
	}
	mediaType := f.MediaType
	if mediaType == "" {
		mediaType = "application/octet-stream"
	}
	slot, err := upload.GetSlotIQ(ctx, upload.File{Name: name, Size: int(f.Size), Type: mediaType}, stanza.IQ{From: sender, To: svc}, s)
	if err != nil {
		return "", slotRefused(name, f.Size, limit, err)
	}
	if !webSlot(slot.PutURL) || !webSlot(slot.GetURL) {
		return "", fmt.Errorf("upload of %q: the upload service gave no usable http(s) URLs", name)
	}
	if err := c.put(ctx, slot, name, mediaType, f.Size, r); err != nil {
		return "", err
	}
	c.hosts.add(slot.GetURL.Hostname())
	return slot.GetURL.String(), nil
}

// uploadService is the address of the server's upload service and the
// largest file it takes (0: unsaid), learnt once per connection: from
// Config.Upload, or by disco#items on the server's domain and disco#info
// on each item.
func (c *Component) uploadService(ctx context.Context, s *xmpp.Session) (jid.JID, int64, error) {
	c.upload.mu.Lock()
	defer c.upload.mu.Unlock()
	u := &c.upload.learnt
	if u.session == s {
		if u.addr.String() == "" {
			return jid.JID{}, 0, gateway.Permanent(fmt.Errorf("no upload service (XEP-0363) found on %s: set the network's upload address", c.serverDomain()))
		}
		return u.addr, u.maxSize, nil
	}
	self := verbatim(c.cfg.Domain)
	if c.cfg.Upload != "" {
		addr, err := jid.Parse(c.cfg.Upload)
		if err != nil {
			return jid.JID{}, 0, gateway.Permanent(fmt.Errorf("upload service address %q: %w", c.cfg.Upload, err))
		}
		// Its limit, if it says; it is asked again on the next upload
		// when it does not answer.
		di, err := disco.GetInfoIQ(ctx, "", stanza.IQ{From: self, To: addr}, s)
		if err != nil {
			c.log.Warn("upload service did not say what it takes", "service", addr, "err", err)
			return addr, 0, nil
		}
		*u = learntService{session: s, addr: addr, maxSize: uploadLimit(di)}
		return u.addr, u.maxSize, nil
	}
	server, err := jid.Parse(c.serverDomain())
	if err != nil {
		return jid.JID{}, 0, gateway.Permanent(fmt.Errorf("server domain %q: %w", c.serverDomain(), err))
	}
	iter := disco.FetchItemsIQ(ctx, "", stanza.IQ{From: self, To: server}, s)
	var found []items.Item
	for iter.Next() {
		found = append(found, iter.Item())
	}
	err = iter.Err()
	if cerr := iter.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return jid.JID{}, 0, fmt.Errorf("discover the upload service on %s: %w", server, err)
	}
	for _, it := range found {
		if it.Node != "" || strings.EqualFold(it.JID.String(), c.cfg.Domain) {
			continue // a node of an item, or this component itself
		}
		di, err := disco.GetInfoIQ(ctx, "", stanza.IQ{From: self, To: it.JID}, s)
		if err != nil {
			if ctx.Err() != nil {
				return jid.JID{}, 0, ctx.Err()
			}
			continue // an item that does not answer is not the one
		}
		if slices.ContainsFunc(di.Features, func(f info.Feature) bool { return f.Var == upload.NS }) {
			*u = learntService{session: s, addr: it.JID, maxSize: uploadLimit(di)}
			c.log.Info("upload service found", "service", it.JID, "max_size", u.maxSize)
			return u.addr, u.maxSize, nil
		}
	}
	*u = learntService{session: s}
	return jid.JID{}, 0, gateway.Permanent(fmt.Errorf("no upload service (XEP-0363) found on %s: set the network's upload address", server))
}

// serverDomain is the domain of the server the component is attached to:
// Config.ServerDomain, or the component's domain after its first label.
func (c *Component) serverDomain() string {
	if c.cfg.ServerDomain != "" {
		return c.cfg.ServerDomain
	}
	if _, rest, ok := strings.Cut(c.cfg.Domain, "."); ok && rest != "" {
		return rest
	}
	return c.cfg.Domain
}

// uploadLimit is the max-file-size an upload service announces in its
// disco#info (XEP-0363 §2), or 0.
func uploadLimit(i disco.Info) int64 {
	for _, f := range i.Form {
		if t, _ := f.Raw("FORM_TYPE"); !slices.Contains(t, upload.NS) {
			continue
		}
		if v, ok := f.Raw("max-file-size"); ok && len(v) > 0 {
			if n, err := strconv.ParseInt(strings.TrimSpace(v[0]), 10, 64); err == nil && n > 0 {
				return n
			}
		}
	}
	return 0
}

// slotRefused is what the gateway is told of a slot request that failed:
// a refusal the same file would meet again is permanent, worded for the
// file's author; anything else may pass.
func slotRefused(name string, size, limit int64, err error) error {
	var se stanza.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("upload slot for %q: %w", name, err)
	}
	why := ""
	if len(se.Text) > 0 {
		why = ": " + errorText(se.Text)
	}
	switch se.Condition {
	case stanza.NotAcceptable:
		// Too large (XEP-0363's file-too-large) or of a type it refuses.
		msg := fmt.Sprintf("the upload service does not accept %q (%s)%s", name, sizeText(size), why)
		if limit > 0 {
			msg += fmt.Sprintf("; it takes files up to %s", sizeText(limit))
		}
		return gateway.Permanent(errors.New(msg))
	case stanza.Forbidden:
		return gateway.Permanent(fmt.Errorf("the upload service does not let the gateway upload %q (forbidden)%s", name, why))
	case stanza.BadRequest:
		return gateway.Permanent(fmt.Errorf("the upload service refused the request for %q (bad-request)%s", name, why))
	}
	return fmt.Errorf("upload slot for %q: %w", name, se)
}

// errorText is one of a stanza error's texts, the same every time.
func errorText(texts map[string]string) string {
	if t, ok := texts["en"]; ok {
		return t
	}
	if t, ok := texts[""]; ok {
		return t
	}
	return texts[slices.Min(slices.Collect(maps.Keys(texts)))]
}

// put sends the bytes to the slot: never through an environment's proxy
// (the upload service is the network's own), with the headers the slot
// names, and a timeout for the size.
func (c *Component) put(ctx context.Context, slot upload.Slot, name, mediaType string, size int64, r io.Reader) error {
	// Wrapped, so that the HTTP client neither closes the gateway's
	// reader nor takes a length from its type.
	var body io.Reader = struct{ io.Reader }{r}
	if size == 0 {
		body = http.NoBody
	}
	req, err := slot.Put(ctx, body)
	if err != nil {
		return fmt.Errorf("upload of %q: %w", name, err)
	}
	req.ContentLength = size
	if req.Header == nil { // a slot without headers (ejabberd's) leaves none
		req.Header = http.Header{}
	}
	req.Header.Set("Content-Type", mediaType)
	client := &http.Client{Transport: c.transport, Timeout: putTimeout(size)}
	resp, err := client.Do(req)
	if err != nil {
		// The URL holds the slot's secret: it is never in an error.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("upload of %q to %s: %w", name, slot.PutURL.Host, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestEntityTooLarge:
		return gateway.Permanent(fmt.Errorf("the upload service on %s refused %q (%s) as too large (HTTP %s)", slot.PutURL.Host, name, sizeText(size), resp.Status))
	case resp.StatusCode >= 400 && resp.StatusCode < 500:
		return gateway.Permanent(fmt.Errorf("the upload service on %s refused %q (HTTP %s)", slot.PutURL.Host, name, resp.Status))
	}
	return fmt.Errorf("upload of %q to %s: HTTP %s", name, slot.PutURL.Host, resp.Status)
}

// putTimeout is how long an upload of size bytes may take.
func putTimeout(size int64) time.Duration {
	return minPutTime + time.Duration(size/putRate)*time.Second
}

// uploadName is the file name a slot is asked for: a name, never a path,
// and never empty (services refuse both).
func uploadName(name string) string {
	name = strings.TrimSpace(strings.NewReplacer("/", "_", `\`, "_").Replace(name))
	if name == "" {
		return "file"
	}
	return name
}

// webSlot reports whether u is an absolute http or https URL.
func webSlot(u *url.URL) bool {
	return u != nil && u.Host != "" && (strings.EqualFold(u.Scheme, "https") || strings.EqualFold(u.Scheme, "http"))
}

// sizeText is n bytes for a person to read.
func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<30), 'f', 1, 64) + " GiB"
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// Upload implements gateway.Uploader: the component whose domain from is
// on uploads.
func (n *Network) Upload(ctx context.Context, from string, f gateway.Attachment, r io.Reader) (string, error) {
	_, domain, _ := strings.Cut(bareDomain(from), "@")
	c, ok := n.comps[domain]
	if !ok {
		return "", gateway.Permanent(fmt.Errorf("no component for %s on network %s", from, n.name))
	}
	return c.Upload(ctx, from, f, r)
}

// UploadHosts implements gateway.Uploader: every component's.
func (n *Network) UploadHosts() []string {
	var out []string
	for _, d := range slices.Sorted(maps.Keys(n.comps)) {
		for _, h := range n.comps[d].UploadHosts() {
			if !slices.Contains(out, h) {
				out = append(out, h)
			}
		}
	}
	return out
}
