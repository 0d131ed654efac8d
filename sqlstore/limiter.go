package sqlstore

import (
	"context"
	"time"

	"github.com/keygate/auth"
)

// Limiter is an auth.Limiter in the login_attempts table. Reserve is one
// transaction that locks the key's row (an upsert, which on PostgreSQL
// takes the row lock and on SQLite runs in an immediate transaction, which
// takes the database's write lock), applies auth.Throttle.Wait to the
// count it read, and counts the attempt only if there is nothing to wait
// for. So however many instances and goroutines reserve one key at one
// instant, at most the threshold of them proceed.
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
	tx, err := s.db.sql.BeginTx(ctx, nil)
	if err != nil {
		return 0, classify(err)
	}
	defer tx.Rollback()
	// The no-op update makes the upsert lock an existing row (and return
	// it); a new row starts at zero.
	var n, last, expires int64
	err = tx.QueryRowContext(ctx, s.db.Rebind(`INSERT INTO login_attempts (key, attempts, last_at, expires_at) VALUES (?, 0, 0, 0)
		ON CONFLICT (key) DO UPDATE SET attempts = login_attempts.attempts
		RETURNING attempts, last_at, expires_at`), k).Scan(&n, &last, &expires)
	if err != nil {
		return 0, classify(err)
	}
	if ms >= expires { // the count's window has passed
		n, last = 0, 0
	}
	if wait := t.Wait(int(n), fromMillis(last), now); wait > 0 {
		return wait, nil // nothing counted; the deferred rollback ends the transaction
	}
	if _, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE login_attempts SET attempts = ?, last_at = ?, expires_at = ? WHERE key = ?`),
		n+1, ms, ms+t.Window.Milliseconds(), k); err != nil {
		return 0, classify(err)
	}
	return 0, classify(tx.Commit())
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
