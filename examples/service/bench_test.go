package main

import (
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkUsersMe is the server side of an authenticated GET /users/me on
// SQLite, without the network: the middleware, the user's queries, the
// JSON; and the same with the user cache (USER_CACHE_TTL). Profile it with
// -cpuprofile to see where a request's time goes.
func BenchmarkUsersMe(b *testing.B) {
	b.Run("no-cache", func(b *testing.B) { benchmarkUsersMe(b, "0") })
	b.Run("user-cache", func(b *testing.B) { benchmarkUsersMe(b, "1m") })
}

func benchmarkUsersMe(b *testing.B, cacheTTL string) {
	env := map[string]string{"DATABASE_URL": filepath.Join(b.TempDir(), "bench.db"), "AUTH_SECRET": rand.Text() + rand.Text(),
		"ADMIN_EMAIL": adminEmail, "ADMIN_PASSWORD": adminPassword, "USER_CACHE_TTL": cacheTTL}
	cfg, _, err := parseConfig(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	s, err := open(context.Background(), cfg, true, io.Discard, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	defer s.close()
	h := s.routes()
	req := httptest.NewRequest("POST", "/auth/login", strings.NewReader(url.Values{"username": {adminEmail}, "password": {adminPassword}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body := rec.Body.String()
	i := strings.Index(body, `"access_token":"`) + len(`"access_token":"`)
	token := body[i : i+strings.IndexByte(body[i:], '"')]
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("GET", "/users/me", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("GET /users/me: %d %s", rec.Code, rec.Body)
		}
	}
}
