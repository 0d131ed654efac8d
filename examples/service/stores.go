package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/keygate/auth"
	"github.com/keygate/auth/redisstore"
	"github.com/keygate/auth/sqlstore"
	"github.com/redis/go-redis/v9"
)

// requestTimeout bounds each request's database calls (and the request):
// a frozen or unreachable database answers 503 within it instead of
// holding the client until it gives up.
const requestTimeout = 2 * time.Second

// volatile is where the state that changes on every login, refresh and
// logout lives: refresh-token families, attempt counts, the denylist.
type volatile struct {
	refresh  auth.RefreshStore
	limiter  auth.Limiter
	denylist auth.Denylist
	ping     func(context.Context) error // nil: the database's ping covers it
	close    func() error
}

// volatileStores chooses the volatile stores: Redis with REDIS_URL, else
// the service's database; either way shared by every instance on it.
func volatileStores(cfg config, db *sqlstore.DB) (volatile, error) {
	if cfg.redis == "" {
		return volatile{refresh: db.RefreshTokens(), limiter: db.Limiter(), denylist: db.Denylist()}, nil
	}
	opts, err := redis.ParseURL(cfg.redis)
	if err != nil {
		return volatile{}, fmt.Errorf("REDIS_URL: %w", err)
	}
	opts.ContextTimeoutEnabled = true // the per-request deadline reaches Redis
	rdb := redis.NewClient(opts)
	store := redisstore.New(rdb, redisstore.WithPrefix(cfg.redisPrefix))
	return volatile{refresh: store, limiter: store, denylist: store, ping: store.Ping, close: rdb.Close}, nil
}

// clientIP is the client's address: the TCP peer's, or behind the trusted
// proxies, the first address right to left in X-Forwarded-For that is not
// one of them.
func clientIP(proxies []netip.Prefix) func(*http.Request) string {
	if len(proxies) == 0 {
		return nil // the library's default: the host of r.RemoteAddr
	}
	return auth.ForwardedFor(proxies...)
}

// migrateTasks creates the service's own table, beside sqlstore's: its
// rows go when their user does.
func migrateTasks(ctx context.Context, db *sqlstore.DB) error {
	_, err := db.SQL().ExecContext(ctx, `CREATE TABLE IF NOT EXISTS tasks (
		id      TEXT PRIMARY KEY,
		user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
		title   TEXT NOT NULL
	)`)
	return err
}

// Task is one of a user's tasks.
type Task struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// listTasks returns the user's tasks, never nil.
func (s *app) listTasks(ctx context.Context, userID string) ([]Task, error) {
	rows, err := s.db.SQL().QueryContext(ctx, s.db.Rebind(`SELECT id, title FROM tasks WHERE user_id = ? ORDER BY id`), userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	tasks := []Task{}
	for rows.Next() {
		var t Task
		if err := rows.Scan(&t.ID, &t.Title); err != nil {
			return nil, err
		}
		tasks = append(tasks, t)
	}
	return tasks, rows.Err()
}

// bounded gives every request a deadline of requestTimeout.
func bounded(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// unavailable reports whether err is the database (or the request's
// deadline) failing rather than a bug: it answers 503, not 500.
func unavailable(err error) bool {
	return errors.Is(err, sqlstore.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}
