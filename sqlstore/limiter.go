package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/keygate/auth"
)

// Limiter is an auth.Limiter in the login_attempts table. On PostgreSQL,
// Reserve is one statement: an upsert whose conflict branch counts the
// attempt only where auth.Throttle.Wait's rule, written in SQL, leaves
// nothing to wait for (PostgreSQL locks the row for it); only a refused
// attempt reads the row again, to say how long to wait. On SQLite it is one
// immediate transaction (which takes the database's write lock) that reads
// the count, applies auth.Throttle.Wait and counts the attempt only if
// there is nothing to wait for. So however many instances and goroutines
// reserve one key at one instant, at most the threshold of them proceed.
//
// Counts whose window has passed are deleted by Reserve, at most once a
// minute; keys that are not storable text are stored by digest.
type Limiter struct{ db *DB }

var _ auth.Limiter = Limiter{}

// Limiter returns the attempt counter store.
func (db *DB) Limiter() Limiter { return Limiter{db} }

// Reserve implements auth.Limiter.
func (s Limiter) Reserve(ctx context.Context, k string, now time.Time, t auth.Throttle) (time.Duration, error) {
	k = key(k)
	ms := millis(now)
	if s.db.sweepDue("login_attempts", now) {
		if _, err := s.db.exec(ctx, `DELETE FROM login_attempts WHERE expires_at <= ?`, ms); err != nil {
			return 0, err
		}
	}
	if s.db.dialect == Postgres {
		return s.reservePostgres(ctx, k, ms, now, t)
	}
	// Prepared before the transaction takes the pool's one connection.
	for _, q := range [...]string{reserveRead, reserveCount} {
		if _, err := s.db.prepared(ctx, q); err != nil {
			return 0, classify(err)
		}
	}
	tx, err := s.db.sql.BeginTx(ctx, nil)
	if err != nil {
		return 0, classify(err)
	}
	defer tx.Rollback()
	var n, last, expires int64
	upsert, err := s.db.txStmt(ctx, tx, reserveRead)
	if err != nil {
		return 0, classify(err)
	}
	if err := upsert.QueryRowContext(ctx, k).Scan(&n, &last, &expires); err != nil {
		return 0, classify(err)
	}
	if ms >= expires { // the count's window has passed
		n, last = 0, 0
	}
	if wait := t.Wait(int(n), fromMillis(last), now); wait > 0 {
		return wait, nil // nothing counted; the deferred rollback ends the transaction
	}
	update, err := s.db.txStmt(ctx, tx, reserveCount)
	if err != nil {
		return 0, classify(err)
	}
	if _, err := update.ExecContext(ctx, n+1, ms, ms+t.Window.Milliseconds(), k); err != nil {
		return 0, classify(err)
	}
	return 0, classify(tx.Commit())
}

// The statements of Reserve's SQLite transaction. The no-op update makes
// the upsert lock an existing row (and return it); a new row starts at zero.
const (
	reserveRead = `INSERT INTO login_attempts (key, attempts, last_at, expires_at) VALUES (?, 0, 0, 0)
		ON CONFLICT (key) DO UPDATE SET attempts = login_attempts.attempts
		RETURNING attempts, last_at, expires_at`
	reserveCount = `UPDATE login_attempts SET attempts = ?, last_at = ?, expires_at = ? WHERE key = ?`
)

// reservePostgres is Reserve in one round trip: the conflict branch's WHERE
// is auth.Throttle.Wait's rule (count forgotten after the window, free below
// the threshold, else min(Base·2^(n−Threshold), Max) must have passed since
// the last attempt), in milliseconds.
func (s Limiter) reservePostgres(ctx context.Context, k string, ms int64, now time.Time, t auth.Throttle) (time.Duration, error) {
	var n int64
	err := s.db.queryRow(ctx, `INSERT INTO login_attempts AS a (key, attempts, last_at, expires_at) VALUES (?, 1, ?, ?)
		ON CONFLICT (key) DO UPDATE SET
			attempts = CASE WHEN a.expires_at <= EXCLUDED.last_at THEN 1 ELSE a.attempts + 1 END,
			last_at = EXCLUDED.last_at, expires_at = EXCLUDED.expires_at
		WHERE a.expires_at <= EXCLUDED.last_at OR a.attempts < ?
			OR LEAST(?::float8 * power(2::float8, LEAST(a.attempts - ?, 62)), ?::float8) <= (EXCLUDED.last_at - a.last_at)::float8
		RETURNING attempts`,
		k, ms, ms+t.Window.Milliseconds(), t.Threshold, t.Base.Milliseconds(), t.Threshold, t.Max.Milliseconds()).Scan(&n)
	if err == nil {
		return 0, nil // counted
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, classify(err)
	}
	// Refused, nothing counted: read the count to say how long to wait.
	var last int64
	if err := s.db.queryRow(ctx, `SELECT attempts, last_at FROM login_attempts WHERE key = ?`, k).Scan(&n, &last); err != nil {
		return 0, classify(err)
	}
	// Never 0: the decision was made above, and 0 would say it was counted.
	return max(t.Wait(int(n), fromMillis(last), now), time.Millisecond), nil
}

// Release implements auth.Limiter with one UPDATE that never goes below
// zero.
func (s Limiter) Release(ctx context.Context, k string) error {
	_, err := s.db.exec(ctx, `UPDATE login_attempts SET attempts = attempts - 1 WHERE key = ? AND attempts > 0`, key(k))
	return err
}

// Reset implements auth.Limiter.
func (s Limiter) Reset(ctx context.Context, k string) error {
	_, err := s.db.exec(ctx, `DELETE FROM login_attempts WHERE key = ?`, key(k))
	return err
}
