package identity

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestAdminTeamsAndPasswords: a lead has a team, the others none; a
// password is stored as an argon2id hash only, checked, replaced, audited
// without a trace of itself, and durable.
func TestAdminTeamsAndPasswords(t *testing.T) {
	forEachStore(t, sqlKinds(), func(t *testing.T, kind string) {
		st, reopen := sqlStore(t, kind)
		f := newFixtureWith(t, st)
		const pw = "correct horse battery staple"
		for _, c := range []struct {
			spec NewAdminSpec
			msg  string
		}{
			{NewAdminSpec{Name: "lea", Role: RoleLead}, "needs a team"},
			{NewAdminSpec{Name: "lea", Role: RoleLead, Team: " Sales"}, "space"},
			{NewAdminSpec{Name: "aud", Role: RoleAuditor, Team: "Sales"}, "only role lead"},
			{NewAdminSpec{Name: "ana", Role: RoleAdmin, Password: "tiny1"}, "shorter than 12"},
			{NewAdminSpec{Name: "ana", Role: RoleAdmin, Password: strings.Repeat(" ", 20)}, "white space"},
			{NewAdminSpec{Name: "ana", Role: RoleAdmin, Password: strings.Repeat("x", MaxPasswordBytes+1)}, "longer than"},
			{NewAdminSpec{Name: "ana", Role: RoleAdmin, Password: "abcdefghijk\xff"}, "UTF-8"},
		} {
			_, _, err := f.s.CreateAdmin(f.ctx, "admin:bootstrap", "x", c.spec)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("%+v: %v, want ErrInvalid saying %q", c.spec.Name, err, c.msg)
			}
			if err != nil && c.spec.Password != "" && strings.Contains(err.Error(), c.spec.Password) {
				t.Errorf("the error repeats the password: %v", err)
			}
		}
		lea, _, err := f.s.CreateAdmin(f.ctx, "admin:bootstrap", "sales lead", NewAdminSpec{Name: "lea", Role: RoleLead, Team: "Sales", Password: pw})
		f.must(err)
		if lea.Team != "Sales" || !lea.HasPassword || lea.Role != RoleLead {
			t.Fatalf("lead: %+v", lea)
		}
		_, _, err = f.s.CreateAdmin(f.ctx, "admin:bootstrap", "ops", NewAdminSpec{Name: "ana", Role: RoleAdmin})
		f.must(err)

		got, err := f.s.CheckAdminPassword(f.ctx, "LEA", pw)
		if err != nil || got.Name != "lea" || got.Team != "Sales" {
			t.Fatalf("right password: %+v %v", got, err)
		}
		for _, c := range []struct {
			name, pw string
			want     error
		}{
			{"lea", pw + "x", ErrWrongPassword},
			{"lea", "", ErrWrongPassword},
			{"lea", strings.Repeat("x", MaxPasswordBytes+1), ErrWrongPassword},
			{"ana", pw, ErrWrongPassword}, // no password
			{"nobody", pw, ErrNotFound},
		} {
			if _, err := f.s.CheckAdminPassword(f.ctx, c.name, c.pw); !errors.Is(err, c.want) {
				t.Errorf("%s: %v, want %v", c.name, err, c.want)
			}
		}

		// Setting one: audited, never in clear.
		const pw2 = "Tr0ub4dor&3 is not enough"
		a, err := f.s.SetAdminPassword(f.ctx, "admin:lea", "console", "ana", pw2)
		f.must(err)
		if !a.HasPassword || a.Name != "ana" {
			t.Fatalf("set: %+v", a)
		}
		if _, err := f.s.CheckAdminPassword(f.ctx, "ana", pw2); err != nil {
			t.Fatalf("new password: %v", err)
		}
		for _, bad := range []string{"", "short", strings.Repeat("\t", 13)} {
			if _, err := f.s.SetAdminPassword(f.ctx, "admin:lea", "r", "ana", bad); !errors.Is(err, ErrInvalid) {
				t.Errorf("password %q: %v", bad, err)
			}
		}
		if _, err := f.s.SetAdminPassword(f.ctx, "admin:lea", "r", "nobody", pw2); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown admin: %v", err)
		}
		if _, err := f.s.SetAdminPassword(f.ctx, "admin:lea", "", "ana", pw2); !errors.Is(err, ErrInvalid) {
			t.Errorf("no reason: %v", err)
		}
		es := f.audit(AuditQuery{Action: ActionAdminPassword})
		if len(es) != 1 || es[0].Actor != "admin:lea" || es[0].Subject != "admin:ana" || es[0].Reason != "console" {
			t.Fatalf("admin.password audit: %+v", es)
		}
		var hash string
		f.must(st.r.QueryRow(st.q(`SELECT password_hash FROM admins WHERE name = ?`), "ana").Scan(&hash))
		if !strings.HasPrefix(hash, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(hash, pw2) {
			t.Fatalf("stored hash %q", hash)
		}
		var n int
		f.must(st.r.QueryRow(st.q(`SELECT count(*) FROM audit WHERE details LIKE ? OR reason LIKE ? OR details LIKE ? OR details LIKE ?`),
			"%"+pw+"%", "%"+pw2+"%", "%"+hash[30:]+"%", "%argon2%").Scan(&n))
		if n != 0 {
			t.Fatal("a password or its hash is in the audit log")
		}

		// Revoked: the right password no longer signs in.
		_, err = f.s.RevokeAdmin(f.ctx, "admin:bootstrap", "left", "lea")
		f.must(err)
		if _, err := f.s.CheckAdminPassword(f.ctx, "lea", pw); !errors.Is(err, ErrAdminRevoked) {
			t.Errorf("revoked: %v", err)
		}
		if _, err := f.s.SetAdminPassword(f.ctx, "admin:ana", "r", "lea", pw2); !errors.Is(err, ErrInvalid) {
			t.Errorf("password of a revoked admin: %v", err)
		}

		// Durable.
		f.must(st.Close())
		st2, err := reopen(context.Background())
		f.must(err)
		t.Cleanup(func() { st2.Close() })
		s2 := openState(t, st2)
		if _, err := s2.CheckAdminPassword(f.ctx, "ana", pw2); err != nil {
			t.Fatalf("after restart: %v", err)
		}
		l, err := s2.Admins(f.ctx)
		f.must(err)
		if len(l) != 2 || l[0].Name != "ana" || !l[0].HasPassword || l[1].Name != "lea" || l[1].Team != "Sales" || !l[1].HasPassword {
			t.Fatalf("admins after restart: %+v", l)
		}
		named, err := s2.AdminNamed(f.ctx, "Lea")
		if err != nil || named.Name != "lea" || !named.Revoked() {
			t.Fatalf("AdminNamed: %+v %v", named, err)
		}
		if _, err := s2.AdminNamed(f.ctx, "nobody"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("AdminNamed(nobody): %v", err)
		}
	})
}

// TestPasswordHashParameters: a hash is checked with its own parameters,
// so hashes made with others (older, or raised later) still verify; a
// hash that does not parse matches nothing.
func TestPasswordHashParameters(t *testing.T) {
	const pw = "correct horse battery staple"
	h := hashPassword(pw)
	if !verifyPassword(h, pw) || verifyPassword(h, pw+" ") {
		t.Fatal("hash of the default parameters")
	}
	if h2 := hashPassword(pw); h2 == h {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	cheaper := strings.Replace(h, "m=19456,t=2,p=1", "m=8192,t=1,p=1", 1)
	if verifyPassword(cheaper, pw) {
		t.Fatal("a hash with other parameters than it was made with verified")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA", "$argon2id$v=18$m=19456,t=2,p=1$c2FsdA$aGFzaA",
		"$argon2id$v=19$m=0,t=2,p=1$c2FsdA$aGFzaA", "$argon2id$v=19$m=19456,t=2,p=1$!!$aGFzaA", "plain"} {
		if verifyPassword(bad, pw) {
			t.Errorf("%q verified", bad)
		}
	}
	if verifyPassword(dummyHash, pw) || verifyPassword(dummyHash, "") {
		t.Error("the dummy hash verified")
	}
}
