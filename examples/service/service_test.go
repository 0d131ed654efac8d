package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
)

const (
	adminEmail    = "admin@example.com"
	adminPassword = "admin's long password"
)

// lockedBuffer collects the service's logs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// instance is a running service on a loopback port.
type instance struct {
	t    *testing.T
	url  string
	env  map[string]string
	logs *lockedBuffer
}

// start runs the real server, as main does, on a random loopback port over
// the database at dbURL, until the test ends.
func start(t *testing.T, dbURL string) *instance {
	t.Helper()
	return startWith(t, dbURL, "test-secret-"+rand.Text())
}

// startWith is start with the given signing secret: instances that share
// one are several instances of one service. extra sets more environment
// variables, as "NAME=value".
func startWith(t *testing.T, dbURL, secret string, extra ...string) *instance {
	t.Helper()
	env := map[string]string{
		"DATABASE_URL":   dbURL,
		"AUTH_SECRET":    secret,
		"ADMIN_EMAIL":    adminEmail,
		"ADMIN_PASSWORD": adminPassword,
	}
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	getenv := func(k string) string { return env[k] }
	logs := &lockedBuffer{}
	cfg, _, err := parseConfig(nil, getenv, logs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s, err := open(ctx, cfg, true, io.Discard, logs)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		s.close()
	})
	return &instance{t: t, url: "http://" + ln.Addr().String(), env: env, logs: logs}
}

// cli runs an operator subcommand against the instance's database.
func (in *instance) cli(args ...string) string {
	in.t.Helper()
	var out bytes.Buffer
	if err := run(context.Background(), args, func(k string) string { return in.env[k] }, &out, io.Discard); err != nil {
		in.t.Fatalf("%v: %v", args, err)
	}
	return out.String()
}

type response struct {
	status int
	header http.Header
	body   string
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

func (in *instance) do(method, path string, header map[string]string, body string) response {
	in.t.Helper()
	req, err := http.NewRequest(method, in.url+path, strings.NewReader(body))
	if err != nil {
		in.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		in.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

var jsonCT = map[string]string{"Content-Type": "application/json"}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func jsonBearer(tok string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
}

type pair struct{ access, refresh string }

func (in *instance) login(email, password string) pair {
	in.t.Helper()
	res := in.do("POST", "/auth/login", map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
		url.Values{"username": {email}, "password": {password}}.Encode())
	if res.status != 200 {
		in.t.Fatalf("login %s: %d %s", email, res.status, res.body)
	}
	m := res.json(in.t)
	return pair{m["access_token"].(string), m["refresh_token"].(string)}
}

func (in *instance) refresh(tok string) response {
	return in.do("POST", "/auth/refresh", jsonCT, `{"refresh_token":"`+tok+`"}`)
}

// expect checks a status and, for failures, a JSON error body.
func expect(t *testing.T, what string, res response, status int) {
	t.Helper()
	if res.status != status {
		t.Fatalf("%s: status %d; want %d (%s)", what, res.status, status, res.body)
	}
	if status >= 400 {
		var body map[string]string
		if err := json.Unmarshal([]byte(res.body), &body); err != nil || body["error"] == "" {
			t.Errorf("%s: body %q is not a JSON error", what, res.body)
		}
		if ct := res.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", what, ct)
		}
	}
}

func TestServiceSQLite(t *testing.T) {
	t.Parallel()
	walk(t, start(t, filepath.Join(t.TempDir(), "service.db")))
}

func TestServicePostgres(t *testing.T) {
	t.Parallel()
	walk(t, start(t, postgresSchema(t, serverURL(t, "DATABASE_URL", ".ci/with-postgres"))))
}

// serverURL returns the environment variable name, the URL of a server
// that script starts; without it the test is skipped, and under CI=true it
// fails: a suite that needs a server never passes by skipping it there.
func serverURL(t *testing.T, name, script string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		msg := name + " is not set: run the tests under " + script + ", which starts a server and sets it"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return v
}

// postgresSchema creates a schema for the test and returns a URL that uses it.
func postgresSchema(t *testing.T, dsn string) string {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	schema := "svc_" + strings.ToLower(rand.Text()[:12])
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db, _ := sql.Open("pgx", dsn)
		db.Exec("DROP SCHEMA " + schema + " CASCADE")
		db.Close()
	})
	u, _ := url.Parse(dsn)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// walk goes through every endpoint with its success and failure cases.
func walk(t *testing.T, in *instance) {
	expect(t, "healthz", in.do("GET", "/healthz", nil, ""), 200)
	expect(t, "unknown route", in.do("GET", "/nope", nil, ""), 404)

	// Registration.
	register := func(body string) response { return in.do("POST", "/auth/register", jsonCT, body) }
	res := register(`{"email":"Ada@Example.com","password":"ada's long password"}`)
	expect(t, "register", res, 201)
	adaID := res.json(t)["id"].(string)
	expect(t, "register again", register(`{"email":"ada@example.com","password":"another long password"}`), 409)
	expect(t, "register, short password", register(`{"email":"bob@example.com","password":"short"}`), 400)
	expect(t, "register, bad email", register(`{"email":"bob","password":"bob's long password"}`), 400)
	expect(t, "register, malformed JSON", register(`{"email":`), 400)
	expect(t, "register, unknown field", register(`{"email":"bob@example.com","password":"bob's long password","admin":true}`), 400)
	expect(t, "register, form body", in.do("POST", "/auth/register", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "email=bob"), 415)
	expect(t, "register, 1 MiB body", register(`{"email":"`+strings.Repeat("b", 1<<20)+`"}`), 413)
	expect(t, "register bob", register(`{"email":"bob@example.com","password":"bob's long password"}`), 201)

	// Login and the current user.
	ada := in.login("ada@example.com", "ada's long password")
	res = in.do("GET", "/users/me", bearer(ada.access), "")
	expect(t, "me", res, 200)
	if res.json(t)["email"] != "ada@example.com" {
		t.Errorf("me = %s", res.body)
	}
	wrong := in.do("POST", "/auth/login", jsonCT, `{"username":"ada@example.com","password":"wrong password"}`)
	unknown := in.do("POST", "/auth/login", jsonCT, `{"username":"nobody@example.com","password":"wrong password"}`)
	expect(t, "login, wrong password", wrong, 401)
	if wrong.body != unknown.body || unknown.status != 401 {
		t.Errorf("unknown user %d %q differs from wrong password %q", unknown.status, unknown.body, wrong.body)
	}
	expect(t, "login, GET", in.do("GET", "/auth/login", nil, ""), 405)
	expect(t, "login, text/plain", in.do("POST", "/auth/login", map[string]string{"Content-Type": "text/plain"}, "x"), 415)
	expect(t, "login, 1 MiB", in.do("POST", "/auth/login", jsonCT, `{"password":"`+strings.Repeat("x", 1<<20)+`"}`), 413)
	expect(t, "me, no token", in.do("GET", "/users/me", nil, ""), 401)
	expect(t, "me, malformed header", in.do("GET", "/users/me", map[string]string{"Authorization": "Bearer"}, ""), 400)
	expect(t, "me, forged token", in.do("GET", "/users/me", bearer(ada.access[:len(ada.access)-3]+"AAA"), ""), 401)
	expect(t, "me, oversized token", in.do("GET", "/users/me", bearer(strings.Repeat("a", 10000)), ""), 401)
	expect(t, "me, token in the query", in.do("GET", "/users/me?access_token="+ada.access, nil, ""), 401)
	expect(t, "me, refresh token", in.do("GET", "/users/me", bearer(ada.refresh), ""), 401)

	// Refresh: rotation, reuse kills the family, logout.
	res = in.refresh(ada.refresh)
	expect(t, "refresh", res, 200)
	next := res.json(t)["refresh_token"].(string)
	expect(t, "access token from refresh", in.do("GET", "/users/me", bearer(res.json(t)["access_token"].(string)), ""), 200)
	expect(t, "refresh reuse", in.refresh(ada.refresh), 401)
	expect(t, "successor after reuse", in.refresh(next), 401)
	ada = in.login("ada@example.com", "ada's long password")
	expect(t, "logout", in.do("POST", "/auth/logout", jsonBearer(ada.access), `{"refresh_token":"`+ada.refresh+`"}`), 204)
	expect(t, "refresh after logout", in.refresh(ada.refresh), 401)
	expect(t, "access token after logout (denylist)", in.do("GET", "/users/me", bearer(ada.access), ""), 401)

	// Per-user tasks and admin routes.
	ada = in.login("ada@example.com", "ada's long password")
	bob := in.login("bob@example.com", "bob's long password")
	admin := in.login(adminEmail, adminPassword)
	expect(t, "own tasks", in.do("GET", "/api/"+adaID+"/tasks", bearer(ada.access), ""), 200)
	expect(t, "another user's tasks", in.do("GET", "/api/"+adaID+"/tasks", bearer(bob.access), ""), 403)
	expect(t, "tasks as admin", in.do("GET", "/api/"+adaID+"/tasks", bearer(admin.access), ""), 200)
	expect(t, "tasks, anonymous", in.do("GET", "/api/"+adaID+"/tasks", nil, ""), 401)
	expect(t, "admin users as a user", in.do("GET", "/admin/users", bearer(ada.access), ""), 403)
	expect(t, "admin subtree as a user", in.do("GET", "/admin/anything", bearer(ada.access), ""), 403)
	expect(t, "admin users, anonymous", in.do("GET", "/admin/users", nil, ""), 401)
	res = in.do("GET", "/admin/users", bearer(admin.access), "")
	expect(t, "admin users as admin", res, 200)
	if strings.Contains(res.body, "argon2") || !strings.Contains(res.body, "bob@example.com") {
		t.Errorf("admin users: %s", res.body)
	}

	// Deleting a user kills their token.
	res = in.do("GET", "/users/me", bearer(bob.access), "")
	bobID := res.json(t)["id"].(string)
	expect(t, "delete as a user", in.do("DELETE", "/users/"+bobID, bearer(ada.access), ""), 403)
	expect(t, "delete as admin", in.do("DELETE", "/users/"+bobID, bearer(admin.access), ""), 204)
	expect(t, "delete again", in.do("DELETE", "/users/"+bobID, bearer(admin.access), ""), 404)
	expect(t, "token of a deleted user", in.do("GET", "/users/me", bearer(bob.access), ""), 401)
	expect(t, "refresh of a deleted user", in.refresh(bob.refresh), 401)

	// Password change: every earlier token dies.
	expect(t, "password change, wrong current", in.do("POST", "/auth/password", jsonBearer(ada.access),
		`{"current_password":"wrong","new_password":"ada's new long password"}`), 403)
	expect(t, "password change, weak new", in.do("POST", "/auth/password", jsonBearer(ada.access),
		`{"current_password":"ada's long password","new_password":"weak"}`), 400)
	expect(t, "password change", in.do("POST", "/auth/password", jsonBearer(ada.access),
		`{"current_password":"ada's long password","new_password":"ada's new long password"}`), 204)
	expect(t, "access token after password change", in.do("GET", "/users/me", bearer(ada.access), ""), 401)
	expect(t, "refresh token after password change", in.refresh(ada.refresh), 401)
	expect(t, "old password", in.do("POST", "/auth/login", jsonCT, `{"username":"ada@example.com","password":"ada's long password"}`), 401)
	ada = in.login("ada@example.com", "ada's new long password")

	// Log out everywhere.
	other := in.login("ada@example.com", "ada's new long password")
	expect(t, "logout everywhere", in.do("POST", "/auth/logout/all", bearer(ada.access), ""), 204)
	for name, tok := range map[string]string{"access": other.access, "same session access": ada.access} {
		expect(t, name+" after logout everywhere", in.do("GET", "/users/me", bearer(tok), ""), 401)
	}
	expect(t, "refresh after logout everywhere", in.refresh(other.refresh), 401)

	// API keys, created and revoked with the operator commands.
	out := in.cli("create-api-key", "-name", "billing", "-roles", "reports")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	key := lines[len(lines)-1]
	keyID := strings.SplitN(key, "_", 3)[1]
	expect(t, "API key", in.do("GET", "/external-data", map[string]string{"X-API-Key": key}, ""), 200)
	expect(t, "no API key", in.do("GET", "/external-data", nil, ""), 401)
	expect(t, "wrong API key", in.do("GET", "/external-data", map[string]string{"X-API-Key": key[:len(key)-2] + "xx"}, ""), 401)
	expect(t, "API key in the query", in.do("GET", "/external-data?api_key="+key, nil, ""), 401)
	expect(t, "user token on the API-key route", in.do("GET", "/external-data", bearer(admin.access), ""), 401)
	if list := in.cli("list-api-keys"); !strings.Contains(list, keyID) || !strings.Contains(list, "active") || strings.Contains(list, key) {
		t.Errorf("list-api-keys = %q", list)
	}
	in.cli("revoke-api-key", "-id", keyID)
	expect(t, "revoked API key", in.do("GET", "/external-data", map[string]string{"X-API-Key": key}, ""), 401)

	// Operator-created users: an admin with a given password, a user with a
	// generated one.
	in.cli("create-user", "-email", "carol@example.com", "-password", "carol's long password", "-admin")
	carol := in.login("carol@example.com", "carol's long password")
	expect(t, "admin route as a CLI-created admin", in.do("GET", "/admin/users", bearer(carol.access), ""), 200)
	out = in.cli("create-user", "-email", "dave@example.com")
	generated := strings.TrimPrefix(strings.TrimSpace(strings.Split(strings.TrimSpace(out), "\n")[1]), "password: ")
	dave := in.login("dave@example.com", generated)
	expect(t, "admin route as a CLI-created user", in.do("GET", "/admin/users", bearer(dave.access), ""), 403)

	// Operator password reset ends sessions.
	in.cli("reset-password", "-email", "ada@example.com", "-password", "reset long password")
	expect(t, "token after reset-password", in.do("GET", "/users/me", bearer(ada.access), ""), 401)
	in.login("ada@example.com", "reset long password")

	// Brute force: 429 with Retry-After after repeated failures.
	var last response
	for range 6 {
		last = in.do("POST", "/auth/login", jsonCT, `{"username":"target@example.com","password":"guess"}`)
	}
	expect(t, "sixth failed login", last, 429)
	if last.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}

	// Nothing secret reached the logs.
	logs := in.logs.String()
	for _, secret := range []string{adminPassword, "ada's long password", "ada's new long password", ada.access, ada.refresh, key, in.env["AUTH_SECRET"]} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain a secret (%.12s…)", secret)
		}
	}
}
