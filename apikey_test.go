package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestGenerateAPIKey(t *testing.T) {
	t.Parallel()
	key, rec, err := GenerateAPIKey("sk")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.SplitN(key, "_", 3)
	if len(parts) != 3 || parts[0] != "sk" || parts[1] != rec.ID {
		t.Fatalf("key %q: want sk_<ID>_<secret> with ID %q", key, rec.ID)
	}
	secret, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(secret) != 32 {
		t.Errorf("secret part decodes to %d bytes (%v); want 32 (256 bits)", len(secret), err)
	}
	sum := sha256.Sum256([]byte(key))
	if rec.Hash != hex.EncodeToString(sum[:]) || HashAPIKey(key) != rec.Hash {
		t.Errorf("Hash = %q; want the hex SHA-256 of the key", rec.Hash)
	}
	if strings.Contains(rec.Hash, parts[2]) || strings.Contains(rec.ID, parts[2]) {
		t.Error("the record holds the secret")
	}
	key2, rec2, _ := GenerateAPIKey("sk")
	if key2 == key || rec2.ID == rec.ID {
		t.Error("two generated keys share an ID or a value")
	}
	for _, prefix := range []string{"", "s_k", "sk-live", strings.Repeat("k", 17), "ké"} {
		if _, _, err := GenerateAPIKey(prefix); err == nil {
			t.Errorf("prefix %q accepted", prefix)
		}
	}
}

// spyKeys counts lookups.
type spyKeys struct {
	APIKeyStore
	lookups atomic.Int32
}

func (s *spyKeys) APIKey(ctx context.Context, hash string) (APIKey, bool, error) {
	s.lookups.Add(1)
	return s.APIKeyStore.APIKey(ctx, hash)
}

type failingKeys struct{}

func (failingKeys) APIKey(context.Context, string) (APIKey, bool, error) {
	return APIKey{}, false, errDatabaseDown
}

// looseKeys finds a key by hash prefix, as a careless store might.
type looseKeys struct{ rec APIKey }

func (l looseKeys) APIKey(_ context.Context, hash string) (APIKey, bool, error) {
	return l.rec, strings.HasPrefix(hash, l.rec.Hash[:1]), nil
}

func TestRequireAPIKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	now := f.clock()
	store := NewMemoryAPIKeys()
	spy := &spyKeys{APIKeyStore: store}
	mk := func(roles []string, expires time.Time) (string, APIKey) {
		key, rec, err := GenerateAPIKey("sk")
		if err != nil {
			t.Fatal(err)
		}
		rec.Name, rec.Roles, rec.ExpiresAt = "reports", roles, expires
		store.Add(rec)
		return key, rec
	}
	valid, validRec := mk([]string{"reports"}, time.Time{})
	expired, _ := mk(nil, now)
	future, _ := mk(nil, now.Add(time.Hour))
	revoked, revokedRec := mk(nil, time.Time{})
	store.Revoke(revokedRec.ID)
	wrongSecret := valid[:len(valid)-4] + "AAAA"

	logs := f.logs
	var opts []APIKeyOption
	RequireAPIKey := f.a.RequireAPIKey
	mux := http.NewServeMux()
	mux.Handle("GET /external-data", RequireAPIKey(spy, opts...)(http.HandlerFunc(whoami)))
	mux.Handle("GET /custom", RequireAPIKey(store, append(opts, WithAPIKeyHeader("X-Service-Key"))...)(http.HandlerFunc(whoami)))
	mux.Handle("GET /reports", RequireAPIKey(store, opts...)(RequireRole("reports")(http.HandlerFunc(whoami))))
	mux.Handle("GET /admin", RequireAPIKey(store, opts...)(RequireRole("admin")(http.HandlerFunc(whoami))))
	mux.Handle("GET /owner/{id}", RequireAPIKey(store, opts...)(RequireOwner("id")(http.HandlerFunc(whoami))))
	mux.Handle("GET /broken", RequireAPIKey(failingKeys{}, opts...)(http.HandlerFunc(whoami)))
	mux.Handle("GET /loose", RequireAPIKey(looseKeys{validRec}, opts...)(http.HandlerFunc(whoami)))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	h := func(k string) http.Header { return http.Header{"X-Api-Key": {k}} }
	ok := "subject=" + validRec.ID + " user=/false claims=false/false roles=[reports]\n"
	tests := []struct {
		name   string
		path   string
		header http.Header
		status int
		body   string
	}{
		{"valid", "/external-data", h(valid), 200, ok},
		{"no key", "/external-data", nil, 401, ""},
		{"empty key", "/external-data", h(""), 401, ""},
		{"wrong secret, right ID", "/external-data", h(wrongSecret), 401, ""},
		{"one byte short", "/external-data", h(valid[:len(valid)-1]), 401, ""},
		{"one byte long", "/external-data", h(valid + "A"), 401, ""},
		{"key in the query", "/external-data?api_key=" + valid, nil, 401, ""},
		{"key as bearer token", "/external-data", bearer(valid), 401, ""},
		{"two keys", "/external-data", http.Header{"X-Api-Key": {valid, valid}}, 401, ""},
		{"expired", "/external-data", h(expired), 401, ""},
		{"expires later", "/external-data", h(future), 200, ""},
		{"revoked", "/external-data", h(revoked), 401, ""},
		{"4 KiB key", "/external-data", h(strings.Repeat("k", 4096)), 401, ""},
		{"custom header", "/custom", http.Header{"X-Service-Key": {valid}}, 200, ok},
		{"default header on custom route", "/custom", h(valid), 401, ""},
		{"role guard, has role", "/reports", h(valid), 200, ok},
		{"role guard, lacks role", "/admin", h(valid), 403, ""},
		{"owner guard never matches a key", "/owner/" + validRec.ID, h(valid), 403, ""},
		{"store down", "/broken", h(valid), 503, ""},
		{"store lookup looser than equality", "/loose", h(wrongSecret), 401, ""},
	}
	var bodies []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := do(t, srv, "GET", tt.path, tt.header, "")
			if res.status != tt.status {
				t.Fatalf("status = %d; want %d (%q)", res.status, tt.status, res.body)
			}
			if tt.body != "" && res.body != tt.body {
				t.Errorf("body = %q; want %q", res.body, tt.body)
			}
			if tt.status == 401 {
				if got := res.header.Get("WWW-Authenticate"); got != `APIKey realm="api"` {
					t.Errorf("WWW-Authenticate = %q", got)
				}
				if code := res.errorCode(t); code != "invalid_api_key" {
					t.Errorf("error = %q", code)
				}
				bodies = append(bodies, res.body)
			}
			for _, v := range tt.header {
				for _, k := range v {
					if parts := strings.SplitN(k, "_", 3); len(parts) == 3 {
						k = parts[2] // the ID is public: a handler may show it
					}
					assertNoSecret(t, res.body, k)
				}
			}
		})
	}
	for _, b := range bodies {
		if b != bodies[0] {
			t.Errorf("401 bodies differ: %q vs %q", b, bodies[0])
		}
	}
	for _, k := range []string{valid, wrongSecret, expired, revoked} {
		assertNoSecret(t, logs.String(), strings.SplitN(k, "_", 3)[2])
	}
	if strings.Count(logs.String(), `"event":"api_key_rejected"`) < 10 {
		t.Errorf("rejected keys were not logged: %s", logs.String())
	}
	// The oversized key was refused before any lookup.
	before := spy.lookups.Load()
	do(t, srv, "GET", "/external-data", h(strings.Repeat("k", 257)), "")
	if spy.lookups.Load() != before {
		t.Error("an oversized key reached the store")
	}
}

func FuzzAPIKeyHeader(f *testing.F) {
	key, rec, _ := GenerateAPIKey("sk")
	store := NewMemoryAPIKeys()
	store.Add(rec)
	tokens, err := NewTokens(testKeys(f)["HS256"])
	if err != nil {
		f.Fatal(err)
	}
	a, err := NewStateless(tokens, WithLogger(slog.New(slog.DiscardHandler)), WithThrottles(DefaultAccountThrottle,
		Throttle{Threshold: 1 << 30, Base: time.Second, Max: time.Second, Window: time.Second}))
	if err != nil {
		f.Fatal(err)
	}
	h := a.RequireAPIKey(store)(http.HandlerFunc(whoami))
	for _, s := range []string{key, "", key + "x", strings.Repeat("k", 300), "sk__", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, k string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header["X-Api-Key"] = []string{k}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if (rec.Code == 200) != (k == key) || rec.Code != 200 && rec.Code != 401 {
			t.Fatalf("key %q: status %d", k, rec.Code)
		}
	})
}
