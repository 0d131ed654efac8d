package sqlstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
	"github.com/keygate/auth"
	"modernc.org/sqlite"
	_ "modernc.org/sqlite" // registers "sqlite"
)

// Dialect names a database engine.
type Dialect string

// The supported engines.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Pool defaults for PostgreSQL, set by [Open]; change them with
// db.SQL().SetMaxOpenConns and friends.
const (
	// DefaultMaxOpenConns bounds the connections one DB opens, so that
	// several instances stay well under PostgreSQL's default
	// max_connections (100). Callers beyond it wait for a free connection
	// (within their context's deadline).
	DefaultMaxOpenConns = 16
	// DefaultMaxIdleConns keeps every open connection for reuse: with
	// database/sql's default of 2, a burst of concurrent requests opens and
	// closes connections all the time.
	DefaultMaxIdleConns = DefaultMaxOpenConns
	// DefaultConnMaxLifetime retires connections now and then, so that a
	// failover or a DNS change is picked up.
	DefaultConnMaxLifetime = 30 * time.Minute
	// DefaultConnMaxIdleTime closes connections idle that long.
	DefaultConnMaxIdleTime = 5 * time.Minute
)

var (
	// ErrUnavailable is matched by errors from calls that could not reach
	// the database in time: the context's deadline or cancellation, a
	// refused, broken or timed-out connection, PostgreSQL shutting down or
	// out of connections, a busy, locked, missing or replaced SQLite file.
	// Such errors also match auth.ErrBusy, so the auth handlers answer 503
	// with Retry-After.
	ErrUnavailable = errors.New("sqlstore: database unavailable")
	// ErrInvalidText is returned by writes of text the database cannot
	// store: a NUL byte, or invalid UTF-8 (PostgreSQL refuses both; SQLite
	// is held to the same rule so that data moves between them).
	ErrInvalidText = errors.New("sqlstore: text with a NUL byte or invalid UTF-8")
)

// DB is a database with the stores' schema. It is safe for concurrent use;
// the stores it returns are small values over it.
type DB struct {
	sql     *sql.DB
	dialect Dialect

	// For SQLite files: the path and the file opened, so that Ping notices
	// when it is deleted or replaced.
	path string
	file os.FileInfo

	sweepMu sync.Mutex
	sweeps  map[string]time.Time // table → last sweep, by the callers' clocks

	// stmts holds the prepared statements of the reads, by query text: the
	// queries are the package's constants, so it stays small, and a
	// prepared statement spares SQLite a parse per request.
	stmts sync.Map // string → *sql.Stmt
}

// Open opens url and applies the migrations it lacks. url is a
// postgres:// or postgresql:// URL (opened with pgx), or else the path of an
// SQLite file, created if missing (":memory:" for a private in-memory
// database, for tests).
//
// On PostgreSQL the pool is set to [DefaultMaxOpenConns],
// [DefaultMaxIdleConns], [DefaultConnMaxLifetime] and
// [DefaultConnMaxIdleTime]. On SQLite the file is opened in WAL mode with
// synchronous=NORMAL (a commit survives a crash of the process and the file
// stays consistent after a power loss, which may lose the last commits:
// SQLite's advice for WAL, and it spares each login a disk sync), foreign
// keys on, a 5 s busy timeout and immediate transactions, through a single
// connection: SQLite has one writer at a time, and one connection
// serializes the process's statements without lock errors (other processes
// on the same file wait for the lock, up to the busy timeout).
//
// Open returns an error matching [ErrUnavailable] if the database cannot
// be reached, and an error if a migration fails or the database's schema is
// newer than this package's.
func Open(ctx context.Context, url string) (*DB, error) {
	db := &DB{sweeps: map[string]time.Time{}}
	var err error
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		db.dialect = Postgres
		if db.sql, err = sql.Open("pgx", url); err != nil {
			return nil, fmt.Errorf("sqlstore: opening: %w", err)
		}
		db.sql.SetMaxOpenConns(DefaultMaxOpenConns)
		db.sql.SetMaxIdleConns(DefaultMaxIdleConns)
		db.sql.SetConnMaxLifetime(DefaultConnMaxLifetime)
		db.sql.SetConnMaxIdleTime(DefaultConnMaxIdleTime)
	} else {
		if url == "" || strings.ContainsAny(url, "?#") {
			return nil, fmt.Errorf("sqlstore: %q is neither a postgres:// URL nor an SQLite file path", url)
		}
		db.dialect = SQLite
		if url != ":memory:" {
			db.path = url
		}
		dsn := "file:" + url + "?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		if db.sql, err = sql.Open("sqlite", dsn); err != nil {
			return nil, fmt.Errorf("sqlstore: opening: %w", err)
		}
		db.sql.SetMaxOpenConns(1)
		db.sql.SetMaxIdleConns(1)
		db.sql.SetConnMaxLifetime(0)
		db.sql.SetConnMaxIdleTime(0)
	}
	if err := db.sql.PingContext(ctx); err != nil {
		db.sql.Close()
		return nil, fmt.Errorf("sqlstore: connecting: %w", classify(err))
	}
	if db.path != "" {
		if db.file, err = os.Stat(db.path); err != nil {
			db.sql.Close()
			return nil, fmt.Errorf("sqlstore: %w", err)
		}
	}
	if err := db.migrate(ctx); err != nil {
		db.sql.Close()
		return nil, err
	}
	return db, nil
}

// New is [Open] for a pool the caller opened and configured itself (with
// its own driver options, tracing or pgx pool): it applies the migrations
// and returns a DB over pool, whose settings it leaves alone. [DB.Close]
// closes pool.
//
// On SQLite, the stores' transactions begin with a write, so they need no
// "BEGIN IMMEDIATE"; the DSN should still turn foreign keys on
// (_pragma=foreign_keys(1), for ON DELETE CASCADE) and set a busy timeout,
// or concurrent writers fail with SQLITE_BUSY (an [ErrUnavailable]).
// [DB.Ping] cannot check the file behind a pool it did not open.
func New(ctx context.Context, pool *sql.DB, dialect Dialect) (*DB, error) {
	if pool == nil || (dialect != SQLite && dialect != Postgres) {
		return nil, fmt.Errorf("sqlstore: New needs a pool and a dialect, %q or %q", SQLite, Postgres)
	}
	db := &DB{sql: pool, dialect: dialect, sweeps: map[string]time.Time{}}
	if err := db.migrate(ctx); err != nil {
		return nil, err
	}
	return db, nil
}

// Close closes the database's connections.
func (db *DB) Close() error {
	db.stmts.Range(func(_, s any) bool {
		s.(*sql.Stmt).Close()
		return true
	})
	return db.sql.Close()
}

// Ping checks that the database answers within ctx, for health checks; for
// an SQLite file, also that the file is still the one opened (a deleted or
// replaced file would otherwise go unnoticed until the process restarts).
// Its errors match [ErrUnavailable].
func (db *DB) Ping(ctx context.Context) error {
	if err := db.sql.PingContext(ctx); err != nil {
		return classify(err)
	}
	if db.path != "" {
		fi, err := os.Stat(db.path)
		if err != nil || !os.SameFile(fi, db.file) {
			return &unavailableError{errors.New("sqlstore: the SQLite file was removed or replaced")}
		}
	}
	return nil
}

// SQL returns the underlying pool: for a service's own tables and for
// changing the pool's settings.
func (db *DB) SQL() *sql.DB { return db.sql }

// Dialect returns the database's engine.
func (db *DB) Dialect() Dialect { return db.dialect }

// Rebind rewrites the ? placeholders of query to $1, $2, … on PostgreSQL
// and returns it unchanged on SQLite, so that one query text serves both.
// It does not parse SQL: a ? inside a string literal is rewritten too.
func (db *DB) Rebind(query string) string {
	if db.dialect != Postgres {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// exec runs a write, as a prepared statement.
func (db *DB) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	stmt, err := db.prepared(ctx, query)
	if err != nil {
		return nil, classify(err)
	}
	res, err := stmt.ExecContext(ctx, args...)
	return res, classify(err)
}

// txStmt returns query's statement for use in tx: the prepared one
// (database/sql reuses the connection's prepared copy) if a call to
// prepared made it before tx began, or else one prepared in tx. It never
// takes a connection from the pool, which on SQLite is tx's own.
func (db *DB) txStmt(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	if s, ok := db.stmts.Load(query); ok {
		return tx.StmtContext(ctx, s.(*sql.Stmt)), nil
	}
	return tx.PrepareContext(ctx, db.Rebind(query))
}

// queryRow runs a read that returns one row, as a prepared statement.
func (db *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	stmt, err := db.prepared(ctx, query)
	if err != nil {
		return db.sql.QueryRowContext(ctx, db.Rebind(query), args...) // reports the same error in Scan
	}
	return stmt.QueryRowContext(ctx, args...)
}

// query runs a read, as a prepared statement.
func (db *DB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	stmt, err := db.prepared(ctx, query)
	if err != nil {
		return nil, classify(err)
	}
	rows, err := stmt.QueryContext(ctx, args...)
	return rows, classify(err)
}

// prepared returns the statement of query, preparing it on first use.
// database/sql prepares it again on each connection that runs it.
func (db *DB) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if s, ok := db.stmts.Load(query); ok {
		return s.(*sql.Stmt), nil
	}
	s, err := db.sql.PrepareContext(ctx, db.Rebind(query))
	if err != nil {
		return nil, err
	}
	if prev, loaded := db.stmts.LoadOrStore(query, s); loaded {
		s.Close()
		return prev.(*sql.Stmt), nil
	}
	return s, nil
}

// affected returns how many rows res changed.
func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return n, classify(err)
}

// sweepDue reports whether table's expired rows should be deleted now: at
// most once a minute per DB, by the callers' clock, so that a write pays
// for an indexed DELETE only now and then.
func (db *DB) sweepDue(table string, now time.Time) bool {
	db.sweepMu.Lock()
	defer db.sweepMu.Unlock()
	if d := now.Sub(db.sweeps[table]); d < time.Minute && d > -time.Minute {
		return false
	}
	db.sweeps[table] = now
	return true
}

// storable reports whether both engines can store s as text.
func storable(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }

// key returns s if it is storable, else a digest of it that is, so that any
// string can serve as a limiter key or token ID.
func key(s string) string {
	if storable(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// unavailableError marks a failure to reach the database in time.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string { return ErrUnavailable.Error() + ": " + e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// Is makes errors.Is true for ErrUnavailable and auth.ErrBusy.
func (e *unavailableError) Is(target error) bool {
	return target == ErrUnavailable || target == auth.ErrBusy
}

// classify marks err as an [ErrUnavailable] if it is one; nil and
// sql.ErrNoRows pass unchanged.
func classify(err error) error {
	if err == nil || errors.Is(err, sql.ErrNoRows) {
		return err
	}
	var u *unavailableError
	if errors.As(err, &u) {
		return err
	}
	if unavailable(err) {
		return &unavailableError{err}
	}
	return err
}

func unavailable(err error) bool {
	var (
		netErr     net.Error
		pgErr      *pgconn.PgError
		connectErr *pgconn.ConnectError
		sqliteErr  *sqlite.Error
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.As(err, &netErr), errors.As(err, &connectErr), pgconn.Timeout(err):
		return true
	case errors.As(err, &pgErr):
		// Class 08: connection exception; 53: insufficient resources (too
		// many connections, out of memory or disk); 57: operator
		// intervention (query canceled, shutting down, cannot connect now).
		c := pgErr.Code
		return strings.HasPrefix(c, "08") || strings.HasPrefix(c, "53") || strings.HasPrefix(c, "57")
	case errors.As(err, &sqliteErr):
		switch sqliteErr.Code() & 0xff { // the primary result code
		case 5, 6, 9, 10, 13, 14: // BUSY, LOCKED, INTERRUPT, IOERR, FULL, CANTOPEN
			return true
		}
	}
	return false
}
