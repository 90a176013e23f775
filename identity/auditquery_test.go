package identity

import (
	"testing"
)

// TestAuditQueryFilters: actor (part of it), since and until, and the
// newest first order with BeforeSeq to page back, on every store.
func TestAuditQueryFilters(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		f := newFixtureOf(t, kind)
		start := f.clock.last()
		for i, actor := range []string{"admin:alice", "admin:bob", "admin:alice", "employee:carol"} {
			f.must(f.s.RecordAudit(f.ctx, actor, "test.action", "r", string(rune('a'+i)), nil))
		}
		all := f.audit(AuditQuery{Action: "test.action"})
		if len(all) != 4 {
			t.Fatalf("entries: %+v", all)
		}
		subjects := func(es []AuditEntry) string {
			s := ""
			for _, e := range es {
				s += e.Subject
			}
			return s
		}
		for _, c := range []struct {
			q    AuditQuery
			want string
		}{
			{AuditQuery{Action: "test.action", Actor: "admin:alice"}, "ac"},
			{AuditQuery{Action: "test.action", Actor: "alice"}, "ac"},
			{AuditQuery{Action: "test.action", Actor: "Alice"}, ""},
			{AuditQuery{Action: "test.action", Actor: "admin:"}, "abc"},
			{AuditQuery{Action: "test.action", Since: all[1].At}, "bcd"},
			{AuditQuery{Action: "test.action", Until: all[2].At}, "ab"},
			{AuditQuery{Action: "test.action", Since: all[1].At, Until: all[3].At, Actor: "alice"}, "c"},
			{AuditQuery{Action: "test.action", Since: start.Add(-1)}, "abcd"},
			{AuditQuery{Action: "test.action", Newest: true}, "dcba"},
			{AuditQuery{Action: "test.action", Newest: true, Limit: 2}, "dc"},
			{AuditQuery{Action: "test.action", Newest: true, Limit: 2, BeforeSeq: all[2].Seq}, "ba"},
			{AuditQuery{Action: "test.action", Newest: true, BeforeSeq: all[3].Seq, AfterSeq: all[0].Seq}, "cb"},
			{AuditQuery{Action: "test.action", BeforeSeq: all[2].Seq}, "ab"},
			{AuditQuery{Action: "test.action", Newest: true, Actor: "admin", Limit: 1}, "c"},
		} {
			if got := subjects(f.audit(c.q)); got != c.want {
				t.Errorf("%+v: %q, want %q", c.q, got, c.want)
			}
		}
	})
}
