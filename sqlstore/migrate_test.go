package sqlstore

import (
	"strings"
	"sync"
	"testing"
)

// TestMigrations: the embedded migrations are numbered from 1; Open
// records each once, a second Open applies nothing, and concurrent Opens
// of one new database all succeed with each migration applied once.
func TestMigrations(t *testing.T) {
	if SchemaVersion() < 1 {
		t.Fatalf("SchemaVersion = %d", SchemaVersion())
	}
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			u := testURL(t, d)
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for range 4 {
				wg.Go(func() {
					db, err := Open(t.Context(), u)
					if err == nil {
						db.Close()
					}
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("concurrent Open: %v", err)
				}
			}
			db := openTest2(t, u)
			var n, max int
			if err := db.sql.QueryRowContext(t.Context(), `SELECT COUNT(*), MAX(version) FROM schema_version`).Scan(&n, &max); err != nil {
				t.Fatal(err)
			}
			if n != SchemaVersion() || max != SchemaVersion() {
				t.Errorf("schema_version has %d rows, max %d; want %d", n, max, SchemaVersion())
			}
			// A database from a newer sqlstore is refused.
			if _, err := db.exec(t.Context(), `INSERT INTO schema_version (version, applied_at) VALUES (?, 0)`, SchemaVersion()+1); err != nil {
				t.Fatal(err)
			}
			if db2, err := Open(t.Context(), u); err == nil || !strings.Contains(err.Error(), "newer") {
				if db2 != nil {
					db2.Close()
				}
				t.Errorf("Open of a newer schema = %v", err)
			}
		})
	}
}

func openTest2(t *testing.T, u string) *DB {
	t.Helper()
	db, err := Open(t.Context(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
