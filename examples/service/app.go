package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/keygate/auth"
	"github.com/keygate/auth/sqlstore"
)

// app is the service's parts, built once.
type app struct {
	db        *sqlstore.DB
	volatile  volatile
	passwords *auth.Passwords
	// registerPasswords hashes for registration alone, in one slot of its
	// own, so that a registration flood never takes the login's slots.
	registerPasswords *auth.Passwords
	tokens            *auth.Tokens
	freshFor          time.Duration // how recent a login sensitive actions need
	auth              *auth.Authenticator[*sqlstore.User]
	log               *slog.Logger
}

func open(ctx context.Context, cfg config, serving bool, stdout, stderr io.Writer) (*app, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return nil, fmt.Errorf("LOG_LEVEL: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	secret := cfg.secret
	if secret == "" {
		secret = auth.GenerateSecret()
		if serving { // operator commands sign no tokens
			log.Warn("AUTH_SECRET is not set: using a random secret; tokens will not survive a restart")
		}
	}
	key, err := auth.NewHMACKey("", "HS256", []byte(secret))
	if err != nil {
		return nil, fmt.Errorf("AUTH_SECRET: %w", err)
	}
	tokens, err := auth.NewTokens(key, auth.WithIssuer("auth-example"), auth.WithAudience("auth-example"))
	if err != nil {
		return nil, err
	}
	passwords, err := auth.NewPasswords()
	if err != nil {
		return nil, err
	}
	registerPasswords, err := auth.NewPasswords(auth.WithMaxConcurrentHashes(1))
	if err != nil {
		return nil, err
	}
	db, err := sqlstore.Open(ctx, cfg.database)
	if err != nil {
		return nil, err
	}
	if err := migrateVerifications(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	if err := migrateTasks(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	vol, err := volatileStores(cfg, db)
	if err != nil {
		db.Close()
		return nil, err
	}
	opts := []auth.Option{
		auth.WithPasswords(passwords),
		auth.WithRefreshStore(vol.refresh),
		auth.WithLimiter(vol.limiter),
		auth.WithDenylist(vol.denylist),
		auth.WithLogger(log),
		auth.WithClientIP(clientIP(cfg.trustedProxies)),
		auth.WithOneTimeTokens(auth.OneTimeConfig{Secret: []byte(secret), Send: devMailer(log, "http://"+cfg.addr)}),
	}
	if cfg.userCacheTTL > 0 {
		opts = append(opts, auth.WithUserCache(10_000, cfg.userCacheTTL))
	}
	a, err := auth.New[*sqlstore.User](tokens, users{db.Users(), db}, opts...)
	if err != nil {
		db.Close()
		return nil, err
	}
	s := &app{db: db, volatile: vol, passwords: passwords, registerPasswords: registerPasswords, tokens: tokens, freshFor: cfg.freshFor, auth: a, log: log}
	if err := s.bootstrap(ctx, cfg, stdout); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *app) close() {
	if s.volatile.close != nil {
		s.volatile.close()
	}
	s.db.Close()
}

// bootstrap creates the first admin when there are no users at all.
func (s *app) bootstrap(ctx context.Context, cfg config, stdout io.Writer) error {
	n, err := s.db.Users().Count(ctx)
	if err != nil || n > 0 {
		return err
	}
	password, generated := cfg.adminPassword, false
	if password == "" {
		password, generated = rand.Text(), true
	}
	if err := s.passwords.Check(password); err != nil {
		return fmt.Errorf("ADMIN_PASSWORD: %w", err)
	}
	hash, err := s.passwords.Hash(ctx, password)
	if err != nil {
		return err
	}
	u, err := s.db.Users().Create(ctx, cfg.adminEmail, hash, "admin", "user")
	if err != nil {
		return err
	}
	s.log.Info("created the first admin", "email", u.Email, "id", u.ID)
	if generated {
		fmt.Fprintf(stdout, "Created admin %s with password %s (shown once; change it with reset-password)\n", u.Email, password)
	}
	return nil
}

func (s *app) listenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.serve(ctx, ln)
}

// serve answers on ln until ctx ends, then shuts down gracefully.
func (s *app) serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.log.Info("listening", "addr", "http://"+ln.Addr().String(), "database", s.db.Dialect())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// command runs an operator subcommand.
func (s *app) command(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "the user's email")
	password := fs.String("password", "", "the password (generated and printed if empty)")
	admin := fs.Bool("admin", false, "make the user an admin")
	keyName := fs.String("name", "", "what the API key is for")
	roles := fs.String("roles", "", "comma-separated roles of the API key")
	id := fs.String("id", "", "the API key's ID")
	if err := fs.Parse(args); err != nil {
		return err
	}
	users, keys := s.db.Users(), s.db.APIKeys()
	newPassword := func() (string, string, error) {
		pw := *password
		if pw == "" {
			pw = rand.Text()
		}
		if err := s.passwords.Check(pw); err != nil {
			return "", "", err
		}
		hash, err := s.passwords.Hash(ctx, pw)
		return pw, hash, err
	}
	switch name {
	case "create-user":
		if *email == "" {
			return errors.New("create-user needs -email")
		}
		pw, hash, err := newPassword()
		if err != nil {
			return err
		}
		roleList := []string{"user"}
		if *admin {
			roleList = append(roleList, "admin")
		}
		u, err := users.Create(ctx, *email, hash, roleList...)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created %s (%s)\n", u.Email, u.ID)
		if *password == "" {
			fmt.Fprintf(stdout, "password: %s\n", pw)
		}
	case "reset-password":
		u, found, err := users.UserByLogin(ctx, *email)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("no user %q", *email)
		}
		pw, hash, err := newPassword()
		if err != nil {
			return err
		}
		if err := users.UpdatePasswordHash(ctx, u.ID, hash); err != nil {
			return err
		}
		if err := s.auth.LogoutEverywhere(ctx, u.ID); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "reset the password of %s; their sessions have ended (a service running with USER_CACHE_TTL accepts their access tokens for up to that long)\n", u.Email)
		if *password == "" {
			fmt.Fprintf(stdout, "password: %s\n", pw)
		}
	case "create-api-key":
		if *keyName == "" {
			return errors.New("create-api-key needs -name")
		}
		key, rec, err := auth.GenerateAPIKey("sk")
		if err != nil {
			return err
		}
		rec.Name = *keyName
		if *roles != "" {
			rec.Roles = strings.Split(*roles, ",")
		}
		if err := keys.Create(ctx, rec); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created API key %s (%s); it is shown once:\n%s\n", rec.ID, rec.Name, key)
	case "list-api-keys":
		list, err := keys.List(ctx)
		if err != nil {
			return err
		}
		for _, k := range list {
			state := "active"
			if k.Revoked {
				state = "revoked"
			}
			fmt.Fprintf(stdout, "%s\t%s\t%s\t%s\n", k.ID, k.Name, strings.Join(k.Roles, ","), state)
		}
	case "revoke-api-key":
		ok, err := keys.Revoke(ctx, *id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("no API key %q", *id)
		}
		fmt.Fprintf(stdout, "revoked %s\n", *id)
	}
	return nil
}
