package auth

import (
	"context"
	"sync"
)

// UserStore loads the users that verified tokens name. The caller implements
// it over its own user type U (often a pointer to its User struct) and its
// own database; the library never wraps U.
type UserStore[U any] interface {
	// User returns the user whose ID is id (a token's subject). If there is
	// none, found is false and err is nil; err is for system failures only
	// (it becomes a 503, never a 401).
	User(ctx context.Context, id string) (u U, found bool, err error)
	// Account describes u: the facts the library needs about a user.
	Account(u U) Account
}

// LoginStore is a [UserStore] that can also find users by login name, for
// [Authenticator.LoginHandler].
type LoginStore[U any] interface {
	UserStore[U]
	// UserByLogin returns the user whose login name (an email or user name,
	// as the service defines it) is login. If there is none, found is false
	// and err is nil.
	UserByLogin(ctx context.Context, login string) (u U, found bool, err error)
}

// PasswordHashUpdater is implemented by a [LoginStore] that accepts new
// password hashes. When a login succeeds against a hash that the policy
// wants replaced ([Passwords.Verify] reports rehash), the login handler
// calls UpdatePasswordHash with a fresh hash of the same password. A failure
// is logged and does not fail the login.
type PasswordHashUpdater interface {
	UpdatePasswordHash(ctx context.Context, userID, hash string) error
}

// TokenVersionBumper is implemented by a [UserStore] whose users' token
// versions can be raised. [Authenticator.LogoutEverywhere] calls it; so
// should a service after a password change or when it disables an account.
type TokenVersionBumper interface {
	// BumpTokenVersion raises the user's token version by one, atomically.
	BumpTokenVersion(ctx context.Context, userID string) error
}

// Account is what the library needs to know about a user. The zero value is
// an inactive account, so a store that forgets to fill it in locks users
// out rather than letting them in.
type Account struct {
	// ID is the user's immutable ID: the subject of its tokens.
	ID string
	// PasswordHash is the stored hash, for the login handler; empty for an
	// account without a password (it then cannot log in with one).
	PasswordHash string
	// Active is false for a disabled account: its tokens stop working and
	// it cannot log in.
	Active bool
	// Roles are the user's roles, for the role guards and issued tokens.
	Roles []string
	// TokenVersion is compared with the version in each token: bump it
	// (after a password change, a "log out everywhere") to kill every token
	// issued before.
	TokenVersion int64
	// Email and Name, if set, are copied into issued tokens.
	Email, Name string
}

// MemoryUsers is an in-memory [LoginStore] and [PasswordHashUpdater] of
// Accounts, for tests and prototypes. Logins are matched exactly. It is
// safe for concurrent use.
type MemoryUsers struct {
	mu      sync.RWMutex
	byID    map[string]Account
	byLogin map[string]string // login → ID
}

var (
	_ LoginStore[Account] = (*MemoryUsers)(nil)
	_ PasswordHashUpdater = (*MemoryUsers)(nil)
	_ TokenVersionBumper  = (*MemoryUsers)(nil)
)

// NewMemoryUsers returns an empty MemoryUsers.
func NewMemoryUsers() *MemoryUsers {
	return &MemoryUsers{byID: map[string]Account{}, byLogin: map[string]string{}}
}

// Put adds or replaces the account a.ID, found at login by login.
func (m *MemoryUsers) Put(login string, a Account) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a.Roles = append([]string(nil), a.Roles...)
	m.byID[a.ID] = a
	m.byLogin[login] = a.ID
}

// Update applies f to the account with the given ID, if there is one, and
// reports whether there was.
func (m *MemoryUsers) Update(id string, f func(*Account)) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.byID[id]
	if ok {
		f(&a)
		m.byID[id] = a
	}
	return ok
}

// User implements [UserStore].
func (m *MemoryUsers) User(_ context.Context, id string) (Account, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	a, ok := m.byID[id]
	return a, ok, nil
}

// UserByLogin implements [LoginStore].
func (m *MemoryUsers) UserByLogin(ctx context.Context, login string) (Account, bool, error) {
	m.mu.RLock()
	id, ok := m.byLogin[login]
	m.mu.RUnlock()
	if !ok {
		return Account{}, false, nil
	}
	return m.User(ctx, id)
}

// Account implements [UserStore]: the user type of MemoryUsers is Account.
func (m *MemoryUsers) Account(a Account) Account { return a }

// UpdatePasswordHash implements [PasswordHashUpdater].
func (m *MemoryUsers) UpdatePasswordHash(_ context.Context, id, hash string) error {
	m.Update(id, func(a *Account) { a.PasswordHash = hash })
	return nil
}

// BumpTokenVersion implements [TokenVersionBumper].
func (m *MemoryUsers) BumpTokenVersion(_ context.Context, id string) error {
	m.Update(id, func(a *Account) { a.TokenVersion++ })
	return nil
}
