package main

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/keygate/auth"
	"github.com/keygate/auth/sqlstore"
)

// defaultFreshFor is how recent a login must be for a password change or
// an account deletion (FRESH_LOGIN_MAX_AGE): older sessions re-enter the
// password at POST /auth/reauth first.
const defaultFreshFor = 5 * time.Minute

// users is sqlstore's users table with the service's own record of
// verified emails, for the library's email-verification flow.
type users struct {
	sqlstore.Users
	db *sqlstore.DB
}

var _ auth.EmailVerifier = users{}

// migrateVerifications creates the service's table of verified emails:
// a row says the user proved to own that address.
func migrateVerifications(ctx context.Context, db *sqlstore.DB) error {
	_, err := db.SQL().ExecContext(ctx, `CREATE TABLE IF NOT EXISTS email_verifications (
		user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
		email       TEXT NOT NULL,
		verified_at BIGINT NOT NULL,
		PRIMARY KEY (user_id, email)
	)`)
	return err
}

// MarkEmailVerified implements auth.EmailVerifier.
func (u users) MarkEmailVerified(ctx context.Context, userID, email string) error {
	_, err := u.db.SQL().ExecContext(ctx, u.db.Rebind(`INSERT INTO email_verifications (user_id, email, verified_at)
		VALUES (?, ?, ?) ON CONFLICT (user_id, email) DO NOTHING`), userID, email, time.Now().Unix())
	return err
}

// emailVerified reports whether the user proved to own their current email.
func (s *app) emailVerified(ctx context.Context, u *sqlstore.User) (bool, error) {
	var n int
	err := s.db.SQL().QueryRowContext(ctx, s.db.Rebind(`SELECT COUNT(*) FROM email_verifications WHERE user_id = ? AND email = ?`), u.ID, u.Email).Scan(&n)
	return n > 0, err
}

// devMailer is the development sender of reset and verification links: it
// writes them to the log, where a developer copies them. A real service
// sends an email here. The tokens are in these lines and nowhere else in
// the log.
func devMailer(log *slog.Logger, baseURL string) func(context.Context, auth.OneTimeMessage) error {
	return func(ctx context.Context, m auth.OneTimeMessage) error {
		path := "/reset-password#token="
		if m.Purpose == auth.EmailVerification {
			path = "/verify-email#token="
		}
		log.InfoContext(ctx, "development mailer: would send", "to", m.Email, "purpose", string(m.Purpose),
			"link", baseURL+path+m.Token, "expires", m.ExpiresAt)
		return nil
	}
}

// deleteAccount is DELETE /users/{user_id}: that user or an admin, with a
// fresh login either way.
func (s *app) deleteAccount() http.Handler {
	return s.auth.RequireFresh(s.freshFor)(auth.RequireOwner("user_id", "admin")(http.HandlerFunc(s.deleteUser)))
}
