package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/auth"
	"github.com/keygate/auth/authtest"
)

var dialects = []Dialect{SQLite, Postgres}

// openTest returns a fresh database of the dialect: a new SQLite file, or a
// PostgreSQL schema of its own (so tests do not see each other's rows).
func openTest(t testing.TB, dialect Dialect) *DB {
	t.Helper()
	db, err := Open(t.Context(), testURL(t, dialect))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// testURL returns the URL of a fresh, empty database of the dialect.
func testURL(t testing.TB, dialect Dialect) string {
	t.Helper()
	if dialect == SQLite {
		return filepath.Join(t.TempDir(), "test.db")
	}
	dsn := os.Getenv("DATABASE_URL")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("DATABASE_URL is not set: skipping the PostgreSQL run (.ci/with-postgres starts a server and sets it)")
		}
		t.Skip("DATABASE_URL is not set: skipping the PostgreSQL run (.ci/with-postgres starts a server and sets it)")
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	schema := "t_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.ExecContext(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("creating a schema on DATABASE_URL: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", dsn)
		if err == nil {
			admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			admin.Close()
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestConformance(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Run("RefreshStore", func(t *testing.T) {
				authtest.RefreshStore(t, func(t *testing.T) auth.RefreshStore { return openTest(t, d).RefreshTokens() })
			})
			t.Run("Limiter", func(t *testing.T) {
				authtest.Limiter(t, func(t *testing.T) auth.Limiter { return openTest(t, d).Limiter() })
			})
			t.Run("Denylist", func(t *testing.T) {
				authtest.Denylist(t, func(t *testing.T) auth.Denylist { return openTest(t, d).Denylist() })
			})
		})
	}
}

// TestRotateOneWinner presents one refresh token 50 times at once, 20
// rounds, and wants exactly one swap each round (the old examples/sqlstore
// had rounds with none on SQLite: its swap and read-back were two
// statements).
func TestRotateOneWinner(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			s := openTest(t, d).RefreshTokens()
			ctx := t.Context()
			now := authtest.T0
			for round := range 20 {
				id := fmt.Sprintf("fam-%d", round)
				if err := s.Create(ctx, auth.RefreshFamily{ID: id, UserID: "u", Current: "t0", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
				var wins, found atomic.Int32
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := range authtest.Racers {
					wg.Go(func() {
						<-start
						f, ok, swapped, err := s.Rotate(ctx, id, "t0", fmt.Sprintf("t1-%d", i), now.Add(time.Second))
						if err != nil {
							t.Error(err)
							return
						}
						if ok {
							found.Add(1)
						}
						if swapped {
							wins.Add(1)
							if f.Current != fmt.Sprintf("t1-%d", i) || f.Previous != "t0" {
								t.Errorf("winner sees %+v", f)
							}
						}
					})
				}
				close(start)
				wg.Wait()
				if wins.Load() != 1 || found.Load() != authtest.Racers {
					t.Fatalf("round %d: %d of %d swapped, %d found; want exactly 1 and all found", round, wins.Load(), authtest.Racers, found.Load())
				}
			}
		})
	}
}

// TestLimiterAcrossHandles reserves one key through two DBs (two instances)
// on one database at once: the threshold holds across them.
func TestLimiterAcrossHandles(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			u := testURL(t, d)
			var dbs [2]*DB
			for i := range dbs {
				db, err := Open(t.Context(), u)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				dbs[i] = db
			}
			th := auth.Throttle{Threshold: 5, Base: time.Second, Max: time.Minute, Window: time.Hour}
			var passed atomic.Int32
			var wg sync.WaitGroup
			for i := range authtest.Racers {
				wg.Go(func() {
					wait, err := dbs[i%2].Limiter().Reserve(t.Context(), "login:x", authtest.T0, th)
					if err != nil {
						t.Error(err)
					}
					if err == nil && wait == 0 {
						passed.Add(1)
					}
				})
			}
			wg.Wait()
			if passed.Load() != int32(th.Threshold) {
				t.Errorf("%d concurrent reserves through two handles: %d passed; want %d", authtest.Racers, passed.Load(), th.Threshold)
			}
		})
	}
}

func TestUsers(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := t.Context()
			users := openTest(t, d).Users()
			u, err := users.Create(ctx, " Ada@Example.com ", "hash1", "user", "admin")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := users.Create(ctx, "ada@example.com", "hash2"); !errors.Is(err, ErrEmailTaken) {
				t.Errorf("duplicate email: %v; want ErrEmailTaken", err)
			}
			got, found, err := users.UserByLogin(ctx, "ADA@example.com")
			if err != nil || !found || got.ID != u.ID || got.Email != "ada@example.com" || strings.Join(got.Roles, ",") != "admin,user" || !got.Active {
				t.Fatalf("UserByLogin = %+v, %v, %v", got, found, err)
			}
			if _, found, err := users.User(ctx, "usr_missing"); found || err != nil {
				t.Errorf("User(missing) = %v, %v; want not found, nil", found, err)
			}
			if err := users.BumpTokenVersion(ctx, u.ID); err != nil {
				t.Fatal(err)
			}
			if ok, err := users.SetPassword(ctx, u.ID, "hash3"); !ok || err != nil {
				t.Fatal(ok, err)
			}
			got, _, _ = users.User(ctx, u.ID)
			a := users.Account(got)
			if a.TokenVersion != 2 || a.PasswordHash != "hash3" || a.ID != u.ID || !a.Active || a.Email != "ada@example.com" {
				t.Errorf("Account = %+v; want version 2, hash3", a)
			}
			if err := users.UpdatePasswordHash(ctx, u.ID, "hash4"); err != nil {
				t.Fatal(err)
			}
			if n, err := users.Count(ctx); n != 1 || err != nil {
				t.Errorf("Count = %d, %v", n, err)
			}
			if list, err := users.List(ctx); err != nil || len(list) != 1 || list[0].PasswordHash != "hash4" || len(list[0].Roles) != 2 {
				t.Errorf("List = %+v, %v", list, err)
			}
			if ok, err := users.Delete(ctx, u.ID); !ok || err != nil {
				t.Fatal(ok, err)
			}
			if ok, err := users.Delete(ctx, u.ID); ok || err != nil {
				t.Errorf("Delete again = %v, %v", ok, err)
			}
		})
	}
}

func TestAPIKeys(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := t.Context()
			keys := openTest(t, d).APIKeys()
			key, rec, err := auth.GenerateAPIKey("sk")
			if err != nil {
				t.Fatal(err)
			}
			rec.Name, rec.Roles = "billing", []string{"reports", "billing"}
			if err := keys.Create(ctx, rec); err != nil {
				t.Fatal(err)
			}
			got, found, err := keys.APIKey(ctx, auth.HashAPIKey(key))
			if err != nil || !found || got.ID != rec.ID || got.Name != "billing" || len(got.Roles) != 2 || got.Revoked {
				t.Fatalf("APIKey = %+v, %v, %v", got, found, err)
			}
			if _, found, _ := keys.APIKey(ctx, auth.HashAPIKey(key+"x")); found {
				t.Error("another key's hash was found")
			}
			if ok, _ := keys.Revoke(ctx, rec.ID); !ok {
				t.Error("Revoke found no key")
			}
			if ok, _ := keys.Revoke(ctx, "missing"); ok {
				t.Error("Revoke found a missing key")
			}
			got, _, _ = keys.APIKey(ctx, rec.Hash)
			if !got.Revoked {
				t.Error("a revoked key is not marked revoked")
			}
			if list, _ := keys.List(ctx); len(list) != 1 {
				t.Errorf("List = %v", list)
			}
			rec.Roles = []string{"two words"}
			if err := keys.Create(ctx, rec); err == nil {
				t.Error("a role with a space was stored")
			}
		})
	}
}

// TestUnstorableText: text PostgreSQL cannot store (a NUL byte, invalid
// UTF-8) finds nothing, is refused on write with ErrInvalidText, or (as a
// key) is stored by digest; never a database error. Same on both engines.
func TestUnstorableText(t *testing.T) {
	bad := []string{"ada\x00@example.com", "\xff\xfe@example.com", "\x00"}
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			ctx := t.Context()
			db := openTest(t, d)
			users, keys := db.Users(), db.APIKeys()
			for _, v := range bad {
				if _, found, err := users.UserByLogin(ctx, v); found || err != nil {
					t.Errorf("UserByLogin(%q) = %v, %v; want not found, nil", v, found, err)
				}
				if _, found, err := users.User(ctx, v); found || err != nil {
					t.Errorf("User(%q) = %v, %v", v, found, err)
				}
				if _, err := users.Create(ctx, v, "hash"); !errors.Is(err, ErrInvalidText) {
					t.Errorf("Create(%q) = %v; want ErrInvalidText", v, err)
				}
				if _, err := users.Create(ctx, "x@example.com", "hash", v); !errors.Is(err, ErrInvalidText) {
					t.Errorf("Create with role %q = %v; want ErrInvalidText", v, err)
				}
				if ok, err := users.Delete(ctx, v); ok || err != nil {
					t.Errorf("Delete(%q) = %v, %v", v, ok, err)
				}
				if ok, err := users.SetPassword(ctx, v, "h"); ok || err != nil {
					t.Errorf("SetPassword(%q) = %v, %v", v, ok, err)
				}
				if err := users.BumpTokenVersion(ctx, v); err != nil {
					t.Errorf("BumpTokenVersion(%q) = %v", v, err)
				}
				if err := users.UpdatePasswordHash(ctx, v, "h"); err != nil {
					t.Errorf("UpdatePasswordHash(%q) = %v", v, err)
				}
				if _, found, err := keys.APIKey(ctx, v); found || err != nil {
					t.Errorf("APIKey(%q) = %v, %v", v, found, err)
				}
				if ok, err := keys.Revoke(ctx, v); ok || err != nil {
					t.Errorf("Revoke(%q) = %v, %v", v, ok, err)
				}
				if err := keys.Create(ctx, auth.APIKey{ID: "k", Hash: "h", Name: v}); !errors.Is(err, ErrInvalidText) {
					t.Errorf("APIKeys.Create with name %q = %v", v, err)
				}
				// Keys and token IDs work by digest.
				l := db.Limiter()
				th := auth.Throttle{Threshold: 1, Base: time.Second, Max: time.Second, Window: time.Minute}
				if wait, err := l.Reserve(ctx, v, authtest.T0, th); wait != 0 || err != nil {
					t.Errorf("Reserve(%q) = %v, %v", v, wait, err)
				}
				if wait, err := l.Reserve(ctx, v, authtest.T0, th); wait == 0 || err != nil {
					t.Errorf("second Reserve(%q) = %v, %v; want a wait", v, wait, err)
				}
				if err := l.Reset(ctx, v); err != nil {
					t.Error(err)
				}
				dl := db.Denylist()
				if err := dl.Deny(ctx, v, authtest.T0.Add(time.Hour)); err != nil {
					t.Errorf("Deny(%q) = %v", v, err)
				}
				if denied, err := dl.Denied(ctx, v, authtest.T0); !denied || err != nil {
					t.Errorf("Denied(%q) = %v, %v", v, denied, err)
				}
				rs := db.RefreshTokens()
				fam := auth.RefreshFamily{ID: v, UserID: v, Current: v, CreatedAt: authtest.T0, ExpiresAt: authtest.T0.Add(time.Hour)}
				if err := rs.Create(ctx, fam); err != nil {
					t.Errorf("Create family %q = %v", v, err)
				}
				if _, found, swapped, err := rs.Rotate(ctx, v, v, "next", authtest.T0); !found || !swapped || err != nil {
					t.Errorf("Rotate(%q) = %v, %v, %v", v, found, swapped, err)
				}
				if err := rs.RevokeUser(ctx, v); err != nil {
					t.Error(err)
				}
			}
			// Distinct unstorable keys stay distinct.
			if denied, _ := db.Denylist().Denied(ctx, "\x00\x00", authtest.T0); denied {
				t.Error("an undenied unstorable ID is denied")
			}
		})
	}
}

// TestContext: every method honours its context; a canceled one gives an
// error matching ErrUnavailable and auth.ErrBusy (503), never a hang.
func TestContext(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			db := openTest(t, d)
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			now := authtest.T0
			th := auth.DefaultAccountThrottle
			calls := map[string]func() error{
				"Ping":             func() error { return db.Ping(ctx) },
				"Create family":    func() error { return db.RefreshTokens().Create(ctx, auth.RefreshFamily{ID: "f", CreatedAt: now}) },
				"Rotate":           func() error { _, _, _, err := db.RefreshTokens().Rotate(ctx, "f", "a", "b", now); return err },
				"Revoke":           func() error { return db.RefreshTokens().Revoke(ctx, "f") },
				"RevokeUser":       func() error { return db.RefreshTokens().RevokeUser(ctx, "u") },
				"Reserve":          func() error { _, err := db.Limiter().Reserve(ctx, "k", now, th); return err },
				"Release":          func() error { return db.Limiter().Release(ctx, "k") },
				"Reset":            func() error { return db.Limiter().Reset(ctx, "k") },
				"Deny":             func() error { return db.Denylist().Deny(ctx, "j", now) },
				"Denied":           func() error { _, err := db.Denylist().Denied(ctx, "j", now); return err },
				"APIKey":           func() error { _, _, err := db.APIKeys().APIKey(ctx, "h"); return err },
				"APIKeys.Create":   func() error { return db.APIKeys().Create(ctx, auth.APIKey{ID: "k", Hash: "h"}) },
				"APIKeys.List":     func() error { _, err := db.APIKeys().List(ctx); return err },
				"APIKeys.Revoke":   func() error { _, err := db.APIKeys().Revoke(ctx, "k"); return err },
				"User":             func() error { _, _, err := db.Users().User(ctx, "u"); return err },
				"UserByLogin":      func() error { _, _, err := db.Users().UserByLogin(ctx, "a@b"); return err },
				"Users.Create":     func() error { _, err := db.Users().Create(ctx, "a@b", "h"); return err },
				"SetPassword":      func() error { _, err := db.Users().SetPassword(ctx, "u", "h"); return err },
				"UpdatePassword":   func() error { return db.Users().UpdatePasswordHash(ctx, "u", "h") },
				"BumpTokenVersion": func() error { return db.Users().BumpTokenVersion(ctx, "u") },
				"Delete":           func() error { _, err := db.Users().Delete(ctx, "u"); return err },
				"List":             func() error { _, err := db.Users().List(ctx); return err },
				"Count":            func() error { _, err := db.Users().Count(ctx); return err },
			}
			for name, call := range calls {
				err := call()
				if !errors.Is(err, ErrUnavailable) || !errors.Is(err, auth.ErrBusy) || !errors.Is(err, context.Canceled) {
					t.Errorf("%s with a canceled context: %v; want ErrUnavailable, auth.ErrBusy and context.Canceled", name, err)
				}
			}
		})
	}
}

// TestPingSQLiteFile: a deleted or replaced SQLite file fails the health
// check, although the open connection still answers.
func TestPingSQLiteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "test.db")
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Ping(t.Context()); err != nil {
		t.Fatalf("Ping = %v", err)
	}
	if err := os.Rename(path, path+".old"); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(t.Context()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Ping with the file moved away = %v; want ErrUnavailable", err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(t.Context()); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Ping with the file replaced = %v; want ErrUnavailable", err)
	}
	os.Remove(path)
	if err := os.Rename(path+".old", path); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(t.Context()); err != nil {
		t.Errorf("Ping with the file back = %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, u := range []string{"", "x.db?mode=ro", "postgres://127.0.0.1:1/none?connect_timeout=2"} {
		if db, err := Open(t.Context(), u); err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", u)
		}
	}
	if _, err := Open(t.Context(), "postgres://127.0.0.1:1/none?connect_timeout=2"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("Open of a closed port = %v; want ErrUnavailable", err)
	}
}

func TestRebind(t *testing.T) {
	pg := &DB{dialect: Postgres}
	if got := pg.Rebind(`a = ? AND b = ?`); got != `a = $1 AND b = $2` {
		t.Errorf("Rebind = %q", got)
	}
	lite := &DB{dialect: SQLite}
	if got := lite.Rebind(`a = ?`); got != `a = ?` {
		t.Errorf("Rebind on SQLite = %q", got)
	}
}

// TestOpenMemory: ":memory:" is a private SQLite database that keeps its
// rows for the DB's life (one connection, never recycled) and passes Ping.
func TestOpenMemory(t *testing.T) {
	db, err := Open(t.Context(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Users().Create(t.Context(), "ada@example.com", "hash"); err != nil {
		t.Fatal(err)
	}
	if n, err := db.Users().Count(t.Context()); n != 1 || err != nil {
		t.Errorf("Count = %d, %v; want 1", n, err)
	}
	if err := db.Ping(t.Context()); err != nil {
		t.Errorf("Ping = %v", err)
	}
	if db.Dialect() != SQLite {
		t.Errorf("Dialect = %q", db.Dialect())
	}
}
