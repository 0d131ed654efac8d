package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/keygate/auth"
)

// Denylist is an auth.Denylist of access-token IDs in the denied_tokens
// table. Denying an ID twice keeps the later time.
//
// Entries are deleted by Deny, at most once a minute, once they are past by
// two clocks: the process's, and the caller's as judged from until, which is
// at most an access token's longest lifetime plus the largest leeway (1 h +
// 2 min, the auth package's bounds) after the caller's now. So neither a
// fake clock in tests nor a database whose clock is off drops a live entry.
type Denylist struct{ db *DB }

var _ auth.Denylist = Denylist{}

// Denylist returns the access-token denylist.
func (db *DB) Denylist() Denylist { return Denylist{db} }

// longestDeny is how far ahead of the caller's clock an entry's time can
// be: the auth package's bounds on the access-token TTL and the leeway.
const longestDeny = time.Hour + 2*time.Minute

// Deny implements auth.Denylist.
func (s Denylist) Deny(ctx context.Context, jti string, until time.Time) error {
	// The horizon is the earlier of the caller's oldest possible now and the
	// wall clock, so neither a long until nor a clock far ahead drops a
	// live entry.
	horizon := until.Add(-longestDeny)
	if wall := time.Now(); wall.Before(horizon) {
		horizon = wall
	}
	if s.db.sweepDue("denied_tokens", horizon) {
		if _, err := s.db.exec(ctx, `DELETE FROM denied_tokens WHERE until_at <= ?`, millis(horizon)); err != nil {
			return err
		}
	}
	_, err := s.db.exec(ctx, `INSERT INTO denied_tokens (jti, until_at) VALUES (?, ?)
		ON CONFLICT (jti) DO UPDATE SET until_at = CASE WHEN excluded.until_at > denied_tokens.until_at
			THEN excluded.until_at ELSE denied_tokens.until_at END`, key(jti), millis(until))
	return err
}

// Denied implements auth.Denylist with one indexed lookup.
func (s Denylist) Denied(ctx context.Context, jti string, now time.Time) (bool, error) {
	var one int
	err := s.db.queryRow(ctx, `SELECT 1 FROM denied_tokens WHERE jti = ? AND until_at > ?`, key(jti), millis(now)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, classify(err)
}
