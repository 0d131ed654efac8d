// Command service is the example service: the auth package's API on a real
// database. It serves registration, login, refresh, logout, password
// change, per-user and admin routes and an API-key route, on SQLite by
// default or on PostgreSQL with DATABASE_URL.
//
//	go run ./service                      # serve on 127.0.0.1:8080, SQLite file auth-example.db
//	go run ./service -h                   # flags and environment
//	go run ./service create-api-key -name billing -roles reports
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/keygate/auth/redisstore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0) // asked for the usage, as the flag package exits
		}
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// config is what flags and the environment set.
type config struct {
	addr           string
	database       string
	secret         string
	adminEmail     string
	adminPassword  string
	logLevel       string
	redis          string         // redis:// URL for the volatile state, or ""
	redisPrefix    string         // the prefix of the service's keys in Redis
	trustedProxies []netip.Prefix // the reverse proxies whose X-Forwarded-For counts
	freshFor       time.Duration  // how recent a login sensitive actions need
	userCacheTTL   time.Duration  // how long a loaded user is kept; 0: not at all
}

const usage = `usage: service [flags] [command [flags]]

Commands:
  serve            serve the API (the default)
  create-user      -email E [-password P] [-admin]: add a user (a password is generated if none is given)
  reset-password   -email E [-password P]: set a user's password and end their sessions
  create-api-key   -name N [-roles r1,r2]: create an API key, printed once
  list-api-keys    list API keys (IDs and names, never the keys)
  revoke-api-key   -id ID: revoke an API key

Environment:
  ADDR             listen address (default 127.0.0.1:8080)
  DATABASE_URL     postgres://… for PostgreSQL, else an SQLite file path (default auth-example.db)
  AUTH_SECRET      token signing secret, 32 bytes or more; generated at start if unset
                   (tokens then do not survive a restart)
  ADMIN_EMAIL      the admin created on first start (default admin@example.com)
  ADMIN_PASSWORD   their password (generated and printed once if unset)
  LOG_LEVEL        debug, info, warn or error (default info)
  REDIS_URL        redis://… to keep refresh tokens, attempt counts and the denylist
                   in Redis instead of the database (optional)
  REDIS_PREFIX     the prefix of the service's keys in Redis (default auth:)
  FRESH_LOGIN_MAX_AGE
                   how recent a login a password change or an account deletion
                   needs (default 5m; POST /auth/reauth refreshes it)
  USER_CACHE_TTL   keep each user the middleware loads for this long (up to 5m;
                   default 0, off): fewer database reads, but a change made on
                   another instance or in the database shows only after it
  TRUSTED_PROXIES  comma-separated networks of your reverse proxies (10.0.0.0/8,…):
                   X-Forwarded-For is read right to left through them only;
                   without it the client IP is the TCP peer's address

Flags:
`

// parseConfig reads the global flags, with the environment as defaults,
// and returns the config and the remaining arguments.
func parseConfig(args []string, getenv func(string) string, stderr io.Writer) (config, []string, error) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	c := config{secret: getenv("AUTH_SECRET"), adminPassword: getenv("ADMIN_PASSWORD")}
	fs := flag.NewFlagSet("service", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	fs.StringVar(&c.addr, "addr", env("ADDR", "127.0.0.1:8080"), "listen address")
	fs.StringVar(&c.database, "db", env("DATABASE_URL", "auth-example.db"), "postgres:// URL or SQLite file")
	fs.StringVar(&c.adminEmail, "admin-email", env("ADMIN_EMAIL", "admin@example.com"), "email of the admin created on first start")
	fs.StringVar(&c.logLevel, "log-level", env("LOG_LEVEL", "info"), "log level")
	fs.StringVar(&c.redis, "redis", env("REDIS_URL", ""), "redis:// URL for the volatile state")
	fs.StringVar(&c.redisPrefix, "redis-prefix", env("REDIS_PREFIX", redisstore.DefaultPrefix), "prefix of the keys in Redis")
	fresh := fs.String("fresh-login-max-age", env("FRESH_LOGIN_MAX_AGE", defaultFreshFor.String()), "how recent a login sensitive actions need")
	cacheTTL := fs.String("user-cache-ttl", env("USER_CACHE_TTL", "0"), "how long a loaded user is kept (0: off)")
	proxies := fs.String("trusted-proxies", env("TRUSTED_PROXIES", ""), "comma-separated networks of your reverse proxies")
	if err := fs.Parse(args); err != nil {
		return c, nil, err
	}
	d, err := time.ParseDuration(*fresh)
	if err != nil || d <= 0 {
		return c, nil, fmt.Errorf("FRESH_LOGIN_MAX_AGE: want a positive duration such as 5m, got %q", *fresh)
	}
	c.freshFor = d
	if c.userCacheTTL, err = time.ParseDuration(*cacheTTL); err != nil || c.userCacheTTL < 0 || c.userCacheTTL > 5*time.Minute {
		return c, nil, fmt.Errorf("USER_CACHE_TTL: want a duration from 0 to 5m such as 2s, got %q", *cacheTTL)
	}
	for p := range strings.SplitSeq(*proxies, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			return c, nil, fmt.Errorf("TRUSTED_PROXIES: %w", err)
		}
		c.trustedProxies = append(c.trustedProxies, prefix.Masked())
	}
	return c, fs.Args(), nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, rest, err := parseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	cmd := "serve"
	if len(rest) > 0 {
		cmd, rest = rest[0], rest[1:]
	}
	app, err := open(ctx, cfg, cmd == "serve", stdout, stderr)
	if err != nil {
		return err
	}
	defer app.close()
	switch cmd {
	case "serve":
		if len(rest) > 0 {
			return fmt.Errorf("serve takes no arguments, got %q", strings.Join(rest, " "))
		}
		return app.listenAndServe(ctx, cfg.addr)
	case "create-user", "reset-password", "create-api-key", "list-api-keys", "revoke-api-key":
		return app.command(ctx, cmd, rest, stdout, stderr)
	}
	return fmt.Errorf("unknown command %q (see -h)", cmd)
}
