package sqlstore

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/keygate/auth"
	"github.com/keygate/auth/authtest"
)

// openTest returns a fresh database of the dialect: a new SQLite file, or a
// PostgreSQL schema of its own (so runs do not see each other's rows).
func openTest(t *testing.T, dialect string) *DB {
	t.Helper()
	ctx := context.Background()
	if dialect == "sqlite" {
		db, err := Open(ctx, filepath.Join(t.TempDir(), "test.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		t.Skip("DATABASE_URL is not set: skipping the PostgreSQL run (.ci/run starts a server and sets it)")
	}
	return openPostgresSchema(t, url)
}

func TestConformance(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			authtest.RefreshStore(t, func(t *testing.T) auth.RefreshStore { return openTest(t, dialect).RefreshTokens() })
			authtest.Limiter(t, func(t *testing.T) auth.Limiter { return openTest(t, dialect).Limiter() })
			authtest.Denylist(t, func(t *testing.T) auth.Denylist { return openTest(t, dialect).Denylist() })
		})
	}
}

func TestUsers(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			users := openTest(t, dialect).Users()
			u, err := users.Create(ctx, " Ada@Example.com ", "hash1", "admin", "user")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := users.Create(ctx, "ada@example.com", "hash2"); err != ErrEmailTaken {
				t.Errorf("duplicate email: %v; want ErrEmailTaken", err)
			}
			got, found, err := users.UserByLogin(ctx, "ADA@example.com")
			if err != nil || !found || got.ID != u.ID || got.Email != "ada@example.com" || len(got.Roles) != 2 || !got.Active {
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
			if a.TokenVersion != 2 || a.PasswordHash != "hash3" || a.ID != u.ID || !a.Active {
				t.Errorf("Account = %+v; want version 2, hash3", a)
			}
			if _, err := users.AddTask(ctx, u.ID, "write docs"); err != nil {
				t.Fatal(err)
			}
			if tasks, err := users.Tasks(ctx, u.ID); err != nil || len(tasks) != 1 {
				t.Errorf("Tasks = %v, %v", tasks, err)
			}
			if ok, err := users.Delete(ctx, u.ID); !ok || err != nil {
				t.Fatal(ok, err)
			}
			if tasks, _ := users.Tasks(ctx, u.ID); len(tasks) != 0 {
				t.Error("a deleted user's tasks remain")
			}
		})
	}
}

func TestAPIKeys(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			keys := openTest(t, dialect).APIKeys()
			key, rec, _ := auth.GenerateAPIKey("sk")
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
			got, _, _ = keys.APIKey(ctx, rec.Hash)
			if !got.Revoked {
				t.Error("a revoked key is not marked revoked")
			}
			if list, _ := keys.List(ctx); len(list) != 1 {
				t.Errorf("List = %v", list)
			}
		})
	}
}
