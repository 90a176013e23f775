package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestProsodyUploadServices(t *testing.T) {
	p := StartProsody(t, ProsodyOptions{})
	want := map[string]UploadService{
		"inside":  {Domain: "upload.corp.test", Host: DefaultInsideUploadHost},
		"outside": {Domain: "upload.acme.test", Host: DefaultOutsideUploadHost},
		"contact": {Domain: "upload.ext.test", Host: DefaultContactUploadHost},
	}
	_, port, _ := strings.Cut(p.HTTPAddr, ":")
	for role, got := range map[string]UploadService{"inside": p.InsideUpload, "outside": p.OutsideUpload, "contact": p.ContactUpload} {
		w := want[role]
		w.URL = "http://" + w.Host + ":" + port + "/"
		if got != w {
			t.Errorf("%s upload service: got %+v, want %+v", role, got, w)
		}
	}
	if len(p.Uploads) != 3 || p.UploadLimit != DefaultUploadLimit {
		t.Errorf("uploads %+v, limit %d", p.Uploads, p.UploadLimit)
	}
	cfg, err := os.ReadFile(filepath.Join(p.Dir, "prosody.cfg.lua"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{`Component "upload.acme.test" "http_file_share"`, `http_host = "localhost"`,
		`http_file_share_size_limit = 67108864`, `http_interfaces = { "127.0.0.1", "127.0.0.2" }`} {
		if !strings.Contains(string(cfg), s) {
			t.Errorf("config lacks %s", s)
		}
	}

	p.Register(t, "alice", "corp.test", "pw")
	p.Register(t, "bob", "ext.test", "pw")
	alice := Dial(t, p, "alice@corp.test", "pw")
	bob := Dial(t, p, "bob@ext.test", "pw")
	ctx, cancel := context.WithTimeout(context.Background(), 2*wait)
	defer cancel()

	// Clients find the upload service of their own server among its
	// disco#items (Prosody lists the components under its hosts' names).
	for _, c := range []struct {
		cl             *Client
		server, upload string
	}{{alice, "corp.test", "upload.corp.test"}, {bob, "ext.test", "upload.ext.test"}} {
		if err := c.cl.SendRaw(`<iq type="get" id="items1" to="` + c.server + `"><query xmlns="http://jabber.org/protocol/disco#items"/></iq>`); err != nil {
			t.Fatal(err)
		}
		r := c.cl.Expect(t, wait, func(s Stanza) bool { return s.ID == "items1" })
		if !strings.Contains(r.Raw, `jid='`+c.upload+`'`) {
			t.Errorf("%s's disco#items lack %s: %s", c.server, c.upload, r.Raw)
		}
	}

	// Both users upload to every service (Prosody lets the users of all its
	// hosts use each) and the other one downloads.
	for _, u := range p.Uploads {
		for _, pair := range []struct{ up, down *Client }{{alice, bob}, {bob, alice}} {
			data := []byte("file from " + pair.up.JID + " via " + u.Domain + "\n")
			get, err := pair.up.Upload(ctx, u.Domain, "note ü 1.txt", "text/plain", data)
			if err != nil {
				t.Fatalf("%s uploads to %s: %v", pair.up.JID, u.Domain, err)
			}
			if !strings.HasPrefix(get, u.URL+"file_share/") || !strings.HasSuffix(get, "/note%20%C3%BC%201.txt") {
				t.Errorf("%s: get URL %s", u.Domain, get)
			}
			got, h, err := Fetch(get)
			if err != nil {
				t.Fatalf("fetch %s: %v", get, err)
			}
			if !bytes.Equal(got, data) || h.Get("Content-Type") != "text/plain" {
				t.Errorf("fetch %s: %q, type %q", get, got, h.Get("Content-Type"))
			}
		}
	}

	// A file message carries the URL in the body and as XEP-0066 OOB.
	data := make([]byte, 4<<20) // streamed to disk by Prosody (above http_max_content_size)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	get, err := alice.Upload(ctx, p.InsideUpload.Domain, "photo.jpg", "image/jpeg", data)
	if err != nil {
		t.Fatal(err)
	}
	id, err := alice.SendFile("bob@ext.test", get, "")
	if err != nil {
		t.Fatal(err)
	}
	m := bob.Expect(t, wait, func(s Stanza) bool { return s.ID == id })
	if m.Body != get || !reflect.DeepEqual(m.OOBURLs, []string{get}) || m.OriginID != id ||
		!m.ReceiptRequest || !m.Markable || m.Type != "chat" {
		t.Errorf("file message: %+v", m)
	}
	got, h, err := Fetch(m.OOBURLs[0])
	if err != nil || !bytes.Equal(got, data) || h.Get("Content-Type") != "image/jpeg" {
		t.Errorf("fetch the shared file: %d bytes (want %d), type %q, %v", len(got), len(data), h.Get("Content-Type"), err)
	}

	// Fetching a file that is not there.
	u, _ := url.Parse(get)
	u.Path = "/file_share/nosuchslot/photo.jpg"
	var he *HTTPError
	if _, _, err := Fetch(u.String()); !errors.As(err, &he) || he.StatusCode != 404 {
		t.Errorf("fetch a missing file: %v", err)
	}
}

func TestProsodyUploadOptions(t *testing.T) {
	p := StartProsody(t, ProsodyOptions{
		InsideHost: "in.test", OutsideHost: "out.test", Components: []string{"gw.in.test"},
		Uploads:     []UploadService{{Domain: "files.in.test", Host: "127.0.0.3"}},
		UploadLimit: 1000,
	})
	_, port, _ := strings.Cut(p.HTTPAddr, ":")
	want := UploadService{Domain: "files.in.test", Host: "127.0.0.3", URL: "http://127.0.0.3:" + port + "/"}
	if len(p.Uploads) != 1 || p.Uploads[0] != want {
		t.Fatalf("uploads %+v, want %+v", p.Uploads, want)
	}
	// None is named as the conventions for the roles say.
	if p.InsideUpload != (UploadService{}) || p.OutsideUpload != (UploadService{}) || p.ContactUpload != (UploadService{}) {
		t.Errorf("roles: %+v %+v %+v", p.InsideUpload, p.OutsideUpload, p.ContactUpload)
	}
	p.Register(t, "carol", "out.test", "pw")
	carol := Dial(t, p, "carol@out.test", "pw")
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	get, err := carol.Upload(ctx, "files.in.test", "a.bin", "application/octet-stream", bytes.Repeat([]byte{7}, 1000))
	if err != nil {
		t.Fatal(err)
	}
	if got, _, err := Fetch(get); err != nil || len(got) != 1000 {
		t.Fatalf("fetch %s: %d bytes, %v", get, len(got), err)
	}
	if _, err := carol.Upload(ctx, "files.in.test", "b.bin", "application/octet-stream", make([]byte, 1001)); err == nil ||
		!strings.Contains(err.Error(), "not-acceptable") {
		t.Errorf("upload over the limit: %v", err)
	}
	// The slot replies were taken, the error among them; nothing is left.
	short, cancelShort := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelShort()
	if s, err := carol.Receive(short); err == nil && s.Kind == "iq" {
		t.Errorf("slot reply left queued: %s", s.Raw)
	}

	// After a restart the services are the same.
	p.Stop(t)
	p.Start(t)
	if len(p.Uploads) != 1 || p.Uploads[0] != want {
		t.Errorf("after restart: %+v", p.Uploads)
	}
}

func TestProsodyScriptRejectsUploads(t *testing.T) {
	RequireProsody(t)
	p := &Prosody{script: filepath.Join(RepoRoot(t), "scripts", "prosody.sh")}
	for _, c := range []struct{ args, msg string }{
		{"--upload upload.corp.test", "DOMAIN=HOST"},
		{"--upload a.test=10.0.0.1", "not a 127.x.y.z address"},
		{"--upload a.test=localhost --upload b.test=LocalHost", "share the HTTP host"},
		{"--upload corp.test=127.0.0.1", "also a user host"},
		{"--upload gw.corp.test=127.0.0.1", "also a component"},
		{"--http-port 5222", "also the c2s or component port"},
		{"--upload-limit 0", "positive number of bytes"},
	} {
		out, err := p.run(append([]string{"start", "--dir", t.TempDir()}, strings.Fields(c.args)...)...)
		if err == nil || !strings.Contains(out, c.msg) {
			t.Errorf("start %s: %v: %s (want %q)", c.args, err, out, c.msg)
		}
	}
}
