package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one embedded migrations/NNN_name.sql file.
type migration struct {
	version    int
	name       string
	statements []string
}

// migrations returns the embedded migrations in order. Their numbers run
// from 1 without gaps; statements are separated by a ';' at the end of a
// line.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for i, name := range names { // fs.Glob sorts them
		base := path.Base(name)
		num, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v != i+1 {
			return nil, fmt.Errorf("sqlstore: migration %s: want number %03d", base, i+1)
		}
		text, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		m := migration{version: v, name: base}
		for _, stmt := range strings.Split(string(text), ";\n") {
			var lines []string
			for _, l := range strings.Split(stmt, "\n") {
				if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "--") {
					lines = append(lines, l)
				}
			}
			if len(lines) > 0 {
				m.statements = append(m.statements, strings.Join(lines, "\n"))
			}
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// SchemaVersion is the number of the newest embedded migration: the schema
// version [Open] brings a database to.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// migrationLock is the PostgreSQL advisory lock key that serializes
// migrations of one database ("sqlstore" in ASCII, as a number).
const migrationLock = 0x73716c73746f7265

// migrate applies the migrations the database lacks, one transaction each.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := db.apply(ctx, m, ms[len(ms)-1].version); err != nil {
			return fmt.Errorf("sqlstore: migration %s: %w", m.name, classify(err))
		}
	}
	return nil
}

// apply runs m in a transaction unless the database already has it. The
// transaction starts by taking the migration lock (on PostgreSQL an
// advisory lock; on SQLite the write lock, by BEGIN IMMEDIATE on a
// connection of its own, whatever the pool's settings), so concurrent
// Opens take turns and each migration runs once.
func (db *DB) apply(ctx context.Context, m migration, latest int) error {
	tx, commit, err := db.begin(ctx)
	if err != nil {
		return err
	}
	defer commit(false)
	if db.dialect == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version    BIGINT PRIMARY KEY,
		applied_at BIGINT NOT NULL
	)`); err != nil {
		return err
	}
	var have sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_version`).Scan(&have); err != nil {
		return err
	}
	if have.Int64 > int64(latest) {
		return fmt.Errorf("the database's schema version %d is newer than this sqlstore's (%d)", have.Int64, latest)
	}
	if have.Int64 >= int64(m.version) {
		return nil
	}
	for _, stmt := range m.statements {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, db.Rebind(`INSERT INTO schema_version (version, applied_at) VALUES (?, ?)`),
		m.version, time.Now().UnixMilli()); err != nil {
		return err
	}
	return commit(true)
}

// migrationTx is what a migration runs its statements on: a *sql.Tx, or
// on SQLite a *sql.Conn inside BEGIN IMMEDIATE.
type migrationTx interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// begin starts a migration's transaction. commit(true) commits it;
// commit(false), after a commit or instead of one, rolls it back if it is
// still open and releases the connection.
func (db *DB) begin(ctx context.Context) (migrationTx, func(bool) error, error) {
	if db.dialect != SQLite {
		tx, err := db.sql.BeginTx(ctx, nil)
		if err != nil {
			return nil, nil, err
		}
		return tx, func(ok bool) error {
			if ok {
				return tx.Commit()
			}
			return tx.Rollback()
		}, nil
	}
	// A deferred transaction that reads first and writes later is refused
	// at once (SQLITE_BUSY, no busy wait) when another connection wrote in
	// between; BEGIN IMMEDIATE takes the write lock first, waiting up to
	// the busy timeout.
	conn, err := db.sql.Conn(ctx)
	if err != nil {
		return nil, nil, err
	}
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		conn.Close()
		return nil, nil, err
	}
	open := true
	return conn, func(ok bool) error {
		defer conn.Close()
		if !open {
			return nil
		}
		open = false
		if ok {
			_, err := conn.ExecContext(ctx, `COMMIT`)
			return err
		}
		_, err := conn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`)
		return err
	}, nil
}
