package auth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// cookieServer mounts the session endpoints of an Authenticator with the
// cookie transport, and a protected POST route.
func cookieServer(t *testing.T, f *fixture) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/auth/login", f.a.LoginHandler())
	mux.Handle("/auth/refresh", f.a.RefreshHandler())
	mux.Handle("/auth/logout", f.a.LogoutHandler())
	mux.Handle("/users/me", f.a.Middleware(http.HandlerFunc(whoami)))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// setCookies returns the response's cookies by name.
func setCookies(t *testing.T, res result) map[string]*http.Cookie {
	t.Helper()
	out := map[string]*http.Cookie{}
	for _, line := range res.header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("Set-Cookie %q: %v", line, err)
		}
		out[c.Name] = c
	}
	return out
}

func withCookie(h http.Header, name, value string) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	out.Add("Cookie", name+"="+value)
	return out
}

func cookieFixture(t *testing.T, c CookieConfig) *fixture {
	t.Helper()
	if c.RefreshPath == "" {
		c.RefreshPath = "/auth"
	}
	return newFixture(t, WithCookies(c))
}

// The login sets the refresh token (and the access token, if configured)
// as HttpOnly, Secure, SameSite cookies with the __Host-/__Secure-
// prefixes and the refresh cookie's Path limited to the auth endpoints,
// and leaves them out of the body.
func TestCookieAttributes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		config   CookieConfig
		sameSite http.SameSite
	}{
		{"default Lax", CookieConfig{AccessToken: true}, http.SameSiteLaxMode},
		{"Strict", CookieConfig{AccessToken: true, SameSite: http.SameSiteStrictMode}, http.SameSiteStrictMode},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := cookieFixture(t, tt.config)
			srv := cookieServer(t, f)
			res := do(t, srv, "POST", "/auth/login", formType, form("username", "alice@example.com", "password", alicePassword))
			if res.status != 200 {
				t.Fatalf("login: %d %s", res.status, res.body)
			}
			if strings.Contains(res.body, "access_token") || strings.Contains(res.body, "refresh_token") {
				t.Errorf("body %s holds a token set as a cookie", res.body)
			}
			cs := setCookies(t, res)
			rc, ac := cs["__Secure-refresh_token"], cs["__Host-access_token"]
			if rc == nil || ac == nil {
				t.Fatalf("cookies %v; want __Secure-refresh_token and __Host-access_token", res.header.Values("Set-Cookie"))
			}
			for _, c := range []*http.Cookie{rc, ac} {
				if !c.HttpOnly || !c.Secure || c.SameSite != tt.sameSite || c.Domain != "" || c.MaxAge <= 0 {
					t.Errorf("%s: HttpOnly %v Secure %v SameSite %v Domain %q MaxAge %d", c.Name, c.HttpOnly, c.Secure, c.SameSite, c.Domain, c.MaxAge)
				}
			}
			if rc.Path != "/auth" || ac.Path != "/" {
				t.Errorf("paths %q, %q; want /auth, /", rc.Path, ac.Path)
			}
			if _, err := f.tokens.Verify(rc.Value, RefreshToken); err != nil {
				t.Errorf("refresh cookie: %v", err)
			}
			if ac.MaxAge != 900 {
				t.Errorf("access cookie Max-Age %d; want the access TTL, 900", ac.MaxAge)
			}
		})
	}
}

// Without AccessToken, the access token stays in the body; the refresh
// token never does.
func TestCookieRefreshOnly(t *testing.T) {
	t.Parallel()
	f := cookieFixture(t, CookieConfig{})
	srv := cookieServer(t, f)
	res := do(t, srv, "POST", "/auth/login", formType, form("username", "alice@example.com", "password", alicePassword))
	tr := decodeTokens(t, res)
	cs := setCookies(t, res)
	if tr.AccessToken == "" || tr.RefreshToken != "" || cs["__Secure-refresh_token"] == nil || cs["__Host-access_token"] != nil {
		t.Errorf("body %s, cookies %v; want the access token in the body, the refresh token in its cookie only", res.body, res.header.Values("Set-Cookie"))
	}
}

// The InsecureLocalhost mode drops Secure and the prefixes on localhost
// only.
func TestCookieInsecureLocalhost(t *testing.T) {
	t.Parallel()
	f := cookieFixture(t, CookieConfig{AccessToken: true, InsecureLocalhost: true})
	for _, tt := range []struct {
		host   string
		secure bool
	}{
		{"localhost:8080", false}, {"127.0.0.1:8080", false}, {"[::1]:8080", false}, {"app.localhost", false},
		{"api.example.com", true}, {"localhost.example.com", true}, {"10.0.0.1:80", true},
	} {
		r := httptest.NewRequest("POST", "http://"+tt.host+"/auth/login", strings.NewReader(form("username", "alice@example.com", "password", alicePassword)))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		f.a.LoginHandler().ServeHTTP(w, r)
		cs := setCookies(t, result{w.Code, w.Header(), w.Body.String()})
		name := "refresh_token"
		if tt.secure {
			name = "__Secure-refresh_token"
		}
		if c := cs[name]; c == nil || c.Secure != tt.secure {
			t.Errorf("%s: cookies %v; want %s with Secure %v", tt.host, w.Header().Values("Set-Cookie"), name, tt.secure)
		}
	}
}

// The middleware reads the access token from its cookie; a Bearer header
// wins over it.
func TestCookieAccessTokenHeaderWins(t *testing.T) {
	t.Parallel()
	f := cookieFixture(t, CookieConfig{AccessToken: true})
	srv := cookieServer(t, f)
	alice, root := f.access(t, "u1"), f.access(t, "u2")
	res := do(t, srv, "GET", "/users/me", withCookie(nil, "__Host-access_token", alice), "")
	if res.status != 200 || !strings.Contains(res.body, "subject=u1") {
		t.Errorf("cookie only: %d %s; want u1", res.status, res.body)
	}
	res = do(t, srv, "GET", "/users/me", withCookie(bearer(root), "__Host-access_token", alice), "")
	if res.status != 200 || !strings.Contains(res.body, "subject=u2") {
		t.Errorf("header and cookie: %d %s; want the header's u2", res.status, res.body)
	}
	res = do(t, srv, "GET", "/users/me", withCookie(bearer("not-a-token"), "__Host-access_token", alice), "")
	if res.status != 401 {
		t.Errorf("bad header and good cookie: %d; want 401 (the header wins)", res.status)
	}
	res = do(t, srv, "GET", "/users/me", withCookie(nil, "access_token", alice), "")
	if res.status != 401 {
		t.Errorf("unprefixed cookie on a secure host: %d; want 401", res.status)
	}
	// Without the access cookie configured, the cookie is ignored.
	g := cookieFixture(t, CookieConfig{})
	res = do(t, cookieServer(t, g), "GET", "/users/me", withCookie(nil, "__Host-access_token", g.access(t, "u1")), "")
	if res.status != 401 {
		t.Errorf("access cookie not configured: %d; want 401", res.status)
	}
}

// The refresh handler reads the refresh token from its cookie and sets the
// rotated one; logout revokes the family and clears both cookies.
func TestCookieRefreshAndLogout(t *testing.T) {
	t.Parallel()
	f := cookieFixture(t, CookieConfig{AccessToken: true})
	srv := cookieServer(t, f)
	rt := f.refresh(t, "u1")
	res := do(t, srv, "POST", "/auth/refresh", withCookie(nil, "__Secure-refresh_token", rt), "")
	if res.status != 200 {
		t.Fatalf("refresh by cookie: %d %s", res.status, res.body)
	}
	next := setCookies(t, res)["__Secure-refresh_token"]
	if next == nil || next.Value == rt || next.Path != "/auth" {
		t.Fatalf("rotated cookie %+v", next)
	}
	res = do(t, srv, "POST", "/auth/logout", withCookie(nil, "__Secure-refresh_token", next.Value), "")
	if res.status != 204 {
		t.Fatalf("logout: %d %s", res.status, res.body)
	}
	cs := setCookies(t, res)
	for name, path := range map[string]string{"__Secure-refresh_token": "/auth", "__Host-access_token": "/"} {
		if c := cs[name]; c == nil || c.MaxAge >= 0 || c.Value != "" || c.Path != path || !c.Secure {
			t.Errorf("logout: %s not cleared: %+v", name, c)
		}
	}
	if res := do(t, srv, "POST", "/auth/refresh", withCookie(nil, "__Secure-refresh_token", next.Value), ""); res.status != 401 {
		t.Errorf("refresh after logout: %d; want 401", res.status)
	}
	// A logout with neither cookie nor body still clears the cookies.
	res = do(t, srv, "POST", "/auth/logout", nil, "")
	if res.status != 204 || setCookies(t, res)["__Secure-refresh_token"] == nil {
		t.Errorf("empty logout: %d %v; want 204 clearing the cookies", res.status, res.header.Values("Set-Cookie"))
	}
}

// Cookie-authenticated requests with unsafe methods from another origin
// are refused with 403; same-origin ones, GETs, and requests with a Bearer
// header go through.
func TestCookieCrossOrigin(t *testing.T) {
	t.Parallel()
	f := cookieFixture(t, CookieConfig{AccessToken: true, TrustedOrigins: []string{"https://trusted.example"}})
	srv := cookieServer(t, f)
	tok := f.access(t, "u1")
	cookie := func(h http.Header) http.Header { return withCookie(h, "__Host-access_token", tok) }
	for _, tt := range []struct {
		name   string
		method string
		header http.Header
		want   int
	}{
		{"cross-site POST with cookie", "POST", cookie(http.Header{"Sec-Fetch-Site": {"cross-site"}}), 403},
		{"same-site cross-origin POST with cookie", "POST", cookie(http.Header{"Sec-Fetch-Site": {"same-site"}}), 403},
		{"cross-origin POST, Origin only", "POST", cookie(http.Header{"Origin": {"https://evil.example"}}), 403},
		{"cross-site DELETE with cookie", "DELETE", cookie(http.Header{"Sec-Fetch-Site": {"cross-site"}}), 403},
		{"same-origin POST with cookie", "POST", cookie(http.Header{"Sec-Fetch-Site": {"same-origin"}}), 200},
		{"user-initiated POST with cookie", "POST", cookie(http.Header{"Sec-Fetch-Site": {"none"}}), 200},
		{"trusted origin POST", "POST", cookie(http.Header{"Origin": {"https://trusted.example"}, "Sec-Fetch-Site": {"cross-site"}}), 200},
		{"non-browser POST with cookie", "POST", cookie(nil), 200},
		{"cross-site GET with cookie", "GET", cookie(http.Header{"Sec-Fetch-Site": {"cross-site"}}), 200},
		{"cross-site HEAD with cookie", "HEAD", cookie(http.Header{"Sec-Fetch-Site": {"cross-site"}}), 200},
		{"cross-site OPTIONS with cookie", "OPTIONS", cookie(http.Header{"Sec-Fetch-Site": {"cross-site"}}), 200},
		{"cross-site POST with Bearer", "POST", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Authorization": {"Bearer " + tok}}, 200},
		{"cross-site POST with Bearer and cookie", "POST", cookie(http.Header{"Sec-Fetch-Site": {"cross-site"}, "Authorization": {"Bearer " + tok}}), 200},
	} {
		res := do(t, srv, tt.method, "/users/me", tt.header, "")
		if res.status != tt.want {
			t.Errorf("%s: %d %s; want %d", tt.name, res.status, res.body, tt.want)
			continue
		}
		if tt.want == 403 && res.errorCode(t) != "cross_origin_request" {
			t.Errorf("%s: body %s", tt.name, res.body)
		}
	}
	// Login (login CSRF), refresh and logout refuse cross-site posts too.
	rt := f.refresh(t, "u1")
	cross := http.Header{"Sec-Fetch-Site": {"cross-site"}, "Content-Type": {"application/x-www-form-urlencoded"}}
	for path, body := range map[string]string{
		"/auth/login":   form("username", "alice@example.com", "password", alicePassword),
		"/auth/refresh": "",
		"/auth/logout":  "",
	} {
		res := do(t, srv, "POST", path, withCookie(cross, "__Secure-refresh_token", rt), body)
		if res.status != 403 || len(res.header.Values("Set-Cookie")) != 0 {
			t.Errorf("cross-site %s: %d, cookies %v; want 403 and no cookie", path, res.status, res.header.Values("Set-Cookie"))
		}
	}
	if _, err := f.tokens.Verify(rt, RefreshToken); err != nil {
		t.Fatal(err)
	}
	if res := do(t, srv, "POST", "/auth/refresh", withCookie(http.Header{"Sec-Fetch-Site": {"same-origin"}}, "__Secure-refresh_token", rt), ""); res.status != 200 {
		t.Errorf("same-origin refresh after the refused ones: %d; want 200 (the family was not touched)", res.status)
	}
}

func TestWithCookiesRejects(t *testing.T) {
	t.Parallel()
	key := testKeys(t)["HS256"]
	tokens := newTokens(t, key)
	for name, c := range map[string]CookieConfig{
		"no path":          {},
		"relative path":    {RefreshPath: "auth"},
		"path with ;":      {RefreshPath: "/auth;Domain=x"},
		"path with NUL":    {RefreshPath: "/a\x00"},
		"SameSite None":    {RefreshPath: "/auth", SameSite: http.SameSiteNoneMode},
		"bad origin":       {RefreshPath: "/auth", TrustedOrigins: []string{"not an origin"}},
		"origin with path": {RefreshPath: "/auth", TrustedOrigins: []string{"https://a.example/path"}},
		"unknown SameSite": {RefreshPath: "/auth", SameSite: 9},
	} {
		if _, err := New[Account](tokens, NewMemoryUsers(), WithCookies(c)); err == nil {
			t.Errorf("%s: New accepted %+v", name, c)
		}
	}
}

// With CSRFToken, the login sets a script-readable __Host-csrf_token bound
// to the session, and cookie-authenticated unsafe requests must echo it.
func TestCookieCSRFToken(t *testing.T) {
	t.Parallel()
	f := cookieFixture(t, CookieConfig{AccessToken: true, CSRFToken: true})
	srv := cookieServer(t, f)
	login := func() (access, csrf *http.Cookie) {
		res := do(t, srv, "POST", "/auth/login", formType, form("username", "alice@example.com", "password", alicePassword))
		if res.status != 200 {
			t.Fatalf("login: %d", res.status)
		}
		cs := setCookies(t, res)
		return cs["__Host-access_token"], cs["__Host-csrf_token"]
	}
	access, csrf := login()
	if csrf == nil || csrf.HttpOnly || !csrf.Secure || csrf.Path != "/" || csrf.SameSite != http.SameSiteLaxMode || csrf.MaxAge != 900 {
		t.Fatalf("csrf cookie %+v; want readable by scripts, Secure, Path=/, Lax, the access TTL", csrf)
	}
	_, otherCSRF := login() // another session of the same user
	if otherCSRF.Value == csrf.Value {
		t.Fatal("two sessions share a CSRF token")
	}
	cookie := func(h http.Header) http.Header { return withCookie(h, access.Name, access.Value) }
	for _, tt := range []struct {
		name   string
		method string
		header http.Header
		want   int
	}{
		{"POST without the header", "POST", cookie(nil), 403},
		{"POST with another session's token", "POST", cookie(http.Header{"X-Csrf-Token": {otherCSRF.Value}}), 403},
		{"POST with a truncated token", "POST", cookie(http.Header{"X-Csrf-Token": {csrf.Value[:20]}}), 403},
		{"POST with the token twice", "POST", cookie(http.Header{"X-Csrf-Token": {csrf.Value, csrf.Value}}), 403},
		{"POST with the token", "POST", cookie(http.Header{"X-Csrf-Token": {csrf.Value}}), 200},
		{"DELETE with the token", "DELETE", cookie(http.Header{"X-Csrf-Token": {csrf.Value}}), 200},
		{"GET without the header", "GET", cookie(nil), 200},
		{"POST with Bearer, no header", "POST", bearer(access.Value), 200},
		{"cross-site POST with the token", "POST", cookie(http.Header{"X-Csrf-Token": {csrf.Value}, "Sec-Fetch-Site": {"cross-site"}}), 403},
	} {
		res := do(t, srv, tt.method, "/users/me", tt.header, "")
		if res.status != tt.want {
			t.Errorf("%s: %d %s; want %d", tt.name, res.status, res.body, tt.want)
		} else if tt.want == 403 && !strings.Contains(res.body, `"error":"csrf_token_invalid"`) && !strings.Contains(res.body, `"error":"cross_origin_request"`) {
			t.Errorf("%s: body %s", tt.name, res.body)
		}
	}
	if res := do(t, srv, "POST", "/users/me", cookie(nil), ""); res.errorCode(t) != "csrf_token_invalid" {
		t.Errorf("missing token: %s", res.body)
	}
	// Logout clears the CSRF cookie with the others.
	res := do(t, srv, "POST", "/auth/logout", nil, "")
	if c := setCookies(t, res)["__Host-csrf_token"]; c == nil || c.MaxAge >= 0 {
		t.Errorf("logout: csrf cookie %+v; want it cleared", c)
	}
	if _, err := New[Account](f.tokens, NewMemoryUsers(), WithCookies(CookieConfig{RefreshPath: "/auth", CSRFToken: true})); err == nil {
		t.Error("New accepted CSRFToken without AccessToken")
	}
}

// The cost of the cookie transport on the middleware, against a Bearer
// header through the same Authenticator.
func BenchmarkCookieMiddleware(b *testing.B) {
	f := newFixture(b, WithLogger(discardLogger()), WithCookies(CookieConfig{RefreshPath: "/auth", AccessToken: true, CSRFToken: true}))
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	h := f.a.Middleware(ok)
	tok := f.access(b, "u1")
	c, err := f.tokens.Verify(tok, AccessToken)
	if err != nil {
		b.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		method string
		header http.Header
	}{
		{"bearer", "POST", http.Header{"Authorization": {"Bearer " + tok}}},
		{"cookie-get", "GET", http.Header{"Cookie": {"__Host-access_token=" + tok}}},
		{"cookie-post", "POST", http.Header{"Cookie": {"__Host-access_token=" + tok}, "Sec-Fetch-Site": {"same-origin"}, "X-Csrf-Token": {csrfToken(c.ID)}}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			req := httptest.NewRequest(tt.method, "/", nil)
			req.Header = tt.header
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != 204 {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}

// Two cookies of one name (one may be planted by a sibling subdomain) are
// refused, not guessed between.
func TestCookieDuplicates(t *testing.T) {
	t.Parallel()
	f := cookieFixture(t, CookieConfig{AccessToken: true})
	srv := cookieServer(t, f)
	alice, rt := f.access(t, "u1"), f.refresh(t, "u1")
	two := http.Header{"Cookie": {"__Host-access_token=" + alice + "; __Host-access_token=" + f.access(t, "u2")}}
	if res := do(t, srv, "GET", "/users/me", two, ""); res.status != 400 {
		t.Errorf("two access cookies: %d; want 400", res.status)
	}
	two = http.Header{"Cookie": {"__Secure-refresh_token=" + rt + "; __Secure-refresh_token=" + f.refresh(t, "u2")}}
	if res := do(t, srv, "POST", "/auth/refresh", two, ""); res.status != 400 {
		t.Errorf("two refresh cookies: %d; want 400", res.status)
	}
	if res := do(t, srv, "POST", "/auth/refresh", withCookie(nil, "__Secure-refresh_token", rt), ""); res.status != 200 {
		t.Errorf("one refresh cookie after the refused pair: %d; want 200", res.status)
	}
}
