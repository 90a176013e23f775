package console

import (
	"net/url"
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

// query is the API's query of the filter (until is a day: up to its
// end), up to limit entries.
func (f auditFilter) query(limit int) adminapi.AuditQuery {
	aq := adminapi.AuditQuery{Limit: limit, Action: f.action, Subject: f.subject, Actor: f.actor, Since: f.since}
	if !f.until.IsZero() {
		aq.Until = f.until.AddDate(0, 0, 1)
	}
	return aq
}

func (q *req) audit() error {
	f, data, err := auditFilterOf(q.r.URL.Query())
	if err != nil {
		q.render("audit", data, err)
		return nil
	}
	// The newest maxAuditRows, and one more to tell whether there are more.
	aq := f.query(maxAuditRows + 1)
	aq.Newest = true
	rows, err := q.api.Audit(q.r.Context(), aq)
	if err != nil {
		q.render("audit", data, err)
		return nil
	}
	for i := range rows {
		rows[i].Details = nil
	}
	if len(rows) > maxAuditRows {
		rows, data.More = rows[:maxAuditRows], true
	}
	data.Rows = rows
	q.render("audit", data)
	return nil
}

// auditCSV is the audit log's export as CSV, a download: the entries
// the page's filter selects, oldest first, up to identity.MaxAuditLimit.
// The API applies every filter and audits the export itself, with the
// filters and exactly the rows sent.
func (q *req) auditCSV() error {
	f, _, err := auditFilterOf(q.r.URL.Query())
	if err != nil {
		return err
	}
	b, err := q.api.AuditCSV(q.r.Context(), f.query(identity.MaxAuditLimit))
	if err != nil {
		return err
	}
	h := q.w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="kakehashi-audit-`+q.c.now().UTC().Format("20060102-150405")+`.csv"`)
	h.Set("Cache-Control", "no-store")
	_, _ = q.w.Write(b)
	return nil
}
