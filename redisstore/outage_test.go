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
	store := redisstore.New(rdb)

	const login, password = "alice@example.com", "correct horse battery staple"
	passwords, err := auth.NewPasswords()
	if err != nil {
		t.Fatal(err)
	}
	hash, err := passwords.Hash(t.Context(), password)
	if err != nil {
		t.Fatal(err)
	}
	users := auth.NewMemoryUsers()
	users.Put(login, auth.Account{ID: "u1", PasswordHash: hash, Active: true, Roles: []string{"user"}})
	secret := make([]byte, 32)
	rand.Read(secret)
	key, err := auth.NewHMACKey("k1", "HS256", secret)
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := auth.NewTokens(key, auth.WithIssuer("https://issuer.example"))
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	a, err := auth.New[auth.Account](tokens, users, auth.WithPasswords(passwords),
		auth.WithRefreshStore(store), auth.WithLimiter(store), auth.WithDenylist(store),
		auth.WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /login", a.LoginHandler())
	mux.Handle("POST /refresh", a.RefreshHandler())
	mux.Handle("GET /me", a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	})))
	api := httptest.NewServer(mux)
	t.Cleanup(api.Close)
	hc := &http.Client{Timeout: 30 * time.Second}

	send := func(req *http.Request) response {
		t.Helper()
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return response{res.StatusCode, string(body)}
	}
	post := func(path, form string) response {
		t.Helper()
		req, _ := newRequest("POST", api.URL+path, form)
		return send(req)
	}
	doLogin := func() response {
		return post("/login", url.Values{"username": {login}, "password": {password}}.Encode())
	}
	doRefresh := func(tok string) response { return post("/refresh", url.Values{"refresh_token": {tok}}.Encode()) }
	me := func(access string) response {
		t.Helper()
		req, _ := newRequest("GET", api.URL+"/me", "")
		req.Header.Set("Authorization", "Bearer "+access)
		return send(req)
	}
	type pair struct {
		Access  string `json:"access_token"`
		Refresh string `json:"refresh_token"`
	}
	decode := func(step string, res response) pair {
		t.Helper()
		var p pair
		if res.status != 200 || json.Unmarshal([]byte(res.body), &p) != nil || p.Access == "" || p.Refresh == "" {
			t.Fatalf("%s: %d %s; want 200 with tokens", step, res.status, res.body)
		}
		return p
	}

	first := decode("login", doLogin())
	if res := me(first.Access); res.status != 200 {
		t.Fatalf("GET /me: %d %s", res.status, res.body)
	}
	second := decode("refresh", doRefresh(first.Refresh))

	srv.stop()
	for name, res := range map[string]response{
		"login":   doLogin(),
		"refresh": doRefresh(second.Refresh),
		"GET /me": me(second.Access),
	} {
		// The library answers store failures with 500 today; 503 is the
		// issue's wish (redisstore.ErrUnavailable marks them).
		if res.status != 500 && res.status != 503 {
			t.Errorf("%s with Redis down: %d %s; want 503 or 500", name, res.status, res.body)
		}
		if !strings.Contains(res.body, `"error":"server_error"`) && !strings.Contains(res.body, `"error":"temporarily_unavailable"`) {
			t.Errorf("%s with Redis down: body %s; want the generic error", name, res.body)
		}
		t.Logf("%s with Redis down: %d %s", name, res.status, strings.TrimSpace(res.body))
		assertNoSecret(t, name+" body", res.body, password, first.Access, first.Refresh, second.Access, second.Refresh, string(secret))
	}
	if !strings.Contains(logs.String(), redisstore.ErrUnavailable.Error()) {
		t.Errorf("the outage is not in the log:\n%s", logs.String())
	}

	startRedis(t, port, dir) // empty: no persistence
	third := decode("login after Redis is back", doLogin())
	if res := me(third.Access); res.status != 200 {
		t.Errorf("GET /me after Redis is back: %d %s", res.status, res.body)
	}
	decode("refresh after Redis is back", doRefresh(third.Refresh))
	// The restarted server kept nothing: the old family is gone, and its
	// token is refused as invalid, not let through.
	if res := doRefresh(second.Refresh); res.status != 401 {
		t.Errorf("a refresh token whose family Redis lost: %d %s; want 401", res.status, res.body)
	}
	for name, log := range map[string]string{"auth log": logs.String(), "go-redis log": clientLog.String()} {
		assertNoSecret(t, name, log, password, first.Access, first.Refresh, second.Access, second.Refresh, third.Access, third.Refresh, string(secret))
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
