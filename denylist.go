package auth

import (
	"context"
	"sync"
	"time"
)

// Denylist holds the IDs of access tokens revoked before their expiry, for
// services that cannot wait out an access token's lifetime after a logout.
// It is off by default: with [WithDenylist], the middleware makes one lookup
// per request.
type Denylist interface {
	// Deny adds the token ID until the given time, after which the entry
	// may be dropped. The caller passes the last instant any verifier could
	// still accept the token: its expiry plus the largest leeway (the
	// logout handler passes exp + 2 minutes, the bound of [WithLeeway]), so
	// a logged-out token never works again within the leeway.
	Deny(ctx context.Context, jti string, until time.Time) error
	// Denied reports whether the token ID is denied at now.
	Denied(ctx context.Context, jti string, now time.Time) (bool, error)
}

// MemoryDenylist is an in-memory [Denylist] for a single instance: a mutex
// inside, expired entries removed on write, no goroutine.
type MemoryDenylist struct {
	mu        sync.Mutex
	until     map[string]time.Time
	lastSweep time.Time
}

var _ Denylist = (*MemoryDenylist)(nil)

// NewMemoryDenylist returns an empty MemoryDenylist.
func NewMemoryDenylist() *MemoryDenylist { return &MemoryDenylist{until: map[string]time.Time{}} }

// Deny implements [Denylist].
func (m *MemoryDenylist) Deny(_ context.Context, jti string, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	// Sweep with the oldest time we can trust: an entry's own expiry is
	// ahead of the caller's clock, so sweep by the previous sweep's horizon.
	now := until.Add(-maxAccessTTL - maxLeeway)
	if now.Sub(m.lastSweep) >= time.Minute {
		m.lastSweep = now
		for id, u := range m.until {
			if !now.Before(u) {
				delete(m.until, id)
			}
		}
	}
	m.until[jti] = until
	return nil
}

// Denied implements [Denylist].
func (m *MemoryDenylist) Denied(_ context.Context, jti string, now time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.until[jti]
	return ok && now.Before(u), nil
}
