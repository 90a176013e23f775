package console

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/kakehashi/kakehashi/adminapi"
	"github.com/kakehashi/kakehashi/identity"
)

// maxAuditRows is how many entries the audit page shows, newest first.
const maxAuditRows = 500

// auditData is the audit page.
type auditData struct {
	Actor, Action, Subject, Since, Until string
	Actions                              []string
	Rows                                 []identity.AuditEntry
	More                                 bool
	CSV                                  string
}

// auditActions are the actions the filter offers.
var auditActions = []string{
	"admin.add", "admin.password", "admin.revoke", adminapi.ActionAuditExport, "broadcast.decline", "broadcast.prepare", "broadcast.send",
	identity.ActionContactsTransfer, identity.ActionContactsRevert, adminapi.ActionContactsNotify,
	"employee.depart", "employee.reactivate", "employee.upsert", "persona.upsert",
	"relationship.back", "relationship.gone", "relationship.remark", "relationship.tags",
}

// auditFilter is the audit page's filter.
type auditFilter struct {
	actor, action, subject string
	since, until           time.Time
}

func auditFilterOf(v url.Values) (auditFilter, *auditData, error) {
	data := &auditData{Actor: strings.TrimSpace(v.Get("actor")), Action: v.Get("action"), Subject: strings.TrimSpace(v.Get("subject")),
		Since: v.Get("since"), Until: v.Get("until"), Actions: auditActions}
	f := auditFilter{actor: data.Actor, action: data.Action, subject: data.Subject}
	var err1, err2 error
	f.since, err1 = parseDay(data.Since)
	f.until, err2 = parseDay(data.Until)
	if err1 != nil || err2 != nil {
		return f, data, mistake("form.bad_day")
	}
	q := url.Values{}
	for k, s := range map[string]string{"actor": data.Actor, "action": data.Action, "subject": data.Subject, "since": data.Since, "until": data.Until} {
		if s != "" {
			q.Set(k, s)
		}
	}
	data.CSV = "/console/audit.csv"
	if len(q) > 0 {
		data.CSV += "?" + q.Encode()
	}
	return f, data, nil
}

// match reports whether e passes the filter's parts the API does not
// apply.
func (f auditFilter) match(e *identity.AuditEntry) bool {
	return (f.actor == "" || strings.Contains(e.Actor, f.actor)) &&
		(f.since.IsZero() || !e.At.Before(f.since)) &&
		(f.until.IsZero() || e.At.Before(f.until.AddDate(0, 0, 1)))
}

func (q *req) audit() error {
	f, data, err := auditFilterOf(q.r.URL.Query())
	if err != nil {
		q.render("audit", data, err)
		return nil
	}
	var after uint64
	var rows []identity.AuditEntry
	for {
		es, err := q.api.Audit(q.r.Context(), adminapi.AuditQuery{After: after, Limit: identity.MaxAuditLimit, Action: f.action, Subject: f.subject})
		if err != nil {
			q.render("audit", data, err)
			return nil
		}
		for i := range es {
			if f.match(&es[i]) {
				e := es[i]
				e.Details = nil
				rows = append(rows, e)
			}
		}
		if len(es) < identity.MaxAuditLimit {
			break
		}
		after = es[len(es)-1].Seq
	}
	slices.Reverse(rows)
	if len(rows) > maxAuditRows {
		rows, data.More = rows[:maxAuditRows], true
	}
	data.Rows = rows
	q.render("audit", data)
	return nil
}

// auditCSV is the audit log's export as CSV, a download: the entries
// the page's filter selects, up to identity.MaxAuditLimit from the
// first on or after since. The API audits the export itself.
func (q *req) auditCSV() error {
	f, _, err := auditFilterOf(q.r.URL.Query())
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	aq := adminapi.AuditQuery{Limit: identity.MaxAuditLimit, Action: f.action, Subject: f.subject}
	if !f.since.IsZero() {
		// The export starts after the last entry before since.
		for {
			es, err := q.api.Audit(ctx, adminapi.AuditQuery{After: aq.After, Limit: identity.MaxAuditLimit, Action: f.action, Subject: f.subject})
			if err != nil {
				return err
			}
			i := 0
			for i < len(es) && es[i].At.Before(f.since) {
				aq.After = es[i].Seq
				i++
			}
			if i < len(es) || len(es) < identity.MaxAuditLimit {
				break
			}
		}
	}
	b, err := q.api.AuditCSV(ctx, aq)
	if err != nil {
		return err
	}
	if f.actor != "" || !f.until.IsZero() {
		if b, err = filterCSV(b, f); err != nil {
			return err
		}
	}
	h := q.w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="kakehashi-audit-`+q.c.now().UTC().Format("20060102-150405")+`.csv"`)
	h.Set("Cache-Control", "no-store")
	_, _ = q.w.Write(b)
	return nil
}

// filterCSV keeps the header and the rows of the export b that pass f's
// actor and until (its columns time and actor, as the API writes them).
func filterCSV(b []byte, f auditFilter) ([]byte, error) {
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("console: reading the audit export: %w", err)
	}
	if len(rows) == 0 {
		return b, nil
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	ti, tok := col["time"]
	ai, aok := col["actor"]
	if !tok || !aok {
		return nil, errors.New("console: the audit export has no time or actor column")
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(rows[0])
	for _, r := range rows[1:] {
		at, err := time.Parse(time.RFC3339Nano, r[ti])
		if err != nil {
			return nil, fmt.Errorf("console: the audit export's time %q: %w", r[ti], err)
		}
		if f.match(&identity.AuditEntry{At: at, Actor: r[ai]}) {
			_ = w.Write(r)
		}
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}
