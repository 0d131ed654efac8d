package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/keygate/auth"
)

// User is the service's user. The auth package never sees its fields: the
// store describes it through Account.
type User struct {
	ID           string
	Email        string
	PasswordHash string
	Active       bool
	Roles        []string
	TokenVersion int64
	CreatedAt    time.Time
}

// ErrEmailTaken is returned by CreateUser for an email already in use.
var ErrEmailTaken = errors.New("sqlstore: email already registered")

// Users is the user store: an auth.LoginStore[*User] that also updates
// password hashes and bumps token versions.
type Users struct{ db *DB }

var (
	_ auth.LoginStore[*User]   = Users{}
	_ auth.PasswordHashUpdater = Users{}
	_ auth.TokenVersionBumper  = Users{}
)

// Users returns the user store.
func (db *DB) Users() Users { return Users{db} }

// NormalizeEmail is how emails are compared: trimmed and lower-cased.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

const userColumns = `id, email, password_hash, active, token_version, created_at`

func (s Users) scan(ctx context.Context, row *sql.Row) (*User, bool, error) {
	var u User
	var created int64
	err := row.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.Active, &u.TokenVersion, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	u.CreatedAt = fromMillis(created)
	if u.Roles, err = s.roles(ctx, u.ID); err != nil {
		return nil, false, err
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
			return nil, err
		}
		roles = append(roles, r)
	}
	return roles, rows.Err()
}

// User implements auth.UserStore: the user with the given ID.
func (s Users) User(ctx context.Context, id string) (*User, bool, error) {
	return s.scan(ctx, s.db.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
}

// UserByLogin implements auth.LoginStore: the user with the given email.
func (s Users) UserByLogin(ctx context.Context, email string) (*User, bool, error) {
	return s.scan(ctx, s.db.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE email = ?`, NormalizeEmail(email)))
}

// Account implements auth.UserStore.
func (Users) Account(u *User) auth.Account {
	return auth.Account{ID: u.ID, PasswordHash: u.PasswordHash, Active: u.Active,
		Roles: u.Roles, TokenVersion: u.TokenVersion, Email: u.Email}
}

// UpdatePasswordHash implements auth.PasswordHashUpdater: a login found the
// hash outdated and re-hashed the same password.
func (s Users) UpdatePasswordHash(ctx context.Context, id, hash string) error {
	_, err := s.db.exec(ctx, `UPDATE users SET password_hash = ? WHERE id = ?`, hash, id)
	return err
}

// BumpTokenVersion implements auth.TokenVersionBumper.
func (s Users) BumpTokenVersion(ctx context.Context, id string) error {
	_, err := s.db.exec(ctx, `UPDATE users SET token_version = token_version + 1 WHERE id = ?`, id)
	return err
}

// Create adds a user, or returns ErrEmailTaken.
func (s Users) Create(ctx context.Context, email, hash string, roles ...string) (*User, error) {
	u := &User{ID: "usr_" + rand.Text()[:16], Email: NormalizeEmail(email), PasswordHash: hash,
		Active: true, Roles: roles, CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
	tx, err := s.db.sql.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, s.db.q(`INSERT INTO users (`+userColumns+`) VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT (email) DO NOTHING`),
		u.ID, u.Email, u.PasswordHash, true, millis(u.CreatedAt))
	if err != nil {
		return nil, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err == nil {
			err = ErrEmailTaken
		}
		return nil, err
	}
	for _, r := range roles {
		if _, err := tx.ExecContext(ctx, s.db.q(`INSERT INTO user_roles (user_id, role) VALUES (?, ?)`), u.ID, r); err != nil {
			return nil, err
		}
	}
	return u, tx.Commit()
}

// SetPassword stores a new hash and bumps the token version, in one
// statement: every token issued before dies with the old password.
func (s Users) SetPassword(ctx context.Context, id, hash string) (bool, error) {
	res, err := s.db.exec(ctx, `UPDATE users SET password_hash = ?, token_version = token_version + 1 WHERE id = ?`, hash, id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Delete removes a user (and, by cascade, their roles and tasks).
func (s Users) Delete(ctx context.Context, id string) (bool, error) {
	res, err := s.db.exec(ctx, `DELETE FROM users WHERE id = ?`, id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
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
		var u User
		var created int64
		if err := rows.Scan(&u.ID, &u.Email, &u.PasswordHash, &u.Active, &u.TokenVersion, &created); err != nil {
			rows.Close()
			return nil, err
		}
		u.CreatedAt = fromMillis(created)
		users = append(users, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
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
	return n, err
}

// Task is one of a user's tasks.
type Task struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// Tasks returns the user's tasks.
func (s Users) Tasks(ctx context.Context, userID string) ([]Task, error) {
	rows, err := s.db.query(ctx, `SELECT id, title FROM tasks WHERE user_id = ? ORDER BY id`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	tasks := []Task{}
	for rows.Next() {
		var t Task
		if err := rows.Scan(&t.ID, &t.Title); err != nil {
			return nil, err
		}
		tasks = append(tasks, t)
	}
	return tasks, rows.Err()
}

// AddTask adds a task for the user.
func (s Users) AddTask(ctx context.Context, userID, title string) (Task, error) {
	t := Task{ID: "tsk_" + rand.Text()[:16], Title: title}
	_, err := s.db.exec(ctx, `INSERT INTO tasks (id, user_id, title) VALUES (?, ?, ?)`, t.ID, userID, t.Title)
	return t, err
}
