package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSetTags(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		long := strings.Repeat("日", MaxTagLen)
		many := make([]string, MaxTags+1)
		for i := range many {
			many[i] = fmt.Sprintf("T%02d", i)
		}
		for _, tc := range []struct {
			name string
			tags []string
			want []string
			err  error
			msg  string
		}{
			{name: "normalised", tags: []string{"  vip ", "VIP", "eu", "Beta", "beta"}, want: []string{"Beta", "eu", "vip"}},
			{name: "clear", tags: nil, want: nil},
			{name: "longest", tags: []string{long}, want: []string{long}},
			{name: "spaces inside", tags: []string{"big fish", "大口\u3000顧客"}, want: []string{"big fish", "大口\u3000顧客"}},
			{name: "most", tags: many[:MaxTags], want: func() []string { l := slices.Clone(many[:MaxTags]); sortTags(l); return l }()},
			{name: "too long", tags: []string{long + "x"}, err: ErrInvalid, msg: "longer than 64"},
			{name: "too many", tags: many, err: ErrInvalid, msg: "at most 32"},
			{name: "duplicates do not count", tags: append(slices.Clone(many[:MaxTags]), strings.ToLower(many[0])), want: func() []string {
				l := slices.Clone(many[:MaxTags])
				sortTags(l)
				return l
			}()},
			{name: "empty", tags: []string{"ok", " "}, err: ErrInvalid, msg: "empty"},
			{name: "comma", tags: []string{"a,b"}, err: ErrInvalid, msg: "comma"},
			{name: "control", tags: []string{"a\nb"}, err: ErrInvalid, msg: "control"},
			{name: "invalid UTF-8", tags: []string{"a\xffb"}, err: ErrInvalid, msg: "not valid text"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixtureOf(t, kind)
				r := f.ensure("a@ext.test", "p-alice", "alice")
				got, err := f.s.SetTags(f.ctx, "employee:alice", "", r.ID, tc.tags)
				wantErr(t, err, tc.err, tc.msg)
				if err != nil {
					if f.rel(r.ID) != r {
						t.Fatal("refused tags changed the relationship")
					}
					return
				}
				if !slices.Equal(got.Tags, tc.want) || !slices.Equal(f.rel(r.ID).Tags, tc.want) {
					t.Fatalf("tags = %q, want %q", got.Tags, tc.want)
				}
			})
		}
	})
}

func TestTagsAuditAndVersions(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		f := newFixtureOf(t, kind)
		r := f.ensure("a@ext.test", "p-alice", "alice")
		got, err := f.s.SetTags(f.ctx, "employee:alice", "met at expo", r.ID, []string{"vip", "expo"})
		f.must(err)
		if got.Version != r.Version+1 || got.OwnerVersion != r.OwnerVersion || !got.UpdatedAt.Equal(f.clock.last()) {
			t.Fatalf("versions: before %+v after %+v", r, got)
		}
		l := f.audit(AuditQuery{Action: ActionRelationshipTags})
		if len(l) != 1 || l[0].Actor != "employee:alice" || l[0].Reason != "met at expo" || l[0].Subject != r.ID {
			t.Fatalf("audit %+v", l)
		}
		var d tagsDetails
		f.must(json.Unmarshal(l[0].Details, &d))
		if !reflect.DeepEqual(d, tagsDetails{Before: []string{}, After: []string{"expo", "vip"}}) {
			t.Fatalf("details %+v", d)
		}
		// The same tags again, in another order: nothing changes. (Another
		// spelling would: SetTags sets the spelling too.)
		same, err := f.s.SetTags(f.ctx, "employee:alice", "", r.ID, []string{" vip", "expo"})
		f.must(err)
		if same != got || len(f.audit(AuditQuery{Action: ActionRelationshipTags})) != 1 {
			t.Fatal("a no-op was applied or audited")
		}
		// AddTags keeps existing spellings; RemoveTags ignores case.
		got, err = f.s.AddTags(f.ctx, "employee:alice", "", r.ID, []string{"Expo", "Asia"})
		f.must(err)
		if !slices.Equal(got.Tags, []string{"Asia", "expo", "vip"}) {
			t.Fatalf("after AddTags: %q", got.Tags)
		}
		got, err = f.s.RemoveTags(f.ctx, "employee:alice", "", r.ID, []string{"EXPO", "missing"})
		f.must(err)
		if !slices.Equal(got.Tags, []string{"Asia", "vip"}) {
			t.Fatalf("after RemoveTags: %q", got.Tags)
		}
		if _, err := f.s.AddTags(f.ctx, "employee:alice", "", r.ID, slicesRepeat("x", MaxTags)); err == nil {
			t.Fatal("AddTags went past MaxTags")
		}
		l = f.audit(AuditQuery{Action: ActionRelationshipTags})
		var last tagsDetails
		f.must(json.Unmarshal(l[len(l)-1].Details, &last))
		if len(l) != 3 || !slices.Equal(last.Before, []string{"Asia", "expo", "vip"}) || !slices.Equal(last.After, []string{"Asia", "vip"}) {
			t.Fatalf("audit %d entries, last %+v", len(l), last)
		}
		checkIndexes(t, f.s.Snapshot())
	})
}

// slicesRepeat returns n distinct tags starting with prefix.
func slicesRepeat(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strings.Repeat("y", i)
	}
	return out
}

func TestSetRemark(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		f := newFixtureOf(t, kind)
		r := f.ensure("a@ext.test", "p-alice", "alice")
		got, err := f.s.SetRemark(f.ctx, "employee:alice", "", r.ID, "  Prefers mail.\nCall after 10:00.  ")
		f.must(err)
		if got.Remark != "Prefers mail.\nCall after 10:00." || got.Version != r.Version+1 || got.OwnerVersion != r.OwnerVersion {
			t.Fatalf("after SetRemark: %+v", got)
		}
		l := f.audit(AuditQuery{Action: ActionRelationshipRemark, Subject: r.ID})
		var d remarkDetails
		if len(l) != 1 || l[0].Actor != "employee:alice" {
			t.Fatalf("audit %+v", l)
		}
		f.must(json.Unmarshal(l[0].Details, &d))
		if d.Before != "" || d.After != got.Remark {
			t.Fatalf("details %+v", d)
		}
		_, err = f.s.SetRemark(f.ctx, "a", "", r.ID, strings.Repeat("é", MaxRemarkLen+1))
		wantErr(t, err, ErrInvalid, "longer than 1000")
		_, err = f.s.SetRemark(f.ctx, "a", "", r.ID, strings.Repeat("é", MaxRemarkLen))
		f.must(err)
		_, err = f.s.SetRemark(f.ctx, "a", "", r.ID, "bell\a")
		wantErr(t, err, ErrInvalid, "control")
		got, err = f.s.SetRemark(f.ctx, "a", "", r.ID, "")
		f.must(err)
		if got.Remark != "" {
			t.Fatal("remark not cleared")
		}
	})
}

func TestAnnotationErrors(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		f := newFixtureOf(t, kind)
		ra := f.ensure("x@ext.test", "p-alice", "alice")
		rb := f.ensure("x@ext.test", "p-bob", "bob")
		_, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "merge", From: "alice", To: "bob"})
		f.must(err)
		_, err = f.s.SetTags(f.ctx, "admin", "", ra.ID, []string{"x"})
		wantErr(t, err, ErrInvalid, "merged into "+rb.ID)
		_, err = f.s.SetRemark(f.ctx, "admin", "", "r-nope", "x")
		wantErr(t, err, ErrNotFound, "r-nope")
		_, err = f.s.SetTags(f.ctx, " ", "", rb.ID, []string{"x"})
		wantErr(t, err, ErrInvalid, "actor")
	})
}

func TestOwnedBy(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		f := newFixtureOf(t, kind)
		ra := f.ensure("x@ext.test", "p-alice", "alice")
		rp := f.ensure("y@ext.test", "p-support", "")
		sn := f.s.Snapshot()
		for _, tc := range []struct {
			rel, emp string
			want     bool
		}{{ra.ID, "alice", true}, {ra.ID, "bob", false}, {rp.ID, "", false}, {"r-nope", "alice", false}} {
			if got := sn.OwnedBy(tc.rel, tc.emp); got != tc.want {
				t.Errorf("OwnedBy(%s, %q) = %v", tc.rel, tc.emp, got)
			}
		}
		f.ensure("x@ext.test", "p-bob", "bob")
		_, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "admin", Reason: "merge", From: "alice", To: "bob"})
		f.must(err)
		if f.s.Snapshot().OwnedBy(ra.ID, "bob") {
			t.Error("a merged relationship is owned")
		}
	})
}

func TestTouchRelationships(t *testing.T) {
	forEachStore(t, storeKinds(), func(t *testing.T, kind string) {
		f := newFixtureOf(t, kind)
		r1 := f.ensure("a@ext.test", "p-alice", "alice")
		r2 := f.ensure("b@ext.test", "p-support", "alice")
		t1 := time.Date(2025, 5, 1, 12, 0, 0, 123, time.FixedZone("JST", 9*3600))
		n := len(f.audit(AuditQuery{Limit: MaxAuditLimit}))
		f.must(f.s.TouchRelationships(f.ctx, map[string]time.Time{r1.ID: t1, r2.ID: t1.Add(time.Hour)}))
		got1, got2 := f.rel(r1.ID), f.rel(r2.ID)
		if !got1.LastActivity.Equal(t1) || got1.LastActivity.Location() != time.UTC || !got2.LastActivity.Equal(t1.Add(time.Hour)) {
			t.Fatalf("last activity %v %v", got1.LastActivity, got2.LastActivity)
		}
		if got1.Version != r1.Version || !got1.UpdatedAt.Equal(r1.UpdatedAt) || got1.OwnerVersion != r1.OwnerVersion {
			t.Fatalf("touch moved versions: %+v", got1)
		}
		if len(f.audit(AuditQuery{Limit: MaxAuditLimit})) != n {
			t.Fatal("touch was audited")
		}
		// Never backwards; a report of nothing new changes nothing.
		sn := f.s.Snapshot()
		f.must(f.s.TouchRelationships(f.ctx, map[string]time.Time{r1.ID: t1.Add(-time.Minute)}))
		if f.s.Snapshot() != sn || !f.rel(r1.ID).LastActivity.Equal(t1) {
			t.Fatal("an older report changed something")
		}
		// Unknown relationships refuse the whole batch.
		err := f.s.TouchRelationships(f.ctx, map[string]time.Time{r1.ID: t1.Add(time.Hour), "r-nope": t1})
		wantErr(t, err, ErrNotFound, "r-nope")
		if !f.rel(r1.ID).LastActivity.Equal(t1) {
			t.Fatal("a refused batch was applied")
		}
		// Touch and a tag change in between do not make a transfer
		// unrevertible.
		tr, err := f.s.Transfer(f.ctx, TransferRequest{Actor: "a", Reason: "r", From: "alice", To: "bob"})
		f.must(err)
		f.must(f.s.TouchRelationships(f.ctx, map[string]time.Time{r1.ID: t1.Add(2 * time.Hour)}))
		_, err = f.s.RevertTransfer(f.ctx, "a", "r", tr.ID)
		f.must(err)
		if !f.rel(r1.ID).LastActivity.Equal(t1.Add(2 * time.Hour)) {
			t.Fatal("revert lost last activity")
		}
		checkIndexes(t, f.s.Snapshot())
	})
}

func TestAnnotationsPersist(t *testing.T) {
	forEachStore(t, sqlKinds(), func(t *testing.T, kind string) {
		st, reopen := sqlStore(t, kind)
		f := newFixtureWith(t, st)
		r := f.ensure("a@ext.test", "p-alice", "alice")
		_, err := f.s.SetTags(f.ctx, "employee:alice", "", r.ID, []string{"vip", "O'Brien & Co"})
		f.must(err)
		_, err = f.s.SetRemark(f.ctx, "employee:alice", "", r.ID, "日本語のメモ\n'quoted'")
		f.must(err)
		at := time.Date(2025, 6, 1, 8, 0, 0, 999, time.UTC)
		f.must(f.s.TouchRelationships(f.ctx, map[string]time.Time{r.ID: at}))
		want := *f.rel(r.ID)
		f.must(st.Close())

		st2, err := reopen(context.Background())
		f.must(err)
		defer st2.Close()
		s2, err := Open(f.ctx, st2, nil)
		f.must(err)
		got, ok := s2.Snapshot().Relationship(r.ID)
		if !ok || !reflect.DeepEqual(*got, want) {
			t.Fatalf("after reopen:\n got %+v\nwant %+v", got, want)
		}
	})
}
