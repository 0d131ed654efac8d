// Package sqlstore implements the auth package's store interfaces with
// database/sql, on SQLite (modernc.org/sqlite, pure Go) or PostgreSQL
// (pgx). It is the reference implementation: copy it and adapt the schema.
//
// Queries are written with ? placeholders and rewritten to $n for
// PostgreSQL; times are stored as Unix milliseconds, so the schema is the
// same on both.
package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	_ "modernc.org/sqlite"             // registers "sqlite"
)

// DB is a database with the service's schema.
type DB struct {
	sql      *sql.DB
	postgres bool
}

// Open opens url, which is either a postgres:// or postgresql:// URL, or a
// path to an SQLite file (created if missing), and migrates it.
func Open(ctx context.Context, url string) (*DB, error) {
	db := &DB{}
	var err error
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		db.postgres = true
		db.sql, err = sql.Open("pgx", url)
	} else {
		db.sql, err = sql.Open("sqlite", "file:"+url+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
		// One connection: SQLite has one writer at a time, and a single
		// connection makes every statement atomic without lock errors.
		db.sql.SetMaxOpenConns(1)
	}
	if err != nil {
		return nil, err
	}
	if err := db.sql.PingContext(ctx); err != nil {
		db.sql.Close()
		return nil, fmt.Errorf("sqlstore: connecting: %w", err)
	}
	if err := db.migrate(ctx); err != nil {
		db.sql.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the database.
func (db *DB) Close() error { return db.sql.Close() }

// Ping checks the connection, for health checks.
func (db *DB) Ping(ctx context.Context) error { return db.sql.PingContext(ctx) }

// Dialect names the database: "postgres" or "sqlite".
func (db *DB) Dialect() string {
	if db.postgres {
		return "postgres"
	}
	return "sqlite"
}

var schema = []string{
	`CREATE TABLE IF NOT EXISTS users (
		id            TEXT PRIMARY KEY,
		email         TEXT NOT NULL UNIQUE,
		password_hash TEXT NOT NULL,
		active        BOOLEAN NOT NULL DEFAULT TRUE,
		token_version BIGINT NOT NULL DEFAULT 0,
		created_at    BIGINT NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS user_roles (
		user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
		role    TEXT NOT NULL,
		PRIMARY KEY (user_id, role)
	)`,
	`CREATE TABLE IF NOT EXISTS tasks (
		id      TEXT PRIMARY KEY,
		user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
		title   TEXT NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS api_keys (
		id         TEXT PRIMARY KEY,
		hash       TEXT NOT NULL UNIQUE,
		name       TEXT NOT NULL,
		roles      TEXT NOT NULL DEFAULT '',
		expires_at BIGINT NOT NULL DEFAULT 0,
		revoked    BOOLEAN NOT NULL DEFAULT FALSE,
		created_at BIGINT NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS refresh_families (
		id           TEXT PRIMARY KEY,
		user_id      TEXT NOT NULL,
		current_jti  TEXT NOT NULL,
		previous_jti TEXT NOT NULL DEFAULT '',
		rotated_at   BIGINT NOT NULL DEFAULT 0,
		created_at   BIGINT NOT NULL,
		expires_at   BIGINT NOT NULL,
		revoked      BOOLEAN NOT NULL DEFAULT FALSE
	)`,
	`CREATE INDEX IF NOT EXISTS refresh_families_user ON refresh_families (user_id)`,
	`CREATE TABLE IF NOT EXISTS login_failures (
		key       TEXT PRIMARY KEY,
		failures  BIGINT NOT NULL,
		last_at   BIGINT NOT NULL,
		window_ms BIGINT NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS denied_tokens (
		jti      TEXT PRIMARY KEY,
		until_at BIGINT NOT NULL
	)`,
}

func (db *DB) migrate(ctx context.Context) error {
	for _, stmt := range schema {
		if _, err := db.sql.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("sqlstore: migrating: %w", err)
		}
	}
	return nil
}

// q rewrites ? placeholders to $1, $2, … for PostgreSQL.
func (db *DB) q(query string) string {
	if !db.postgres {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func (db *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return db.sql.ExecContext(ctx, db.q(query), args...)
}

func (db *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return db.sql.QueryRowContext(ctx, db.q(query), args...)
}

func (db *DB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return db.sql.QueryContext(ctx, db.q(query), args...)
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
