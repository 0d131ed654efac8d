package redisstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keygate/auth"
	"github.com/keygate/auth/redisstore"
	"github.com/redis/go-redis/v9"
)

// syncBuffer is a log sink for concurrent writers.
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

// clientLog captures what go-redis logs itself (dial failures), for every
// test: TestOutage checks it holds no secret.
var clientLog syncBuffer

type clientLogger struct{}

func (clientLogger) Printf(_ context.Context, format string, v ...any) {
	fmt.Fprintf(&clientLog, format+"\n", v...)
}

func init() { redis.SetLogger(clientLogger{}) }

type response struct {
	status int
	body   string
}

const (
	testLogin    = "alice@example.com"
	testPassword = "correct horse battery staple"
)

// service is one instance of a service on store: login, refresh, logout
// and an authenticated GET /me, behind httptest, with its log captured.
// Instances made with the same secret accept each other's tokens.
type service struct {
	t    *testing.T
	url  string
	logs *syncBuffer
	hc   *http.Client
}

type tokenPair struct {
	Access  string `json:"access_token"`
	Refresh string `json:"refresh_token"`
}

// newSecret returns a token signing secret.
func newSecret() []byte {
	secret := make([]byte, 32)
	rand.Read(secret)
	return secret
}

func newService(t *testing.T, store *redisstore.Store, secret []byte) *service {
	t.Helper()
	passwords, err := auth.NewPasswords()
	if err != nil {
		t.Fatal(err)
	}
	hash, err := passwords.Hash(t.Context(), testPassword)
	if err != nil {
		t.Fatal(err)
	}
	users := auth.NewMemoryUsers()
	users.Put(testLogin, auth.Account{ID: "u1", PasswordHash: hash, Active: true, Roles: []string{"user"}})
	key, err := auth.NewHMACKey("k1", "HS256", secret)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewTokens(key, auth.WithIssuer("https://issuer.example"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	a, err := auth.New[auth.Account](tokens, users, auth.WithPasswords(passwords),
		auth.WithRefreshStore(store), auth.WithLimiter(store), auth.WithDenylist(store),
		auth.WithLogger(slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /login", a.LoginHandler())
	mux.Handle("POST /refresh", a.RefreshHandler())
	mux.Handle("POST /logout", a.LogoutHandler())
	mux.Handle("GET /me", a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	})))
	api := httptest.NewServer(mux)
	t.Cleanup(api.Close)
	return &service{t: t, url: api.URL, logs: logs, hc: &http.Client{Timeout: 30 * time.Second}}
}

func (s *service) send(req *http.Request) response {
	s.t.Helper()
	res, err := s.hc.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, string(body)}
}

func (s *service) post(path, form, access string) response {
	s.t.Helper()
	req, _ := newRequest("POST", s.url+path, form)
	if access != "" {
		req.Header.Set("Authorization", "Bearer "+access)
	}
	return s.send(req)
}

func (s *service) login(password string) response {
	s.t.Helper()
	return s.post("/login", url.Values{"username": {testLogin}, "password": {password}}.Encode(), "")
}

func (s *service) refresh(tok string) response {
	s.t.Helper()
	return s.post("/refresh", url.Values{"refresh_token": {tok}}.Encode(), "")
}

func (s *service) logout(p tokenPair) response {
	s.t.Helper()
	return s.post("/logout", url.Values{"refresh_token": {p.Refresh}}.Encode(), p.Access)
}

func (s *service) me(access string) response {
	s.t.Helper()
	req, _ := newRequest("GET", s.url+"/me", "")
	req.Header.Set("Authorization", "Bearer "+access)
	return s.send(req)
}

// decode returns the tokens of a 200 token response, or fails.
func decode(t *testing.T, step string, res response) tokenPair {
	t.Helper()
	var p tokenPair
	if res.status != 200 || json.Unmarshal([]byte(res.body), &p) != nil || p.Access == "" || p.Refresh == "" {
		t.Fatalf("%s: %d %s; want 200 with tokens", step, res.status, res.body)
	}
	return p
}

// With Redis killed mid-run, login, refresh and an authenticated request
// on a denylist fail closed: a 5xx with the generic body, no secret in
// the body or in any log. Once Redis is back on the same port, the same
// client works again without a restart of the service.
func TestOutage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	port := freePort(t)
	srv := startRedis(t, port, dir)
	rdb := redis.NewClient(&redis.Options{Addr: srv.addr(), ContextTimeoutEnabled: true, DialTimeout: time.Second})
	t.Cleanup(func() { rdb.Close() })
	secret := newSecret()
	api := newService(t, redisstore.New(rdb), secret)

	first := decode(t, "login", api.login(testPassword))
	if res := api.me(first.Access); res.status != 200 {
		t.Fatalf("GET /me: %d %s", res.status, res.body)
	}
	second := decode(t, "refresh", api.refresh(first.Refresh))

	srv.stop()
	for name, res := range map[string]response{
		"login":   api.login(testPassword),
		"refresh": api.refresh(second.Refresh),
		"GET /me": api.me(second.Access),
	} {
		// A store failure fails closed with 503 and Retry-After: the client
		// retries, and keeps its tokens.
		if res.status != 503 {
			t.Errorf("%s with Redis down: %d %s; want 503", name, res.status, res.body)
		}
		if !strings.Contains(res.body, `"error":"temporarily_unavailable"`) {
			t.Errorf("%s with Redis down: body %s; want the generic error", name, res.body)
		}
		t.Logf("%s with Redis down: %d %s", name, res.status, strings.TrimSpace(res.body))
		assertNoSecret(t, name+" body", res.body, testPassword, first.Access, first.Refresh, second.Access, second.Refresh, string(secret))
	}
	if !strings.Contains(api.logs.String(), redisstore.ErrUnavailable.Error()) {
		t.Errorf("the outage is not in the log:\n%s", api.logs.String())
	}

	startRedis(t, port, dir) // empty: no persistence
	third := decode(t, "login after Redis is back", api.login(testPassword))
	if res := api.me(third.Access); res.status != 200 {
		t.Errorf("GET /me after Redis is back: %d %s", res.status, res.body)
	}
	decode(t, "refresh after Redis is back", api.refresh(third.Refresh))
	// The restarted server kept nothing: the old family is gone, and its
	// token is refused as invalid, not let through.
	if res := api.refresh(second.Refresh); res.status != 401 {
		t.Errorf("a refresh token whose family Redis lost: %d %s; want 401", res.status, res.body)
	}
	for name, log := range map[string]string{"auth log": api.logs.String(), "go-redis log": clientLog.String()} {
		assertNoSecret(t, name, log, testPassword, first.Access, first.Refresh, second.Access, second.Refresh, third.Access, third.Refresh, string(secret))
	}
}

// Two instances of a service on one Redis share their state: a session
// started on one refreshes on the other, a reuse seen by one revokes the
// family for both, a logout on one denies the access token on the other,
// and failed logins on both count against one budget.
func TestTwoInstances(t *testing.T) {
	t.Parallel()
	store, _, _ := newStore(t, redisstore.WithClock(time.Now))
	secret := newSecret()
	a, b := newService(t, store, secret), newService(t, store, secret)

	first := decode(t, "login on A", a.login(testPassword))
	second := decode(t, "refresh on B", b.refresh(first.Refresh))
	if res := a.refresh(first.Refresh); res.status != 401 {
		t.Fatalf("the rotated token replayed on A: %d; want 401", res.status)
	}
	if res := b.refresh(second.Refresh); res.status != 401 {
		t.Errorf("after a reuse seen by A, the family's live token on B: %d; want 401 (family revoked)", res.status)
	}

	third := decode(t, "login on B", b.login(testPassword))
	if res := a.me(third.Access); res.status != 200 {
		t.Fatalf("GET /me on A: %d", res.status)
	}
	if res := b.logout(third); res.status != 204 {
		t.Fatalf("logout on B: %d %s", res.status, res.body)
	}
	if res := a.me(third.Access); res.status != 401 {
		t.Errorf("an access token logged out on B, on A: %d; want 401", res.status)
	}
	if res := a.refresh(third.Refresh); res.status != 401 {
		t.Errorf("a refresh token logged out on B, on A: %d; want 401", res.status)
	}

	// DefaultAccountThrottle: 5 attempts, then a wait, whichever instance.
	for i := range auth.DefaultAccountThrottle.Threshold {
		api := []*service{a, b}[i%2]
		if res := api.login("wrong password"); res.status != 401 {
			t.Fatalf("failed login %d: %d; want 401", i+1, res.status)
		}
	}
	for name, api := range map[string]*service{"A": a, "B": b} {
		if res := api.login(testPassword); res.status != 429 {
			t.Errorf("login on %s after %d failures spread over both: %d; want 429", name, auth.DefaultAccountThrottle.Threshold, res.status)
		}
	}
}

func newRequest(method, target, form string) (*http.Request, error) {
	req, err := http.NewRequest(method, target, strings.NewReader(form))
	if err == nil && form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	return req, err
}

// assertNoSecret fails if text contains any of secrets, or the signature
// part of a token.
func assertNoSecret(t *testing.T, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		parts := strings.Split(s, ".")
		for _, p := range []string{s, parts[len(parts)-1]} {
			if len(p) >= 8 && strings.Contains(text, p) {
				t.Errorf("%s contains a secret (%.6s…)", where, p)
			}
		}
	}
}

// A Redis that hangs (SIGSTOP) rather than dies fails a call at the
// caller's deadline, as ErrUnavailable, and serves again once resumed.
func TestHungRedis(t *testing.T) {
	t.Parallel()
	srv := startRedis(t, freePort(t), t.TempDir())
	rdb := redis.NewClient(&redis.Options{Addr: srv.addr(), ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	s := redisstore.New(rdb)
	th := auth.DefaultAccountThrottle
	if _, err := s.Reserve(t.Context(), "k", time.Now(), th); err != nil {
		t.Fatal(err)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	_, err := s.Reserve(ctx, "k", time.Now(), th)
	cancel()
	if !errors.Is(err, redisstore.ErrUnavailable) {
		t.Errorf("Reserve on a hung Redis: %v; want ErrUnavailable", err)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reserve(t.Context(), "k", time.Now(), th); err != nil {
		t.Errorf("Reserve once Redis resumed: %v", err)
	}
}
