// Command browser is the browser-app flows of package auth on one small
// server: tokens in HttpOnly cookies with cross-origin protection and a
// double-submit CSRF token, a fresh
// login for a password change and an account deletion, and password reset
// and email verification links that a development mailer writes to the log.
//
//	go -C examples run ./browser            # http://localhost:8080
//
// It keeps its users in memory (auth.MemoryUsers) and creates
// ada@example.com with the password printed at start. examples/README.md
// walks through it with curl and a cookie jar.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/keygate/auth"
)

func main() {
	addr := flag.String("addr", "localhost:8080", "listen address")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	password := rand.Text()
	h, err := newServer(config{log: log, secret: []byte(auth.GenerateSecret()), baseURL: "http://" + *addr, now: time.Now,
		users: map[string]string{"ada@example.com": password}})
	if err != nil {
		log.Error("setup", "err", err)
		os.Exit(1)
	}
	fmt.Printf("ada@example.com's password: %s\nlistening on http://%s\n", password, *addr)
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		log.Error("serve", "err", err)
		os.Exit(1)
	}
}

// config is what newServer needs; tests set the clock and read the log.
type config struct {
	log     *slog.Logger
	secret  []byte // signs access, refresh and one-time tokens (each with its own derived key)
	baseURL string // for the links in messages
	now     func() time.Time
	users   map[string]string // email → password, created at start
}

// users is auth.MemoryUsers plus verified emails: an auth.EmailVerifier.
type users struct {
	*auth.MemoryUsers
	mu       sync.Mutex
	verified map[string]string // user ID → verified email
}

func (u *users) MarkEmailVerified(_ context.Context, id, email string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.verified[id] = email
	return nil
}

func (u *users) isVerified(id, email string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return email != "" && u.verified[id] == email
}

// devMailer is the development Send hook: it writes the link to the log
// instead of mailing it. The link holds a secret token, so never use it
// outside development; a real hook queues an email.
func devMailer(log *slog.Logger, baseURL string) func(context.Context, auth.OneTimeMessage) error {
	return func(ctx context.Context, m auth.OneTimeMessage) error {
		path := "/reset-password#token="
		if m.Purpose == auth.EmailVerification {
			path = "/verify-email#token="
		}
		log.InfoContext(ctx, "development mailer: would send", "to", m.Email, "purpose", string(m.Purpose),
			"link", baseURL+path+m.Token, "expires", m.ExpiresAt)
		return nil
	}
}

// freshFor is how recent a login must be for a password change or an
// account deletion.
const freshFor = 5 * time.Minute

func newServer(cfg config) (http.Handler, error) {
	key, err := auth.NewHMACKey("", "HS256", cfg.secret)
	if err != nil {
		return nil, err
	}
	tokens, err := auth.NewTokens(key, auth.WithIssuer("auth-browser-example"), auth.WithClock(cfg.now))
	if err != nil {
		return nil, err
	}
	passwords, err := auth.NewPasswords()
	if err != nil {
		return nil, err
	}
	store := &users{MemoryUsers: auth.NewMemoryUsers(), verified: map[string]string{}}
	i := 0
	for email, password := range cfg.users {
		hash, err := passwords.Hash(context.Background(), password)
		if err != nil {
			return nil, err
		}
		i++
		store.Put(email, auth.Account{ID: fmt.Sprintf("u%d", i), PasswordHash: hash, Active: true, Email: email, Roles: []string{"user"}})
	}
	a, err := auth.New[auth.Account](tokens, store,
		auth.WithPasswords(passwords),
		auth.WithLogger(cfg.log),
		auth.WithCookies(auth.CookieConfig{
			RefreshPath:       "/auth",
			AccessToken:       true,
			CSRFToken:         true, // scripts echo the csrf_token cookie in X-CSRF-Token
			InsecureLocalhost: true, // plain http on localhost only
		}),
		auth.WithOneTimeTokens(auth.OneTimeConfig{Secret: cfg.secret, Send: devMailer(cfg.log, cfg.baseURL)}),
	)
	if err != nil {
		return nil, err
	}
	s := &server{a: a, users: store, passwords: passwords}

	mux := http.NewServeMux()
	// The auth handlers check the method themselves (405 with Allow).
	mux.Handle("/auth/login", a.LoginHandler())
	mux.Handle("/auth/refresh", a.RefreshHandler())
	mux.Handle("/auth/logout", a.LogoutHandler())
	mux.Handle("/auth/reauth", a.Middleware(a.ReauthenticateHandler()))
	mux.Handle("/auth/password/forgot", a.PasswordResetRequestHandler())
	mux.Handle("/auth/password/reset", a.PasswordResetHandler())
	mux.Handle("/auth/email/verify", a.VerifyEmailHandler())
	mux.Handle("POST /auth/email/send", a.Middleware(http.HandlerFunc(s.sendVerification)))

	mux.Handle("GET /me", a.Middleware(http.HandlerFunc(s.me)))
	mux.Handle("POST /account/password", a.Middleware(a.RequireFresh(freshFor)(http.HandlerFunc(s.changePassword))))
	mux.Handle("DELETE /account", a.Middleware(a.RequireFresh(freshFor)(http.HandlerFunc(s.deleteAccount))))
	return mux, nil
}

type server struct {
	a         *auth.Authenticator[auth.Account]
	users     *users
	passwords *auth.Passwords
}

func (s *server) me(w http.ResponseWriter, r *http.Request) {
	u, _ := auth.UserFrom[auth.Account](r.Context())
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"id": u.ID, "email": u.Email, "email_verified": s.users.isVerified(u.ID, u.Email)})
}

func (s *server) sendVerification(w http.ResponseWriter, r *http.Request) {
	u, _ := auth.UserFrom[auth.Account](r.Context())
	if err := s.a.SendEmailVerification(r.Context(), u.ID); err != nil {
		s.a.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// changePassword sets a new password (JSON {"password"}) for a user who
// logged in or re-authenticated within freshFor, and ends every session:
// the browser logs in again.
func (s *server) changePassword(w http.ResponseWriter, r *http.Request) {
	u, _ := auth.UserFrom[auth.Account](r.Context())
	var in struct {
		Password string `json:"password"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 16<<10)).Decode(&in); err != nil {
		s.a.Error(w, r, auth.ErrInvalidRequest)
		return
	}
	if err := s.passwords.Check(in.Password); err != nil {
		s.a.Error(w, r, err)
		return
	}
	hash, err := s.passwords.Hash(r.Context(), in.Password)
	if err == nil {
		err = s.users.UpdatePasswordHash(r.Context(), u.ID, hash)
	}
	if err == nil {
		err = s.a.LogoutEverywhere(r.Context(), u.ID)
	}
	if err != nil {
		s.a.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// deleteAccount disables the account of a user who logged in or
// re-authenticated within freshFor, and ends every session.
func (s *server) deleteAccount(w http.ResponseWriter, r *http.Request) {
	u, _ := auth.UserFrom[auth.Account](r.Context())
	if !s.users.Update(u.ID, func(a *auth.Account) { a.Active = false }) {
		s.a.Error(w, r, errors.New("account vanished"))
		return
	}
	if err := s.a.LogoutEverywhere(r.Context(), u.ID); err != nil {
		s.a.Error(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
