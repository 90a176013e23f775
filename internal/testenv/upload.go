package testenv

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// httpClient is what Upload and Fetch use: never a proxy (the upload
// services are on loopback, and NO_PROXY may not say so).
var httpClient = func() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	return &http.Client{Transport: t}
}()

// slotReply is a XEP-0363 slot, the answer to a slot request.
type slotReply struct {
	XMLName xml.Name `xml:"iq"` // Raw does not repeat the stream's jabber:client
	Type    string   `xml:"type,attr"`
	Slot    struct {
		Put struct {
			URL     string `xml:"url,attr"`
			Headers []struct {
				Name  string `xml:"name,attr"`
				Value string `xml:",chardata"`
			} `xml:"header"`
		} `xml:"put"`
		Get struct {
			URL string `xml:"url,attr"`
		} `xml:"get"`
	} `xml:"urn:xmpp:http:upload:0 slot"`
}

// Upload shares a file the way clients do (XEP-0363): it asks service (an
// upload component's JID) for a slot for name, mediaType and len(data)
// bytes, PUTs data to the slot's URL with the headers the slot names, and
// returns the URL to fetch the file from. Send that URL with SendFile.
//
// The slot's reply is taken out of the received stanzas; the others stay
// queued for Receive, which the test must not call meanwhile from another
// goroutine.
func (c *Client) Upload(ctx context.Context, service, name, mediaType string, data []byte) (getURL string, err error) {
	id := NewID()
	req := fmt.Sprintf(`<iq type="get" to="%s" id="%s"><request xmlns="%s" filename="%s" size="%d" content-type="%s"/></iq>`,
		esc(service), id, nsUpload, esc(name), len(data), esc(mediaType))
	if err := c.SendRaw(req); err != nil {
		return "", fmt.Errorf("upload %s: %w", name, err)
	}
	reply, err := c.await(ctx, func(s Stanza) bool {
		return s.Kind == "iq" && s.ID == id && (s.Type == "result" || s.Type == "error")
	})
	if err != nil {
		return "", fmt.Errorf("upload %s: no slot from %s: %w", name, service, err)
	}
	if reply.Type == "error" {
		return "", fmt.Errorf("upload %s: %s refused a slot: %s (%s) %s: %s",
			name, service, reply.ErrorCondition, reply.ErrorType, reply.ErrorText, reply.Raw)
	}
	var slot slotReply
	if err := xml.Unmarshal([]byte(reply.Raw), &slot); err != nil {
		return "", fmt.Errorf("upload %s: slot from %s: %w: %s", name, service, err, reply.Raw)
	}
	if slot.Slot.Put.URL == "" || slot.Slot.Get.URL == "" {
		return "", fmt.Errorf("upload %s: slot from %s lacks a put or get URL: %s", name, service, reply.Raw)
	}

	put, err := http.NewRequestWithContext(ctx, http.MethodPut, slot.Slot.Put.URL, bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("upload %s: %w", name, err)
	}
	put.Header.Set("Content-Type", mediaType)
	for _, h := range slot.Slot.Put.Headers {
		// XEP-0363 §5: only these, and without newlines.
		switch strings.ToLower(h.Name) {
		case "authorization", "cookie", "expires":
			put.Header.Set(h.Name, strings.NewReplacer("\r", "", "\n", "").Replace(h.Value))
		}
	}
	resp, err := httpClient.Do(put)
	if err != nil {
		return "", fmt.Errorf("upload %s: %w", name, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("upload %s: PUT %s: %s: %s", name, slot.Slot.Put.URL, resp.Status, bytes.TrimSpace(msg))
	}
	return slot.Slot.Get.URL, nil
}

// FetchTimeout bounds a Fetch.
const FetchTimeout = 2 * time.Minute

// HTTPError is Fetch's error for a response that is not 200 OK.
type HTTPError struct {
	URL        string
	StatusCode int
	Status     string
}

func (e *HTTPError) Error() string { return "GET " + e.URL + ": " + e.Status }

// Fetch downloads url as a client shows a shared file, never through a
// proxy. A status other than 200 OK is an *HTTPError; the headers are
// returned with it.
func Fetch(url string) ([]byte, http.Header, error) {
	ctx, cancel := context.WithTimeout(context.Background(), FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("fetch: %w", err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("fetch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return nil, resp.Header, &HTTPError{URL: url, StatusCode: resp.StatusCode, Status: resp.Status}
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp.Header, fmt.Errorf("fetch %s: %w", url, err)
	}
	if n := resp.Header.Get("Content-Length"); n != "" && n != strconv.Itoa(len(body)) {
		return nil, resp.Header, fmt.Errorf("fetch %s: got %d bytes of %s", url, len(body), n)
	}
	return body, resp.Header, nil
}

// await removes and returns the first received stanza for which match is
// true, leaving the ones before it queued, waiting until ctx is done.
func (c *Client) await(ctx context.Context, match func(Stanza) bool) (Stanza, error) {
	for {
		c.mu.Lock()
		for i, s := range c.queue {
			if match(s) {
				c.queue = append(c.queue[:i:i], c.queue[i+1:]...)
				c.mu.Unlock()
				return s, nil
			}
		}
		if c.parseErr != nil || c.parsed {
			c.mu.Unlock()
			return Stanza{}, errors.Join(ErrClosed, c.parseErr)
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return Stanza{}, fmt.Errorf("%s: %w", c.JID, ctx.Err())
		}
	}
}
