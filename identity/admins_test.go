package identity

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kakehashi/kakehashi/internal/testenv"
)

func TestAdminsAddAuthenticateRevokeSurviveRestart(t *testing.T) {
	forEachStore(t, sqlKinds(), func(t *testing.T, kind string) {
		st, reopen := sqlStore(t, kind)
		f := newFixtureWith(t, st)
		a, token, err := f.s.AddAdmin(f.ctx, "admin:bootstrap", "Ana runs the gateway", "ana", RoleAdmin)
		f.must(err)
		if !strings.HasPrefix(token, AdminTokenPrefix) || len(token) < len(AdminTokenPrefix)+40 {
			t.Fatalf("token %q: want %s and 43 base64url characters", token, AdminTokenPrefix)
		}
		if a.Name != "ana" || a.Role != RoleAdmin || a.CreatedBy != "admin:bootstrap" || a.CreatedAt.IsZero() || a.Actor() != "admin:ana" {
			t.Fatalf("admin: %+v", a)
		}
		_, audToken, err := f.s.AddAdmin(f.ctx, "admin:ana", "external audit 2026", "kpmg.audit", RoleAuditor)
		f.must(err)
		if audToken == token {
			t.Fatal("two admins got the same token")
		}

		got, err := f.s.AuthenticateAdmin(f.ctx, token)
		f.must(err)
		if got.Name != "ana" || got.Role != RoleAdmin || got.LastUsed.IsZero() {
			t.Fatalf("authenticated: %+v", got)
		}
		for _, bad := range []string{"", token + "x", token[:len(token)-1], strings.ToUpper(token), "kkh_", "not-a-token-0123456789",
			strings.TrimPrefix(token, AdminTokenPrefix)} {
			if _, err := f.s.AuthenticateAdmin(f.ctx, bad); !errors.Is(err, ErrNotFound) {
				t.Errorf("token %q: %v, want ErrNotFound", bad, err)
			}
		}

		// Only hashes are stored: no token appears anywhere in the database.
		for _, tok := range []string{token, audToken} {
			var n int
			f.must(st.r.QueryRow(st.q(`SELECT count(*) FROM admins WHERE CAST(token_hash AS TEXT) LIKE ? OR name LIKE ? OR created_by LIKE ?`),
				"%"+tok[4:]+"%", "%"+tok[4:]+"%", "%"+tok[4:]+"%").Scan(&n))
			var m int
			f.must(st.r.QueryRow(st.q(`SELECT count(*) FROM audit WHERE details LIKE ? OR reason LIKE ?`), "%"+tok[4:]+"%", "%"+tok[4:]+"%").Scan(&m))
			if n+m != 0 {
				t.Fatalf("token found stored in clear")
			}
		}

		rv, err := f.s.RevokeAdmin(f.ctx, "admin:ana", "audit finished", "kpmg.audit")
		f.must(err)
		if !rv.Revoked() || rv.RevokedBy != "admin:ana" {
			t.Fatalf("revoked: %+v", rv)
		}
		if _, err := f.s.AuthenticateAdmin(f.ctx, audToken); !errors.Is(err, ErrAdminRevoked) {
			t.Fatalf("revoked token: %v", err)
		}

		// Each act is audited, with the actor that did it.
		adds := f.audit(AuditQuery{Action: ActionAdminAdd})
		revs := f.audit(AuditQuery{Action: ActionAdminRevoke})
		if len(adds) != 2 || adds[0].Actor != "admin:bootstrap" || adds[0].Subject != "admin:ana" || adds[0].Reason != "Ana runs the gateway" ||
			adds[1].Actor != "admin:ana" || adds[1].Subject != "admin:kpmg.audit" {
			t.Fatalf("admin.add audit: %+v", adds)
		}
		var d adminDetails
		if err := json.Unmarshal(adds[1].Details, &d); err != nil || d.Role != RoleAuditor {
			t.Fatalf("admin.add details: %s", adds[1].Details)
		}
		if len(revs) != 1 || revs[0].Actor != "admin:ana" || revs[0].Subject != "admin:kpmg.audit" || revs[0].Reason != "audit finished" {
			t.Fatalf("admin.revoke audit: %+v", revs)
		}

		// Restart: the credentials are durable.
		f.must(st.Close())
		st2, err := reopen(context.Background())
		f.must(err)
		t.Cleanup(func() { st2.Close() })
		s2 := openState(t, st2)
		if got, err := s2.AuthenticateAdmin(f.ctx, token); err != nil || got.Name != "ana" {
			t.Fatalf("after restart: %+v %v", got, err)
		}
		if _, err := s2.AuthenticateAdmin(f.ctx, audToken); !errors.Is(err, ErrAdminRevoked) {
			t.Fatalf("revoked token after restart: %v", err)
		}
		l, err := s2.Admins(f.ctx)
		f.must(err)
		if len(l) != 2 || l[0].Name != "ana" || l[0].Revoked() || l[1].Name != "kpmg.audit" || !l[1].Revoked() || l[1].Role != RoleAuditor {
			t.Fatalf("admins after restart: %+v", l)
		}
	})
}

func TestAdminsRefuse(t *testing.T) {
	forEachStore(t, sqlKinds(), func(t *testing.T, kind string) {
		f := newFixtureOf(t, kind)
		_, _, err := f.s.AddAdmin(f.ctx, "admin:bootstrap", "first", "ana", RoleAdmin)
		f.must(err)
		cases := []struct {
			actor, reason, name string
			role                AdminRole
			want                error
			msg                 string
		}{
			{"admin:bootstrap", "again", "ana", RoleAdmin, ErrConflict, "exists already"},
			{"admin:bootstrap", "again", "ANA", RoleAuditor, ErrConflict, "exists already"},
			{"admin:bootstrap", "x", "bootstrap", RoleAdmin, ErrInvalid, "reserved"},
			{"admin:bootstrap", "x", "Bootstrap", RoleAdmin, ErrInvalid, "reserved"},
			{"admin:bootstrap", "x", "", RoleAdmin, ErrInvalid, "empty"},
			{"admin:bootstrap", "x", "two words", RoleAdmin, ErrInvalid, "no spaces"},
			{"admin:bootstrap", "x", "tab\there", RoleAdmin, ErrInvalid, "no spaces"},
			{"admin:bootstrap", "x", "ümlaut", RoleAdmin, ErrInvalid, "letters, digits"},
			{"admin:bootstrap", "x", "аna", RoleAdmin, ErrInvalid, "letters, digits"}, // Cyrillic а
			{"admin:bootstrap", "x", "-dash", RoleAdmin, ErrInvalid, "starting with"},
			{"admin:bootstrap", "x", "nul\x00", RoleAdmin, ErrInvalid, ""},
			{"admin:bootstrap", "x", strings.Repeat("a", MaxAdminNameLen+1), RoleAdmin, ErrInvalid, "longer than"},
			{"admin:bootstrap", "x", "ok", "root", ErrInvalid, "role"},
			{"admin:bootstrap", "x", "ok", "", ErrInvalid, "role"},
			{"admin:bootstrap", "", "ok", RoleAdmin, ErrInvalid, "reason"},
			{"", "x", "ok", RoleAdmin, ErrInvalid, "actor"},
		}
		for _, c := range cases {
			_, _, err := f.s.AddAdmin(f.ctx, c.actor, c.reason, c.name, c.role)
			if !errors.Is(err, c.want) || c.msg != "" && !strings.Contains(err.Error(), c.msg) {
				t.Errorf("add %q role %q by %q: %v, want %v mentioning %q", c.name, c.role, c.actor, err, c.want, c.msg)
			}
		}
		if _, _, err := f.s.AddAdmin(f.ctx, "admin:bootstrap", "x", strings.Repeat("a", MaxAdminNameLen), RoleAuditor); err != nil {
			t.Errorf("a name of the longest length: %v", err)
		}
		_, err = f.s.RevokeAdmin(f.ctx, "admin:bootstrap", "x", "nobody")
		wantErr(t, err, ErrNotFound, "nobody")
		_, err = f.s.RevokeAdmin(f.ctx, "admin:bootstrap", "x", "bootstrap")
		wantErr(t, err, ErrInvalid, "admin.token")
		_, err = f.s.RevokeAdmin(f.ctx, "admin:bootstrap", "", "ana")
		wantErr(t, err, ErrInvalid, "reason")
		// Another case finds the admin; the audit records the name as added.
		rv, err := f.s.RevokeAdmin(f.ctx, "admin:bootstrap", "left", "ANA")
		f.must(err)
		if rv.Name != "ana" || !rv.Revoked() {
			t.Fatalf("revoked: %+v", rv)
		}
		if e := f.audit(AuditQuery{Action: ActionAdminRevoke}); len(e) != 1 || e[0].Subject != "admin:ana" {
			t.Fatalf("revoke audit: %+v", e)
		}
		_, err = f.s.RevokeAdmin(f.ctx, "admin:bootstrap", "left", "ana")
		wantErr(t, err, ErrConflict, "already")
		// A revoked name stays taken: the audit's "admin:ana" means one admin.
		_, _, err = f.s.AddAdmin(f.ctx, "admin:bootstrap", "back", "ana", RoleAdmin)
		wantErr(t, err, ErrConflict, "revoked ones included")
		// Refused acts leave nothing in the audit log.
		if n := len(f.audit(AuditQuery{Action: ActionAdminAdd})); n != 2 {
			t.Fatalf("%d admin.add entries, want 2", n)
		}
		if n := len(f.audit(AuditQuery{Action: ActionAdminRevoke})); n != 1 {
			t.Fatalf("%d admin.revoke entries, want 1", n)
		}
	})
}

func TestAdminsLastUsedIsCheap(t *testing.T) {
	forEachStore(t, sqlKinds(), func(t *testing.T, kind string) {
		f := newFixtureOf(t, kind)
		_, token, err := f.s.AddAdmin(f.ctx, "admin:bootstrap", "x", "ci-bot", RoleAuditor)
		f.must(err)
		first, err := f.s.AuthenticateAdmin(f.ctx, token)
		f.must(err)
		// The test clock advances a second per call: later uses within the
		// minute do not write.
		for range 5 {
			a, err := f.s.AuthenticateAdmin(f.ctx, token)
			f.must(err)
			if !a.LastUsed.Equal(first.LastUsed) {
				t.Fatalf("last used moved within a minute: %v then %v", first.LastUsed, a.LastUsed)
			}
		}
		f.clock.mu.Lock()
		f.clock.t = f.clock.t.Add(2 * time.Minute)
		f.clock.mu.Unlock()
		a, err := f.s.AuthenticateAdmin(f.ctx, token)
		f.must(err)
		if !a.LastUsed.After(first.LastUsed) {
			t.Fatalf("last used not updated after two minutes: %v then %v", first.LastUsed, a.LastUsed)
		}
		l, err := f.s.Admins(f.ctx)
		f.must(err)
		if !l[0].LastUsed.Equal(a.LastUsed) {
			t.Fatalf("stored last used %v, want %v", l[0].LastUsed, a.LastUsed)
		}
	})
}

func TestAdminsNeedAnAdminStore(t *testing.T) {
	s := openState(t, NewMemoryStore())
	if _, _, err := s.AddAdmin(context.Background(), "admin:bootstrap", "x", "ana", RoleAdmin); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("memory store: %v", err)
	}
	if _, err := s.AuthenticateAdmin(context.Background(), AdminTokenPrefix+"x"); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("memory store: %v", err)
	}
}

func TestSQLiteMigratesToAdmins(t *testing.T) {
	st, path := sqliteStore(t)
	// A version 2 database, before the admins table (and before the
	// migrations table).
	_, err := st.w.Exec(`DROP TABLE admins; DROP TABLE schema_migrations; PRAGMA user_version = 2`)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st2, err := OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	var v int
	if err := st2.w.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil || v != SQLiteSchemaVersion {
		t.Fatalf("version %d %v", v, err)
	}
	s := openState(t, st2)
	if _, _, err := s.AddAdmin(context.Background(), "admin:bootstrap", "after migration", "ana", RoleAdmin); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkAuthenticateAdmin measures what a named token adds to each
// admin API request: one indexed read of the admins table.
func BenchmarkAuthenticateAdmin(b *testing.B) {
	st, err := OpenSQLite(context.Background(), b.TempDir()+"/identity.db")
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	s := openState(b, st)
	ctx := context.Background()
	var token string
	for i := range 50 {
		_, tok, err := s.AddAdmin(ctx, "admin:bootstrap", "bench", "admin"+strconv.Itoa(i), RoleAuditor)
		if err != nil {
			b.Fatal(err)
		}
		token = tok
	}
	for b.Loop() {
		if _, err := s.AuthenticateAdmin(ctx, token); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAdminTokensWithoutState: a standby reads the admin credentials of
// the shared store without opening its State: an unknown or revoked
// token is refused, a named one names its admin and role, and a schema
// no instance has created yet refuses every token (ErrNotFound).
func TestAdminTokensWithoutState(t *testing.T) {
	ctx := context.Background()
	url := testenv.SharedPostgres(t).NewSchema(t)
	empty, err := OpenAdminTokens(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	if _, err := empty.Authenticate(ctx, AdminTokenPrefix+"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("before the store exists: %v, want ErrNotFound", err)
	}

	st, err := OpenPostgres(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := newFixtureWith(t, st)
	_, token, err := f.s.AddAdmin(ctx, "admin:bootstrap", "monitoring", "prometheus", RoleAuditor)
	f.must(err)
	_, gone, err := f.s.AddAdmin(ctx, "admin:bootstrap", "left", "old.ops", RoleAdmin)
	f.must(err)
	_, err = f.s.RevokeAdmin(ctx, "admin:bootstrap", "left the company", "old.ops")
	f.must(err)

	tokens, err := OpenAdminTokens(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer tokens.Close()
	a, err := tokens.Authenticate(ctx, token)
	if err != nil || a.Name != "prometheus" || a.Role != RoleAuditor {
		t.Fatalf("named token: %+v, %v", a, err)
	}
	if _, err := tokens.Authenticate(ctx, gone); !errors.Is(err, ErrAdminRevoked) {
		t.Errorf("revoked token: %v, want ErrAdminRevoked", err)
	}
	for _, bad := range []string{"", token + "x", strings.ToUpper(token), "bootstrap-token-0123456789"} {
		if _, err := tokens.Authenticate(ctx, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("token %q: %v, want ErrNotFound", bad, err)
		}
	}
}
