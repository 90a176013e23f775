package xmpp

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/gateway"
	"github.com/kakehashi/kakehashi/identity"
)

// fakeServer is the server end of a component connection (XEP-0114): it
// takes the handshake, records every IQ the component sends and answers
// it with what answer says, as raw XML (its own test data).
type fakeServer struct {
	t      *testing.T
	ln     net.Listener
	secret string
	answer func(iq sentIQ) string

	mu  sync.Mutex
	iqs []sentIQ
}

// sentIQ is an IQ the component sent, as the server read it.
type sentIQ struct {
	Type, ID, From, To string
	Payload            xml.Name
	Attrs              map[string]string // the payload's attributes
}

func startFakeServer(t *testing.T, answer func(sentIQ) string) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{t: t, ln: ln, secret: "s3cret", answer: answer}
	go f.serve()
	t.Cleanup(func() { ln.Close() })
	return f
}

func (f *fakeServer) sent() []sentIQ {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.iqs)
}

func (f *fakeServer) serve() {
	for {
		conn, err := f.ln.Accept()
		if err != nil {
			return
		}
		go f.session(conn)
	}
}

func (f *fakeServer) session(conn net.Conn) {
	defer conn.Close()
	d := xml.NewDecoder(conn)
	for {
		tok, err := d.Token()
		if err != nil {
			return
		}
		if s, ok := tok.(xml.StartElement); ok && s.Name.Local == "stream" {
			break
		}
	}
	if _, err := io.WriteString(conn, `<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' id='st1' from='`+testDomain+`'>`); err != nil {
		return
	}
	var hs struct {
		Value string `xml:",chardata"`
	}
	if err := d.Decode(&hs); err != nil {
		return
	}
	if want := sha1.Sum([]byte("st1" + f.secret)); hs.Value != hex.EncodeToString(want[:]) {
		_, _ = io.WriteString(conn, `<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>`)
		return
	}
	if _, err := io.WriteString(conn, `<handshake/>`); err != nil {
		return
	}
	for {
		var st struct {
			XMLName xml.Name
			Attrs   []xml.Attr `xml:",any,attr"`
			Payload []struct {
				XMLName xml.Name
				Attrs   []xml.Attr `xml:",any,attr"`
			} `xml:",any"`
		}
		tok, err := d.Token()
		if err != nil {
			return
		}
		if _, ok := tok.(xml.EndElement); ok {
			// The component closes its stream: close ours.
			_, _ = io.WriteString(conn, `</stream:stream>`)
			return
		}
		start, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		if err := d.DecodeElement(&st, &start); err != nil {
			return
		}
		if st.XMLName.Local != "iq" {
			continue
		}
		iq := sentIQ{Attrs: map[string]string{}}
		for _, a := range st.Attrs {
			switch a.Name.Local {
			case "type":
				iq.Type = a.Value
			case "id":
				iq.ID = a.Value
			case "from":
				iq.From = a.Value
			case "to":
				iq.To = a.Value
			}
		}
		if len(st.Payload) > 0 {
			iq.Payload = st.Payload[0].XMLName
			for _, a := range st.Payload[0].Attrs {
				if a.Name.Space != "xmlns" && a.Name.Local != "xmlns" {
					iq.Attrs[a.Name.Local] = a.Value
				}
			}
		}
		f.mu.Lock()
		f.iqs = append(f.iqs, iq)
		f.mu.Unlock()
		answer := f.answer(iq)
		if answer == "" {
			answer = `<error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`
		}
		typ := "result"
		if strings.HasPrefix(answer, "<error") {
			typ = "error"
		}
		reply := `<iq` + xmlAttr("type", typ) + xmlAttr("id", iq.ID) + xmlAttr("from", iq.To) + xmlAttr("to", iq.From) + `>` + answer + `</iq>`
		if _, err := io.WriteString(conn, reply); err != nil {
			return
		}
	}
}

// connect runs c against f until the test ends and waits until it is
// connected.
func connect(t *testing.T, c *Component) {
	t.Helper()
	connectAs(t, c, fakeCore{})
}

// connectAs runs c with core until the test ends and waits until it is
// connected (to a real Prosody, which may take a while under load).
func connectAs(t *testing.T, c *Component, core gateway.Core) {
	t.Helper()
	connected := make(chan struct{}, 1)
	c.cfg.OnConnect = func() {
		select {
		case connected <- struct{}{}:
		default:
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, core) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case <-connected:
	case <-time.After(20 * time.Second):
		t.Fatal("component did not connect")
	}
}

// uploadServer is a server whose domain (corp.test) lists a conference
// service and an upload service, upload.corp.test, taking files up to
// limit bytes (none when 0); slots point at put and get. refuse, when not
// empty, answers slot requests instead.
type uploadServer struct {
	put, get string
	limit    int64
	refuse   string
}

func (u *uploadServer) answer(iq sentIQ) string {
	switch {
	case iq.Payload.Space == "http://jabber.org/protocol/disco#items" && iq.To == "corp.test":
		return `<query xmlns="http://jabber.org/protocol/disco#items"><item jid="conference.corp.test"/><item jid="gw.corp.test"/><item jid="pubsub.corp.test" node="x"/><item jid="upload.corp.test" name="Uploads"/></query>`
	case iq.Payload.Space == "http://jabber.org/protocol/disco#info" && iq.To == "conference.corp.test":
		return `<query xmlns="http://jabber.org/protocol/disco#info"><identity category="conference" type="text"/><feature var="http://jabber.org/protocol/muc"/></query>`
	case iq.Payload.Space == "http://jabber.org/protocol/disco#info" && iq.To == "upload.corp.test":
		form := ""
		if u.limit > 0 {
			form = fmt.Sprintf(`<x xmlns="jabber:x:data" type="result"><field var="FORM_TYPE" type="hidden"><value>urn:xmpp:http:upload:0</value></field>`+
				`<field var="max-file-size"><value>%d</value></field></x>`, u.limit)
		}
		return `<query xmlns="http://jabber.org/protocol/disco#info"><identity category="store" type="file"/><feature var="urn:xmpp:http:upload:0"/>` + form + `</query>`
	case iq.Payload == xml.Name{Space: "urn:xmpp:http:upload:0", Local: "request"}:
		if u.refuse != "" {
			return u.refuse
		}
		return `<slot xmlns="urn:xmpp:http:upload:0"><put` + xmlAttr("url", u.put) + `><header name="Authorization">Bearer tok</header><header name="X-Evil">no</header></put><get` + xmlAttr("url", u.get) + `/></slot>`
	}
	return ""
}

// putRecorder is an HTTP upload service that answers status and records
// what it was sent.
type putRecorder struct {
	status int
	mu     sync.Mutex
	reqs   []*http.Request
	bodies []string
}

func (p *putRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	p.reqs = append(p.reqs, r)
	p.bodies = append(p.bodies, string(b))
	p.mu.Unlock()
	w.WriteHeader(p.status)
}

func newUploadComponent(t *testing.T, f *fakeServer, cfg Config) *Component {
	t.Helper()
	cfg.Network, cfg.Side, cfg.Domain, cfg.Server, cfg.Secret = "corp", identity.Inside, testDomain, f.ln.Addr().String(), f.secret
	cfg.Logger = slog.New(slog.DiscardHandler)
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestUpload: the component finds the server's upload service once per
// connection, asks it for a slot as the address the file is sent from,
// PUTs the bytes with the slot's headers, the size and the type, and
// returns the GET URL, whose host it then counts among its upload hosts.
func TestUpload(t *testing.T) {
	rec := &putRecorder{status: http.StatusCreated}
	web := httptest.NewServer(rec)
	defer web.Close()
	us := &uploadServer{put: web.URL + "/put/tok123/photo.jpg", get: "https://files.corp.test/get/photo.jpg", limit: 1 << 20}
	f := startFakeServer(t, us.answer)
	c := newUploadComponent(t, f, Config{UploadHosts: []string{"Share.Corp.Test"}})
	if c.transport.Proxy != nil {
		t.Fatal("the upload transport consults a proxy")
	}
	connect(t, c)

	from := `bob\40ext.test@gw.corp.test`
	for i := range 2 {
		url, err := c.Upload(t.Context(), from, gateway.Attachment{Name: "dir/photo.jpg", MediaType: "image/jpeg", Size: 5}, strings.NewReader("photo"))
		if err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
		if url != us.get {
			t.Errorf("URL %q, want %q", url, us.get)
		}
	}
	var slots, discos int
	for _, iq := range f.sent() {
		if iq.Payload.Local == "request" {
			slots++
			want := map[string]string{"filename": "dir_photo.jpg", "size": "5", "content-type": "image/jpeg"}
			if iq.From != from || iq.To != "upload.corp.test" || iq.Type != "get" || !mapsEqual(iq.Attrs, want) {
				t.Errorf("slot request %+v", iq)
			}
			continue
		}
		discos++
		if iq.From != testDomain {
			t.Errorf("disco from %q: %+v", iq.From, iq)
		}
	}
	// disco#items, and disco#info of the two items without a node but
	// the component itself, once.
	if slots != 2 || discos != 3 {
		t.Errorf("%d slot requests and %d disco queries: %+v", slots, discos, f.sent())
	}
	if len(rec.reqs) != 2 {
		t.Fatalf("%d PUTs", len(rec.reqs))
	}
	r := rec.reqs[0]
	if r.Method != http.MethodPut || r.URL.Path != "/put/tok123/photo.jpg" || rec.bodies[0] != "photo" || r.ContentLength != 5 ||
		r.Header.Get("Content-Type") != "image/jpeg" || r.Header.Get("Authorization") != "Bearer tok" || r.Header.Get("X-Evil") != "" {
		t.Errorf("PUT %s %s %q length %d headers %v", r.Method, r.URL, rec.bodies[0], r.ContentLength, r.Header)
	}
	if got, want := c.UploadHosts(), []string{"share.corp.test", "files.corp.test"}; !slices.Equal(got, want) {
		t.Errorf("UploadHosts() = %q, want %q", got, want)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestUploadFailures: what the gateway is told when an upload fails, and
// whether a retry may help.
func TestUploadFailures(t *testing.T) {
	const from = `bob\40ext.test@gw.corp.test`
	tooLarge := `<error type="modify"><not-acceptable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">File too large</text>` +
		`<file-too-large xmlns="urn:xmpp:http:upload:0"><max-file-size>1000</max-file-size></file-too-large></error>`
	for _, tt := range []struct {
		name      string
		limit     int64
		refuse    string
		status    int
		size      int64
		permanent bool
		says      []string
	}{
		{"larger than the service says it takes", 1000, "", 201, 5000, true, []string{`"a.pdf"`, "4.9 KiB", "1000 bytes"}},
		{"slot refused as too large", 0, tooLarge, 201, 5, true, []string{`"a.pdf"`, "File too large"}},
		{"slot forbidden", 0, `<error type="auth"><forbidden xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`, 201, 5, true, []string{`"a.pdf"`, "forbidden"}},
		{"quota reached", 0, `<error type="wait"><resource-constraint xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">Quota reached</text></error>`, 201, 5, false, []string{`"a.pdf"`, "Quota reached"}},
		{"HTTP 413", 0, "", 413, 5, true, []string{`"a.pdf"`, "too large", "413"}},
		{"HTTP 403", 0, "", 403, 5, true, []string{`"a.pdf"`, "403"}},
		{"HTTP 503", 0, "", 503, 5, false, []string{`"a.pdf"`, "503"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &putRecorder{status: tt.status}
			web := httptest.NewServer(rec)
			defer web.Close()
			us := &uploadServer{put: web.URL + "/put/SECRET-TOKEN/a.pdf", get: "https://files.corp.test/a.pdf", limit: tt.limit, refuse: tt.refuse}
			f := startFakeServer(t, us.answer)
			c := newUploadComponent(t, f, Config{})
			connect(t, c)
			_, err := c.Upload(t.Context(), from, gateway.Attachment{Name: "a.pdf", Size: tt.size}, strings.NewReader(strings.Repeat("x", int(tt.size))))
			if err == nil {
				t.Fatal("no error")
			}
			se, _ := gateway.ClassifySend(t.Context(), err)
			if (se.Action == gateway.GiveUp) != tt.permanent {
				t.Errorf("action %v for %v", se.Action, err)
			}
			for _, s := range tt.says {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%q does not say %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "SECRET-TOKEN") {
				t.Errorf("the error gives the slot away: %v", err)
			}
			if len(c.UploadHosts()) != 0 {
				t.Errorf("hosts learnt from a failed upload: %q", c.UploadHosts())
			}
		})
	}
}

// TestUploadService: a configured service is used without discovery; a
// server without one is a permanent failure, found out once per
// connection; a disconnected component says so; and an address of
// another domain cannot upload.
func TestUploadService(t *testing.T) {
	const from = `bob\40ext.test@gw.corp.test`
	rec := &putRecorder{status: 200}
	web := httptest.NewServer(rec)
	defer web.Close()

	us := &uploadServer{put: web.URL + "/p", get: "https://files.corp.test/g"}
	f := startFakeServer(t, us.answer)
	c := newUploadComponent(t, f, Config{Upload: "up.example.test"})
	connect(t, c)
	if _, err := c.Upload(t.Context(), from, gateway.Attachment{Name: "a", Size: 0}, strings.NewReader("")); err != nil {
		t.Fatal(err)
	}
	for _, iq := range f.sent() {
		if iq.To != "up.example.test" || iq.Payload.Space == "http://jabber.org/protocol/disco#items" {
			t.Errorf("IQ %+v", iq)
		}
	}
	if len(rec.reqs) != 1 || rec.reqs[0].ContentLength != 0 || rec.reqs[0].Header.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("empty file: %+v", rec.reqs)
	}

	none := startFakeServer(t, func(iq sentIQ) string {
		if iq.Payload.Space == "http://jabber.org/protocol/disco#items" {
			return `<query xmlns="http://jabber.org/protocol/disco#items"><item jid="conference.corp.test"/></query>`
		}
		return `<query xmlns="http://jabber.org/protocol/disco#info"><identity category="conference" type="text"/></query>`
	})
	c = newUploadComponent(t, none, Config{})
	connect(t, c)
	for range 2 {
		_, err := c.Upload(t.Context(), from, gateway.Attachment{Name: "a", Size: 1}, strings.NewReader("x"))
		if se, _ := gateway.ClassifySend(t.Context(), err); se.Action != gateway.GiveUp || !strings.Contains(err.Error(), "corp.test") {
			t.Errorf("no service: %v", err)
		}
	}
	if n := len(none.sent()); n != 2 {
		t.Errorf("%d IQs to find there is no service, want 2 (once)", n)
	}
	if _, err := c.Upload(t.Context(), "hana.sales@contact.acme.test", gateway.Attachment{Name: "a", Size: 1}, strings.NewReader("x")); err == nil ||
		!strings.Contains(err.Error(), "not an address of component") {
		t.Errorf("upload from another domain: %v", err)
	}

	idle := newTestComponent(t, identity.Outside)
	if _, err := idle.Upload(t.Context(), "a@"+testDomain, gateway.Attachment{Size: 1}, strings.NewReader("x")); !errors.Is(err, gateway.ErrNotConnected) {
		t.Errorf("disconnected: %v", err)
	}
}

func TestServerDomain(t *testing.T) {
	for _, tt := range []struct{ domain, server, want string }{
		{"contact.acme.test", "", "acme.test"},
		{"gw.corp.test", "", "corp.test"},
		{"gw.corp.test", "xmpp.corp.test", "xmpp.corp.test"},
		{"localhost", "", "localhost"},
	} {
		c := &Component{cfg: Config{Domain: tt.domain, ServerDomain: tt.server}}
		if got := c.serverDomain(); got != tt.want {
			t.Errorf("%s (server %q): %s, want %s", tt.domain, tt.server, got, tt.want)
		}
	}
}

// TestNetworkUploader: the gateway finds uploads on an XMPP network by
// type assertion; each address uploads through its own domain's
// component, and the network's upload hosts are all its components'.
func TestNetworkUploader(t *testing.T) {
	n, err := NewNetwork(
		Config{Network: "corp", Side: identity.Inside, Domain: "gw.corp.test", Server: "127.0.0.1:1", Secret: "s", UploadHosts: []string{"share.corp.test"}},
		Config{Network: "corp", Side: identity.Inside, Domain: "mail.gw.corp.test", Server: "127.0.0.1:1", Secret: "s", UploadHosts: []string{"Share.corp.test", "files.corp.test"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	var a gateway.Adapter = n
	up, ok := a.(gateway.Uploader)
	if !ok {
		t.Fatal("Network is no gateway.Uploader")
	}
	if got, want := up.UploadHosts(), []string{"share.corp.test", "files.corp.test"}; !slices.Equal(got, want) {
		t.Errorf("UploadHosts() = %q, want %q", got, want)
	}
	if _, err := up.Upload(t.Context(), "a@other.test", gateway.Attachment{}, strings.NewReader("")); err == nil {
		t.Error("uploaded through no component")
	} else if se, _ := gateway.ClassifySend(t.Context(), err); se.Action != gateway.GiveUp {
		t.Errorf("unknown domain: %v", err)
	}
	// Not connected: the component of the address's domain says so.
	if _, err := up.Upload(t.Context(), `bob\40ext.test@MAIL.gw.corp.test`, gateway.Attachment{}, strings.NewReader("")); !errors.Is(err, gateway.ErrNotConnected) {
		t.Errorf("disconnected: %v", err)
	}
	// A host one component learns, every component knows.
	n.comps["gw.corp.test"].hosts.add("Learnt.corp.test")
	if got := n.comps["mail.gw.corp.test"].UploadHosts(); !slices.Contains(got, "learnt.corp.test") {
		t.Errorf("hosts not shared: %q", got)
	}
}
