package auth

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// freshServer mounts login, refresh, re-authentication and a route that
// needs a login at most 5 minutes old.
func freshServer(t *testing.T, f *fixture) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("POST /auth/login", f.a.LoginHandler())
	mux.Handle("POST /auth/refresh", f.a.RefreshHandler())
	mux.Handle("POST /auth/reauth", f.a.Middleware(f.a.ReauthenticateHandler()))
	mux.Handle("POST /account/password", f.a.Middleware(f.a.RequireFresh(5*time.Minute)(http.HandlerFunc(whoami))))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// Login stamps auth_time into both tokens; refresh keeps it.
func TestAuthTimeKeptByRefresh(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := freshServer(t, f)
	tr := loginAs(t, srv, "alice@example.com", alicePassword)
	for kind, tok := range map[TokenType]string{AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken} {
		c, err := f.tokens.Verify(tok, kind)
		if err != nil || c.AuthTime == nil || !c.AuthTime.Equal(testNow) {
			t.Fatalf("%s token: auth_time %v, %v; want %v", kind, c.AuthTime, err, testNow)
		}
	}
	f.now.Add(3600)
	res := refreshOnce(t, srv, tr.RefreshToken)
	if res.status != 200 {
		t.Fatalf("refresh: %d", res.status)
	}
	next := decodeTokens(t, res)
	for kind, tok := range map[TokenType]string{AccessToken: next.AccessToken, RefreshToken: next.RefreshToken} {
		c, err := f.tokens.Verify(tok, kind)
		if err != nil || c.AuthTime == nil || !c.AuthTime.Equal(testNow) {
			t.Errorf("refreshed %s token: auth_time %v, %v; want the login's %v", kind, c.AuthTime, err, testNow)
		}
	}
}

// RequireFresh lets a recent login through, refuses an old one with 401
// and the RFC 9470 challenge, and a re-authentication makes it fresh.
func TestRequireFresh(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := freshServer(t, f)
	tr := loginAs(t, srv, "alice@example.com", alicePassword)
	if res := do(t, srv, "POST", "/account/password", bearer(tr.AccessToken), ""); res.status != 200 {
		t.Fatalf("fresh login: %d %s", res.status, res.body)
	}
	f.now.Add(301)
	res := do(t, srv, "POST", "/account/password", bearer(tr.AccessToken), "")
	want := `Bearer realm="api", error="insufficient_user_authentication", error_description="A more recent login is required", max_age=300`
	if res.status != 401 || res.header.Get("WWW-Authenticate") != want || res.errorCode(t) != "insufficient_user_authentication" {
		t.Fatalf("old login: %d %q %s; want 401 with %q", res.status, res.header.Get("WWW-Authenticate"), res.body, want)
	}
	// A refreshed token is no fresher.
	next := decodeTokens(t, refreshOnce(t, srv, tr.RefreshToken))
	if res := do(t, srv, "POST", "/account/password", bearer(next.AccessToken), ""); res.status != 401 {
		t.Errorf("refreshed token: %d; want 401", res.status)
	}
	// A wrong password gets 401 invalid_grant and no token.
	res = do(t, srv, "POST", "/auth/reauth", withHeader(bearer(next.AccessToken), formType), form("password", "wrong"))
	if res.status != 401 || strings.Contains(res.body, "access_token") {
		t.Fatalf("reauth, wrong password: %d %s", res.status, res.body)
	}
	res = do(t, srv, "POST", "/auth/reauth", withHeader(bearer(next.AccessToken), jsonType), `{"password":"`+alicePassword+`"}`)
	if res.status != 200 {
		t.Fatalf("reauth: %d %s", res.status, res.body)
	}
	fresh := decodeTokens(t, res)
	c, err := f.tokens.Verify(fresh.AccessToken, AccessToken)
	if err != nil || !c.AuthTime.Equal(f.clock()) || c.Subject != "u1" || fresh.RefreshToken != "" {
		t.Fatalf("reauth token: %+v, %v", c, err)
	}
	if res := do(t, srv, "POST", "/account/password", bearer(fresh.AccessToken), ""); res.status != 200 {
		t.Errorf("after reauth: %d %s; want 200", res.status, res.body)
	}
	// The session goes on: the refresh token still works.
	if res := refreshOnce(t, srv, next.RefreshToken); res.status != 200 {
		t.Errorf("refresh after reauth: %d; want 200", res.status)
	}
}

// A token without auth_time (issued by hand, or by an old version) is
// never fresh; an API key neither.
func TestRequireFreshWithoutAuthTime(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	srv := freshServer(t, f)
	res := do(t, srv, "POST", "/account/password", bearer(f.access(t, "u1")), "")
	if res.status != 401 || !strings.Contains(res.header.Get("WWW-Authenticate"), "max_age=300") {
		t.Errorf("no auth_time: %d %q; want 401 with max_age", res.status, res.header.Get("WWW-Authenticate"))
	}
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/", nil)
	r = r.WithContext(f.a.newContext(r.Context(), &Principal{Subject: "k1", APIKey: &APIKey{ID: "k1"}}, Account{}))
	f.a.RequireFresh(time.Minute)(http.HandlerFunc(whoami)).ServeHTTP(w, r)
	if w.Code != 401 {
		t.Errorf("API key: %d; want 401", w.Code)
	}
	w = httptest.NewRecorder()
	f.a.RequireFresh(time.Minute)(http.HandlerFunc(whoami)).ServeHTTP(w, httptest.NewRequest("POST", "/", nil))
	if w.Code != 401 || w.Header().Get("WWW-Authenticate") != `Bearer realm="api"` {
		t.Errorf("no principal: %d %q; want 401 without an error code", w.Code, w.Header().Get("WWW-Authenticate"))
	}
}

// Re-authentication goes through CheckPassword's throttle: every attempt
// is reserved before a hash runs, and past the threshold it is 429.
func TestReauthenticateThrottled(t *testing.T) {
	t.Parallel()
	f := newFixture(t, WithThrottles(Throttle{Threshold: 2, Base: time.Minute, Max: time.Hour, Window: time.Hour}, DefaultIPThrottle))
	srv := freshServer(t, f)
	tok := f.access(t, "u1")
	var statuses []int
	for range 4 {
		statuses = append(statuses, do(t, srv, "POST", "/auth/reauth", withHeader(bearer(tok), formType), form("password", "wrong")).status)
	}
	if statuses[0] != 401 || statuses[1] != 401 || statuses[3] != 429 {
		t.Errorf("statuses %v; want 401s, then 429", statuses)
	}
	if res := do(t, srv, "POST", "/auth/reauth", withHeader(bearer(tok), formType), form("password", alicePassword)); res.status != 429 {
		t.Errorf("right password while throttled: %d; want 429", res.status)
	}
}

func TestRequireFreshPanics(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	defer func() {
		if recover() == nil {
			t.Error("RequireFresh(0) did not panic")
		}
	}()
	f.a.RequireFresh(0)
}

func withHeader(a, b http.Header) http.Header {
	out := a.Clone()
	for k, vs := range b {
		out[k] = append(out[k], vs...)
	}
	return out
}

// A WithErrorHandler hook gets the *FreshLoginError with the RFC 9470
// challenge already set.
func TestRequireFreshErrorHandler(t *testing.T) {
	t.Parallel()
	var got error
	f := newFixture(t, WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		got = err
		w.WriteHeader(ErrorStatus(err))
	}))
	w := httptest.NewRecorder()
	r := httptest.NewRequest("POST", "/", nil)
	r.Header.Set("Authorization", "Bearer "+f.access(t, "u1"))
	f.a.Middleware(f.a.RequireFresh(90*time.Second)(http.HandlerFunc(whoami))).ServeHTTP(w, r)
	var stale *FreshLoginError
	if w.Code != 401 || !errors.As(got, &stale) || stale.MaxAge != 90*time.Second || !errors.Is(got, ErrLoginTooOld) ||
		!strings.HasSuffix(w.Header().Get("WWW-Authenticate"), `error="insufficient_user_authentication", error_description="A more recent login is required", max_age=90`) {
		t.Errorf("%d %v %q", w.Code, got, w.Header().Get("WWW-Authenticate"))
	}
}
