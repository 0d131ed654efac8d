package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/keygate/auth"
	"github.com/keygate/auth/sqlstore"
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
}

// volatileStores chooses the volatile stores: the service's database,
// shared by every instance on it. Another backend (Redis, say) is one more
// case here.
func volatileStores(_ config, db *sqlstore.DB) (volatile, error) {
	return volatile{refresh: db.RefreshTokens(), limiter: db.Limiter(), denylist: db.Denylist()}, nil
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
