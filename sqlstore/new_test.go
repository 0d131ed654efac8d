package sqlstore

import (
	"database/sql"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/auth"
	"github.com/keygate/auth/authtest"
)

// openPool opens a pool the way a caller might, with database/sql's
// defaults: on SQLite, several connections and deferred transactions.
func openPool(t testing.TB, d Dialect) *sql.DB {
	t.Helper()
	u := testURL(t, d)
	driver := "pgx"
	if d == SQLite {
		driver, u = "sqlite", "file:"+u+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"
	}
	pool, err := sql.Open(driver, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	return pool
}

// TestNew: the stores keep their contract over a caller's pool, concurrent
// migrations included.
func TestNew(t *testing.T) {
	if _, err := New(t.Context(), nil, SQLite); err == nil {
		t.Error("New(nil) succeeded")
	}
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			pool := openPool(t, d)
			var wg sync.WaitGroup
			var failed atomic.Int32
			for range 4 {
				wg.Go(func() {
					if _, err := New(t.Context(), pool, d); err != nil {
						t.Errorf("concurrent New: %v", err)
						failed.Add(1)
					}
				})
			}
			wg.Wait()
			if failed.Load() > 0 {
				return
			}
			db, err := New(t.Context(), pool, d)
			if err != nil {
				t.Fatal(err)
			}
			authtest.RefreshStore(t, func(t *testing.T) auth.RefreshStore {
				return mustNew(t, openPool(t, d), d).RefreshTokens()
			})
			authtest.Limiter(t, func(t *testing.T) auth.Limiter {
				return mustNew(t, openPool(t, d), d).Limiter()
			})
			th := auth.Throttle{Threshold: 3, Base: time.Second, Max: time.Second, Window: time.Minute}
			if wait, err := db.Limiter().Reserve(t.Context(), "k", authtest.T0, th); wait != 0 || err != nil {
				t.Errorf("Reserve = %v, %v", wait, err)
			}
		})
	}
}

func mustNew(t *testing.T, pool *sql.DB, d Dialect) *DB {
	t.Helper()
	db, err := New(t.Context(), pool, d)
	if err != nil {
		t.Fatal(err)
	}
	return db
}
