package parse

import (
	"strings"
)

// bounce builds the Bounce of a delivery status notification: a
// multipart/report with report-type=delivery-status, or (for MTAs that get
// the structure wrong) a null-sender mail from MAILER-DAEMON or postmaster
// that carries a message/delivery-status part anywhere.
func (w *walker) bounce(m *Mail) *Bounce {
	if w.reportType != "delivery-status" {
		local := localPart(m.From.Addr)
		if !m.NullSender || len(w.dsn) == 0 || (local != "mailer-daemon" && local != "postmaster") {
			return nil
		}
	}
	b := &Bounce{}
	for _, d := range w.dsn {
		b.Recipients = append(b.Recipients, parseDeliveryStatus(d)...)
	}
	orig := w.orig
	if !w.haveOrig {
		orig = w.origAny
	}
	if orig != nil {
		h, _ := readHeader(orig) // returned headers are often cut off mid-field; keep what parsed
		if ids := msgIDs(h.Get("Message-Id")); len(ids) > 0 {
			b.OriginalMessageID = ids[0]
		}
		var to []string
		for _, a := range w.hdr.addressList(h.Get("To")) {
			to = append(to, a.Addr)
		}
		b.OriginalTo = strings.Join(to, ", ")
	}
	return b
}

// dsnField is one "Name: value" line of a delivery-status body.
type dsnField struct {
	key, val string
	more     []string // continuation lines
}

func (f dsnField) value() string {
	if len(f.more) == 0 {
		return f.val
	}
	return f.val + " " + strings.Join(f.more, " ")
}

// parseDeliveryStatus reads the per-recipient blocks of a
// message/delivery-status body (RFC 3464 §2). Blocks are separated by
// blank lines; a repeated recipient field also starts a new one, because
// some MTAs leave the blank line out.
func parseDeliveryStatus(data []byte) []BounceRecipient {
	text := cleanText(decodeCharset(data, "utf-8"))
	var out []BounceRecipient
	var group []dsnField
	flush := func() {
		var r BounceRecipient
		var final, original string
		have := false
		emit := func() {
			if have {
				r.Addr = final
				if r.Addr == "" {
					r.Addr = original
				}
				out = append(out, r)
			}
			r, final, original, have = BounceRecipient{}, "", "", false
		}
		for _, fl := range group {
			f := dsnField{key: fl.key, val: fl.value()}
			switch f.key {
			case "final-recipient":
				if final != "" {
					emit()
				}
				final, have = dsnAddr(f.val), true
			case "original-recipient":
				if original != "" {
					emit()
				}
				original, have = dsnAddr(f.val), true
			case "action":
				r.Action = strings.ToLower(strings.TrimSpace(stripComments(f.val)))
			case "status":
				if fs := strings.Fields(stripComments(f.val)); len(fs) > 0 {
					r.Status = fs[0]
				}
			case "diagnostic-code":
				v := f.val
				if _, after, ok := strings.Cut(v, ";"); ok {
					v = after
				}
				r.Diagnostic = collapseSpace(v)
			}
		}
		emit()
		group = group[:0]
	}
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case line[0] == ' ' || line[0] == '\t':
			// Continuations are collected and joined once: appending to the
			// value each time is quadratic on a hostile report.
			if len(group) > 0 {
				f := &group[len(group)-1]
				f.more = append(f.more, strings.TrimSpace(line))
			}
		default:
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			group = append(group, dsnField{key: strings.ToLower(strings.TrimSpace(k)), val: strings.TrimSpace(v)})
		}
	}
	flush()
	return out
}

// dsnAddr reads "rfc822; user@host" (address-type; address).
func dsnAddr(v string) string {
	if _, after, ok := strings.Cut(v, ";"); ok {
		v = after
	}
	v = strings.TrimSpace(v)
	v = strings.TrimSuffix(strings.TrimPrefix(v, "<"), ">")
	return cleanAddr(v)
}
