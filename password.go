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
// string format, and bcrypt's $2a$, $2b$ and $2y$), plus the formats of
// other frameworks that [WithLegacy] enables. Build it with
// [NewPasswords]; it is safe for concurrent use.
type Passwords struct {
	scheme   string // "argon2id" or "bcrypt"
	argon    Argon2Params
	cost     int
	maxBytes int
	minRunes int
	slots    chan struct{}

	dummy func() (string, error) // a hash of a random password, made once

	onHash   func()       // called for every hash computed; set by tests
	onScheme func(string) // called with the scheme of every hash computed; set by tests

	legacy           LegacyScheme        // formats of other frameworks that verify
	badLegacy        LegacyScheme        // an unknown scheme given to WithLegacy
	hasBadLegacy     bool                // badLegacy is set
	nfkc             func(string) string // Unicode NFKC, for Better Auth's scrypt
	bcryptTruncation bool                // WithInsecureBcryptTruncation
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
// it wait, for as long as their context allows (the login handler for
// [WithHashWait], then 503).
//
// The default is half of GOMAXPROCS, at least one (and, for argon2id, no
// more than fits in 256 MiB at once): a flood of logins, each of which must
// cost a hash, then occupies at most half the cores, and the rest of the
// API keeps the other half. On 2 cores that halves the login throughput of
// a flood and keeps authenticated requests at a few times their idle
// latency instead of over ten (examples/load measures both). Raise it for
// a service that does little but log users in.
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
	if err := p.checkLegacy(); err != nil {
		return nil, err
	}
	if p.minRunes < 1 || p.maxBytes < p.minRunes || p.maxBytes > 1<<16 {
		return nil, fmt.Errorf("auth: password length bounds [%d runes, %d bytes] are invalid", p.minRunes, p.maxBytes)
	}
	if p.slots == nil {
		n := runtime.GOMAXPROCS(0) / 2 // leave half the cores to requests that do not hash
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
	p.hashed(p.scheme)
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
// it cannot use (malformed, a marker such as Django's "!…" for an account
// without a password, an unknown format, parameters out of bounds, or a
// legacy format not enabled with [WithLegacy]), [ErrPasswordTooLong] for a
// password past the policy's byte limit or, on a bcrypt hash, past 72 bytes
// (unless [WithInsecureBcryptTruncation]), or the context's error if it ends
// while waiting for a slot.
//
// rehash is true after a successful match when the hash should be replaced by
// [Passwords.Hash] of the same password: it uses another scheme or format
// than the policy, or any parameter differs from the policy's (bcrypt cost;
// argon2id memory, passes, lanes, key or salt length), as argon2-cffi's
// check_needs_rehash decides. Lowering the policy thus moves hashes down too.
//
// Every failure after the byte-limit check costs at least one hash of the
// policy's scheme, whatever the stored value: an empty hash (a user that
// does not exist) is checked against a dummy hash and fails with
// [ErrPasswordMismatch]; an unusable hash runs the same dummy check, and
// only that, before its error is returned; a wrong password against a
// usable hash at the policy's scheme and parameters costs that one hash,
// and against any other usable hash, that hash and then the dummy, so that
// no failure is quicker than an unknown user's. Login time then does not
// tell which accounts exist or which have a usable password; it can tell a
// hash slower than the policy's until its owner logs in and it is rehashed.
func (p *Passwords) Verify(ctx context.Context, hash, password string) (rehash bool, err error) {
	if len(password) > p.maxBytes {
		return false, ErrPasswordTooLong
	}
	check, err := p.verifier(hash, password)
	if err != nil {
		if derr := p.dummyCheck(ctx, password); derr != nil {
			return false, derr
		}
		return false, err
	}
	if err := p.acquire(ctx); err != nil {
		return false, err
	}
	p.hashed(check.scheme)
	rehash, err = check.run()
	p.release()
	if err != nil && !check.atPolicy {
		// A hash cheaper than the policy's (passlib's 29,000 PBKDF2 rounds
		// cost a quarter of the default argon2id) would fail faster than an
		// unknown user, and so would a bcrypt hash whose salt only x/crypto
		// finds malformed: add the dummy check, so that no failure costs
		// less. Its own error (the context ended) does not change the answer.
		p.dummyCheck(ctx, password)
	}
	return rehash, err
}

// A check is one password check against a parsed hash: run computes the one
// hash and compares in constant time.
type check struct {
	scheme   string // what the hash costs, for the test hook
	atPolicy bool   // the policy's scheme and parameters: it costs what the dummy does
	run      func() (rehash bool, err error)
}

// verifier parses a stored hash, without hashing, into the check that
// verifies password against it. Its error is the one Verify returns after
// the dummy check.
func (p *Passwords) verifier(hash, password string) (check, error) {
	switch {
	case hash == "":
		return check{}, ErrPasswordMismatch
	case strings.HasPrefix(hash, "$argon2id$"):
		stored, err := parseArgon2id(hash)
		if err != nil {
			return check{}, err
		}
		return p.argon2idCheck(stored, password, false), nil
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		return p.bcryptCheck(hash, password, false)
	}
	return p.legacyVerifier(hash, password)
}

// dummyCheck runs one check of the policy's scheme against a dummy hash and
// ignores its result, so that a failure costs what a real check does.
func (p *Passwords) dummyCheck(ctx context.Context, password string) error {
	hash, err := p.dummy()
	if err != nil {
		return err
	}
	if strings.HasPrefix(hash, "$2") && len(password) > bcryptMaxBytes {
		password = password[:bcryptMaxBytes] // the cost is the same; the result is unused
	}
	c, err := p.verifier(hash, password)
	if err != nil {
		return err
	}
	if err := p.acquire(ctx); err != nil {
		return err
	}
	defer p.release()
	p.hashed(c.scheme)
	c.run()
	return nil
}

// argon2idCheck checks password against a parsed argon2id hash. legacy
// marks a hash in another framework's wrapping (Django's "argon2$"), which
// is rehashed into the policy's format even at the policy's parameters.
func (p *Passwords) argon2idCheck(stored argon2Hash, password string, legacy bool) check {
	rehash := legacy || p.scheme != schemeArgon2id || stored.differsFrom(p.argon)
	return check{scheme: schemeArgon2id, atPolicy: !rehash, run: func() (bool, error) {
		if !stored.matches(password) {
			return false, ErrPasswordMismatch
		}
		return rehash, nil
	}}
}

// bcryptCheck checks password against a bcrypt hash. legacy marks a hash in
// another framework's wrapping (Django's "bcrypt$"), rehashed even at the
// policy's cost.
func (p *Passwords) bcryptCheck(hash, password string, legacy bool) (check, error) {
	cost, err := bcrypt.Cost([]byte(hash))
	if err != nil || len(hash) != bcryptHashLen || cost < minStoredBcryptCost || cost > maxBcryptCost {
		return check{}, ErrInvalidHash
	}
	// x/crypto's compare ignores bytes past 72, so a longer password could
	// match on its prefix: it is refused unless the service opted in to
	// the truncation passlib, bcryptjs and node's bcrypt applied silently.
	truncated := len(password) > bcryptMaxBytes
	if truncated {
		if !p.bcryptTruncation {
			return check{}, ErrPasswordTooLong
		}
		password = password[:bcryptMaxBytes]
	}
	rehash := legacy || truncated || p.scheme != schemeBcrypt || cost != p.cost
	return check{scheme: schemeBcrypt, atPolicy: !rehash, run: func() (bool, error) {
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
		switch {
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, ErrPasswordMismatch
		case err != nil:
			return false, ErrInvalidHash
		}
		return rehash, nil
	}}, nil
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

// hashed records one hash computation of the given scheme, for tests.
func (p *Passwords) hashed(scheme string) {
	if p.onHash != nil {
		p.onHash()
	}
	if p.onScheme != nil {
		p.onScheme(scheme)
	}
}
