package auth

import (
	"context"
	"crypto/elliptic"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sessionServer mounts the session endpoints of f.
func sessionServer(t *testing.T, f *fixture) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("POST /auth/login", f.a.LoginHandler())
	mux.Handle("POST /auth/refresh", f.a.RefreshHandler())
	mux.Handle("POST /auth/logout", f.a.LogoutHandler())
	mux.Handle("POST /auth/logout/all", f.a.Middleware(f.a.LogoutEverywhereHandler()))
	mux.Handle("GET /users/me", f.a.Middleware(http.HandlerFunc(whoami)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func loginAs(t *testing.T, srv *httptest.Server, user, pw string) tokenResponse {
	t.Helper()
	res := do(t, srv, "POST", "/auth/login", formType, form("username", user, "password", pw))
	if res.status != 200 {
		t.Fatalf("login %s: %d %s", user, res.status, res.body)
	}
	return decodeTokens(t, res)
}

func refreshOnce(t *testing.T, srv *httptest.Server, tok string) result {
	t.Helper()
	return do(t, srv, "POST", "/auth/refresh", jsonType, `{"refresh_token":"`+tok+`"}`)
}

// T58, T59: each refresh rotates; replaying a rotated token revokes the
// family, the live successor included, and is logged by family, not token.
func TestRefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := sessionServer(t, f)
	first := loginAs(t, srv, "alice@example.com", alicePassword)
	other := loginAs(t, srv, "alice@example.com", alicePassword) // another device

	res := refreshOnce(t, srv, first.RefreshToken)
	if res.status != 200 {
		t.Fatalf("refresh: %d", res.status)
	}
	second := decodeTokens(t, res)
	c1, _ := f.tokens.Verify(first.RefreshToken, RefreshToken)
	c2, _ := f.tokens.Verify(second.RefreshToken, RefreshToken)
	if c1.Family == "" || c1.Family != c2.Family || c1.ID == c2.ID {
		t.Fatalf("families %q → %q, IDs %q → %q; want one family, a new ID", c1.Family, c2.Family, c1.ID, c2.ID)
	}

	replay := refreshOnce(t, srv, first.RefreshToken)
	if replay.status != 401 || replay.errorCode(t) != "invalid_grant" {
		t.Fatalf("replay: %d %s; want 401 invalid_grant", replay.status, replay.body)
	}
	if res := refreshOnce(t, srv, second.RefreshToken); res.status != 401 {
		t.Errorf("the successor after a reuse: %d; want 401 (family revoked)", res.status)
	}
	if res := refreshOnce(t, srv, other.RefreshToken); res.status != 200 {
		t.Errorf("another login's family after a reuse: %d; want 200", res.status)
	}
	logs := f.logs.String()
	if !strings.Contains(logs, `"event":"refresh_reuse"`) || !strings.Contains(logs, c1.Family) {
		t.Errorf("no refresh_reuse event naming the family in %s", logs)
	}
	for _, tok := range []string{first.RefreshToken, second.RefreshToken} {
		assertNoSecret(t, logs, tok)
	}
	// Every login starts a new family with new IDs (T77).
	c3, _ := f.tokens.Verify(other.RefreshToken, RefreshToken)
	if c3.Family == c1.Family || c3.ID == c1.ID {
		t.Error("two logins share a family or a token ID")
	}
}

// T60: 50 concurrent presentations of one refresh token: exactly one new
// pair, and the family is then revoked.
func TestRefreshConcurrentReuse(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := sessionServer(t, f)
	tok := loginAs(t, srv, "alice@example.com", alicePassword).RefreshToken
	var wg sync.WaitGroup
	var mu sync.Mutex
	var winners []string
	start := make(chan struct{})
	for range 50 {
		wg.Go(func() {
			<-start
			res := refreshOnce(t, srv, tok)
			switch res.status {
			case 200:
				mu.Lock()
				winners = append(winners, decodeTokens(t, res).RefreshToken)
				mu.Unlock()
			case 401:
			default:
				t.Errorf("status %d", res.status)
			}
		})
	}
	close(start)
	wg.Wait()
	if len(winners) != 1 {
		t.Fatalf("%d of 50 concurrent refreshes got a new pair; want exactly 1", len(winners))
	}
	if res := refreshOnce(t, srv, winners[0]); res.status != 401 {
		t.Errorf("the winner's token after the race: %d; want 401 (family revoked as reused)", res.status)
	}
}

// T61: the family's absolute limit holds however recently it was rotated;
// an unused refresh token dies after the refresh TTL (idle).
func TestRefreshLifetimes(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithSessionLifetime(10*24*time.Hour))
	srv := sessionServer(t, f)
	tok := loginAs(t, srv, "alice@example.com", alicePassword).RefreshToken
	for day := 1; day <= 9; day++ {
		f.now.Store(int64(day * 24 * 3600))
		res := refreshOnce(t, srv, tok)
		if res.status != 200 {
			t.Fatalf("day %d: refresh %d", day, res.status)
		}
		tok = decodeTokens(t, res).RefreshToken
	}
	c, _ := f.tokens.Verify(tok, RefreshToken)
	if want := testNow.Add(10 * 24 * time.Hour); !c.ExpiresAt.Equal(want) {
		t.Errorf("last refresh token expires %v; want the family's limit %v", c.ExpiresAt, want)
	}
	f.now.Store(10*24*3600 - 60)
	res := refreshOnce(t, srv, tok)
	if res.status != 200 {
		t.Fatalf("a minute before the limit: %d", res.status)
	}
	f.now.Store(10*24*3600 + 1)
	if res := refreshOnce(t, srv, decodeTokens(t, res).RefreshToken); res.status != 401 {
		t.Errorf("past the absolute limit, rotated a minute ago: %d; want 401", res.status)
	}

	g := newFixture(t)
	srv2 := sessionServer(t, g)
	idle := loginAs(t, srv2, "alice@example.com", alicePassword).RefreshToken
	g.now.Store(7*24*3600 + 31) // refresh TTL plus leeway, unused
	if res := refreshOnce(t, srv2, idle); res.status != 401 {
		t.Errorf("after 7 idle days: %d; want 401", res.status)
	}
}

// T62: state is keyed by jti, so a re-signed variant of a consumed token
// (ES256's (r, n-s)) is still a reuse.
func TestRefreshMalleatedReplay(t *testing.T) {
	t.Parallel()
	tokens, err := NewTokens(testKeys(t)["ES256"], WithClock(fixedClock))
	if err != nil {
		t.Fatal(err)
	}
	users := NewMemoryUsers()
	hashes, _ := fixtureHashes()
	users.Put("alice@example.com", Account{ID: "u1", PasswordHash: hashes[alicePassword], Active: true})
	a, err := New[Account](tokens, users, WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{a: a, tokens: tokens, users: users}
	srv := sessionServer(t, f)
	tok := loginAs(t, srv, "alice@example.com", alicePassword).RefreshToken
	next := decodeTokens(t, refreshOnce(t, srv, tok)).RefreshToken
	h, p, s := splitToken(tok)
	sig := mustDecode(t, s)
	sNeg := new(big.Int).Sub(elliptic.P256().Params().N, new(big.Int).SetBytes(sig[32:]))
	variant := h + "." + p + "." + b64.EncodeToString(append(sig[:32:32], sNeg.FillBytes(make([]byte, 32))...))
	if variant == tok {
		t.Fatal("the variant is the token")
	}
	if res := refreshOnce(t, srv, variant); res.status != 401 {
		t.Errorf("malleated consumed token: %d; want 401", res.status)
	}
	if res := refreshOnce(t, srv, next); res.status != 401 {
		t.Errorf("successor after the malleated replay: %d; want 401 (reuse revoked the family)", res.status)
	}
}

// T65: within the grace window the just-rotated token is refused without
// minting or revoking; after it, reuse revokes the family.
func TestRefreshReuseGrace(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithReuseGrace(10*time.Second))
	srv := sessionServer(t, f)
	old := loginAs(t, srv, "alice@example.com", alicePassword).RefreshToken
	next := decodeTokens(t, refreshOnce(t, srv, old)).RefreshToken
	f.now.Store(5)
	if res := refreshOnce(t, srv, old); res.status != 401 || strings.Contains(res.body, "access_token") {
		t.Fatalf("replay within the grace window: %d %s; want 401 and no tokens", res.status, res.body)
	}
	res := refreshOnce(t, srv, next)
	if res.status != 200 {
		t.Fatalf("successor after a replay within the window: %d; want 200 (family kept)", res.status)
	}
	newest := decodeTokens(t, res).RefreshToken
	f.now.Store(30)
	if res := refreshOnce(t, srv, next); res.status != 401 {
		t.Fatalf("replay outside the window: %d", res.status)
	}
	if res := refreshOnce(t, srv, newest); res.status != 401 {
		t.Errorf("family after a replay outside the window: %d; want 401 (revoked)", res.status)
	}
	if _, err := New[Account](f.tokens, f.users, WithReuseGrace(31*time.Second)); err == nil {
		t.Error("a grace window over 30 s was accepted")
	}
}

// T66, T67: logout revokes the family; "log out everywhere" kills every
// refresh and access token of the user.
func TestLogout(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := sessionServer(t, f)
	a := loginAs(t, srv, "alice@example.com", alicePassword)
	b := loginAs(t, srv, "alice@example.com", alicePassword)

	res := do(t, srv, "POST", "/auth/logout", jsonType, `{"refresh_token":"`+a.RefreshToken+`"}`)
	if res.status != 204 {
		t.Fatalf("logout: %d", res.status)
	}
	if res := refreshOnce(t, srv, a.RefreshToken); res.status != 401 {
		t.Errorf("refresh after logout: %d; want 401", res.status)
	}
	if res := do(t, srv, "GET", "/users/me", bearer(a.AccessToken), ""); res.status != 200 {
		t.Errorf("access token after logout, no denylist: %d; want 200 until it expires", res.status)
	}
	if res := do(t, srv, "POST", "/auth/logout", jsonType, `{"refresh_token":"junk"}`); res.status != 204 {
		t.Errorf("logout with a junk token: %d; want 204", res.status)
	}
	if res := do(t, srv, "POST", "/auth/logout", jsonType, `{}`); res.status != 400 {
		t.Errorf("logout without a token: %d; want 400", res.status)
	}

	b2 := decodeTokens(t, refreshOnce(t, srv, b.RefreshToken))
	if res := do(t, srv, "POST", "/auth/logout/all", bearer(b2.AccessToken), ""); res.status != 204 {
		t.Fatalf("logout everywhere: %d", res.status)
	}
	for name, tok := range map[string]string{"access": b2.AccessToken, "older access": b.AccessToken} {
		if res := do(t, srv, "GET", "/users/me", bearer(tok), ""); res.status != 401 {
			t.Errorf("%s token after logout everywhere: %d; want 401", name, res.status)
		}
	}
	if res := refreshOnce(t, srv, b2.RefreshToken); res.status != 401 {
		t.Errorf("refresh token after logout everywhere: %d; want 401", res.status)
	}
	c := loginAs(t, srv, "alice@example.com", alicePassword)
	if res := do(t, srv, "GET", "/users/me", bearer(c.AccessToken), ""); res.status != 200 {
		t.Errorf("a new login after logout everywhere: %d; want 200", res.status)
	}
	if res := do(t, srv, "POST", "/auth/logout/all", nil, ""); res.status != 401 {
		t.Errorf("logout everywhere without a token: %d; want 401", res.status)
	}
}

// A password change (the service bumps the version through LogoutEverywhere)
// kills old access tokens at once.
func TestPasswordChangeKillsTokens(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := sessionServer(t, f)
	old := loginAs(t, srv, "alice@example.com", alicePassword)
	if err := f.a.LogoutEverywhere(context.Background(), "u1"); err != nil {
		t.Fatal(err)
	}
	if res := do(t, srv, "GET", "/users/me", bearer(old.AccessToken), ""); res.status != 401 {
		t.Errorf("access token from before the change: %d; want 401", res.status)
	}
	if res := refreshOnce(t, srv, old.RefreshToken); res.status != 401 {
		t.Errorf("refresh token from before the change: %d; want 401", res.status)
	}
}

func TestDenylist(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithDenylist(NewMemoryDenylist()))
	srv := sessionServer(t, f)
	a := loginAs(t, srv, "alice@example.com", alicePassword)
	b := loginAs(t, srv, "alice@example.com", alicePassword)
	res := do(t, srv, "POST", "/auth/logout", http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + a.AccessToken}},
		`{"refresh_token":"`+a.RefreshToken+`"}`)
	if res.status != 204 {
		t.Fatalf("logout: %d", res.status)
	}
	if res := do(t, srv, "GET", "/users/me", bearer(a.AccessToken), ""); res.status != 401 {
		t.Errorf("denied access token: %d; want 401", res.status)
	}
	if res := do(t, srv, "GET", "/users/me", bearer(b.AccessToken), ""); res.status != 200 {
		t.Errorf("another session's access token: %d; want 200", res.status)
	}
}

// T74: after 5 failures for a name, existing or not, the 6th attempt gets
// 429 with Retry-After, without a hash; a success resets the count.
func TestLoginThrottlePerAccount(t *testing.T) {
	t.Parallel()
	p := newPasswords(t)
	var hashes atomic.Int32
	p.onHash = func() { hashes.Add(1) }
	f := newFixture(t, WithPasswords(p))
	srv := sessionServer(t, f)
	var answers []result
	for _, name := range []string{"alice@example.com", "nobody@example.com"} {
		for i := range 5 {
			res := do(t, srv, "POST", "/auth/login", formType, form("username", name, "password", "wrong"))
			if res.status != 401 {
				t.Fatalf("%s failure %d: %d", name, i+1, res.status)
			}
		}
		hashes.Store(0)
		res := do(t, srv, "POST", "/auth/login", formType, form("username", name, "password", alicePassword))
		if res.status != 429 || res.header.Get("Retry-After") != "1" || res.errorCode(t) != "too_many_requests" {
			t.Fatalf("%s 6th attempt: %d Retry-After %q %s; want 429, 1", name, res.status, res.header.Get("Retry-After"), res.body)
		}
		if hashes.Load() != 0 {
			t.Errorf("%s: a throttled attempt ran %d hashes", name, hashes.Load())
		}
		res.header.Del("Date")
		answers = append(answers, res)
	}
	if answers[0].body != answers[1].body || !headersEqual(answers[0].header, answers[1].header) {
		t.Errorf("throttling tells existing from unknown names: %v %q vs %v %q", answers[0].header, answers[0].body, answers[1].header, answers[1].body)
	}
	// Case and spaces do not make a new name.
	if res := do(t, srv, "POST", "/auth/login", formType, form("username", " ALICE@example.com ", "password", "x")); res.status != 429 {
		t.Errorf("a case variant of a throttled name: %d; want 429", res.status)
	}
	// After the backoff, the right password gets in and clears the count.
	f.now.Store(2)
	if res := do(t, srv, "POST", "/auth/login", formType, form("username", "alice@example.com", "password", alicePassword)); res.status != 200 {
		t.Fatalf("after the backoff: %d", res.status)
	}
	if res := do(t, srv, "POST", "/auth/login", formType, form("username", "alice@example.com", "password", "wrong")); res.status != 401 {
		t.Errorf("a failure after a success: %d; want 401 (count reset)", res.status)
	}
}

func TestThrottleBackoff(t *testing.T) {
	t.Parallel()
	th := DefaultAccountThrottle
	last := testNow
	tests := []struct {
		failures int
		after    time.Duration
		want     time.Duration
	}{
		{4, 0, 0},
		{5, 0, time.Second},
		{6, 0, 2 * time.Second},
		{7, 0, 4 * time.Second},
		{7, 3 * time.Second, time.Second},
		{7, 5 * time.Second, 0},
		{14, 0, 512 * time.Second},
		{15, 0, 15 * time.Minute},
		{1000, 0, 15 * time.Minute},
		{1000, 15 * time.Minute, 0},
	}
	for _, tt := range tests {
		if got := th.Wait(tt.failures, last, last.Add(tt.after)); got != tt.want {
			t.Errorf("wait(%d failures, %v later) = %v; want %v", tt.failures, tt.after, got, tt.want)
		}
	}
	for _, bad := range []Throttle{{}, {Threshold: 1, Base: time.Minute, Max: time.Second, Window: time.Hour},
		{Threshold: 1, Base: time.Second, Max: time.Hour, Window: time.Minute}} {
		if _, err := New[Account](newTokens(t, testKeys(t)["HS256"]), NewMemoryUsers(), WithThrottles(bad, DefaultIPThrottle)); err == nil {
			t.Errorf("throttle %+v accepted", bad)
		}
	}
}

// T75: one IP spraying many names is stopped by the per-IP limit; another
// IP is not.
func TestLoginThrottlePerIP(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithClientIP(func(r *http.Request) string { return r.Header.Get("X-Test-IP") }))
	srv := sessionServer(t, f)
	from := func(ip string) http.Header {
		return http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "X-Test-Ip": {ip}}
	}
	limited := 0
	for i := range 100 {
		res := do(t, srv, "POST", "/auth/login", from("203.0.113.9"), form("username", "user"+strconv.Itoa(i)+"@example.com", "password", "Winter2026!"))
		if res.status == 429 {
			limited++
			if i < 20 {
				t.Fatalf("attempt %d was throttled; the per-IP threshold is 20", i+1)
			}
		}
	}
	if limited != 80 {
		t.Errorf("%d of 100 sprayed attempts got 429; want 80", limited)
	}
	if res := do(t, srv, "POST", "/auth/login", from("198.51.100.7"), form("username", "alice@example.com", "password", alicePassword)); res.status != 200 {
		t.Errorf("another IP: %d; want 200", res.status)
	}
	if strings.Count(f.logs.String(), `"event":"login_throttled"`) != 80 {
		t.Error("throttled attempts were not logged")
	}
}

// Issue 10: after a restart with in-memory stores, every refresh token was
// logged as revoked; the family was simply gone.
func TestRefreshUnknownSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	pair := loginAs(t, sessionServer(t, f), "alice@example.com", alicePassword)
	restarted := newFixture(t) // same key, empty stores
	if res := refreshOnce(t, sessionServer(t, restarted), pair.RefreshToken); res.status != 401 || res.errorCode(t) != "invalid_grant" {
		t.Fatalf("refresh after a restart: %d %s; want 401 invalid_grant", res.status, res.body)
	}
	logs := restarted.logs.String()
	if !strings.Contains(logs, `"reason":"auth: invalid token: unknown session"`) || strings.Contains(logs, "revoked") {
		t.Errorf("want the refusal logged as an unknown session, not as revoked: %s", logs)
	}
}
