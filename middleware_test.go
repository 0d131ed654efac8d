package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// syncBuffer is a log sink that tests read after the requests are done.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fixture is an Authenticator over MemoryUsers with a movable clock and a
// captured log.
type fixture struct {
	a        *Authenticator[Account]
	tokens   *Tokens
	users    *MemoryUsers
	families *MemoryRefreshTokens
	limiter  *MemoryLimiter
	logs     *syncBuffer
	now      atomic.Int64 // seconds offset from testNow
}

func (f *fixture) clock() time.Time { return testNow.Add(time.Duration(f.now.Load()) * time.Second) }

const (
	alicePassword = "alice's long password"
	rootPassword  = "root's long password"
)

// fixtureHashes are made once: argon2id costs ~30 ms a hash.
var fixtureHashes = sync.OnceValues(func() (map[string]string, error) {
	p, err := NewPasswords()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, pw := range []string{alicePassword, rootPassword} {
		if out[pw], err = p.Hash(context.Background(), pw); err != nil {
			return nil, err
		}
	}
	return out, nil
})

func newFixture(t testing.TB, opts ...Option) *fixture {
	t.Helper()
	f := &fixture{users: NewMemoryUsers(), families: NewMemoryRefreshTokens(), limiter: NewMemoryLimiter(), logs: &syncBuffer{}}
	var err error
	f.tokens, err = NewTokens(testKeys(t)["HS256"], WithClock(f.clock), WithIssuer("https://issuer.example"))
	if err != nil {
		t.Fatal(err)
	}
	hashes, err := fixtureHashes()
	if err != nil {
		t.Fatal(err)
	}
	f.users.Put("alice@example.com", Account{ID: "u1", PasswordHash: hashes[alicePassword], Active: true, Roles: []string{"user"}, Email: "alice@example.com"})
	f.users.Put("root@example.com", Account{ID: "u2", PasswordHash: hashes[rootPassword], Active: true, Roles: []string{"admin", "user"}})
	f.users.Put("ghost@example.com", Account{ID: "u3", PasswordHash: hashes[alicePassword], Active: false, Roles: []string{"user"}})
	logger := slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts = append([]Option{WithLogger(logger), WithRefreshStore(f.families), WithLimiter(f.limiter)}, opts...)
	if f.a, err = New[Account](f.tokens, f.users, opts...); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) access(t testing.TB, sub string) string {
	t.Helper()
	a, _, _ := f.users.User(context.Background(), sub)
	c := Claims{Roles: a.Roles, Version: a.TokenVersion}
	c.Subject = sub
	tok, _, err := f.tokens.Issue(AccessToken, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// refresh starts a refresh-token family for sub, as a login does, and
// returns its token.
func (f *fixture) refresh(t testing.TB, sub string) string {
	t.Helper()
	a, _, _ := f.users.User(context.Background(), sub)
	now := f.clock()
	fam := RefreshFamily{ID: newID(), UserID: sub, Current: newID(), CreatedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour)}
	if err := f.families.Create(context.Background(), fam); err != nil {
		t.Fatal(err)
	}
	c := Claims{Roles: a.Roles, Version: a.TokenVersion, Family: fam.ID}
	c.Subject = sub
	tok, _, err := f.tokens.issue(RefreshToken, c, fam.Current, fam.ExpiresAt)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// whoami answers 200 with the user and principal the middleware stored.
func whoami(w http.ResponseWriter, r *http.Request) {
	p, _ := PrincipalFrom(r.Context())
	u, okUser := UserFrom[Account](r.Context())
	c, okClaims := ClaimsFrom(r.Context())
	if p == nil {
		fmt.Fprintln(w, "anonymous")
		return
	}
	fmt.Fprintf(w, "subject=%s user=%s/%v claims=%v/%v roles=%v\n", p.Subject, u.ID, okUser, okClaims, c != nil && c.Subject == p.Subject, p.Roles)
}

type result struct {
	status int
	header http.Header
	body   string
}

func (r result) errorCode(t testing.TB) string {
	t.Helper()
	var body map[string]string
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		t.Fatalf("body %q is not a JSON object of strings: %v", r.body, err)
	}
	if len(body) != 2 || body["error"] == "" || body["error_description"] == "" {
		t.Fatalf("body %q: want exactly error and error_description", r.body)
	}
	return body["error"]
}

func do(t testing.TB, srv *httptest.Server, method, path string, header http.Header, body string) result {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return result{resp.StatusCode, resp.Header, string(b)}
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// errorStore fails every lookup, as a database that is down.
type errorStore struct{}

var errDatabaseDown = errors.New("connection refused to db:5432")

func (errorStore) User(context.Context, string) (Account, bool, error) {
	return Account{}, false, errDatabaseDown
}
func (errorStore) UserByLogin(context.Context, string) (Account, bool, error) {
	return Account{}, false, errDatabaseDown
}
func (errorStore) Account(a Account) Account { return a }

func TestMiddleware(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	mux := http.NewServeMux()
	mux.Handle("GET /me", f.a.Middleware(http.HandlerFunc(whoami)))
	broken, err := New[Account](f.tokens, errorStore{}, WithLogger(slog.New(slog.NewJSONHandler(f.logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("GET /broken", broken.Middleware(http.HandlerFunc(whoami)))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	alice := f.access(t, "u1")
	f.users.Put("bob@example.com", Account{ID: "u4", Active: true, TokenVersion: 2})
	stale := f.access(t, "u4")
	f.users.Update("u4", func(a *Account) { a.TokenVersion = 3 })
	expired, _, _ := (func() (string, *Claims, error) {
		f.now.Store(-16 * 60)
		defer f.now.Store(0)
		return f.tokens.Issue(AccessToken, Claims{RegisteredClaims: testClaims.RegisteredClaims})
	})()
	forged := alice[:len(alice)-4] + "AAAA"
	unknown := func() string {
		c := testClaims
		c.Subject = "nobody"
		c.Version = 0
		tk, _, _ := f.tokens.Issue(AccessToken, c)
		return tk
	}()
	ok := "subject=u1 user=u1/true claims=true/true roles=[user]\n"
	const (
		bare       = `Bearer realm="api"`
		badRequest = `Bearer realm="api", error="invalid_request"`
		badToken   = `Bearer realm="api", error="invalid_token"`
	)
	tests := []struct {
		name      string
		path      string
		header    http.Header
		status    int
		challenge string
		code      string // body "error", or the body itself on 200
	}{
		{"no header", "/me", nil, 401, bare, "unauthorized"},
		{"Basic scheme", "/me", http.Header{"Authorization": {"Basic YWxpY2U6cGFzcw=="}}, 401, bare, "unauthorized"},
		{"Bearerish scheme", "/me", http.Header{"Authorization": {"Bearerx " + alice}}, 401, bare, "unauthorized"},
		{"Bearer alone", "/me", http.Header{"Authorization": {"Bearer"}}, 400, badRequest, "invalid_request"},
		{"Bearer and spaces", "/me", http.Header{"Authorization": {"Bearer    "}}, 400, badRequest, "invalid_request"},
		{"tab separator", "/me", http.Header{"Authorization": {"Bearer\t" + alice}}, 400, badRequest, "invalid_request"},
		{"two tokens", "/me", http.Header{"Authorization": {"Bearer " + alice + " " + alice}}, 400, badRequest, "invalid_request"},
		{"two headers", "/me", http.Header{"Authorization": {"Bearer " + alice, "Bearer " + alice}}, 400, badRequest, "invalid_request"},
		{"lower-case scheme", "/me", http.Header{"Authorization": {"bearer " + alice}}, 200, "", ok},
		{"upper-case scheme", "/me", http.Header{"Authorization": {"BEARER " + alice}}, 200, "", ok},
		{"two spaces", "/me", http.Header{"Authorization": {"Bearer  " + alice}}, 200, "", ok},
		{"token in the query only", "/me?access_token=" + alice, nil, 401, bare, "unauthorized"},
		{"header and another query token", "/me?access_token=" + f.access(t, "u2"), bearer(alice), 200, "", ok},
		{"refresh token", "/me", bearer(f.refresh(t, "u1")), 401, badToken, "invalid_token"},
		{"expired", "/me", bearer(expired), 401, badToken, "invalid_token"},
		{"forged", "/me", bearer(forged), 401, badToken, "invalid_token"},
		{"junk", "/me", bearer("not.a.token"), 401, badToken, "invalid_token"},
		{"8 KiB token", "/me", bearer(strings.Repeat("a", 8<<10)), 401, badToken, "invalid_token"},
		{"unknown user", "/me", bearer(unknown), 401, badToken, "invalid_token"},
		{"disabled user", "/me", bearer(f.access(t, "u3")), 401, badToken, "invalid_token"},
		{"stale token version", "/me", bearer(stale), 401, badToken, "invalid_token"},
		{"store down", "/broken", bearer(alice), 503, "", "temporarily_unavailable"},
	}
	bodies := map[string]string{} // one body per status: no oracle
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := do(t, srv, "GET", tt.path, tt.header, "")
			if res.status != tt.status {
				t.Fatalf("status = %d; want %d (body %q)", res.status, tt.status, res.body)
			}
			if got := res.header.Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate = %q; want %q", got, tt.challenge)
			}
			if tt.status == 200 {
				if res.body != tt.code {
					t.Errorf("body = %q; want %q", res.body, tt.code)
				}
				return
			}
			if got := res.errorCode(t); got != tt.code {
				t.Errorf("error = %q; want %q", got, tt.code)
			}
			if ct := res.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if b, seen := bodies[tt.code]; seen && b != res.body {
				t.Errorf("body %q differs from another %s body %q", res.body, tt.code, b)
			}
			bodies[tt.code] = res.body
			for _, v := range tt.header.Values("Authorization") {
				assertNoSecret(t, res.body, v)
			}
		})
	}
	logs := f.logs.String()
	for _, tok := range []string{alice, stale, expired, forged, unknown} {
		assertNoSecret(t, logs, tok)
	}
	if strings.Count(logs, `"event":"token_rejected"`) < 8 {
		t.Errorf("rejections were not logged: %s", logs)
	}
}

func TestOptional(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.a.Optional(http.HandlerFunc(whoami))
	tests := []struct {
		name   string
		header http.Header
		status int
		body   string
	}{
		{"anonymous", nil, 200, "anonymous\n"},
		{"signed in", bearer(f.access(t, "u1")), 200, "subject=u1 user=u1/true claims=true/true roles=[user]\n"},
		{"bad token", bearer("x.y.z"), 401, ""},
		{"refresh token", bearer(f.refresh(t, "u1")), 401, ""},
		{"malformed header", http.Header{"Authorization": {"Bearer"}}, 400, ""},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.Header = tt.header
		if req.Header == nil {
			req.Header = http.Header{}
		}
		h.ServeHTTP(rec, req)
		if rec.Code != tt.status || tt.body != "" && rec.Body.String() != tt.body {
			t.Errorf("%s: %d %q; want %d %q", tt.name, rec.Code, rec.Body.String(), tt.status, tt.body)
		}
	}
	// Behind Optional, a guard answers an anonymous request with 401.
	g := f.a.Optional(RequireRole("user")(http.HandlerFunc(whoami)))
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != `Bearer realm="api"` {
		t.Errorf("guard behind Optional, anonymous: %d %q; want 401 with a bare challenge", rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
}

func TestErrorHandlerAndRealm(t *testing.T) {
	t.Parallel()
	var got []error
	var mu sync.Mutex
	f := newFixture(t, WithRealm("tasks"), WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		mu.Lock()
		got = append(got, err)
		mu.Unlock()
		http.Error(w, "custom", ErrorStatus(err))
	}))
	h := f.a.Middleware(RequireRole("admin")(http.HandlerFunc(whoami)))
	for _, hdr := range []http.Header{{}, bearer("x.y.z"), bearer(f.access(t, "u1"))} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header = hdr
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Body.String() != "custom\n" {
			t.Errorf("body = %q; want the custom writer's", rec.Body.String())
		}
	}
	if len(got) != 3 || !errors.Is(got[0], ErrNoToken) || !errors.Is(got[1], ErrInvalidToken) || !errors.Is(got[2], ErrForbidden) {
		t.Errorf("errors = %v; want ErrNoToken, ErrInvalidToken, ErrForbidden", got)
	}
	g := newFixture(t, WithRealm("tasks")).a.Middleware(http.HandlerFunc(whoami))
	rec := httptest.NewRecorder()
	g.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if h := rec.Header().Get("WWW-Authenticate"); h != `Bearer realm="tasks"` {
		t.Errorf("challenge = %q; want the configured realm", h)
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	tk := newTokens(t, testKeys(t)["HS256"])
	users := NewMemoryUsers()
	if _, err := New[Account](tk, nil); err == nil {
		t.Error("New with a nil store succeeded")
	}
	if _, err := New[Account](nil, users); err == nil {
		t.Error("New with a nil verifier succeeded")
	}
	if _, err := NewStateless(nil); err == nil {
		t.Error("NewStateless with a nil verifier succeeded")
	}
	for _, realm := range []string{"", `a"b`, `a\b`, "a\nb", "é"} {
		if _, err := New[Account](tk, users, WithRealm(realm)); err == nil {
			t.Errorf("realm %q accepted", realm)
		}
	}
	for _, n := range []int64{0, -1, 2 << 20} {
		if _, err := New[Account](tk, users, WithMaxBodyBytes(n)); err == nil {
			t.Errorf("max body %d accepted", n)
		}
	}
	if _, err := New[Account](tk, users, WithHashWait(0)); err == nil {
		t.Error("hash wait 0 accepted")
	}
	ext, _ := NewExternalIssuer(testKeys(t)["HS256"], nil)
	stateless, _ := NewStateless(ext)
	for name, f := range map[string]func(){
		"LoginHandler without a LoginStore": func() {
			a, _ := New[*Claims](tk, UserStoreFunc(func(context.Context, string) (*Claims, bool, error) { return nil, false, nil }))
			a.LoginHandler()
		},
		"LoginHandler of NewStateless":   func() { stateless.LoginHandler() },
		"RefreshHandler of NewStateless": func() { stateless.RefreshHandler() },
		"RequireRole()":                  func() { RequireRole() },
		"RequireAllRoles()":              func() { RequireAllRoles() },
		"RequireAPIKey(nil)":             func() { stateless.RequireAPIKey(nil) },
		"RequireAPIKey with no header":   func() { stateless.RequireAPIKey(NewMemoryAPIKeys(), WithAPIKeyHeader("")) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic at setup", name)
				}
			}()
			f()
		}()
	}
}

// UserStoreFunc adapts a function to a UserStore whose users describe
// themselves as active accounts with their ID only: for tests.
type UserStoreFunc func(ctx context.Context, id string) (*Claims, bool, error)

func (f UserStoreFunc) User(ctx context.Context, id string) (*Claims, bool, error) { return f(ctx, id) }
func (f UserStoreFunc) Account(c *Claims) Account                                  { return Account{ID: c.Subject, Active: true} }

func TestContextAccessors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, ok := UserFrom[Account](ctx); ok {
		t.Error("UserFrom on an empty context found a user")
	}
	if _, ok := PrincipalFrom(ctx); ok {
		t.Error("PrincipalFrom on an empty context found a principal")
	}
	// A look-alike value under a string key is not a principal.
	type lookAlike string
	planted := context.WithValue(ctx, lookAlike("principal"), &Principal{Subject: "admin", Roles: []string{"admin"}})
	if _, ok := PrincipalFrom(planted); ok {
		t.Error("a principal planted under a string key was found")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("MustUser on an empty context did not panic")
			}
		}()
		MustUser[Account](ctx)
	}()
	type named interface{ Account(Account) Account }
	p := &Principal{Subject: "u1"}
	users := NewMemoryUsers()
	ctx = ContextWithPrincipal(ctx, p, users)
	if got, ok := UserFrom[*MemoryUsers](ctx); !ok || got != users {
		t.Error("UserFrom[*MemoryUsers] did not find the stored value")
	}
	if _, ok := UserFrom[named](ctx); !ok {
		t.Error("UserFrom did not find the stored value through an interface it implements")
	}
	if _, ok := UserFrom[Account](ctx); ok {
		t.Error("UserFrom of another type found a user")
	}
	if got := MustUser[*MemoryUsers](ctx); got != users {
		t.Error("MustUser did not return the stored value")
	}
}

// Many goroutines through the middleware at once, for -race.
func TestMiddlewareConcurrent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.a.Middleware(RequireRole("user")(http.HandlerFunc(whoami)))
	tokens := []string{f.access(t, "u1"), f.access(t, "u2")}
	var wg sync.WaitGroup
	var okCount atomic.Int32
	for i := range 50 {
		wg.Go(func() {
			for j := range 20 {
				req := httptest.NewRequest("GET", "/", nil)
				req.Header.Set("Authorization", "Bearer "+tokens[(i+j)%2])
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code == 200 {
					okCount.Add(1)
				}
				if j%5 == 0 {
					f.users.Update("u2", func(a *Account) { a.Roles = []string{"admin", "user"} })
				}
			}
		})
	}
	wg.Wait()
	if okCount.Load() != 1000 {
		t.Errorf("%d of 1000 requests passed", okCount.Load())
	}
}

func BenchmarkMiddleware(b *testing.B) {
	f := newFixture(b, WithLogger(slog.New(slog.DiscardHandler)))
	stateless, err := NewStateless(f.tokens, WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	tok := f.access(b, "u1")
	cases := []struct {
		name  string
		h     http.Handler
		token string
		want  int
	}{
		{"none", ok, tok, 204},
		{"bearer-stateless", stateless.Middleware(ok), tok, 204},
		{"bearer-store", f.a.Middleware(ok), tok, 204},
		{"forged", f.a.Middleware(ok), tok[:len(tok)-4] + "AAAA", 401},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Authorization", "Bearer "+c.token)
			for b.Loop() {
				rec := httptest.NewRecorder()
				c.h.ServeHTTP(rec, req)
				if rec.Code != c.want {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func FuzzBearerHeader(f *testing.F) {
	fx := newFixture(f, WithLogger(discardLogger()))
	// Deterministic (no random jti): the fuzz workers rebuild it themselves.
	valid := forge(f, testKeys(f)["HS256"], AccessToken, goodHeader, claimsWith("user-42", "u1"))
	h := fx.a.Middleware(http.HandlerFunc(whoami))
	for _, s := range []string{"Bearer " + valid, "bearer  " + valid, "Bearer", "Bearer\t" + valid, "Basic x",
		"Bearer " + valid + " x", "Bearer x.y.z", "", "Bearer " + strings.Repeat(".", 5000)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header["Authorization"] = []string{header}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		tok, err := bearerToken(req.Header)
		switch rec.Code {
		case 200:
			if err != nil || tok != valid {
				t.Fatalf("header %q passed with token %q", header, tok)
			}
		case 400, 401:
			if rec.Header().Get("WWW-Authenticate") == "" {
				t.Fatalf("header %q: %d without a challenge", header, rec.Code)
			}
		default:
			t.Fatalf("header %q: status %d", header, rec.Code)
		}
	})
}
