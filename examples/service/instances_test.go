package main

import (
	"crypto/rand"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestInstancesPostgres runs two instances of the service on one
// PostgreSQL database and shows that they share every piece of state the
// auth package keeps: refresh families, attempt counts, the denylist and
// API keys.
func TestInstancesPostgres(t *testing.T) {
	t.Parallel()
	twoInstances(t, postgresSchema(t, serverURL(t, "DATABASE_URL", ".ci/with-postgres")))
}

// TestInstancesSQLite is the same on one SQLite file (two processes on one
// host, say).
func TestInstancesSQLite(t *testing.T) {
	t.Parallel()
	twoInstances(t, filepath.Join(t.TempDir(), "service.db"))
}

// TestInstancesRedis is TestInstancesPostgres with the volatile state
// (refresh families, attempt counts, the denylist) in Redis (REDIS_URL,
// from .ci/with-redis) and the users and API keys in the database.
func TestInstancesRedis(t *testing.T) {
	t.Parallel()
	redisURL := serverURL(t, "REDIS_URL", ".ci/with-redis")
	dbURL := filepath.Join(t.TempDir(), "service.db")
	if dsn := os.Getenv("DATABASE_URL"); dsn != "" {
		dbURL = postgresSchema(t, dsn)
	}
	// A database of its own per run, and a key prefix of its own in Redis:
	// the instances of this test share both, and nothing else does.
	prefix := "REDIS_PREFIX=test-" + rand.Text() + ":"
	twoInstances(t, dbURL, "REDIS_URL="+redisURL, prefix)
	in := startWith(t, dbURL, "test-secret-"+rand.Text(), "REDIS_URL="+redisURL, prefix)
	res := in.do("GET", "/healthz", nil, "")
	if res.status != 200 || !strings.Contains(res.body, `"volatile":"redis"`) {
		t.Errorf("healthz with Redis: %d %s", res.status, res.body)
	}
}

func twoInstances(t *testing.T, dbURL string, extra ...string) {
	secret := "test-secret-" + rand.Text()
	a := startWith(t, dbURL, secret, extra...)
	b := startWith(t, dbURL, secret, extra...)
	expect(t, "register on A", a.do("POST", "/auth/register", jsonCT, `{"email":"ada@example.com","password":"ada's long password"}`), 201)

	t.Run("refresh rotated on A, replayed on B", func(t *testing.T) {
		p := a.login("ada@example.com", "ada's long password")
		res := a.refresh(p.refresh)
		expect(t, "refresh on A", res, 200)
		next := res.json(t)["refresh_token"].(string)
		expect(t, "replay on B", b.refresh(p.refresh), 401)
		expect(t, "the family's newest token on A after the replay", a.refresh(next), 401)
		expect(t, "the family's newest token on B after the replay", b.refresh(next), 401)
	})

	t.Run("failures split between A and B", func(t *testing.T) {
		in := []*instance{a, b}
		for i := range 5 {
			expect(t, "failed login", in[i%2].do("POST", "/auth/login", jsonCT, `{"username":"ada@example.com","password":"wrong password"}`), 401)
		}
		res := in[5%2].do("POST", "/auth/login", jsonCT, `{"username":"ada@example.com","password":"wrong password"}`)
		expect(t, "sixth failure, on B", res, 429)
		if res.header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		expect(t, "right password on A while throttled", a.do("POST", "/auth/login", jsonCT, `{"username":"ada@example.com","password":"ada's long password"}`), 429)
	})

	t.Run("logout on A denies the access token on B", func(t *testing.T) {
		p := b.login(adminEmail, adminPassword)
		expect(t, "access token on B", b.do("GET", "/users/me", bearer(p.access), ""), 200)
		expect(t, "logout on A", a.do("POST", "/auth/logout", jsonBearer(p.access), `{"refresh_token":"`+p.refresh+`"}`), 204)
		expect(t, "access token on B after logout on A", b.do("GET", "/users/me", bearer(p.access), ""), 401)
		expect(t, "refresh token on B after logout on A", b.refresh(p.refresh), 401)
	})

	t.Run("API key revoked on A is refused by B", func(t *testing.T) {
		out := a.cli("create-api-key", "-name", "billing")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		key := lines[len(lines)-1]
		id := strings.SplitN(key, "_", 3)[1]
		expect(t, "API key on B", b.do("GET", "/external-data", map[string]string{"X-API-Key": key}, ""), 200)
		a.cli("revoke-api-key", "-id", id)
		expect(t, "revoked API key on B", b.do("GET", "/external-data", map[string]string{"X-API-Key": key}, ""), 401)
	})

	// 10 rounds here (20 of 50 Rotate calls each in sqlstore's own tests):
	// each round costs a login and 50 requests.
	t.Run("one winner of 50 concurrent refreshes across A and B", func(t *testing.T) {
		in := []*instance{a, b}
		for round := range 10 {
			p := in[round%2].login(adminEmail, adminPassword)
			var ok, refused atomic.Int32
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range 50 {
				wg.Go(func() {
					<-start
					req, _ := http.NewRequest("POST", in[i%2].url+"/auth/refresh", strings.NewReader(`{"refresh_token":"`+p.refresh+`"}`))
					req.Header.Set("Content-Type", "application/json")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					switch resp.StatusCode {
					case 200:
						ok.Add(1)
					case 401:
						refused.Add(1)
					default:
						t.Errorf("refresh: status %d", resp.StatusCode)
					}
				})
			}
			close(start)
			wg.Wait()
			if ok.Load() != 1 || refused.Load() != 49 {
				t.Fatalf("round %d: %d refreshes succeeded and %d were refused; want 1 and 49", round, ok.Load(), refused.Load())
			}
		}
	})

	// Nothing secret reached either log.
	for _, in := range []*instance{a, b} {
		logs := in.logs.String()
		for _, s := range []string{adminPassword, "ada's long password", secret} {
			if strings.Contains(logs, s) {
				t.Errorf("the logs contain a secret (%.12s…)", s)
			}
		}
	}
}
