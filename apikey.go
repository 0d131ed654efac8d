package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// APIKey is the stored record of an API key, for service-to-service calls.
// The key itself is never stored: only its SHA-256 hash.
type APIKey struct {
	// ID is the key's public identifier (it also appears in the key).
	ID string
	// Hash is HashAPIKey of the key: the value the store looks keys up by.
	Hash string
	// Name says what the key is for.
	Name string
	// Roles are the roles the key grants, for the role guards.
	Roles []string
	// ExpiresAt, if not zero, is when the key stops working.
	ExpiresAt time.Time
	// Revoked keys stop working at once.
	Revoked bool
}

// APIKeyStore finds API keys by hash.
type APIKeyStore interface {
	// APIKey returns the key whose Hash is hash. If there is none, found is
	// false and err is nil; err is for system failures only (a 503).
	// Revoked and expired keys may be returned: the middleware refuses them.
	APIKey(ctx context.Context, hash string) (key APIKey, found bool, err error)
}

const (
	apiKeySecretBytes = 32 // 256 bits
	maxAPIKeyLen      = 256
)

// GenerateAPIKey returns a new key, to show once to whoever will use it, and
// its record, with ID and Hash set, to fill in (Name, Roles, ExpiresAt) and
// store. The key reads prefix_ID_secret, where prefix (1 to 16 letters or
// digits, such as "sk") makes it recognisable to people and secret scanners,
// and the secret is 256 bits from crypto/rand.
func GenerateAPIKey(prefix string) (key string, record APIKey, err error) {
	if len(prefix) < 1 || len(prefix) > 16 {
		return "", APIKey{}, fmt.Errorf("auth: API key prefix must have 1 to 16 characters")
	}
	for i := 0; i < len(prefix); i++ {
		if c := prefix[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return "", APIKey{}, fmt.Errorf("auth: API key prefix %q must be letters and digits", prefix)
		}
	}
	id := make([]byte, 8)
	secret := make([]byte, apiKeySecretBytes)
	rand.Read(id) // never fails (crypto/rand since Go 1.24)
	rand.Read(secret)
	record.ID = hex.EncodeToString(id)
	key = prefix + "_" + record.ID + "_" + base64.RawURLEncoding.EncodeToString(secret)
	record.Hash = HashAPIKey(key)
	return key, record, nil
}

// HashAPIKey returns the hex SHA-256 of key: what an [APIKeyStore] stores
// and looks up. A plain hash suffices for 256-bit random secrets; it is no
// way to store passwords.
func HashAPIKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// An APIKeyOption configures [Authenticator.RequireAPIKey].
type APIKeyOption func(*apiKeyConfig)

type apiKeyConfig struct {
	header string
}

// WithAPIKeyHeader sets the header the key is read from ("X-API-Key" by
// default). Keys are never read from the query.
func WithAPIKeyHeader(name string) APIKeyOption { return func(c *apiKeyConfig) { c.header = name } }

// RequireAPIKey returns middleware that lets through requests with a valid
// API key in the header, with the key's [Principal] in the context, so the
// role guards work as for users. It shares the Authenticator's realm, error
// handler, logger, event hook, client IP, clock and [Limiter].
//
// A missing key gets 401 (an [EventAPIKeyRejected] at Debug: every
// anonymous request makes one). An unknown, revoked or expired key, or one
// longer than 256 bytes (refused before any lookup), gets 401 too, with a
// Warn event, and counts as a failed attempt of the client's IP under the
// IP throttle ([WithThrottles]; counted apart from logins): past its
// threshold, failures answer 429 with Retry-After instead. A valid key is
// never throttled, so one client cannot lock out others behind the same
// address. A store failure gets 503. It panics if keys is nil or the
// header name is empty.
func (a *Authenticator[U]) RequireAPIKey(keys APIKeyStore, opts ...APIKeyOption) func(http.Handler) http.Handler {
	if keys == nil {
		panic("auth: RequireAPIKey needs a store")
	}
	c := apiKeyConfig{header: "X-API-Key"}
	for _, opt := range opts {
		opt(&c)
	}
	if c.header == "" {
		panic("auth: RequireAPIKey needs a header name")
	}
	header := http.CanonicalHeaderKey(c.header)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec, err := a.checkAPIKey(r, header, keys)
			if err != nil {
				a.emit(r, Event{Kind: EventAPIKeyRejected, Err: err})
				a.fail(w, r, err)
				return
			}
			p := &Principal{Subject: rec.ID, Roles: rec.Roles, APIKey: &rec}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), infoKey{},
				&authInfo{principal: p, fail: a.fail, log: a.emit})))
		})
	}
}

// errNoAPIKey is a request without an API key: ErrInvalidAPIKey, logged at
// Debug.
var errNoAPIKey = fmt.Errorf("%w: none given", ErrInvalidAPIKey)

func (a *Authenticator[U]) checkAPIKey(r *http.Request, header string, keys APIKeyStore) (APIKey, error) {
	values := r.Header[header]
	if len(values) == 0 || len(values) == 1 && values[0] == "" {
		return APIKey{}, errNoAPIKey
	}
	rec, err := a.lookupAPIKey(r, values, keys)
	if errors.Is(err, ErrInvalidAPIKey) {
		// Count the failure; past the threshold, answer 429 instead.
		if lerr := a.reserve(r.Context(), []throttleKey{{"apikey-" + a.clientKey(r), a.ipThrottle}}); lerr != nil {
			return APIKey{}, lerr
		}
	}
	return rec, err
}

func (a *Authenticator[U]) lookupAPIKey(r *http.Request, values []string, keys APIKeyStore) (APIKey, error) {
	if len(values) != 1 || len(values[0]) > maxAPIKeyLen {
		return APIKey{}, ErrInvalidAPIKey
	}
	hash := HashAPIKey(values[0])
	rec, found, err := keys.APIKey(r.Context(), hash)
	switch {
	case err != nil:
		return APIKey{}, &storeError{err}
	case !found,
		// The store found it by hash; compare again, in constant time, in
		// case its lookup is looser than equality.
		subtle.ConstantTimeCompare([]byte(rec.Hash), []byte(hash)) != 1,
		rec.Revoked,
		!rec.ExpiresAt.IsZero() && !a.now().Before(rec.ExpiresAt):
		return APIKey{}, ErrInvalidAPIKey
	}
	return rec, nil
}

// MemoryAPIKeys is an in-memory [APIKeyStore], for tests and prototypes. It
// is safe for concurrent use.
type MemoryAPIKeys struct {
	mu     sync.RWMutex
	byHash map[string]APIKey
}

var _ APIKeyStore = (*MemoryAPIKeys)(nil)

// NewMemoryAPIKeys returns an empty MemoryAPIKeys.
func NewMemoryAPIKeys() *MemoryAPIKeys { return &MemoryAPIKeys{byHash: map[string]APIKey{}} }

// Add stores k under k.Hash.
func (m *MemoryAPIKeys) Add(k APIKey) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.byHash[k.Hash] = k
}

// Revoke marks the key with the given ID revoked and reports whether there
// was one.
func (m *MemoryAPIKeys) Revoke(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for h, k := range m.byHash {
		if k.ID == id {
			k.Revoked = true
			m.byHash[h] = k
			return true
		}
	}
	return false
}

// APIKey implements [APIKeyStore].
func (m *MemoryAPIKeys) APIKey(_ context.Context, hash string) (APIKey, bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	k, ok := m.byHash[hash]
	return k, ok, nil
}
