// Package sqlstore keeps the auth package's durable, shared state in a SQL
// database through database/sql, on SQLite (modernc.org/sqlite, pure Go) or
// PostgreSQL (github.com/jackc/pgx/v5/stdlib): refresh-token families
// ([RefreshTokens], an auth.RefreshStore), failed-login counts ([Limiter],
// an auth.Limiter), the access-token denylist ([Denylist], an
// auth.Denylist), API keys ([APIKeys], an auth.APIKeyStore) and a users
// table ([Users], an auth.LoginStore) that a service may use or replace
// with its own.
//
// It is a module of its own, so that importers of auth pull no database
// driver unless they import it. Several instances of a service may share
// one database: every operation the auth package needs to be atomic is one
// statement or one transaction.
//
//	db, err := sqlstore.Open(ctx, os.Getenv("DATABASE_URL")) // postgres://… or an SQLite file
//	if err != nil { … }
//	defer db.Close()
//	a, err := auth.New(tokens, db.Users(),
//		auth.WithRefreshStore(db.RefreshTokens()),
//		auth.WithLimiter(db.Limiter()),
//		auth.WithDenylist(db.Denylist()))
//
// [New] does the same over a pool the caller opened and configured itself.
//
// # Schema and migrations
//
// [Open] and [New] apply the embedded migrations (migrations/*.sql) that the
// database lacks, in order, each in one transaction with its number
// recorded in a schema_version table; concurrent Opens of one database
// take turns (an advisory lock on PostgreSQL, an immediate transaction on
// SQLite). Migrations only go forward. Times are stored as Unix
// milliseconds, so the schema is the same on both engines. A service adds
// its own tables with [DB.SQL] and [DB.Rebind].
//
// A small schema_version table rather than a migration library (goose,
// golang-migrate): the package needs forward migrations only, on two
// engines, with the same SQL on both; some thirty lines do that without
// another dependency for importers, and keep the locking (which two
// instances starting at once depend on) in view.
//
// # Errors
//
// Every method honours its context. A call that fails because the database
// cannot be reached in time (the context's deadline, a refused or broken
// connection, a busy or missing SQLite file) returns an error matching
// [ErrUnavailable] and auth.ErrBusy, which the auth handlers answer with 503
// and Retry-After; any other failure is a plain error (500). Errors never
// contain the values queried.
//
// # Text the database cannot store
//
// PostgreSQL refuses text with a NUL byte or invalid UTF-8. Rather than fail
// with a 500, the stores treat such values the same way on both engines:
// lookups find nothing (a login name with a NUL byte names no user), writes
// of user-supplied text return [ErrInvalidText], and limiter keys and token
// IDs are stored by their SHA-256 digest.
package sqlstore
