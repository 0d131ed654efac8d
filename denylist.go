package auth

import (
	"context"
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

// MemoryDenylist is an in-memory [Denylist] for a single instance. Entries
// are removed once their time has passed (each write sweeps a bounded
// sample, and a lookup removes the expired entry it finds), maps are
// rebuilt as they empty, and no operation locks more than one shard (1/256)
// of the entries. It is safe for concurrent use; it starts no goroutine.
type MemoryDenylist struct {
	until shards[time.Time]
}

var _ Denylist = (*MemoryDenylist)(nil)

// NewMemoryDenylist returns an empty MemoryDenylist.
func NewMemoryDenylist() *MemoryDenylist { return &MemoryDenylist{} }

// Deny implements [Denylist].
func (m *MemoryDenylist) Deny(_ context.Context, jti string, until time.Time) error {
	sh := m.until.of(jti)
	sh.lock()
	defer sh.unlock()
	// Deny has no clock: sweep by the oldest time that is surely past, the
	// entry's own end less the longest life an access token has.
	now := until.Add(-maxAccessTTL - maxLeeway)
	sh.sweep(func(u time.Time) bool { return !now.Before(u) })
	sh.put(jti, until)
	return nil
}

// Denied implements [Denylist].
func (m *MemoryDenylist) Denied(_ context.Context, jti string, now time.Time) (bool, error) {
	sh := m.until.of(jti)
	sh.lock()
	defer sh.unlock()
	u, ok := sh.m[jti]
	if ok && !now.Before(u) {
		sh.remove(jti)
		return false, nil
	}
	return ok, nil
}
