package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/auth"
	"github.com/keygate/auth/authtest"
	"github.com/keygate/auth/redisstore"
	"github.com/redis/go-redis/v9"
)

// newStore returns a Store with a prefix of its own on the shared Redis,
// whose keys are deleted when the test ends. Its clock is authtest.T0,
// the time the contract checks start at, unless opts set another.
func newStore(t testing.TB, opts ...redisstore.Option) (*redisstore.Store, redis.UniversalClient, string) {
	t.Helper()
	c := client(t)
	p := prefix()
	t.Cleanup(func() { deleteKeys(t, c, p) })
	opts = append([]redisstore.Option{redisstore.WithPrefix(p), redisstore.WithClock(func() time.Time { return authtest.T0 })}, opts...)
	return redisstore.New(c, opts...), c, p
}

// keys returns every key under prefix p.
func keys(t testing.TB, c redis.UniversalClient, p string) []string {
	t.Helper()
	var all []string
	iter := c.Scan(context.Background(), 0, p+"*", 1000).Iterator()
	for iter.Next(context.Background()) {
		all = append(all, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return all
}

func deleteKeys(t testing.TB, c redis.UniversalClient, p string) {
	for _, k := range keys(t, c, p) {
		c.Del(context.Background(), k)
	}
}

func TestRefreshStoreContract(t *testing.T) {
	t.Parallel()
	authtest.RefreshStore(t, func(t *testing.T) auth.RefreshStore { s, _, _ := newStore(t); return s })
}

func TestLimiterContract(t *testing.T) {
	t.Parallel()
	authtest.Limiter(t, func(t *testing.T) auth.Limiter { s, _, _ := newStore(t); return s })
}

func TestDenylistContract(t *testing.T) {
	t.Parallel()
	authtest.Denylist(t, func(t *testing.T) auth.Denylist { s, _, _ := newStore(t); return s })
}

// Of 50 concurrent presentations of one token, exactly one rotates, in
// each of 20 rounds on the same family.
func TestRotateRaceRounds(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := t.Context()
	f := auth.RefreshFamily{ID: "f", UserID: "u", Current: "t0", CreatedAt: authtest.T0, ExpiresAt: authtest.T0.Add(24 * time.Hour)}
	if err := s.Create(ctx, f); err != nil {
		t.Fatal(err)
	}
	current := "t0"
	for round := range 20 {
		var wins atomic.Int32
		var winner atomic.Value
		var wg sync.WaitGroup
		start := make(chan struct{})
		now := authtest.T0.Add(time.Duration(round+1) * time.Minute)
		for i := range authtest.Racers {
			wg.Go(func() {
				<-start
				next := fmt.Sprintf("r%d-%d", round, i)
				after, found, swapped, err := s.Rotate(ctx, "f", current, next, now)
				if err != nil || !found {
					t.Errorf("round %d: Rotate: found %v, %v", round, found, err)
					return
				}
				if swapped {
					wins.Add(1)
					winner.Store(next)
					if after.Current != next || after.Previous != current || !after.RotatedAt.Equal(now) {
						t.Errorf("round %d: winner sees %+v", round, after)
					}
				}
			})
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("round %d: %d of %d concurrent rotations swapped; want exactly 1", round, wins.Load(), authtest.Racers)
		}
		current = winner.Load().(string)
	}
}

// A client that retries a Rotate whose reply was lost finds its own swap
// made and reports it as swapped, rather than as a reuse (which would
// revoke a session that did nothing wrong). Another next is still refused.
func TestRotateRetry(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := t.Context()
	if err := s.Create(ctx, auth.RefreshFamily{ID: "f", UserID: "u", Current: "a", CreatedAt: authtest.T0, ExpiresAt: authtest.T0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	now := authtest.T0.Add(time.Minute)
	for i := range 2 {
		f, found, swapped, err := s.Rotate(ctx, "f", "a", "b", now)
		if err != nil || !found || !swapped || f.Current != "b" {
			t.Fatalf("call %d: Rotate = %+v, %v, %v, %v; want swapped to b", i+1, f, found, swapped, err)
		}
	}
	for _, c := range []struct {
		name string
		next string
		now  time.Time
	}{
		{"another next", "c", now},
		{"another time", "b", now.Add(time.Second)},
	} {
		if f, _, swapped, err := s.Rotate(ctx, "f", "a", c.next, c.now); err != nil || swapped || f.Current != "b" {
			t.Errorf("%s: Rotate = %+v, swapped %v, %v; want refused, Current b", c.name, f, swapped, err)
		}
	}
}

// Reserve applies auth.Throttle.Wait exactly as the in-memory limiter
// does: the same waits for the same random sequence of Reserve, Release
// and Reset calls on a few keys, with two policies and times that jump
// past windows.
func TestReserveMatchesMemoryLimiter(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	m := auth.NewMemoryLimiter()
	ctx := t.Context()
	rng := rand.New(rand.NewPCG(1, 2))
	policies := map[string]auth.Throttle{
		"a": {Threshold: 3, Base: time.Second, Max: 8 * time.Second, Window: time.Minute},
		"b": {Threshold: 1, Base: 250 * time.Millisecond, Max: 4 * time.Second, Window: 10 * time.Second},
		"c": auth.DefaultAccountThrottle,
	}
	names := []string{"a", "b", "c"}
	now := authtest.T0
	for i := range 2000 {
		key := names[rng.IntN(len(names))]
		switch r := rng.IntN(100); {
		case r < 3:
			now = now.Add(time.Duration(rng.IntN(120)) * time.Second)
		case r < 60:
			now = now.Add(time.Duration(rng.IntN(1500)) * time.Millisecond)
		}
		switch r := rng.IntN(100); {
		case r < 80:
			got, err := s.Reserve(ctx, key, now, policies[key])
			want, _ := m.Reserve(ctx, key, now, policies[key])
			if err != nil || got != want {
				t.Fatalf("step %d: Reserve(%s, +%v) = %v, %v; the in-memory limiter says %v", i, key, now.Sub(authtest.T0), got, err, want)
			}
		case r < 95:
			if err := s.Release(ctx, key); err != nil {
				t.Fatal(err)
			}
			m.Release(ctx, key)
		default:
			if err := s.Reset(ctx, key); err != nil {
				t.Fatal(err)
			}
			m.Reset(ctx, key)
		}
	}
}

// Every key the Store writes carries a TTL: a family until its ExpiresAt,
// the user's index until its newest family's, a count a Window after its
// last attempt, a denied ID until its until, an API key until its
// ExpiresAt. No later call (rotate, revoke, release) removes one.
func TestEveryKeyHasTTL(t *testing.T) {
	t.Parallel()
	now := time.Now()
	s, c, p := newStore(t, redisstore.WithClock(func() time.Time { return now }))
	ctx := t.Context()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.Create(ctx, auth.RefreshFamily{ID: "f1", UserID: "u", Current: "a", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}))
	must(s.Create(ctx, auth.RefreshFamily{ID: "f2", UserID: "u", Current: "a", CreatedAt: now, ExpiresAt: now.Add(3 * time.Hour)}))
	must(s.Create(ctx, auth.RefreshFamily{ID: "f3", UserID: "u", Current: "a", CreatedAt: now, ExpiresAt: now.Add(2 * time.Hour)}))
	if _, _, _, err := s.Rotate(ctx, "f1", "a", "b", now); err != nil {
		t.Fatal(err)
	}
	must(s.Revoke(ctx, "f2"))
	must(s.RevokeUser(ctx, "u"))
	must(s.Revoke(ctx, "never-created")) // must not create a key
	th := auth.Throttle{Threshold: 2, Base: time.Second, Max: time.Minute, Window: 15 * time.Minute}
	for range 3 {
		if _, err := s.Reserve(ctx, "k", now, th); err != nil {
			t.Fatal(err)
		}
	}
	must(s.Release(ctx, "k"))
	must(s.Release(ctx, "never-counted")) // must not create a key
	must(s.Deny(ctx, "j1", now.Add(17*time.Minute)))
	must(s.Deny(ctx, "j-past", now.Add(-time.Second))) // writes nothing
	must(s.AddAPIKey(ctx, auth.APIKey{ID: "k1", Hash: "h1", ExpiresAt: now.Add(4 * time.Hour)}))

	want := map[string]time.Duration{
		"fam:f1": time.Hour, "fam:f2": 3 * time.Hour, "fam:f3": 2 * time.Hour,
		"user:u":    3 * time.Hour,
		"lim:k":     15 * time.Minute,
		"deny:j1":   17 * time.Minute,
		"apikey:h1": 4 * time.Hour, "apikey-id:k1": 4 * time.Hour,
	}
	got := keys(t, c, p)
	if len(got) != len(want) {
		t.Errorf("keys %q; want %d keys", got, len(want))
	}
	for _, k := range got {
		ttl, err := c.PTTL(ctx, k).Result()
		must(err)
		w, ok := want[strings.TrimPrefix(k, p)]
		// Within the time this test takes, and the millisecond rounding up.
		if !ok || ttl > w+time.Millisecond || ttl < w-time.Minute {
			t.Errorf("%s: TTL %v; want %v", strings.TrimPrefix(k, p), ttl, w)
		}
	}
}

// A user's index of families holds the families still alive at the last
// login, not every family the user ever had.
func TestUserIndexPruned(t *testing.T) {
	t.Parallel()
	s, c, p := newStore(t)
	ctx := t.Context()
	now := authtest.T0
	for i := range 100 {
		f := auth.RefreshFamily{ID: fmt.Sprint("f", i), UserID: "u", Current: "a", CreatedAt: now, ExpiresAt: now.Add(2 * time.Hour)}
		if err := s.Create(ctx, f); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Hour)
	}
	if n := c.ZCard(ctx, p+"user:u").Val(); n != 2 {
		t.Errorf("the index holds %d families after 100 logins an hour apart, each living 2 hours; want 2", n)
	}
}

// An API key is found by hash with its fields, is gone once revoked, and a
// record without ID or Hash is refused.
func TestAPIKeys(t *testing.T) {
	t.Parallel()
	s, c, p := newStore(t)
	ctx := t.Context()
	key, rec, err := auth.GenerateAPIKey("sk")
	if err != nil {
		t.Fatal(err)
	}
	rec.Name, rec.Roles, rec.ExpiresAt = "billing", []string{"billing", "read"}, authtest.T0.Add(time.Hour)
	if err := s.AddAPIKey(ctx, rec); err != nil {
		t.Fatal(err)
	}
	got, found, err := s.APIKey(ctx, auth.HashAPIKey(key))
	if err != nil || !found || got.ID != rec.ID || got.Hash != rec.Hash || got.Name != "billing" ||
		strings.Join(got.Roles, ",") != "billing,read" || !got.ExpiresAt.Equal(rec.ExpiresAt) || got.Revoked {
		t.Fatalf("APIKey = %+v, %v, %v; want %+v", got, found, err, rec)
	}
	for _, k := range keys(t, c, p) {
		v, _ := c.Dump(ctx, k).Result()
		if strings.Contains(v, key) {
			t.Errorf("the key itself is stored at %s", k)
		}
	}
	if _, found, err := s.APIKey(ctx, auth.HashAPIKey(key+"x")); found || err != nil {
		t.Errorf("another key: found %v, %v", found, err)
	}
	if ok, err := s.RevokeAPIKey(ctx, rec.ID); !ok || err != nil {
		t.Fatalf("RevokeAPIKey = %v, %v", ok, err)
	}
	if _, found, err := s.APIKey(ctx, rec.Hash); found || err != nil {
		t.Errorf("a revoked key: found %v, %v", found, err)
	}
	if ok, err := s.RevokeAPIKey(ctx, rec.ID); ok || err != nil {
		t.Errorf("RevokeAPIKey again = %v, %v; want false, nil", ok, err)
	}
	if left := keys(t, c, p); len(left) != 0 {
		t.Errorf("keys left after revoking: %q", left)
	}
	if err := s.AddAPIKey(ctx, auth.APIKey{Hash: "h"}); err == nil {
		t.Error("AddAPIKey without an ID succeeded")
	}
}

// Hostile IDs (CR, LF, NUL, 4 KiB) are kept apart as any other: keys are
// binary-safe and never parsed.
func TestHostileIDs(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := t.Context()
	ids := []string{"a\r\nb", "a\r\nb\x00", "a", "a*", strings.Repeat("x", 4096), "\xff\xfe"}
	for i, id := range ids {
		if err := s.Deny(ctx, id, authtest.T0.Add(time.Duration(i+1)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	for i, id := range ids {
		at := authtest.T0.Add(time.Duration(i+1)*time.Minute - time.Second)
		if denied, err := s.Denied(ctx, id, at); !denied || err != nil {
			t.Errorf("Denied(%q) = %v, %v", id, denied, err)
		}
		if denied, _ := s.Denied(ctx, id, at.Add(time.Second)); denied {
			t.Errorf("Denied(%q) past its own time; IDs mixed up", id)
		}
	}
	if denied, _ := s.Denied(ctx, "a\r", authtest.T0); denied {
		t.Error("a prefix of a denied ID is denied")
	}
}

// A record the Store did not write gives an error, not a panic or a
// decision; it is not an outage.
func TestMalformedRecords(t *testing.T) {
	t.Parallel()
	s, c, p := newStore(t)
	ctx := t.Context()
	c.HSet(ctx, p+"fam:bad", "user", "u", "cur", "a", "exp", "soon")
	c.Set(ctx, p+"deny:bad", "tomorrow", time.Minute)
	c.HSet(ctx, p+"apikey:bad", "id", "k", "roles", "{")
	c.Set(ctx, p+"lim:bad", "x", time.Minute) // a string where a hash belongs
	_, _, swapped, err := s.Rotate(ctx, "bad", "a", "b", authtest.T0)
	if err == nil || swapped {
		t.Errorf("Rotate of a malformed family: swapped %v, %v", swapped, err)
	}
	_, err1 := s.Denied(ctx, "bad", authtest.T0)
	_, _, err2 := s.APIKey(ctx, "bad")
	_, err3 := s.Reserve(ctx, "bad", authtest.T0, auth.DefaultAccountThrottle)
	for i, err := range []error{err, err1, err2, err3} {
		if err == nil || errors.Is(err, redisstore.ErrUnavailable) || !strings.HasPrefix(err.Error(), "redisstore: ") {
			t.Errorf("error %d = %v; want a redisstore error that is not ErrUnavailable", i, err)
		}
	}
}

// With nothing listening, every method fails with ErrUnavailable, quickly,
// and names no ID.
func TestUnreachable(t *testing.T) {
	t.Parallel()
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { c.Close() })
	s := redisstore.New(c)
	ctx := t.Context()
	const secretish = "fam-id-8f3a"
	_, _, _, errRotate := s.Rotate(ctx, secretish, secretish, secretish, authtest.T0)
	_, errReserve := s.Reserve(ctx, secretish, authtest.T0, auth.DefaultAccountThrottle)
	_, errDenied := s.Denied(ctx, secretish, authtest.T0)
	_, _, errKey := s.APIKey(ctx, secretish)
	for i, err := range []error{s.Ping(ctx), errRotate, errReserve, errDenied, errKey,
		s.Create(ctx, auth.RefreshFamily{ID: secretish, UserID: secretish, ExpiresAt: time.Now().Add(time.Hour)}),
		s.Revoke(ctx, secretish), s.RevokeUser(ctx, secretish), s.Release(ctx, secretish), s.Reset(ctx, secretish),
		s.Deny(ctx, secretish, time.Now().Add(time.Hour))} {
		if !errors.Is(err, redisstore.ErrUnavailable) {
			t.Errorf("call %d: %v; want ErrUnavailable", i, err)
		}
		if err != nil && strings.Contains(err.Error(), secretish) {
			t.Errorf("call %d: error %q names the ID", i, err)
		}
	}
}

// A cancelled context stops a call: its error is the context's, not an
// outage.
func TestCancelledContext(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Reserve(ctx, "k", authtest.T0, auth.DefaultAccountThrottle)
	if !errors.Is(err, context.Canceled) || errors.Is(err, redisstore.ErrUnavailable) {
		t.Errorf("Reserve with a cancelled context: %v; want context.Canceled", err)
	}
	if wait, err := s.Reserve(t.Context(), "k", authtest.T0, auth.DefaultAccountThrottle); err != nil || wait != 0 {
		t.Errorf("the cancelled Reserve was counted or broke the store: %v, %v", wait, err)
	}
}

// RevokeUser revokes every family of a user with many (past one ZSCAN
// page), while logins of the same user add families and prune expired
// ones from the index concurrently.
func TestRevokeUserMany(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	ctx := t.Context()
	const n = 1000
	for i := range n {
		// Half of them expire an hour in, and the concurrent logins below
		// prune them from the index; the other half live for a day.
		exp := authtest.T0.Add(time.Hour)
		if i%2 == 1 {
			exp = authtest.T0.Add(24 * time.Hour)
		}
		f := auth.RefreshFamily{ID: fmt.Sprint("f", i), UserID: "u", Current: "a", CreatedAt: authtest.T0, ExpiresAt: exp}
		if err := s.Create(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 50 {
			later := authtest.T0.Add(2 * time.Hour)
			f := auth.RefreshFamily{ID: fmt.Sprint("late", i), UserID: "u", Current: "a", CreatedAt: later, ExpiresAt: later.Add(time.Hour)}
			if err := s.Create(ctx, f); err != nil {
				t.Error(err)
			}
		}
	})
	if err := s.RevokeUser(ctx, "u"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i := 1; i < n; i += 2 {
		f, found, swapped, err := s.Rotate(ctx, fmt.Sprint("f", i), "a", "b", authtest.T0.Add(3*time.Hour))
		if err != nil || !found || swapped || !f.Revoked {
			t.Fatalf("family f%d after RevokeUser: %+v, found %v, swapped %v, %v; want revoked", i, f, found, swapped, err)
		}
	}
}

// RevokeUser works on a Redis that has lost its script cache (a restart,
// a failover, SCRIPT FLUSH): it loads its script again.
func TestRevokeUserAfterScriptFlush(t *testing.T) {
	t.Parallel()
	s, c, _ := newStore(t)
	ctx := t.Context()
	for _, id := range []string{"f1", "f2"} {
		if err := s.Create(ctx, auth.RefreshFamily{ID: id, UserID: "u", Current: "a", CreatedAt: authtest.T0, ExpiresAt: authtest.T0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeUser(ctx, "u"); err != nil {
		t.Fatalf("RevokeUser after SCRIPT FLUSH: %v", err)
	}
	for _, id := range []string{"f1", "f2"} {
		if f, _, swapped, err := s.Rotate(ctx, id, "a", "b", authtest.T0); err != nil || swapped || !f.Revoked {
			t.Errorf("%s: %+v, swapped %v, %v; want revoked", id, f, swapped, err)
		}
	}
}

// Behind auth.RequireAPIKey, a stored key gets through with its roles, and
// is refused (401) once revoked.
func TestRequireAPIKey(t *testing.T) {
	t.Parallel()
	s, _, _ := newStore(t)
	key, rec, err := auth.GenerateAPIKey("sk")
	if err != nil {
		t.Fatal(err)
	}
	rec.Roles = []string{"billing"}
	if err := s.AddAPIKey(t.Context(), rec); err != nil {
		t.Fatal(err)
	}
	key32, err := auth.NewHMACKey("", "HS256", []byte(auth.GenerateSecret()))
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewTokens(key32)
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.NewStateless(tokens, auth.WithLimiter(s))
	if err != nil {
		t.Fatal(err)
	}
	h := a.RequireAPIKey(s)(auth.RequireRole("billing")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	status := func() int {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("X-API-Key", key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}
	if got := status(); got != 200 {
		t.Fatalf("a stored key: %d; want 200", got)
	}
	if _, err := s.RevokeAPIKey(t.Context(), rec.ID); err != nil {
		t.Fatal(err)
	}
	if got := status(); got != 401 {
		t.Errorf("a revoked key: %d; want 401", got)
	}
}
