package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Argon2Params are the argon2id parameters for new hashes.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8  // lanes
}

// DefaultArgon2Params are OWASP's recommended argon2id parameters:
// 19 MiB of memory, 2 passes, 1 lane.
var DefaultArgon2Params = Argon2Params{Memory: 19456, Time: 2, Threads: 1}

// DefaultBcryptCost is the cost [WithBcrypt] callers usually want, as passlib
// and most FastAPI services use.
const DefaultBcryptCost = 12

const (
	minBcryptCost       = 10 // for new hashes (OWASP)
	maxBcryptCost       = 16 // for new and stored hashes: 2^16 rounds is seconds of CPU
	minStoredBcryptCost = bcrypt.MinCost
	bcryptMaxBytes      = 72 // bcrypt reads no further; longer input is refused, never truncated
	bcryptHashLen       = 60

	defaultMaxPasswordBytes = 1024
	defaultMinPasswordRunes = 8
	hashMemoryBudget        = 256 << 20 // bytes of argon2id memory in flight, for the default concurrency
)

// Passwords is a password-hashing policy: it hashes new passwords with one
// scheme and verifies hashes of every scheme it knows (argon2id in the PHC
// string format, and bcrypt's $2a$, $2b$ and $2y$). Build it with
// [NewPasswords]; it is safe for concurrent use.
type Passwords struct {
	scheme   string // "argon2id" or "bcrypt"
	argon    Argon2Params
	cost     int
	maxBytes int
	minRunes int
	slots    chan struct{}

	dummy func() (string, error) // a hash of a random password, made once

	onHash func() // called for every hash computed; set by tests
}

// A PasswordOption configures [NewPasswords].
type PasswordOption func(*Passwords)

// WithArgon2id hashes new passwords with argon2id and the given parameters.
// They must meet OWASP's minimum: memory of at least 47104 KiB with 1 pass,
// 19456 with 2, 12288 with 3, 9216 with 4 or 7168 with 5 or more.
func WithArgon2id(p Argon2Params) PasswordOption {
	return func(ps *Passwords) { ps.scheme, ps.argon = schemeArgon2id, p }
}

// WithBcrypt hashes new passwords with bcrypt at the given cost (10 to 16;
// [DefaultBcryptCost] is 12). bcrypt reads only 72 bytes, so longer passwords
// are refused with [ErrPasswordTooLong] rather than silently truncated.
func WithBcrypt(cost int) PasswordOption {
	return func(ps *Passwords) { ps.scheme, ps.cost = schemeBcrypt, cost }
}

// WithMaxConcurrentHashes bounds how many hashes run at once; callers beyond
// it wait, for as long as their context allows. The default is GOMAXPROCS,
// lowered for argon2id so that no more than 256 MiB is in use at once.
func WithMaxConcurrentHashes(n int) PasswordOption {
	return func(ps *Passwords) { ps.slots = make(chan struct{}, max(n, 0)) }
}

// WithPasswordLength sets the length rules: [Passwords.Check] refuses fewer
// than minRunes characters (default 8), and every method refuses more than
// maxBytes bytes (default 1024) before any hashing.
func WithPasswordLength(minRunes, maxBytes int) PasswordOption {
	return func(ps *Passwords) { ps.minRunes, ps.maxBytes = minRunes, maxBytes }
}

const (
	schemeArgon2id = "argon2id"
	schemeBcrypt   = "bcrypt"
)

// NewPasswords returns a policy that hashes with argon2id and
// [DefaultArgon2Params] unless an option says otherwise. It returns an error
// for parameters below the OWASP minimums or out of bounds.
func NewPasswords(opts ...PasswordOption) (*Passwords, error) {
	p := &Passwords{
		scheme:   schemeArgon2id,
		argon:    DefaultArgon2Params,
		maxBytes: defaultMaxPasswordBytes,
		minRunes: defaultMinPasswordRunes,
	}
	for _, opt := range opts {
		opt(p)
	}
	switch p.scheme {
	case schemeArgon2id:
		if err := checkArgon2Policy(p.argon); err != nil {
			return nil, err
		}
	case schemeBcrypt:
		if p.cost < minBcryptCost || p.cost > maxBcryptCost {
			return nil, fmt.Errorf("auth: bcrypt cost %d out of range [%d, %d]", p.cost, minBcryptCost, maxBcryptCost)
		}
	}
	if p.minRunes < 1 || p.maxBytes < p.minRunes || p.maxBytes > 1<<16 {
		return nil, fmt.Errorf("auth: password length bounds [%d runes, %d bytes] are invalid", p.minRunes, p.maxBytes)
	}
	if p.slots == nil {
		n := runtime.GOMAXPROCS(0)
		if p.scheme == schemeArgon2id {
			n = min(n, hashMemoryBudget/(int(p.argon.Memory)<<10))
		}
		p.slots = make(chan struct{}, max(n, 1))
	}
	p.dummy = sync.OnceValues(func() (string, error) { return p.hash(rand.Text()) })
	if cap(p.slots) < 1 {
		return nil, errors.New("auth: at least one concurrent hash must be allowed")
	}
	return p, nil
}

// Check reports whether password meets the policy for a new password: at
// least the minimum number of characters, at most the maximum bytes, and at
// most 72 bytes when the policy hashes with bcrypt. Apply it at sign-up and
// password change; [Passwords.Hash] checks only what hashing itself needs.
func (p *Passwords) Check(password string) error {
	if err := p.checkHashable(password); err != nil {
		return err
	}
	if utf8.RuneCountInString(password) < p.minRunes {
		return ErrPasswordTooShort
	}
	return nil
}

func (p *Passwords) checkHashable(password string) error {
	switch {
	case password == "":
		return ErrPasswordTooShort
	case len(password) > p.maxBytes, p.scheme == schemeBcrypt && len(password) > bcryptMaxBytes:
		return ErrPasswordTooLong
	}
	return nil
}

// Hash returns a self-describing hash of password under the policy: a PHC
// string for argon2id, a $2b$ string for bcrypt. The password is hashed as
// the bytes given: no trimming or normalization. It fails with
// [ErrPasswordTooShort] for an empty password, [ErrPasswordTooLong] past the
// policy's limit, or the context's error if it ends while waiting for a slot.
func (p *Passwords) Hash(ctx context.Context, password string) (string, error) {
	if err := p.checkHashable(password); err != nil {
		return "", err
	}
	if err := p.acquire(ctx); err != nil {
		return "", err
	}
	defer p.release()
	p.hashed()
	return p.hash(password)
}

func (p *Passwords) hash(password string) (string, error) {
	if p.scheme == schemeBcrypt {
		h, err := bcrypt.GenerateFromPassword([]byte(password), p.cost)
		return string(h), err
	}
	salt := make([]byte, argon2SaltLen)
	rand.Read(salt) // never fails (crypto/rand since Go 1.24)
	h := argon2Hash{params: p.argon, salt: salt}
	h.key = h.derive(password, argon2KeyLen)
	return h.String(), nil
}

// Verify checks password against a stored hash. It returns nil when they
// match, [ErrPasswordMismatch] when they do not, [ErrInvalidHash] for a hash
// it cannot read, [ErrPasswordTooLong] for a password past the policy's byte
// limit, or the context's error if it ends while waiting for a slot.
//
// rehash is true after a successful match when the hash should be replaced by
// [Passwords.Hash] of the same password: it uses another scheme than the
// policy, or weaker parameters (lower bcrypt cost; less argon2id memory,
// fewer passes or a shorter key or salt).
//
// An empty hash, for a user that does not exist or has no password, is checked
// against a dummy hash of the policy's scheme, so the call costs what a real
// one does and fails with [ErrPasswordMismatch]: login time does not tell
// which accounts exist.
func (p *Passwords) Verify(ctx context.Context, hash, password string) (rehash bool, err error) {
	if len(password) > p.maxBytes {
		return false, ErrPasswordTooLong
	}
	if hash == "" {
		if hash, err = p.dummy(); err != nil {
			return false, err
		}
		defer func() {
			if err == nil {
				rehash, err = false, ErrPasswordMismatch
			}
		}()
	}
	switch {
	case strings.HasPrefix(hash, "$argon2id$"):
		return p.verifyArgon2id(ctx, hash, password)
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		return p.verifyBcrypt(ctx, hash, password)
	}
	return false, ErrInvalidHash
}

func (p *Passwords) verifyArgon2id(ctx context.Context, hash, password string) (bool, error) {
	stored, err := parseArgon2id(hash)
	if err != nil {
		return false, err
	}
	if err := p.acquire(ctx); err != nil {
		return false, err
	}
	defer p.release()
	p.hashed()
	if !stored.matches(password) {
		return false, ErrPasswordMismatch
	}
	return p.scheme != schemeArgon2id || stored.weakerThan(p.argon), nil
}

func (p *Passwords) verifyBcrypt(ctx context.Context, hash, password string) (bool, error) {
	cost, err := bcrypt.Cost([]byte(hash))
	if err != nil || len(hash) != bcryptHashLen || cost < minStoredBcryptCost || cost > maxBcryptCost {
		return false, ErrInvalidHash
	}
	if err := p.acquire(ctx); err != nil {
		return false, err
	}
	defer p.release()
	p.hashed()
	// x/crypto's compare ignores bytes past 72, so a longer password could
	// match on its prefix. It is refused, after the same work as a real
	// compare so that its timing matches.
	tooLong := len(password) > bcryptMaxBytes
	if tooLong {
		password = password[:bcryptMaxBytes]
	}
	err = bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
	switch {
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword), err == nil && tooLong:
		return false, ErrPasswordMismatch
	case err != nil:
		return false, ErrInvalidHash
	}
	return p.scheme != schemeBcrypt || cost < p.cost, nil
}

func (p *Passwords) acquire(ctx context.Context) error {
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *Passwords) release() { <-p.slots }

func (p *Passwords) hashed() {
	if p.onHash != nil {
		p.onHash()
	}
}
