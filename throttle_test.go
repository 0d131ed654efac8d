package auth

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// burst sends n concurrent logins and returns their statuses.
func burst(t *testing.T, srv *httptest.Server, n int, header func(i int) http.Header, body func(i int) string) []int {
	t.Helper()
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { statuses[i] = do(t, srv, "POST", "/auth/login", header(i), body(i)).status })
	}
	wg.Wait()
	return statuses
}

func count(statuses []int, status int) int {
	n := 0
	for _, s := range statuses {
		if s == status {
			n++
		}
	}
	return n
}

// Issue 9.1: the throttle reserved nothing before hashing, so 40 parallel
// logins all reached the hash. Reserve counts each attempt first: at one
// instant (the fixture's clock stands still) exactly Threshold of them
// reach the hash, and the right password sent inside the burst gets 429.
func TestLoginBurstPerAccount(t *testing.T) {
	t.Parallel()
	p := newPasswords(t)
	var hashes atomic.Int32
	p.onHash = func() { hashes.Add(1) }
	f := newFixture(t, WithPasswords(p), WithHashWait(time.Minute))
	srv := sessionServer(t, f)
	statuses := burst(t, srv, 39, func(int) http.Header { return formType }, func(int) string {
		return form("username", "alice@example.com", "password", "wrong guess")
	})
	if n := hashes.Load(); n != int32(DefaultAccountThrottle.Threshold) {
		t.Errorf("39 parallel wrong logins ran %d hashes; want exactly the threshold, %d", n, DefaultAccountThrottle.Threshold)
	}
	if count(statuses, 401) != DefaultAccountThrottle.Threshold || count(statuses, 429) != 39-DefaultAccountThrottle.Threshold {
		t.Errorf("statuses %v; want %d × 401 and the rest 429", statuses, DefaultAccountThrottle.Threshold)
	}
	res := do(t, srv, "POST", "/auth/login", formType, form("username", "alice@example.com", "password", alicePassword))
	if res.status != 429 || res.header.Get("Retry-After") == "" {
		t.Errorf("the right password inside the burst: %d %q; want 429 with Retry-After", res.status, res.body)
	}
}

// The same for the per-IP limit: 40 parallel logins for 40 names from one
// address reach the hash at most IP-threshold times.
func TestLoginBurstPerIP(t *testing.T) {
	t.Parallel()
	p := newPasswords(t)
	var hashes atomic.Int32
	p.onHash = func() { hashes.Add(1) }
	f := newFixture(t, WithPasswords(p), WithHashWait(time.Minute)) // no 503s under -race
	srv := sessionServer(t, f)
	statuses := burst(t, srv, 40, func(int) http.Header { return formType }, func(i int) string {
		return form("username", "user"+strconv.Itoa(i)+"@example.com", "password", "Winter2026!")
	})
	if n := hashes.Load(); n != int32(DefaultIPThrottle.Threshold) {
		t.Errorf("40 parallel logins from one IP ran %d hashes; want exactly the IP threshold, %d", n, DefaultIPThrottle.Threshold)
	}
	if count(statuses, 429) != 40-DefaultIPThrottle.Threshold {
		t.Errorf("statuses %v", statuses)
	}
	res := do(t, srv, "POST", "/auth/login", formType, form("username", "alice@example.com", "password", alicePassword))
	if res.status != 429 {
		t.Errorf("the right password from the throttled IP: %d; want 429", res.status)
	}
	// A refused name's reservation was taken back: alice's own count is 0,
	// so from another address she logs in at once.
	f2 := httptest.NewRequest("POST", "/auth/login", strings.NewReader(form("username", "alice@example.com", "password", alicePassword)))
	f2.Header = formType.Clone()
	f2.RemoteAddr = "198.51.100.7:1234"
	rec := httptest.NewRecorder()
	f.a.LoginHandler().ServeHTTP(rec, f2)
	if rec.Code != 200 {
		t.Errorf("alice from another address: %d; want 200", rec.Code)
	}
}

// A successful login gives its IP attempt back, so an office behind one
// address is never throttled by its own successful logins.
func TestLoginSuccessReleasesIP(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithThrottles(DefaultAccountThrottle, Throttle{Threshold: 2, Base: time.Second, Max: time.Minute, Window: time.Hour}))
	srv := sessionServer(t, f)
	for i := range 5 {
		if res := do(t, srv, "POST", "/auth/login", formType, form("username", "alice@example.com", "password", alicePassword)); res.status != 200 {
			t.Fatalf("successful login %d from one IP: %d; want 200", i+1, res.status)
		}
	}
}

func loginFrom(t *testing.T, a *Authenticator[Account], remote, user, pw string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("POST", "/auth/login", strings.NewReader(form("username", user, "password", pw)))
	req.Header = formType.Clone()
	req.RemoteAddr = remote
	rec := httptest.NewRecorder()
	a.LoginHandler().ServeHTTP(rec, req)
	return rec
}

// Issue 9.4: per-IP keys were raw strings. Addresses of one IPv6 /64 are
// one client; an IPv4 address and its IPv4-mapped form are one client; so
// are the compressed and written-out forms of one IPv6 address.
func TestLoginIPKeysCanonical(t *testing.T) {
	t.Parallel()
	ipth := Throttle{Threshold: 3, Base: time.Second, Max: time.Minute, Window: time.Hour}
	cases := []struct {
		name  string
		addrs []string // the first three fail, the fourth must be throttled
	}{
		{"one IPv6 /64", []string{"[2001:db8:1:2::1]:1", "[2001:db8:1:2:ffff::2]:1", "[2001:db8:1:2:abcd:ef01:2345:6789]:1", "[2001:db8:1:2::99]:1"}},
		{"IPv4 and IPv4-mapped", []string{"203.0.113.5:1", "[::ffff:203.0.113.5]:1", "[::ffff:cb00:7105]:1", "203.0.113.5:2"}},
		{"compressed and written out", []string{"[2001:db8::7]:1", "[2001:0db8:0000:0000:0000:0000:0000:0007]:1", "[2001:DB8:0:0::7]:1", "[2001:db8::7%eth0]:1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, WithThrottles(DefaultAccountThrottle, ipth))
			for i, addr := range tc.addrs {
				rec := loginFrom(t, f.a, addr, "user"+strconv.Itoa(i)+"@example.com", "guess")
				want := 401
				if i == 3 {
					want = 429
				}
				if rec.Code != want {
					t.Fatalf("attempt %d from %s: %d; want %d", i+1, addr, rec.Code, want)
				}
			}
			if rec := loginFrom(t, f.a, "[2001:db8:1:3::1]:1", "alice@example.com", alicePassword); rec.Code != 200 {
				t.Errorf("another /64: %d; want 200", rec.Code)
			}
		})
	}
	t.Run("prefix is configurable", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, WithThrottles(DefaultAccountThrottle, ipth), WithIPv6Prefix(128))
		for i, addr := range []string{"[2001:db8::1]:1", "[2001:db8::2]:1", "[2001:db8::3]:1", "[2001:db8::4]:1"} {
			if rec := loginFrom(t, f.a, addr, "u"+strconv.Itoa(i), "guess"); rec.Code != 401 {
				t.Fatalf("/128: attempt %d from its own address: %d; want 401", i+1, rec.Code)
			}
		}
	})
	if _, err := New[Account](mustTokens(t), NewMemoryUsers(), WithIPv6Prefix(16)); err == nil {
		t.Error("WithIPv6Prefix(16) was accepted")
	}
}

func mustTokens(t testing.TB) *Tokens {
	t.Helper()
	tk, err := NewTokens(testKeys(t)["HS256"])
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// Trusted proxies: the header is read right to left and only as far as
// our own proxies wrote it, so a value the client put in it never counts.
func TestForwardedClientIP(t *testing.T) {
	t.Parallel()
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	xff := ForwardedFor(proxies...)
	fwd := Forwarded(proxies...)
	tests := []struct {
		name   string
		read   func(*http.Request) string
		remote string
		header http.Header
		want   string
	}{
		{"no proxy: header ignored", xff, "198.51.100.1:5", http.Header{"X-Forwarded-For": {"1.2.3.4"}}, "198.51.100.1"},
		{"one proxy", xff, "10.0.0.2:5", http.Header{"X-Forwarded-For": {"198.51.100.1"}}, "198.51.100.1"},
		{"spoofed leftmost", xff, "10.0.0.2:5", http.Header{"X-Forwarded-For": {"1.2.3.4, 198.51.100.1"}}, "198.51.100.1"},
		{"two proxies", xff, "10.0.0.2:5", http.Header{"X-Forwarded-For": {"6.6.6.6, 198.51.100.1, 10.1.1.1"}}, "198.51.100.1"},
		{"two header lines", xff, "10.0.0.2:5", http.Header{"X-Forwarded-For": {"6.6.6.6", "198.51.100.1, 10.1.1.1"}}, "198.51.100.1"},
		{"mapped and with port", xff, "10.0.0.2:5", http.Header{"X-Forwarded-For": {"[::ffff:198.51.100.1]:443"}}, "198.51.100.1"},
		{"garbage from the client stays left", xff, "10.0.0.2:5", http.Header{"X-Forwarded-For": {"garbage, 198.51.100.1"}}, "198.51.100.1"},
		{"garbage where the proxy wrote", xff, "10.0.0.2:5", http.Header{"X-Forwarded-For": {"198.51.100.1, garbage"}}, "10.0.0.2"},
		{"no header from a proxy", xff, "10.0.0.2:5", nil, "10.0.0.2"},
		{"IPv6 proxy", xff, "[2001:db8:ffff::1]:5", http.Header{"X-Forwarded-For": {"2001:db8:1::5"}}, "2001:db8:1::5"},
		{"Forwarded", fwd, "10.0.0.2:5", http.Header{"Forwarded": {`for=1.2.3.4, for="[2001:db8:1::5]:80";proto=https`}}, "2001:db8:1::5"},
		{"Forwarded ignores X-Forwarded-For", fwd, "10.0.0.2:5", http.Header{"X-Forwarded-For": {"1.2.3.4"}, "Forwarded": {"for=198.51.100.1"}}, "198.51.100.1"},
		{"Forwarded unknown", fwd, "10.0.0.2:5", http.Header{"Forwarded": {"for=unknown"}}, "10.0.0.2"},
		{"X-Forwarded-For ignores Forwarded", xff, "10.0.0.2:5", http.Header{"Forwarded": {"for=1.2.3.4"}, "X-Forwarded-For": {"198.51.100.1"}}, "198.51.100.1"},
	}
	for _, tt := range tests {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = tt.remote
		req.Header = tt.header
		if req.Header == nil {
			req.Header = http.Header{}
		}
		if got := tt.read(req); got != tt.want {
			t.Errorf("%s: client IP = %q; want %q", tt.name, got, tt.want)
		}
	}
	// Wired in: a client that rotates a spoofed X-Forwarded-For is still
	// one client to the throttle.
	f := newFixture(t, WithClientIP(xff), WithThrottles(DefaultAccountThrottle, Throttle{Threshold: 2, Base: time.Second, Max: time.Minute, Window: time.Hour}))
	for i := range 3 {
		req := httptest.NewRequest("POST", "/auth/login", strings.NewReader(form("username", "u"+strconv.Itoa(i), "password", "guess")))
		req.Header = formType.Clone()
		req.Header.Set("X-Forwarded-For", "6.6.6."+strconv.Itoa(i)+", 198.51.100.1")
		req.RemoteAddr = "10.0.0.2:5"
		rec := httptest.NewRecorder()
		f.a.LoginHandler().ServeHTTP(rec, req)
		if want := map[bool]int{true: 429, false: 401}[i == 2]; rec.Code != want {
			t.Errorf("spoofing attempt %d: %d; want %d", i+1, rec.Code, want)
		}
	}
}

// Issue 9.7: a password check outside login is throttled like login, and
// logged.
func TestCheckPassword(t *testing.T) {
	t.Parallel()
	p := newPasswords(t)
	var hashes atomic.Int32
	p.onHash = func() { hashes.Add(1) }
	f := newFixture(t, WithPasswords(p), WithHashWait(time.Minute))
	check := func(pw string) error {
		req := httptest.NewRequest("POST", "/auth/password", nil)
		_, err := f.a.CheckPassword(req, "u1", pw)
		return err
	}
	if err := check(alicePassword); err != nil {
		t.Fatalf("right password: %v", err)
	}
	var wg sync.WaitGroup
	var limited, wrong atomic.Int32
	for range 40 {
		wg.Go(func() {
			switch err := check("Gu3ss-xyz!"); {
			case errors.Is(err, ErrRateLimited):
				limited.Add(1)
			case errors.Is(err, ErrInvalidCredentials):
				wrong.Add(1)
			default:
				t.Errorf("wrong password: %v", err)
			}
		})
	}
	wg.Wait()
	th := DefaultAccountThrottle.Threshold
	if wrong.Load() != int32(th) || limited.Load() != int32(40-th) {
		t.Errorf("40 parallel guesses: %d checked, %d throttled; want %d checked", wrong.Load(), limited.Load(), th)
	}
	if n := hashes.Load(); n != int32(th)+1 {
		t.Errorf("%d hashes; want %d", n, th+1)
	}
	err := check(alicePassword)
	var rl *RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter <= 0 {
		t.Errorf("right password inside the burst: %v; want a *RateLimitError", err)
	}
	rec := httptest.NewRecorder()
	f.a.Error(rec, httptest.NewRequest("POST", "/", nil), err)
	if rec.Code != 429 || rec.Header().Get("Retry-After") == "" {
		t.Errorf("Error(429): %d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
	for _, e := range []struct {
		user string
		want error
	}{{"u3", ErrInvalidCredentials}, {"nobody", ErrInvalidCredentials}} {
		if _, err := f.a.CheckPassword(httptest.NewRequest("POST", "/", nil), e.user, alicePassword); !errors.Is(err, e.want) {
			t.Errorf("CheckPassword(%s): %v; want %v", e.user, err, e.want)
		}
	}
	logs := f.logs.String()
	for _, want := range []string{`"event":"password_check"`, `"event":"password_check_failed"`, `"event":"login_throttled"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("no %s event in %s", want, logs)
		}
	}
	for _, pw := range []string{alicePassword, "Gu3ss-xyz!"} {
		if strings.Contains(logs, pw) {
			t.Errorf("a password is in the log: %s", logs)
		}
	}
	if strings.Count(logs, `"event":"login_throttled","subject":"u1"`) != 41-th {
		t.Errorf("throttled password checks do not name the user: %s", logs)
	}
}

// Issue 9.11: a failed login logged the raw name, which may be a password
// typed into the wrong field; a store failure was logged as throttling.
func TestLoginEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := sessionServer(t, f)
	const typo = "Tr0ub4dor&3-typed-into-the-name-field"
	do(t, srv, "POST", "/auth/login", formType, form("username", typo, "password", "x"))
	do(t, srv, "POST", "/auth/login", formType, form("username", "alice@example.com", "password", "wrong"))
	do(t, srv, "POST", "/auth/login", formType, form("username", "alice@example.com", "password", alicePassword))
	logs := f.logs.String()
	assertNoSecret(t, logs, typo)
	assertNoSecret(t, logs, strings.ToLower(typo))
	if !strings.Contains(logs, `"login_hash":"`+f.a.loginHash(typo)+`"`) {
		t.Errorf("the failed login carries no login_hash: %s", logs)
	}
	if f.a.loginHash(typo) != f.a.loginHash(" "+strings.ToUpper(typo)) {
		t.Error("login_hash is not of the normalized name")
	}
	other := newFixture(t)
	if other.a.loginHash(typo) == f.a.loginHash(typo) {
		t.Error("login_hash is not keyed per Authenticator")
	}
	if !strings.Contains(logs, `"event":"login_failed","subject":"u1"`) {
		t.Errorf("a failed login of a known account does not name it: %s", logs)
	}
	if !strings.Contains(logs, `"event":"login","subject":"u1","login":"alice@example.com"`) {
		t.Errorf("no login event naming the account's login: %s", logs)
	}

	broken := newFixture(t, WithLimiter(failingLimiter{}))
	res := do(t, sessionServer(t, broken), "POST", "/auth/login", formType, form("username", "alice@example.com", "password", alicePassword))
	if res.status != 503 {
		t.Errorf("limiter down: %d; want 503", res.status)
	}
	if l := broken.logs.String(); !strings.Contains(l, `"event":"store_error"`) || strings.Contains(l, "login_throttled") {
		t.Errorf("a store failure must be a store_error event, never login_throttled: %s", l)
	}
}

type failingLimiter struct{}

func (failingLimiter) Reserve(context.Context, string, time.Time, Throttle) (time.Duration, error) {
	return 0, errDatabaseDown
}
func (failingLimiter) Release(context.Context, string) error { return errDatabaseDown }
func (failingLimiter) Reset(context.Context, string) error   { return errDatabaseDown }

// Issue 9.3: a logged-out access token worked again from exp to exp +
// leeway, because the denylist entry ended at exp.
func TestDenylistCoversLeeway(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithDenylist(NewMemoryDenylist()))
	srv := sessionServer(t, f)
	a := loginAs(t, srv, "alice@example.com", alicePassword)
	res := do(t, srv, "POST", "/auth/logout", http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer " + a.AccessToken}},
		`{"refresh_token":"`+a.RefreshToken+`"}`)
	if res.status != 204 {
		t.Fatalf("logout: %d", res.status)
	}
	ttl := int64(f.tokens.TTL(AccessToken) / time.Second)
	for _, at := range []int64{ttl - 1, ttl + 1, ttl + int64(DefaultLeeway/time.Second) - 1} {
		f.now.Store(at)
		if res := do(t, srv, "GET", "/users/me", bearer(a.AccessToken), ""); res.status != 401 {
			t.Errorf("logged-out token %ds after issue (TTL %ds, leeway %v): %d; want 401", at, ttl, DefaultLeeway, res.status)
		}
	}
}

// Issue 9.9: the error handler sees every error, API keys included, after
// the protocol headers are set.
func TestErrorHandlerGetsHeaders(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[int]http.Header{}
	handler := func(w http.ResponseWriter, r *http.Request, err error) {
		mu.Lock()
		seen[ErrorStatus(err)] = w.Header().Clone()
		mu.Unlock()
		w.WriteHeader(ErrorStatus(err))
		w.Write([]byte("custom\n"))
	}
	f := newFixture(t, WithErrorHandler(handler), WithRealm("tasks"),
		WithThrottles(Throttle{Threshold: 1, Base: time.Second, Max: time.Minute, Window: time.Hour}, DefaultIPThrottle))
	keys := NewMemoryAPIKeys()
	mux := http.NewServeMux()
	mux.Handle("POST /auth/login", f.a.LoginHandler())
	mux.Handle("GET /users/me", f.a.Middleware(http.HandlerFunc(whoami)))
	mux.Handle("GET /data", f.a.RequireAPIKey(keys)(http.HandlerFunc(whoami)))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	do(t, srv, "POST", "/auth/login", formType, form("username", "alice@example.com", "password", "wrong"))
	res := do(t, srv, "POST", "/auth/login", formType, form("username", "alice@example.com", "password", "wrong"))
	if res.status != 429 || res.body != "custom\n" || res.header.Get("Retry-After") == "" || res.header.Get("Cache-Control") != "no-store" {
		t.Errorf("custom 429: %d %q %v; want the handler's body with Retry-After and no-store set", res.status, res.body, res.header)
	}
	res = do(t, srv, "GET", "/users/me", nil, "")
	if res.status != 401 || res.body != "custom\n" || res.header.Get("WWW-Authenticate") != `Bearer realm="tasks"` {
		t.Errorf("custom 401: %d %q %q", res.status, res.body, res.header.Get("WWW-Authenticate"))
	}
	res = do(t, srv, "GET", "/data", http.Header{"X-Api-Key": {"sk_nope_nope"}}, "")
	if res.status != 401 || res.body != "custom\n" || res.header.Get("WWW-Authenticate") != `APIKey realm="tasks"` {
		t.Errorf("API key through the custom handler: %d %q %q; want the handler and the shared realm", res.status, res.body, res.header.Get("WWW-Authenticate"))
	}
}

// Issue 9.10: failed API keys are throttled per IP; a valid key never is;
// a missing key is a Debug event.
func TestAPIKeyThrottle(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	f := newFixture(t, WithLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))),
		WithThrottles(DefaultAccountThrottle, Throttle{Threshold: 3, Base: time.Minute, Max: time.Hour, Window: time.Hour}))
	keys := NewMemoryAPIKeys()
	key, rec, _ := GenerateAPIKey("sk")
	keys.Add(rec)
	h := f.a.RequireAPIKey(keys)(http.HandlerFunc(whoami))
	get := func(k string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/data", nil)
		if k != "" {
			req.Header.Set("X-API-Key", k)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	for i := range 3 {
		if w := get("sk_bad_" + strconv.Itoa(i)); w.Code != 401 {
			t.Fatalf("bad key %d: %d; want 401", i+1, w.Code)
		}
	}
	w := get("sk_bad_4")
	if w.Code != 429 || w.Header().Get("Retry-After") != "60" {
		t.Errorf("4th bad key from one IP: %d, Retry-After %q; want 429, 60", w.Code, w.Header().Get("Retry-After"))
	}
	if w := get(key); w.Code != 200 {
		t.Errorf("a valid key from the throttled IP: %d; want 200", w.Code)
	}
	for range 5 {
		get("")
	}
	if strings.Count(buf.String(), "api_key_rejected") != 4 {
		t.Errorf("want 4 logged rejections (3 bad keys and the throttled one), none for the missing keys: %s", buf.String())
	}
	assertNoSecret(t, buf.String(), key)
}

// ReserveIP: a scope of the service's own, per canonical client IP, apart
// from logins.
func TestReserveIP(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var events []Event
	f := newFixture(t, WithEventHook(func(_ context.Context, e Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}))
	th := Throttle{Threshold: 3, Base: time.Minute, Max: time.Hour, Window: time.Hour}
	from := func(addr string) *http.Request {
		req := httptest.NewRequest("POST", "/auth/register", nil)
		req.RemoteAddr = addr
		return req
	}
	var wg sync.WaitGroup
	var passed atomic.Int32
	for range 20 {
		wg.Go(func() {
			if f.a.ReserveIP(from("203.0.113.5:1"), "register", th) == nil {
				passed.Add(1)
			}
		})
	}
	wg.Wait()
	if passed.Load() != 3 {
		t.Errorf("20 parallel reservations: %d passed; want the threshold, 3", passed.Load())
	}
	err := f.a.ReserveIP(from("[::ffff:203.0.113.5]:2"), "register", th)
	var rl *RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter != time.Minute {
		t.Errorf("the same IP, IPv4-mapped: %v; want a 1-minute *RateLimitError", err)
	}
	mu.Lock()
	if n := len(events); n != 18 || events[n-1].Kind != EventRateLimited || events[n-1].Scope != "register" || !strings.HasSuffix(events[n-1].IP, "203.0.113.5") {
		t.Errorf("%d events, the last %+v; want 18 (17 refused in the burst, 1 after), each rate_limited with scope register and the IP", n, events[len(events)-1])
	}
	mu.Unlock()
	if err := f.a.ReserveIP(from("203.0.113.5:1"), "reset", th); err != nil {
		t.Errorf("another scope: %v", err)
	}
	if rec := loginFrom(t, f.a, "203.0.113.5:1", "alice@example.com", alicePassword); rec.Code != 200 {
		t.Errorf("login from an IP throttled for registration: %d", rec.Code)
	}
	// A service's scope never shares a count with the library's own keys.
	for range 5 {
		f.a.ReserveIP(from("198.51.100.9:1"), "apikey", th)
	}
	keyReq := from("198.51.100.9:1")
	keyReq.Header.Set("X-API-Key", "sk_nope_nope")
	w := httptest.NewRecorder()
	f.a.RequireAPIKey(NewMemoryAPIKeys())(http.HandlerFunc(whoami)).ServeHTTP(w, keyReq)
	if w.Code != 401 {
		t.Errorf("a wrong API key from an IP whose service scope \"apikey\" is exhausted: %d; want 401", w.Code)
	}
	if err := f.a.ReserveIP(from("203.0.113.5:1"), "register", Throttle{}); err == nil {
		t.Error("a zero Throttle was accepted")
	}
}

// IPv4 clients seen through NAT64 (or as IPv4-compatible IPv6) are keyed
// by their IPv4 address, not all together as one /64.
func TestIPKeyEmbeddedIPv4(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ a, b string }{
		{"64:ff9b::1.2.3.4", "1.2.3.4"},
		{"64:ff9b::102:304", "1.2.3.4"},
		{"::1.2.3.4", "1.2.3.4"},
		{"::ffff:1.2.3.4", "1.2.3.4"},
	} {
		if ka, kb := ipKey(tc.a, 64), ipKey(tc.b, 64); ka != kb {
			t.Errorf("ipKey(%s) = %s; want %s's, %s", tc.a, ka, tc.b, kb)
		}
	}
	if ipKey("64:ff9b::1.2.3.4", 64) == ipKey("64:ff9b::5.6.7.8", 64) {
		t.Error("two IPv4 clients behind NAT64 share a key")
	}
	if ipKey("::1", 64) == ipKey("::1.2.3.4", 64) {
		t.Error("::1 and an IPv4-compatible address share a key")
	}
}

// A forwarding header is read from the right, at most maxForwardedHops
// entries: a megabyte of them costs what a short one does.
func TestForwardedForLongHeader(t *testing.T) { // not parallel: AllocsPerRun
	xff := ForwardedFor(netip.MustParsePrefix("10.0.0.0/8"))
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "10.0.0.2:5"
	req.Header.Set("X-Forwarded-For", strings.Repeat(",", 1<<20)+"198.51.100.7")
	if got := xff(req); got != "198.51.100.7" {
		t.Errorf("client = %q", got)
	}
	allocs := testing.AllocsPerRun(10, func() { xff(req) })
	if allocs > 10 {
		t.Errorf("%v allocations per read of a 1 MiB header; want a handful", allocs)
	}
	req.Header.Set("X-Forwarded-For", strings.Repeat("10.1.1.1, ", 100)+"198.51.100.7")
	if got := xff(req); got != "198.51.100.7" && got != "10.1.1.1" {
		t.Errorf("client behind 100 trusted hops = %q", got)
	}
}

// A throttle's wait only grows with the count, up to Max, whatever the
// durations: doubling Base past half the largest Duration wrapped around to
// a negative or zero wait, which let every further attempt through (a
// throttle of a few centuries' Max, allowed since Max ≤ Window is the only
// bound). And Retry-After is the wait rounded up to whole seconds, never
// below 1, for the largest wait too (it overflowed to 1).
func TestThrottleHugeWaits(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	for _, th := range []Throttle{
		{Threshold: 1, Base: 100 * 365 * 24 * time.Hour, Max: math.MaxInt64, Window: math.MaxInt64},
		{Threshold: 1, Base: time.Second, Max: math.MaxInt64, Window: math.MaxInt64},
		{Threshold: 3, Base: time.Nanosecond, Max: math.MaxInt64 - 1, Window: math.MaxInt64},
	} {
		if err := th.check(); err != nil {
			t.Fatal(err)
		}
		prev := time.Duration(0)
		for n := th.Threshold; n < 200; n++ {
			w := th.Wait(n, now, now)
			if w < th.Base || w > th.Max || w < prev {
				t.Fatalf("%+v: Wait after %d attempts = %v, after %d = %v; want non-decreasing within [Base, Max]", th, n, w, n-1, prev)
			}
			prev = w
		}
		if prev != th.Max {
			t.Errorf("%+v: the wait never reached Max: %v", th, prev)
		}
		// The clock went back an hour since the last attempt: still a wait.
		if w := th.Wait(200, now.Add(time.Hour), now); w < th.Max-time.Hour {
			t.Errorf("%+v: Wait with the last attempt an hour ahead = %v", th, w)
		}
	}
	for _, c := range []struct {
		wait time.Duration
		want int
	}{
		{time.Nanosecond, 1}, {time.Second, 1}, {time.Second + 1, 2}, {90 * time.Second, 90},
		{math.MaxInt64, int(math.MaxInt64/time.Second) + 1}, {math.MaxInt64 - math.MaxInt64%time.Second, int(math.MaxInt64 / time.Second)},
	} {
		if got := (&RateLimitError{RetryAfter: c.wait}).retryAfter(); got != c.want {
			t.Errorf("Retry-After for %v = %d; want %d", c.wait, got, c.want)
		}
	}
}
