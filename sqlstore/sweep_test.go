package sqlstore

import (
	"testing"
	"time"

	"github.com/keygate/auth"
	"github.com/keygate/auth/authtest"
)

// TestSweeps: nothing the auth package writes is kept forever. Expired
// families, counts past their window and denylist entries past their time
// are deleted by later writes, and live ones are kept.
func TestSweeps(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			db := openTest(t, d)
			ctx := t.Context()
			rows := func(table string) int {
				t.Helper()
				var n int
				if err := db.sql.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			t0 := authtest.T0

			rs := db.RefreshTokens()
			for _, f := range []auth.RefreshFamily{
				{ID: "old", UserID: "u", Current: "a", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)},
				{ID: "live", UserID: "u", Current: "a", CreatedAt: t0, ExpiresAt: t0.Add(48 * time.Hour)},
				{ID: "new", UserID: "u", Current: "a", CreatedAt: t0.Add(2 * time.Hour), ExpiresAt: t0.Add(48 * time.Hour)},
			} {
				if err := rs.Create(ctx, f); err != nil {
					t.Fatal(err)
				}
			}
			if n := rows("refresh_families"); n != 2 {
				t.Errorf("refresh_families has %d rows after a Create past one family's limit; want 2", n)
			}

			l := db.Limiter()
			th := auth.Throttle{Threshold: 5, Base: time.Second, Max: time.Minute, Window: 15 * time.Minute}
			for _, r := range []struct {
				key string
				at  time.Time
			}{{"stale", t0}, {"live", t0.Add(10 * time.Minute)}, {"new", t0.Add(16 * time.Minute)}} {
				if _, err := l.Reserve(ctx, r.key, r.at, th); err != nil {
					t.Fatal(err)
				}
			}
			if n := rows("login_attempts"); n != 2 {
				t.Errorf("login_attempts has %d rows after a Reserve past one count's window; want 2", n)
			}

			dl := db.Denylist()
			for _, e := range []struct {
				jti   string
				until time.Time
			}{{"old", t0.Add(time.Hour)}, {"live", t0.Add(3 * time.Hour)}, {"new", t0.Add(2*time.Hour + longestDeny)}} {
				if err := dl.Deny(ctx, e.jti, e.until); err != nil {
					t.Fatal(err)
				}
			}
			if n := rows("denied_tokens"); n != 2 {
				t.Errorf("denied_tokens has %d rows after a Deny past one entry; want 2", n)
			}
			if denied, _ := dl.Denied(ctx, "live", t0.Add(2*time.Hour)); !denied {
				t.Error("the sweep dropped a live entry")
			}
			// A Deny far ahead of the wall clock sweeps by the wall clock,
			// keeping entries that are live by it.
			far := time.Now().Add(365 * 24 * time.Hour)
			if err := dl.Deny(ctx, "future-live", time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			db.sweeps = map[string]time.Time{}
			if err := dl.Deny(ctx, "far", far); err != nil {
				t.Fatal(err)
			}
			if denied, _ := dl.Denied(ctx, "future-live", time.Now()); !denied {
				t.Error("a Deny with a far time dropped an entry live by the wall clock")
			}
		})
	}
}
