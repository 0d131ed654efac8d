package sqlstore

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/auth"
	"github.com/keygate/auth/authtest"
)

// -entries lists the table sizes the benchmarks run at: 0 by default (as
// .ci/run runs them once), "0,100000,1000000" for the growth figures in
// BENCHMARKS.md.
var benchEntries = flag.String("entries", "0", "comma-separated table sizes for the benchmarks")

func entrySizes(b *testing.B) []int {
	var ns []int
	for _, f := range strings.Split(*benchEntries, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			b.Fatalf("-entries: %q", *benchEntries)
		}
		ns = append(ns, n)
	}
	return ns
}

// fill inserts n rows into table in one statement (a recursive CTE, the
// same on both engines) and returns the bytes per row the table and its
// indexes grew by: pg_total_relation_size on PostgreSQL, pages on SQLite.
func fill(b *testing.B, db *DB, table string, n int) float64 {
	b.Helper()
	if n == 0 {
		return 0
	}
	far := millis(authtest.T0.Add(365 * 24 * time.Hour))
	rows := map[string]string{
		"refresh_families": fmt.Sprintf(`(id, user_id, current_jti, previous_jti, rotated_at, created_at, expires_at, revoked)
			WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < %d)
			SELECT 'fam-' || x, 'usr-' || x, 'jti-' || x, '', 0, %d, %d, FALSE FROM g`, n, millis(authtest.T0), far),
		"login_attempts": fmt.Sprintf(`(key, attempts, last_at, expires_at)
			WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < %d)
			SELECT 'login:' || x, 1, %d, %d FROM g`, n, millis(authtest.T0), far),
		"denied_tokens": fmt.Sprintf(`(jti, until_at)
			WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < %d)
			SELECT 'jti-' || x, %d FROM g`, n, far),
	}
	size := func() int64 {
		var s int64
		var err error
		if db.dialect == Postgres {
			err = db.sql.QueryRowContext(b.Context(), `SELECT pg_total_relation_size($1)`, table).Scan(&s)
		} else {
			var pages, pageSize int64
			if err = db.sql.QueryRowContext(b.Context(), `PRAGMA page_count`).Scan(&pages); err == nil {
				err = db.sql.QueryRowContext(b.Context(), `PRAGMA page_size`).Scan(&pageSize)
			}
			s = pages * pageSize
		}
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	before := size()
	if _, err := db.sql.ExecContext(b.Context(), `INSERT INTO `+table+` `+rows[table]); err != nil {
		b.Fatal(err)
	}
	if db.dialect == Postgres {
		if _, err := db.sql.ExecContext(b.Context(), `ANALYZE `+table); err != nil {
			b.Fatal(err)
		}
	}
	return float64(size()-before) / float64(n)
}

// benchStores runs f on each engine and table size.
func benchStores(b *testing.B, table string, f func(b *testing.B, db *DB)) {
	for _, d := range dialects {
		for _, n := range entrySizes(b) {
			b.Run(fmt.Sprintf("%s/entries=%d", d, n), func(b *testing.B) {
				db := openTest(b, d)
				perEntry := fill(b, db, table, n)
				b.ReportAllocs()
				f(b, db)
				if n > 0 {
					b.ReportMetric(perEntry, "B/entry")
				}
			})
		}
	}
}

// BenchmarkRotate: a successful rotation (the refresh path), one
// UPDATE … RETURNING.
func BenchmarkRotate(b *testing.B) {
	benchStores(b, "refresh_families", func(b *testing.B, db *DB) {
		s := db.RefreshTokens()
		now := authtest.T0
		if err := s.Create(b.Context(), auth.RefreshFamily{ID: "f", UserID: "u", Current: "t0", CreatedAt: now, ExpiresAt: now.Add(24 * time.Hour)}); err != nil {
			b.Fatal(err)
		}
		cur, i := "t0", 0
		for b.Loop() {
			i++
			next := "t" + strconv.Itoa(i)
			if _, _, swapped, err := s.Rotate(b.Context(), "f", cur, next, now); err != nil || !swapped {
				b.Fatalf("Rotate = %v, %v", swapped, err)
			}
			cur = next
		}
	})
}

// BenchmarkReserve: a counted attempt (the login path), one transaction.
func BenchmarkReserve(b *testing.B) {
	benchStores(b, "login_attempts", func(b *testing.B, db *DB) {
		l := db.Limiter()
		th := auth.Throttle{Threshold: 1 << 30, Base: time.Second, Max: time.Second, Window: time.Hour}
		for b.Loop() {
			if wait, err := l.Reserve(b.Context(), "login:k", authtest.T0, th); err != nil || wait != 0 {
				b.Fatalf("Reserve = %v, %v", wait, err)
			}
		}
	})
}

// BenchmarkDenied: the per-request denylist lookup of a token that is not
// denied (the common case).
func BenchmarkDenied(b *testing.B) {
	benchStores(b, "denied_tokens", func(b *testing.B, db *DB) {
		d := db.Denylist()
		if err := d.Deny(b.Context(), "denied", authtest.T0.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if denied, err := d.Denied(b.Context(), "live-token", authtest.T0); err != nil || denied {
				b.Fatalf("Denied = %v, %v", denied, err)
			}
		}
	})
}
