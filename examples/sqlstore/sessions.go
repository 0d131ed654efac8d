package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/keygate/auth"
)

// RefreshTokens is an auth.RefreshStore: Rotate is one conditional UPDATE,
// so the database decides which of concurrent refreshes wins.
type RefreshTokens struct{ db *DB }

var _ auth.RefreshStore = RefreshTokens{}

// RefreshTokens returns the refresh-token family store.
func (db *DB) RefreshTokens() RefreshTokens { return RefreshTokens{db} }

// Create implements auth.RefreshStore. It also removes expired families.
func (s RefreshTokens) Create(ctx context.Context, f auth.RefreshFamily) error {
	if _, err := s.db.exec(ctx, `DELETE FROM refresh_families WHERE expires_at <= ?`, millis(f.CreatedAt)); err != nil {
		return err
	}
	_, err := s.db.exec(ctx, `INSERT INTO refresh_families (id, user_id, current_jti, previous_jti, rotated_at, created_at, expires_at, revoked)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		f.ID, f.UserID, f.Current, f.Previous, millis(f.RotatedAt), millis(f.CreatedAt), millis(f.ExpiresAt), f.Revoked)
	return err
}

// Rotate implements auth.RefreshStore with a compare-and-swap UPDATE, then
// reads the family back.
func (s RefreshTokens) Rotate(ctx context.Context, id, current, next string, now time.Time) (auth.RefreshFamily, bool, bool, error) {
	res, err := s.db.exec(ctx, `UPDATE refresh_families
		SET current_jti = ?, previous_jti = current_jti, rotated_at = ?
		WHERE id = ? AND current_jti = ? AND revoked = ? AND expires_at > ?`,
		next, millis(now), id, current, false, millis(now))
	if err != nil {
		return auth.RefreshFamily{}, false, false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return auth.RefreshFamily{}, false, false, err
	}
	var f auth.RefreshFamily
	var rotated, created, expires int64
	err = s.db.queryRow(ctx, `SELECT id, user_id, current_jti, previous_jti, rotated_at, created_at, expires_at, revoked
		FROM refresh_families WHERE id = ?`, id).
		Scan(&f.ID, &f.UserID, &f.Current, &f.Previous, &rotated, &created, &expires, &f.Revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.RefreshFamily{}, false, false, nil
	}
	if err != nil {
		return auth.RefreshFamily{}, false, false, err
	}
	f.RotatedAt, f.CreatedAt, f.ExpiresAt = fromMillis(rotated), fromMillis(created), fromMillis(expires)
	return f, true, n == 1, nil
}

// Revoke implements auth.RefreshStore.
func (s RefreshTokens) Revoke(ctx context.Context, id string) error {
	_, err := s.db.exec(ctx, `UPDATE refresh_families SET revoked = ? WHERE id = ?`, true, id)
	return err
}

// RevokeUser implements auth.RefreshStore.
func (s RefreshTokens) RevokeUser(ctx context.Context, userID string) error {
	_, err := s.db.exec(ctx, `UPDATE refresh_families SET revoked = ? WHERE user_id = ?`, true, userID)
	return err
}

// Limiter is an auth.Limiter: AddFailure is one upsert.
type Limiter struct{ db *DB }

var _ auth.Limiter = Limiter{}

// Limiter returns the failed-login counter store.
func (db *DB) Limiter() Limiter { return Limiter{db} }

// Failures implements auth.Limiter.
func (s Limiter) Failures(ctx context.Context, key string, now time.Time) (int, time.Time, error) {
	var n, last int64
	err := s.db.queryRow(ctx, `SELECT failures, last_at FROM login_failures WHERE key = ? AND last_at + window_ms > ?`,
		key, millis(now)).Scan(&n, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	return int(n), fromMillis(last), err
}

// AddFailure implements auth.Limiter. It also removes stale counts of
// other keys.
func (s Limiter) AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (int, error) {
	if _, err := s.db.exec(ctx, `DELETE FROM login_failures WHERE last_at + window_ms <= ? AND key <> ?`, millis(now), key); err != nil {
		return 0, err
	}
	var n int64
	err := s.db.queryRow(ctx, `INSERT INTO login_failures (key, failures, last_at, window_ms) VALUES (?, 1, ?, ?)
		ON CONFLICT (key) DO UPDATE SET
			failures = CASE WHEN login_failures.last_at + login_failures.window_ms <= excluded.last_at
				THEN 1 ELSE login_failures.failures + 1 END,
			last_at = excluded.last_at,
			window_ms = excluded.window_ms
		RETURNING failures`, key, millis(now), window.Milliseconds()).Scan(&n)
	return int(n), err
}

// Reset implements auth.Limiter.
func (s Limiter) Reset(ctx context.Context, key string) error {
	_, err := s.db.exec(ctx, `DELETE FROM login_failures WHERE key = ?`, key)
	return err
}

// Denylist is an auth.Denylist of access-token IDs.
type Denylist struct{ db *DB }

var _ auth.Denylist = Denylist{}

// Denylist returns the access-token denylist.
func (db *DB) Denylist() Denylist { return Denylist{db} }

// Deny implements auth.Denylist. It also removes entries that have expired
// by the database's clock; correctness does not depend on it.
func (s Denylist) Deny(ctx context.Context, jti string, until time.Time) error {
	if _, err := s.db.exec(ctx, `DELETE FROM denied_tokens WHERE until_at <= ?`, time.Now().UnixMilli()); err != nil {
		return err
	}
	_, err := s.db.exec(ctx, `INSERT INTO denied_tokens (jti, until_at) VALUES (?, ?)
		ON CONFLICT (jti) DO UPDATE SET until_at = excluded.until_at`, jti, millis(until))
	return err
}

// Denied implements auth.Denylist.
func (s Denylist) Denied(ctx context.Context, jti string, now time.Time) (bool, error) {
	var n int
	err := s.db.queryRow(ctx, `SELECT COUNT(*) FROM denied_tokens WHERE jti = ? AND until_at > ?`, jti, millis(now)).Scan(&n)
	return n > 0, err
}
