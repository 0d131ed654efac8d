package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var (
	formType = http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	jsonType = http.Header{"Content-Type": {"application/json"}}
)

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

func decodeTokens(t *testing.T, res result) tokenResponse {
	t.Helper()
	var tr tokenResponse
	if err := json.Unmarshal([]byte(res.body), &tr); err != nil {
		t.Fatalf("body %q: %v", res.body, err)
	}
	return tr
}

func authServer(t *testing.T, f *fixture) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/auth/login", f.a.LoginHandler())
	mux.Handle("/auth/refresh", f.a.RefreshHandler())
	mux.Handle("GET /users/me", f.a.Middleware(http.HandlerFunc(whoami)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestLogin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := authServer(t, f)
	for name, req := range map[string]struct {
		header http.Header
		body   string
	}{
		"OAuth2 form":                {formType, form("username", "alice@example.com", "password", alicePassword)},
		"form with grant_type":       {formType, form("grant_type", "password", "username", "alice@example.com", "password", alicePassword)},
		"form with charset":          {http.Header{"Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"}}, form("username", "alice@example.com", "password", alicePassword)},
		"JSON username":              {jsonType, `{"username":"alice@example.com","password":"` + alicePassword + `"}`},
		"JSON email":                 {jsonType, `{"email":"alice@example.com","password":"` + alicePassword + `"}`},
		"form, extra fields ignored": {formType, form("username", "alice@example.com", "password", alicePassword, "scope", "")},
	} {
		t.Run(name, func(t *testing.T) {
			res := do(t, srv, "POST", "/auth/login", req.header, req.body)
			if res.status != 200 {
				t.Fatalf("status %d: %s", res.status, res.body)
			}
			if res.header.Get("Cache-Control") != "no-store" || res.header.Get("Pragma") != "no-cache" ||
				res.header.Get("Content-Type") != "application/json" {
				t.Errorf("headers = %v; want no-store, no-cache, JSON", res.header)
			}
			tr := decodeTokens(t, res)
			if tr.TokenType != "bearer" || tr.ExpiresIn != 900 {
				t.Errorf("token_type, expires_in = %q, %d; want bearer, 900", tr.TokenType, tr.ExpiresIn)
			}
			c, err := f.tokens.Verify(tr.AccessToken, AccessToken)
			if err != nil || c.Subject != "u1" || c.Email != "alice@example.com" || !slices.Equal(c.Roles, []string{"user"}) {
				t.Errorf("access token: %+v, %v", c, err)
			}
			if _, err := f.tokens.Verify(tr.RefreshToken, RefreshToken); err != nil {
				t.Errorf("refresh token: %v", err)
			}
			var raw map[string]any
			json.Unmarshal([]byte(res.body), &raw)
			if len(raw) != 4 {
				t.Errorf("body has %d members; want access_token, refresh_token, token_type, expires_in", len(raw))
			}
		})
	}
}

// Unknown user, wrong password and disabled account are answered alike, to
// the byte.
func TestLoginFailuresAreIdentical(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := authServer(t, f)
	cases := map[string]string{
		"unknown user":            form("username", "mallory@example.com", "password", alicePassword),
		"wrong password":          form("username", "alice@example.com", "password", "not alice's password"),
		"disabled account":        form("username", "ghost@example.com", "password", alicePassword),
		"password past 1 KiB":     form("username", "alice@example.com", "password", strings.Repeat("p", 1025)),
		"password with a NUL":     form("username", "alice@example.com", "password", alicePassword+"\x00"),
		"case-changed login name": form("username", "Alice@example.com", "password", alicePassword),
	}
	var first *result
	for name, body := range cases {
		res := do(t, srv, "POST", "/auth/login", formType, body)
		res.header.Del("Date")
		if res.status != 401 {
			t.Errorf("%s: status %d; want 401", name, res.status)
			continue
		}
		if code := res.errorCode(t); code != "invalid_grant" || !strings.Contains(res.body, "Incorrect username or password") {
			t.Errorf("%s: body %q", name, res.body)
		}
		if first == nil {
			first = &res
			continue
		}
		if res.body != first.body || !headersEqual(res.header, first.header) {
			t.Errorf("%s: answer differs:\n%v %q\n%v %q", name, res.header, res.body, first.header, first.body)
		}
	}
	logs := f.logs.String()
	for _, pw := range []string{alicePassword, "not alice's password"} {
		if strings.Contains(logs, pw) {
			t.Errorf("logs contain a password")
		}
	}
	if strings.Count(logs, `"event":"login_failed"`) != len(cases) {
		t.Errorf("want %d login_failed events in %s", len(cases), logs)
	}
}

func headersEqual(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !slices.Equal(a[k], b[k]) {
			return false
		}
	}
	return true
}

// An unknown user costs exactly one password hash, like a known one.
func TestLoginUnknownUserRunsOneHash(t *testing.T) {
	t.Parallel()
	p := newPasswords(t)
	var hashes atomic.Int32
	p.onHash = func() { hashes.Add(1) }
	f := newFixture(t, WithPasswords(p))
	srv := authServer(t, f)
	for _, login := range []string{"mallory@example.com", "alice@example.com", "ghost@example.com"} {
		hashes.Store(0)
		do(t, srv, "POST", "/auth/login", formType, form("username", login, "password", "wrong password"))
		if got := hashes.Load(); got != 1 {
			t.Errorf("login as %s: %d hashes; want 1", login, got)
		}
	}
}

func TestLoginRejectsBadRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithMaxBodyBytes(16<<10))
	srv := authServer(t, f)
	good := form("username", "alice@example.com", "password", alicePassword)
	tests := []struct {
		name   string
		method string
		path   string
		header http.Header
		body   string
		status int
		code   string
	}{
		{"GET", "GET", "/auth/login", nil, "", 405, "invalid_request"},
		{"PUT", "PUT", "/auth/login", formType, good, 405, "invalid_request"},
		{"text/plain", "POST", "/auth/login", http.Header{"Content-Type": {"text/plain"}}, good, 415, "invalid_request"},
		{"no content type", "POST", "/auth/login", nil, good, 415, "invalid_request"},
		{"multipart", "POST", "/auth/login", http.Header{"Content-Type": {"multipart/form-data; boundary=x"}}, good, 415, "invalid_request"},
		{"credentials in the query only", "POST", "/auth/login?" + good, formType, "", 400, "invalid_request"},
		{"password missing", "POST", "/auth/login", formType, form("username", "alice@example.com"), 400, "invalid_request"},
		{"username repeated", "POST", "/auth/login", formType, good + "&username=root%40example.com", 400, "invalid_request"},
		{"grant_type client_credentials", "POST", "/auth/login", formType, good + "&grant_type=client_credentials", 400, "unsupported_grant_type"},
		{"malformed form", "POST", "/auth/login", formType, "username=%zz&password=x", 400, "invalid_request"},
		{"malformed JSON", "POST", "/auth/login", jsonType, `{"username":`, 400, "invalid_request"},
		{"JSON array", "POST", "/auth/login", jsonType, `["alice","pw"]`, 400, "invalid_request"},
		{"JSON password a number", "POST", "/auth/login", jsonType, `{"username":"alice@example.com","password":1}`, 400, "invalid_request"},
		{"JSON with trailing data", "POST", "/auth/login", jsonType, `{"username":"a","password":"b"} {}`, 400, "invalid_request"},
		{"17 KiB body", "POST", "/auth/login", formType, good + "&pad=" + strings.Repeat("x", 17<<10), 413, "invalid_request"},
		{"10 MiB body", "POST", "/auth/login", jsonType, `{"password":"` + strings.Repeat("x", 10<<20) + `"}`, 413, "invalid_request"},
		{"API key as login", "POST", "/auth/login", http.Header{"Content-Type": {"application/json"}, "X-Api-Key": {"sk_1_2"}}, `{}`, 400, "invalid_request"},
		{"refresh GET", "GET", "/auth/refresh", nil, "", 405, "invalid_request"},
		{"refresh token in the query", "POST", "/auth/refresh?refresh_token=" + f.refresh(t, "u1"), formType, "", 400, "invalid_request"},
		{"refresh grant_type password", "POST", "/auth/refresh", formType, form("grant_type", "password", "refresh_token", f.refresh(t, "u1")), 400, "unsupported_grant_type"},
		{"refresh text/plain", "POST", "/auth/refresh", http.Header{"Content-Type": {"text/plain"}}, f.refresh(t, "u1"), 415, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := do(t, srv, tt.method, tt.path, tt.header, tt.body)
			if res.status != tt.status {
				t.Fatalf("status = %d; want %d (%s)", res.status, tt.status, res.body)
			}
			if code := res.errorCode(t); code != tt.code {
				t.Errorf("error = %q; want %q", code, tt.code)
			}
			if tt.status == 405 && res.header.Get("Allow") != "POST" {
				t.Errorf("Allow = %q; want POST", res.header.Get("Allow"))
			}
			assertNoSecret(t, res.body, alicePassword)
		})
	}
}

func TestLoginBusy(t *testing.T) {
	t.Parallel()
	p := newPasswords(t, WithMaxConcurrentHashes(1))
	f := newFixture(t, WithPasswords(p), WithHashWait(time.Millisecond))
	srv := authServer(t, f)
	if err := p.acquire(context.Background()); err != nil { // every slot busy
		t.Fatal(err)
	}
	res := do(t, srv, "POST", "/auth/login", formType, form("username", "alice@example.com", "password", alicePassword))
	p.release()
	if res.status != 503 || res.header.Get("Retry-After") == "" {
		t.Errorf("status %d, Retry-After %q; want 503 with Retry-After", res.status, res.header.Get("Retry-After"))
	}
	res = do(t, srv, "POST", "/auth/login", formType, form("username", "alice@example.com", "password", alicePassword))
	if res.status != 200 {
		t.Errorf("after the slot was freed: %d", res.status)
	}
}

// A login against a hash below the policy stores a fresh one.
func TestLoginRehashes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := authServer(t, f)
	const php = "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a" // "rasmuslerdorf"
	f.users.Put("rasmus@example.com", Account{ID: "u9", PasswordHash: php, Active: true})
	res := do(t, srv, "POST", "/auth/login", jsonType, `{"username":"rasmus@example.com","password":"rasmuslerdorf"}`)
	if res.status != 200 {
		t.Fatalf("status %d", res.status)
	}
	a, _, _ := f.users.User(context.Background(), "u9")
	if !strings.HasPrefix(a.PasswordHash, "$argon2id$") {
		t.Fatalf("stored hash %q; want it re-hashed with argon2id", a.PasswordHash)
	}
	res = do(t, srv, "POST", "/auth/login", jsonType, `{"username":"rasmus@example.com","password":"rasmuslerdorf"}`)
	if res.status != 200 {
		t.Errorf("login with the new hash: %d", res.status)
	}
	failed := do(t, srv, "POST", "/auth/login", jsonType, `{"username":"rasmus@example.com","password":"wrong"}`)
	b, _, _ := f.users.User(context.Background(), "u9")
	if failed.status != 401 || b.PasswordHash != a.PasswordHash {
		t.Error("a failed login changed the stored hash")
	}
}

func TestLoginStoreDown(t *testing.T) {
	t.Parallel()
	a, err := New[Account](newTokens(t, testKeys(t)["HS256"]), errorStore{}, WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/", strings.NewReader(form("username", "a", "password", "b")))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	a.LoginHandler().ServeHTTP(rec, req)
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || strings.Contains(rec.Body.String(), "5432") {
		t.Errorf("%d %q; want a generic 503 with Retry-After", rec.Code, rec.Body.String())
	}
}

func TestRefresh(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := authServer(t, f)
	refreshWith := func(tok string) result {
		return do(t, srv, "POST", "/auth/refresh", jsonType, `{"refresh_token":"`+tok+`"}`)
	}
	rt := f.refresh(t, "u2")
	res := refreshWith(rt)
	if res.status != 200 || res.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("refresh: %d %v", res.status, res.header)
	}
	pair := decodeTokens(t, res)
	if pair.RefreshToken == rt || pair.AccessToken == "" {
		t.Error("refresh did not rotate the refresh token")
	}
	if _, err := f.tokens.Verify(pair.AccessToken, AccessToken); err != nil {
		t.Errorf("new access token: %v", err)
	}
	if res := do(t, srv, "POST", "/auth/refresh", formType, form("grant_type", "refresh_token", "refresh_token", pair.RefreshToken)); res.status != 200 {
		t.Errorf("form refresh: %d", res.status)
	}

	// Roles never widen: a role granted after login is not added on refresh,
	// and a role removed is dropped.
	rootRT := f.refresh(t, "u2") // carries admin and user
	f.users.Update("u2", func(a *Account) { a.Roles = []string{"user", "auditor"} })
	pair = decodeTokens(t, refreshWith(f.refresh(t, "u1")))
	f.users.Update("u1", func(a *Account) { a.Roles = []string{"user", "admin"} })
	c, _ := f.tokens.Verify(decodeTokens(t, refreshWith(pair.RefreshToken)).AccessToken, AccessToken)
	if !slices.Equal(c.Roles, []string{"user"}) {
		t.Errorf("roles after a widening refresh = %v; want [user]", c.Roles)
	}
	c2, _ := f.tokens.Verify(decodeTokens(t, refreshWith(rootRT)).AccessToken, AccessToken)
	if !slices.Equal(c2.Roles, []string{"user"}) {
		t.Errorf("roles after the store dropped admin = %v; want [user]", c2.Roles)
	}

	expiredRT := func() string {
		f.now.Store(-8 * 24 * 3600)
		defer f.now.Store(0)
		return f.refresh(t, "u1")
	}()
	stale := f.refresh(t, "u1")
	f.users.Put("dave@example.com", Account{ID: "u5", Active: true})
	disabled := f.refresh(t, "u5")
	f.users.Update("u5", func(a *Account) { a.Active = false })
	f.users.Update("u1", func(a *Account) { a.TokenVersion++ })
	unknown := func() string {
		c := testClaims
		c.Subject = "nobody"
		c.Version = 0
		tk, _, _ := f.tokens.Issue(RefreshToken, c)
		return tk
	}()
	var first string
	for name, tok := range map[string]string{
		"access token":         f.access(t, "u2"),
		"expired":              expiredRT,
		"stale token version":  stale,
		"disabled user":        disabled,
		"unknown user":         unknown,
		"forged":               rt[:len(rt)-4] + "AAAA",
		"not a token":          "x",
		"ID-token-like (JWT)":  forge(t, testKeys(t)["HS256"], RefreshToken, `{"alg":"HS256","typ":"JWT","kid":"hs"}`, goodClaims),
		"typ refresh, type at": forge(t, testKeys(t)["HS256"], RefreshToken, `{"alg":"HS256","typ":"refresh+jwt","kid":"hs"}`, goodClaims),
	} {
		res := refreshWith(tok)
		if res.status != 401 || res.errorCode(t) != "invalid_grant" {
			t.Errorf("%s: %d %q; want 401 invalid_grant", name, res.status, res.body)
			continue
		}
		if first == "" {
			first = res.body
		} else if res.body != first {
			t.Errorf("%s: body %q differs from %q", name, res.body, first)
		}
		assertNoSecret(t, res.body, tok)
	}
}

// The seed scenario end to end: login, /users/me, refresh, /users/me again,
// an admin-only route as a user and as an admin, an API-key route with and
// without a key.
func TestSeedScenario(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	keys := NewMemoryAPIKeys()
	apiKey, rec, _ := GenerateAPIKey("sk")
	keys.Add(rec)
	mux := http.NewServeMux()
	mux.Handle("POST /auth/login", f.a.LoginHandler())
	mux.Handle("POST /auth/refresh", f.a.RefreshHandler())
	mux.Handle("GET /users/me", f.a.Middleware(http.HandlerFunc(whoami)))
	mux.Handle("/admin/", f.a.Middleware(RequireRole("admin")(http.HandlerFunc(whoami))))
	mux.Handle("GET /external-data", f.a.RequireAPIKey(keys)(http.HandlerFunc(whoami)))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	login := func(user, pw string) tokenResponse {
		res := do(t, srv, "POST", "/auth/login", formType, form("username", user, "password", pw))
		if res.status != 200 {
			t.Fatalf("login %s: %d", user, res.status)
		}
		return decodeTokens(t, res)
	}
	alice := login("alice@example.com", alicePassword)
	if res := do(t, srv, "GET", "/users/me", bearer(alice.AccessToken), ""); res.status != 200 || !strings.HasPrefix(res.body, "subject=u1") {
		t.Fatalf("/users/me: %d %q", res.status, res.body)
	}
	res := do(t, srv, "POST", "/auth/refresh", jsonType, `{"refresh_token":"`+alice.RefreshToken+`"}`)
	if res.status != 200 {
		t.Fatalf("refresh: %d", res.status)
	}
	alice = decodeTokens(t, res)
	if res := do(t, srv, "GET", "/users/me", bearer(alice.AccessToken), ""); res.status != 200 {
		t.Fatalf("/users/me after refresh: %d", res.status)
	}
	if res := do(t, srv, "GET", "/users/me", bearer(alice.RefreshToken), ""); res.status != 401 {
		t.Errorf("refresh token as access token: %d; want 401", res.status)
	}
	if res := do(t, srv, "GET", "/admin/users", bearer(alice.AccessToken), ""); res.status != 403 {
		t.Errorf("admin route as a user: %d; want 403", res.status)
	}
	root := login("root@example.com", rootPassword)
	if res := do(t, srv, "GET", "/admin/users", bearer(root.AccessToken), ""); res.status != 200 {
		t.Errorf("admin route as an admin: %d; want 200", res.status)
	}
	if res := do(t, srv, "GET", "/external-data", http.Header{"X-Api-Key": {apiKey}}, ""); res.status != 200 {
		t.Errorf("API-key route with the key: %d; want 200", res.status)
	}
	if res := do(t, srv, "GET", "/external-data", nil, ""); res.status != 401 {
		t.Errorf("API-key route without a key: %d; want 401", res.status)
	}
	if res := do(t, srv, "GET", "/external-data", bearer(root.AccessToken), ""); res.status != 401 {
		t.Errorf("API-key route with a user token: %d; want 401", res.status)
	}
}
