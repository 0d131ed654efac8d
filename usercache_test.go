package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingUsers counts the loads that reach the store. When block is set,
// the first load, having read the store, tells started and waits for block.
type countingUsers struct {
	*MemoryUsers
	loads          atomic.Int32
	started, block chan struct{}
	blocked        atomic.Bool
}

func (c *countingUsers) User(ctx context.Context, id string) (Account, bool, error) {
	c.loads.Add(1)
	u, found, err := c.MemoryUsers.User(ctx, id)
	if c.block != nil && c.blocked.CompareAndSwap(false, true) {
		c.started <- struct{}{}
		<-c.block
	}
	return u, found, err
}

// cachedFixture is the fixture's Authenticator over a counting store, with
// a user cache, and a handler that writes the principal's roles.
func cachedFixture(t *testing.T, size int, ttl time.Duration) (*fixture, *countingUsers, http.Handler) {
	t.Helper()
	f := newFixture(t)
	users := &countingUsers{MemoryUsers: f.users}
	a, err := New[Account](f.tokens, users, WithUserCache(size, ttl), WithRefreshStore(f.families))
	if err != nil {
		t.Fatal(err)
	}
	f.a = a
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := PrincipalFrom(r.Context())
		for _, role := range p.Roles {
			w.Write([]byte(role + " "))
		}
	}))
	return f, users, h
}

func get(h http.Handler, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", "/me", nil)
	req.Header = bearer(token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// Issue 11: the opt-in user cache. Loads are saved within the TTL; a change
// made elsewhere shows within the TTL, one reported with ForgetUser or made
// by LogoutEverywhere at once.
func TestUserCache(t *testing.T) {
	t.Parallel()
	f, users, h := cachedFixture(t, 1000, time.Minute)
	alice := f.access(t, "u1")
	for i := range 10 {
		if rec := get(h, alice); rec.Code != 200 || rec.Body.String() != "user " {
			t.Fatalf("request %d: %d %q", i+1, rec.Code, rec.Body)
		}
	}
	if n := users.loads.Load(); n != 1 {
		t.Fatalf("10 requests within the TTL loaded the user %d times; want 1", n)
	}

	// A role granted in the store, not reported: old roles until the TTL.
	f.users.Update("u1", func(a *Account) { a.Roles = []string{"user", "editor"} })
	f.now.Add(59)
	if rec := get(h, alice); rec.Body.String() != "user " {
		t.Errorf("within the TTL: roles %q; want the cached ones", rec.Body)
	}
	f.now.Add(1)
	if rec := get(h, alice); rec.Body.String() != "user editor " {
		t.Errorf("at the TTL: roles %q; want the store's", rec.Body)
	}

	// Reported with ForgetUser: at once.
	f.users.Update("u1", func(a *Account) { a.Roles = []string{"user"} })
	f.a.ForgetUser("u1")
	if rec := get(h, alice); rec.Body.String() != "user " {
		t.Errorf("after ForgetUser: roles %q; want the store's", rec.Body)
	}
	// A deactivation, reported: refused at once.
	f.users.Update("u1", func(a *Account) { a.Active = false })
	f.a.ForgetUser("u1")
	if rec := get(h, alice); rec.Code != 401 {
		t.Errorf("deactivated and forgotten: %d; want 401", rec.Code)
	}
	f.users.Update("u1", func(a *Account) { a.Active = true })
	f.a.ForgetUser("u1")

	// LogoutEverywhere forgets by itself: the old token fails at once.
	if rec := get(h, alice); rec.Code != 200 {
		t.Fatalf("before logout everywhere: %d", rec.Code)
	}
	if err := f.a.LogoutEverywhere(context.Background(), "u1"); err != nil {
		t.Fatal(err)
	}
	if rec := get(h, alice); rec.Code != 401 {
		t.Errorf("a token from before LogoutEverywhere: %d; want 401", rec.Code)
	}
	// Users the store does not find are never cached.
	ghost := f.access(t, "nobody")
	before := users.loads.Load()
	for range 3 {
		get(h, ghost)
	}
	if n := users.loads.Load() - before; n != 3 {
		t.Errorf("3 requests for an unknown user made %d loads; want 3", n)
	}
}

// A ForgetUser while a load is in flight keeps that load, which read the
// user as it was, out of the cache.
func TestUserCacheForgetDuringLoad(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	users := &countingUsers{MemoryUsers: f.users, started: make(chan struct{}), block: make(chan struct{})}
	a, err := New[Account](f.tokens, users, WithUserCache(1000, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	h := a.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	alice := f.access(t, "u1")
	done := make(chan int)
	go func() { done <- get(h, alice).Code }()
	<-users.started // the load has read alice, active
	f.users.Update("u1", func(a *Account) { a.Active = false })
	a.ForgetUser("u1")
	close(users.block)
	if code := <-done; code != 200 {
		t.Fatalf("the request in flight: %d; want 200 (it read alice before the change)", code)
	}
	if rec := get(h, alice); rec.Code != 401 {
		t.Errorf("the next request: %d; want 401 (the load in flight must not have been cached)", rec.Code)
	}
	if n := users.loads.Load(); n != 2 {
		t.Errorf("%d loads; want 2", n)
	}
}

// The cache holds at most its size, rounded up to the shards, and takes
// new users when full.
func TestUserCacheBounded(t *testing.T) {
	t.Parallel()
	f, users, h := cachedFixture(t, 2*shardCount, time.Minute)
	const n = 3000
	tokens := make([]string, n)
	for i := range n {
		id := "bulk" + strconv.Itoa(i)
		f.users.Put(id+"@example.com", Account{ID: id, Active: true, Roles: []string{"user"}})
		tokens[i] = f.access(t, id)
	}
	for i, tok := range tokens {
		if rec := get(h, tok); rec.Code != 200 {
			t.Fatalf("user %d: %d", i, rec.Code)
		}
	}
	if size := f.a.userCache.entries.size(); size > 2*shardCount || size < shardCount {
		t.Errorf("%d users cached; want between %d and %d", size, shardCount, 2*shardCount)
	}
	// The last user loaded is cached: a full shard took it.
	before := users.loads.Load()
	get(h, tokens[n-1])
	if users.loads.Load() != before {
		t.Error("the most recently loaded user was not cached")
	}
}

func TestUserCacheOptions(t *testing.T) {
	t.Parallel()
	tokens := mustTokens(t)
	for _, c := range []struct {
		size int
		ttl  time.Duration
	}{{0, time.Second}, {1 << 21, time.Second}, {10, 0}, {10, -time.Second}, {10, 6 * time.Minute}} {
		if _, err := New[Account](tokens, NewMemoryUsers(), WithUserCache(c.size, c.ttl)); err == nil {
			t.Errorf("WithUserCache(%d, %v) was accepted", c.size, c.ttl)
		}
	}
	if _, err := New[Account](tokens, NewMemoryUsers(), WithUserCache(1, 5*time.Minute)); err != nil {
		t.Errorf("WithUserCache(1, 5m): %v", err)
	}
	if _, err := NewStateless(tokens, WithUserCache(10, time.Second)); err == nil {
		t.Error("NewStateless accepted WithUserCache")
	}
}

// A cached user that would refuse the token (another token version, or
// inactive) is not the last word: the store is asked. A user who changed
// their password or logged out everywhere on another instance, then logged
// in again there, gets tokens of the new version; this instance's cache
// still held the old one and refused them, and their refresh tokens, for
// up to the TTL: the user was locked out. Reactivation likewise.
func TestUserCacheNewerTokenAsksTheStore(t *testing.T) {
	t.Parallel()
	f, users, h := cachedFixture(t, 1000, time.Minute)
	old := f.access(t, "u1")
	if rec := get(h, old); rec.Code != 200 {
		t.Fatalf("first request: %d", rec.Code)
	}
	// Another instance bumps the version (its own cache is its own), and
	// the user logs in again there.
	f.users.Update("u1", func(a *Account) { a.TokenVersion++ })
	fresh := f.access(t, "u1")
	if rec := get(h, fresh); rec.Code != 200 {
		t.Errorf("a token of the store's version, the cache holding the old one: %d; want 200", rec.Code)
	}
	// The store was asked, and what it said is cached: the old token fails now.
	if rec := get(h, old); rec.Code != 401 {
		t.Errorf("the old token after the cache learned the new version: %d; want 401", rec.Code)
	}
	// A refresh token of a version the cache has not seen, too.
	before := users.loads.Load()
	f.users.Update("u1", func(a *Account) { a.TokenVersion++ })
	if res := refreshWith(f.a, f.refresh(t, "u1")); res.Code != 200 {
		t.Errorf("refresh with a token of the store's version: %d; want 200", res.Code)
	}
	if users.loads.Load() == before {
		t.Error("the refresh was answered from the stale cache")
	}

	// A deactivation cached, then reactivation elsewhere.
	f.users.Update("u1", func(a *Account) { a.Active = false })
	f.a.ForgetUser("u1")
	tok := f.access(t, "u1")
	if rec := get(h, tok); rec.Code != 401 {
		t.Fatalf("inactive: %d; want 401", rec.Code)
	}
	f.users.Update("u1", func(a *Account) { a.Active = true })
	if rec := get(h, tok); rec.Code != 200 {
		t.Errorf("reactivated in the store, inactive in the cache: %d; want 200", rec.Code)
	}
}

// The roles a request's principal carries are its own: a handler that
// appends to them or changes one must not change another request's, which
// with the cache would share the cached user's slice.
func TestUserCacheRolesPerRequest(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	roles := make([]string, 1, 4) // as json.Unmarshal leaves a short slice
	roles[0] = "user"
	f.users.Update("u1", func(a *Account) { a.Roles = roles })
	a, err := New[Account](f.tokens, &countingUsers{MemoryUsers: f.users}, WithUserCache(1000, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	var seen [][]string
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := PrincipalFrom(r.Context())
		seen = append(seen, slices.Clone(p.Roles))
		switch len(seen) {
		case 1:
			p.Roles = append(p.Roles, "derived")
			seen[0] = p.Roles // kept, as a handler might keep it
		case 2:
			_ = append(p.Roles, "admin") // this request's own extension
		case 3:
			p.Roles[0] = "admin"
		}
	}))
	tok := f.access(t, "u1")
	for range 4 {
		if rec := get(h, tok); rec.Code != 200 {
			t.Fatalf("%d", rec.Code)
		}
	}
	if got := seen[0]; !slices.Equal(got, []string{"user", "derived"}) {
		t.Errorf("request 1's roles became %q after request 2 extended its own", got)
	}
	if got := seen[3]; !slices.Equal(got, []string{"user"}) {
		t.Errorf("request 4's roles %q after request 3 changed its own; want [user]", got)
	}
}

func refreshWith(a *Authenticator[Account], token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", "/auth/refresh", strings.NewReader(form("refresh_token", token)))
	req.Header = formType.Clone()
	rec := httptest.NewRecorder()
	a.RefreshHandler().ServeHTTP(rec, req)
	return rec
}

// markingUsers is a store whose user records say which email was verified
// (in Name, for the test), as a service's user type may.
type markingUsers struct{ *MemoryUsers }

func (m markingUsers) MarkEmailVerified(_ context.Context, id, email string) error {
	m.Update(id, func(a *Account) { a.Name = "verified " + email })
	return nil
}

// What the library itself changes in a user through the store shows at
// once on this instance, as the doc of WithUserCache says: a verified
// email ([Authenticator.VerifyEmailHandler]) and a password re-hashed at
// login, like the token version of LogoutEverywhere.
func TestUserCacheForgetsLibraryWrites(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	users := markingUsers{f.users}
	var sent OneTimeMessage
	a, err := New[Account](f.tokens, users, WithUserCache(1000, time.Minute), WithLogger(discardLogger()),
		WithRefreshStore(f.families), WithLimiter(f.limiter),
		WithOneTimeTokens(OneTimeConfig{Secret: []byte(GenerateSecret()), Send: func(_ context.Context, m OneTimeMessage) error {
			sent = m
			return nil
		}}))
	if err != nil {
		t.Fatal(err)
	}
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := UserFrom[Account](r.Context())
		w.Write([]byte(u.Name + "|" + u.PasswordHash))
	}))
	alice := f.access(t, "u1")
	if rec := get(h, alice); rec.Code != 200 || strings.HasPrefix(rec.Body.String(), "verified") {
		t.Fatalf("before: %d %q", rec.Code, rec.Body)
	}
	if err := a.SendEmailVerification(t.Context(), "u1"); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/email/verify", strings.NewReader(form("token", sent.Token)))
	req.Header = formType.Clone()
	rec := httptest.NewRecorder()
	a.VerifyEmailHandler().ServeHTTP(rec, req)
	if rec.Code != 204 {
		t.Fatalf("verify: %d %s", rec.Code, rec.Body)
	}
	if rec := get(h, alice); !strings.HasPrefix(rec.Body.String(), "verified alice@example.com|") {
		t.Errorf("after the library marked the email verified: user %q; want it verified", rec.Body)
	}

	// A hash below the policy, re-hashed by a successful login.
	weak, err := NewPasswords(WithBcrypt(10))
	if err != nil {
		t.Fatal(err)
	}
	old, err := weak.Hash(t.Context(), alicePassword)
	if err != nil {
		t.Fatal(err)
	}
	f.users.Update("u1", func(acct *Account) { acct.PasswordHash = old })
	a.ForgetUser("u1")
	if rec := get(h, alice); !strings.HasSuffix(rec.Body.String(), "|"+old) {
		t.Fatalf("the bcrypt hash not loaded: %q", rec.Body)
	}
	if rec := loginFrom(t, a, "192.0.2.1:1", "alice@example.com", alicePassword); rec.Code != 200 {
		t.Fatalf("login: %d", rec.Code)
	}
	stored, _, _ := f.users.User(t.Context(), "u1")
	if stored.PasswordHash == old {
		t.Fatal("the login did not re-hash")
	}
	if rec := get(h, alice); !strings.HasSuffix(rec.Body.String(), "|"+stored.PasswordHash) {
		t.Errorf("after the login re-hashed: user %q; want the new hash", rec.Body)
	}
}
