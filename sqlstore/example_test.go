package sqlstore_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/keygate/auth"
	"github.com/keygate/auth/sqlstore"
)

// Example is the durable quick start: users, refresh-token families,
// failed-login counts and the denylist in one database (an SQLite file
// here; a postgres:// URL works the same), so a restart or a second
// instance changes nothing for clients.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sqlstore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	db, err := sqlstore.Open(ctx, filepath.Join(dir, "auth.db")) // or os.Getenv("DATABASE_URL")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	key, err := auth.NewHMACKey("", "HS256", []byte(auth.GenerateSecret())) // auth.HMACKeyFromEnv("AUTH_SECRET") in a service
	if err != nil {
		log.Fatal(err)
	}
	tokens, err := auth.NewTokens(key)
	if err != nil {
		log.Fatal(err)
	}
	a, err := auth.New(tokens, db.Users(),
		auth.WithRefreshStore(db.RefreshTokens()), // sessions survive restarts, shared by instances
		auth.WithLimiter(db.Limiter()),            // so do failed-login counts
		auth.WithDenylist(db.Denylist()),          // and logged-out access tokens
	)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /auth/login", a.LoginHandler())
	mux.Handle("POST /auth/refresh", a.RefreshHandler())
	mux.Handle("POST /auth/logout", a.LogoutHandler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if err := db.Ping(r.Context()); err != nil {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
		}
	})

	passwords, err := auth.NewPasswords()
	if err != nil {
		log.Fatal(err)
	}
	hash, err := passwords.Hash(ctx, "correct horse battery staple")
	if err != nil {
		log.Fatal(err)
	}
	if _, err := db.Users().Create(ctx, "ada@example.com", hash, "user"); err != nil {
		log.Fatal(err)
	}

	form := url.Values{"username": {"ada@example.com"}, "password": {"correct horse battery staple"}}
	r := httptest.NewRequest("POST", "/auth/login", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)
	fmt.Println("login:", w.Code)
	// Output: login: 200
}
