package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/keygate/auth"
)

// RefreshTokens is an auth.RefreshStore in the refresh_families table.
// Rotate is one conditional UPDATE … RETURNING, so the database alone
// decides which of concurrent rotations wins, across every instance that
// shares it. Families past their absolute limit are deleted by Create, at
// most once a minute.
type RefreshTokens struct{ db *DB }

var _ auth.RefreshStore = RefreshTokens{}

// RefreshTokens returns the refresh-token family store.
func (db *DB) RefreshTokens() RefreshTokens { return RefreshTokens{db} }

const familyColumns = `id, user_id, current_jti, previous_jti, rotated_at, created_at, expires_at, revoked`

func scanFamily(scan func(...any) error) (auth.RefreshFamily, error) {
	var f auth.RefreshFamily
	var rotated, created, expires int64
	err := scan(&f.ID, &f.UserID, &f.Current, &f.Previous, &rotated, &created, &expires, &f.Revoked)
	f.RotatedAt, f.CreatedAt, f.ExpiresAt = fromMillis(rotated), fromMillis(created), fromMillis(expires)
	return f, err
}

// Create implements auth.RefreshStore. IDs are stored as given, or by
// digest if they are not storable text. It also deletes families whose
// absolute limit is f.CreatedAt or earlier, at most once a minute.
func (s RefreshTokens) Create(ctx context.Context, f auth.RefreshFamily) error {
	if s.db.sweepDue("refresh_families", f.CreatedAt) {
		if _, err := s.db.exec(ctx, `DELETE FROM refresh_families WHERE expires_at <= ?`, millis(f.CreatedAt)); err != nil {
			return err
		}
	}
	_, err := s.db.exec(ctx, `INSERT INTO refresh_families (`+familyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		key(f.ID), key(f.UserID), key(f.Current), key(f.Previous), millis(f.RotatedAt), millis(f.CreatedAt), millis(f.ExpiresAt), f.Revoked)
	return err
}

// Rotate implements auth.RefreshStore with one statement: an UPDATE whose
// WHERE clause is the compare (current token, not revoked, before the
// limit) and whose RETURNING clause reads the family after the swap. A row
// back means this call swapped; of concurrent calls with the same current,
// the database lets exactly one match. Only when none comes back is the
// family read, to tell "unknown" from "refused".
func (s RefreshTokens) Rotate(ctx context.Context, id, current, next string, now time.Time) (auth.RefreshFamily, bool, bool, error) {
	id, current, next = key(id), key(current), key(next)
	f, err := scanFamily(s.db.queryRow(ctx, `UPDATE refresh_families
		SET previous_jti = current_jti, current_jti = ?, rotated_at = ?
		WHERE id = ? AND current_jti = ? AND revoked = FALSE AND expires_at > ?
		RETURNING `+familyColumns, next, millis(now), id, current, millis(now)).Scan)
	if err == nil {
		return f, true, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return auth.RefreshFamily{}, false, false, classify(err)
	}
	f, err = scanFamily(s.db.queryRow(ctx, `SELECT `+familyColumns+` FROM refresh_families WHERE id = ?`, id).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.RefreshFamily{}, false, false, nil
	}
	if err != nil {
		return auth.RefreshFamily{}, false, false, classify(err)
	}
	return f, true, false, nil
}

// Revoke implements auth.RefreshStore.
func (s RefreshTokens) Revoke(ctx context.Context, id string) error {
	_, err := s.db.exec(ctx, `UPDATE refresh_families SET revoked = TRUE WHERE id = ?`, key(id))
	return err
}

// RevokeUser implements auth.RefreshStore.
func (s RefreshTokens) RevokeUser(ctx context.Context, userID string) error {
	_, err := s.db.exec(ctx, `UPDATE refresh_families SET revoked = TRUE WHERE user_id = ?`, key(userID))
	return err
}

// millis is t in Unix milliseconds, 0 for the zero time.
func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMillis is the inverse of millis, in UTC.
func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
