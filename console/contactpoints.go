package console

import (
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/kakehashi/kakehashi/address"
	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/console/qr"
	"github.com/kakehashi/kakehashi/identity"
)

// qrPixels is the size of the QR codes' PNG, a side.
const qrPixels = 512

// codeLink is one persona address's chat link and QR code.
type codeLink struct {
	Network string
	Address string
	URI     string
	PNG     string // the image's URL
	PNGDown string // the PNG's download URL
	SVGDown string
	Err     string
}

// contactPoint is one persona on the contact points page.
type contactPoint struct {
	ID, Name string
	// Assign says how a contact point assigns new contacts ("" for a
	// persona that is none).
	Assign  string
	Members []string
	Owner   string
	Codes   []codeLink
	// BySource is the new contacts of the last 30 days by source, at this
	// contact point.
	BySource []sourceCount
}

// sourceCount is how many new contacts came by one source.
type sourceCount struct {
	Source string
	Count  int64
}

// contactPointsData is the contact points page.
type contactPointsData struct {
	Source string
	Points []contactPoint
	Others []contactPoint
	Days   int
}

// kind is the kind of the addresses of network (XMPP unless the
// topology says otherwise).
func (c *Console) kind(network string) address.Kind {
	if c.top != nil {
		if n, ok := c.top.Networks[network]; ok && n.Kind != "" {
			return n.Kind
		}
	}
	return address.XMPP
}

func (q *req) contactPoints() error {
	d, err := q.directory(true)
	if err != nil {
		return err
	}
	source := strings.TrimSpace(q.r.URL.Query().Get("source"))
	data := &contactPointsData{Source: source, Days: overviewDays}
	var errs []error
	if source != "" {
		if _, err := qr.Address("a@b.test", source); err != nil {
			errs = append(errs, mistake("contact_points.source.invalid"))
			source = ""
		}
	}
	// New contacts by contact point and source, over the overview's
	// default period.
	bySource := map[string][]sourceCount{}
	sq := adminapi.StatsQuery{}
	if q.who.Role == roleLead {
		sq.Team = q.who.Team
	}
	if o, err := q.api.Overview(q.r.Context(), sq); err == nil {
		for _, sc := range o.Total.NewBySource {
			if sc.ContactPoint != "" {
				bySource[sc.ContactPoint] = append(bySource[sc.ContactPoint], sourceCount{Source: sc.Source, Count: sc.Count})
			}
		}
	}
	ids := make([]string, 0, len(d.personas))
	for id := range d.personas {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		p := d.personas[id]
		if d.team != "" && !d.ours(p) {
			continue
		}
		cp := contactPoint{ID: p.ID, Name: p.DisplayName, Assign: q.assignLabel(p), BySource: bySource[p.ID]}
		for _, m := range p.Members {
			cp.Members = append(cp.Members, d.name(m))
		}
		if p.EmployeeID != "" {
			cp.Owner = d.name(p.EmployeeID)
		}
		for _, a := range p.Addresses {
			cp.Codes = append(cp.Codes, q.c.codeLink(p.ID, a, source))
		}
		if p.Kind == identity.Team && p.Assign != "" {
			data.Points = append(data.Points, cp)
		} else {
			data.Others = append(data.Others, cp)
		}
	}
	data.Source = source
	if data.Source == "" {
		data.Source = strings.TrimSpace(q.r.URL.Query().Get("source"))
	}
	q.render("contact-points", data, errs...)
	return nil
}

// assignLabel says how persona p assigns new contacts.
func (q *req) assignLabel(p identity.Persona) string {
	switch p.Assign {
	case identity.AssignRoundRobin:
		return q.T("contact_points.assign.round_robin")
	case identity.AssignLeastLoaded:
		return q.T("contact_points.assign.least_loaded")
	case "":
		return q.T("contact_points.assign.owner")
	}
	return string(p.Assign)
}

// codeLink is the chat link and QR code URLs of persona's address a
// with source.
func (c *Console) codeLink(persona string, a identity.Address, source string) codeLink {
	l := codeLink{Network: a.Network, Address: a.Addr}
	uri, err := qr.URI(a.Network, c.kind(a.Network), a.Addr, source)
	if err != nil {
		l.Err = err.Error()
		return l
	}
	l.URI = uri
	v := url.Values{"persona": {persona}, "network": {a.Network}}
	if source != "" {
		v.Set("source", source)
	}
	l.PNG = "/console/contact-points/qr.png?" + v.Encode()
	v.Set("download", "1")
	l.PNGDown = "/console/contact-points/qr.png?" + v.Encode()
	l.SVGDown = "/console/contact-points/qr.svg?" + v.Encode()
	return l
}

// qrURI is the chat link a QR code request names: a persona the caller
// may see, its address on the network, and the source.
func (q *req) qrURI() (string, string, error) {
	v := q.r.URL.Query()
	persona, network, source := v.Get("persona"), v.Get("network"), v.Get("source")
	ps, err := q.api.ListPersonas(q.r.Context())
	if err != nil {
		return "", "", err
	}
	for _, p := range ps {
		if p.ID != persona {
			continue
		}
		addr, ok := p.AddressOn(network)
		if !ok {
			break
		}
		uri, err := qr.URI(network, q.c.kind(network), addr, source)
		if err != nil {
			return "", "", &adminapi.Error{Status: http.StatusBadRequest, Message: err.Error()}
		}
		name := "qr-" + fileSafe(persona) + "-" + fileSafe(network)
		if source != "" {
			name += "-" + fileSafe(source)
		}
		return uri, name, nil
	}
	return "", "", &adminapi.Error{Status: http.StatusNotFound, Message: q.T("contact_points.no_address", persona, network)}
}

var unsafeFile = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// fileSafe is s for a download's file name.
func fileSafe(s string) string { return unsafeFile.ReplaceAllString(s, "_") }

func (q *req) qrPNG() error {
	uri, name, err := q.qrURI()
	if err != nil {
		return err
	}
	png, err := qr.PNG(uri, qrPixels)
	if err != nil {
		return err
	}
	q.image("image/png", name+".png", png)
	return nil
}

func (q *req) qrSVG() error {
	uri, name, err := q.qrURI()
	if err != nil {
		return err
	}
	svg, err := qr.SVG(uri)
	if err != nil {
		return err
	}
	q.image("image/svg+xml", name+".svg", svg)
	return nil
}

// image answers with an image, as a download when asked (download=1).
func (q *req) image(mediaType, name string, b []byte) {
	h := q.w.Header()
	h.Set("Content-Type", mediaType)
	h.Set("Cache-Control", "private, no-store")
	if q.r.URL.Query().Get("download") != "" {
		h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
	}
	_, _ = q.w.Write(b)
}
