package identity

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

func TestRecordAuditAppendsToTheLog(t *testing.T) {
	forEachStore(t, sqlKinds(), func(t *testing.T, kind string) {
		ctx := context.Background()
		st, _ := sqlStore(t, kind)
		s := openState(t, st)
		if err := s.RecordAudit(ctx, "employee:hana", "broadcast.send", "spring sale", "b1", map[string]int{"queued": 3}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Audit(ctx, AuditQuery{Action: "broadcast.send"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Actor != "employee:hana" || got[0].Subject != "b1" || got[0].Reason != "spring sale" {
			t.Fatalf("audit %+v", got)
		}
		var d map[string]int
		if err := json.Unmarshal(got[0].Details, &d); err != nil || d["queued"] != 3 {
			t.Fatalf("details %s (%v)", got[0].Details, err)
		}
		for _, bad := range [][2]string{{"", "broadcast.send"}, {"admin", "broadcast"}, {"admin", " broadcast.send"}} {
			if err := s.RecordAudit(ctx, bad[0], bad[1], "", "", nil); !errors.Is(err, ErrInvalid) {
				t.Errorf("RecordAudit(%q, %q) = %v, want ErrInvalid", bad[0], bad[1], err)
			}
		}
	})
}
