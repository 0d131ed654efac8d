package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/keygate/auth"
)

// User is a row of the users table, with its roles. The auth package sees
// it through [Users.Account].
type User struct {
	ID           string
	Email        string // normalized by NormalizeEmail
	PasswordHash string
	Active       bool
	Roles        []string // sorted
	TokenVersion int64
	CreatedAt    time.Time
}

// ErrEmailTaken is returned by [Users.Create] for an email already in use.
var ErrEmailTaken = errors.New("sqlstore: email already registered")

// Users is a user store in the users and user_roles tables: an
// auth.LoginStore[*User] (by email) that also updates password hashes and
// bumps token versions. A service with its own users table implements
// auth.LoginStore itself and uses the other stores.
//
// IDs and emails that are not storable text find no user.
type Users struct{ db *DB }

var (
	_ auth.LoginStore[*User]   = Users{}
	_ auth.PasswordHashUpdater = Users{}
	_ auth.TokenVersionBumper  = Users{}
)

// Users returns the user store.
func (db *DB) Users() Users { return Users{db} }

// NormalizeEmail is how emails are stored and compared: trimmed and
// lower-cased.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

const userColumns = `id, email, password_hash, active, token_version, created_at`

func scanUser(scan func(...any) error) (User, error) {
	var u User
	var created int64
	err := scan(&u.ID, &u.Email, &u.PasswordHash, &u.Active, &u.TokenVersion, &created)
	u.CreatedAt = fromMillis(created)
	return u, err
}

// one loads the user whose column where is arg, with its roles, in one
// query: the request path of every authenticated request.
func (s Users) one(ctx context.Context, where, arg string) (*User, bool, error) {
	if !storable(arg) {
		return nil, false, nil
	}
	agg := `json_group_array(role)` // SQLite
	if s.db.dialect == Postgres {
		agg = `json_agg(role)::text`
	}
	var u User
	var created int64
	var roles sql.NullString
	err := s.db.queryRow(ctx, `SELECT `+userColumns+`,
		(SELECT `+agg+` FROM (SELECT role FROM user_roles WHERE user_id = users.id ORDER BY role) r)
		FROM users WHERE `+where+` = ?`, arg).Scan(&u.ID, &u.Email, &u.PasswordHash, &u.Active, &u.TokenVersion, &created, &roles)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, classify(err)
	}
	u.CreatedAt = fromMillis(created)
	if roles.Valid && roles.String != "" && roles.String != "[]" {
		if err := json.Unmarshal([]byte(roles.String), &u.Roles); err != nil {
			return nil, false, fmt.Errorf("sqlstore: reading roles: %w", err)
		}
	}
	return &u, true, nil
}

func (s Users) roles(ctx context.Context, id string) ([]string, error) {
	rows, err := s.db.query(ctx, `SELECT role FROM user_roles WHERE user_id = ? ORDER BY role`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var roles []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, classify(err)
		}
		roles = append(roles, r)
	}
	return roles, classify(rows.Err())
}

// User implements auth.UserStore: the user with the given ID.
func (s Users) User(ctx context.Context, id string) (*User, bool, error) {
	return s.one(ctx, "id", id)
}

// UserByLogin implements auth.LoginStore: the user with the given email,
// compared after NormalizeEmail.
func (s Users) UserByLogin(ctx context.Context, email string) (*User, bool, error) {
	if !storable(email) { // before ToLower, which turns invalid UTF-8 into U+FFFD
		return nil, false, nil
	}
	return s.one(ctx, "email", NormalizeEmail(email))
}

// Account implements auth.UserStore.
func (Users) Account(u *User) auth.Account {
	return auth.Account{ID: u.ID, PasswordHash: u.PasswordHash, Active: u.Active,
		Roles: u.Roles, TokenVersion: u.TokenVersion, Email: u.Email}
}

// UpdatePasswordHash implements auth.PasswordHashUpdater: it stores hash
// as the user's password hash. An unknown user is not an error.
func (s Users) UpdatePasswordHash(ctx context.Context, id, hash string) error {
	if !storable(hash) {
		return ErrInvalidText
	}
	if !storable(id) {
		return nil
	}
	_, err := s.db.exec(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, id)
	return err
}

// BumpTokenVersion implements auth.TokenVersionBumper, in one UPDATE. An
// unknown user is not an error.
func (s Users) BumpTokenVersion(ctx context.Context, id string) error {
	if !storable(id) {
		return nil
	}
	_, err := s.db.exec(ctx, `UPDATE users SET token_version = token_version + 1 WHERE id = ?`, id)
	return err
}

// Create adds an active user with a new random ID ("usr_" and 16 base32
// characters), the email normalized, and the roles, in one transaction. It
// returns [ErrEmailTaken] if the email is in use and [ErrInvalidText] for
// text the database cannot store. It does not check the email's form.
func (s Users) Create(ctx context.Context, email, hash string, roles ...string) (*User, error) {
	u := &User{ID: "usr_" + rand.Text()[:16], Email: NormalizeEmail(email), PasswordHash: hash,
		Active: true, Roles: roles, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	for _, v := range append([]string{email, hash}, roles...) {
		if !storable(v) {
			return nil, ErrInvalidText
		}
	}
	tx, err := s.db.sql.BeginTx(ctx, nil)
	if err != nil {
		return nil, classify(err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, TRUE, 0, ?) ON CONFLICT (email) DO NOTHING`),
		u.ID, u.Email, u.PasswordHash, millis(u.CreatedAt))
	n, err := affected(res, classify(err))
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, ErrEmailTaken
	}
	for _, r := range roles {
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO user_roles (user_id, role) VALUES (?, ?) ON CONFLICT DO NOTHING`), u.ID, r); err != nil {
			return nil, classify(err)
		}
	}
	return u, classify(tx.Commit())
}

// SetPassword stores a new hash and bumps the token version in one
// statement, so that every token issued before dies with the old password,
// and reports whether the user exists.
func (s Users) SetPassword(ctx context.Context, id, hash string) (bool, error) {
	if !storable(hash) {
		return false, ErrInvalidText
	}
	if !storable(id) {
		return false, nil
	}
	n, err := affected(s.db.exec(ctx, `UPDATE users SET password_hash = ?, token_version = token_version + 1 WHERE id = ?`, hash, id))
	return n == 1, err
}

// Delete removes a user and, by cascade, their roles (and the rows of any
// table that references users(id) ON DELETE CASCADE), and reports whether
// there was one. It leaves refresh families alone: revoke them with
// RefreshTokens().RevokeUser.
func (s Users) Delete(ctx context.Context, id string) (bool, error) {
	if !storable(id) {
		return false, nil
	}
	n, err := affected(s.db.exec(ctx, `DELETE FROM users WHERE id = ?`, id))
	return n == 1, err
}

// List returns every user, oldest first.
func (s Users) List(ctx context.Context) ([]User, error) {
	rows, err := s.db.query(ctx, `SELECT `+userColumns+` FROM users ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	var users []User
	for rows.Next() {
		u, err := scanUser(rows.Scan)
		if err != nil {
			rows.Close()
			return nil, classify(err)
		}
		users = append(users, u)
	}
	rows.Close() // before the roles queries: SQLite has one connection
	if err := rows.Err(); err != nil {
		return nil, classify(err)
	}
	for i := range users {
		if users[i].Roles, err = s.roles(ctx, users[i].ID); err != nil {
			return nil, err
		}
	}
	return users, nil
}

// Count returns how many users there are.
func (s Users) Count(ctx context.Context) (int, error) {
	var n int
	err := s.db.queryRow(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
	return n, classify(err)
}
