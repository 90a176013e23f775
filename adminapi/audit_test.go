package adminapi

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/identity"
)

// TestAuditFilters: actor (part of it), since and until select in the
// API, newest first pages back with before, and the CSV export of the
// same filters is audited with them and exactly the rows it sent.
func TestAuditFilters(t *testing.T) {
	g, srv := adminServer(t)
	ctx := context.Background()
	state := g.Gateway.State()
	for _, actor := range []string{"admin:ana", "admin:bo", "admin:ana", "employee:cy"} {
		if err := state.RecordAudit(ctx, actor, "test.note", "r", actor, nil); err != nil {
			t.Fatal(err)
		}
	}
	c := g.api.Client(Caller{Actor: "admin:kim", Role: identity.RoleAuditor})
	all, err := c.Audit(ctx, AuditQuery{Action: "test.note"})
	if err != nil || len(all) != 4 {
		t.Fatalf("all: %+v %v", all, err)
	}
	seqs := func(es []identity.AuditEntry) []uint64 {
		var out []uint64
		for _, e := range es {
			out = append(out, e.Seq)
		}
		return out
	}
	for _, tc := range []struct {
		q    AuditQuery
		want []uint64
	}{
		{AuditQuery{Action: "test.note", Actor: "ana"}, []uint64{all[0].Seq, all[2].Seq}},
		{AuditQuery{Action: "test.note", Actor: "admin:bo"}, []uint64{all[1].Seq}},
		{AuditQuery{Action: "test.note", Since: all[1].At}, seqs(all[1:])},
		{AuditQuery{Action: "test.note", Until: all[1].At}, seqs(all[:1])},
		{AuditQuery{Action: "test.note", Newest: true, Limit: 2}, []uint64{all[3].Seq, all[2].Seq}},
		{AuditQuery{Action: "test.note", Newest: true, Limit: 2, Before: all[2].Seq}, []uint64{all[1].Seq, all[0].Seq}},
	} {
		got, err := c.Audit(ctx, tc.q)
		if err != nil || !slices.Equal(seqs(got), tc.want) {
			t.Errorf("%+v: %v %v, want %v", tc.q, seqs(got), err, tc.want)
		}
	}
	// The export: the filters in the API, and its audit entry says so.
	b, err := c.AuditCSV(ctx, AuditQuery{Action: "test.note", Actor: "ana", Since: all[0].At, Until: all[3].At.Add(time.Nanosecond)})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil || len(rows) != 3 || rows[1][1] != "admin:ana" || rows[2][1] != "admin:ana" {
		t.Fatalf("export: %q %v", rows, err)
	}
	exports := auditOf(t, srv, ActionAuditExport)
	var d auditExportDetails
	if len(exports) != 1 || json.Unmarshal(exports[0].Details, &d) != nil {
		t.Fatalf("export audit: %+v", exports)
	}
	if d.Rows != 2 || d.Actor != "ana" || !d.Since.Equal(all[0].At) || d.Until.IsZero() || d.Action != "test.note" ||
		d.First != all[0].Seq || d.Last != all[2].Seq {
		t.Errorf("export details: %+v", d)
	}
	if code, body := call(t, srv, "GET", "/v1/audit?since=yesterday", testToken, ""); code != http.StatusBadRequest {
		t.Errorf("since=yesterday: %d %s", code, body)
	}
}
