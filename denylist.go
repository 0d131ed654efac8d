package auth

import (
	"context"
	"sync/atomic"
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
// are removed once their time has passed, by the clock of the lookups
// (each write sweeps a bounded sample of what had expired by the latest
// lookup, and a lookup removes the expired entry it finds), maps are
// rebuilt as they empty, and no operation locks more than one shard (1/256)
// of the entries. It is safe for concurrent use; it starts no goroutine.
type MemoryDenylist struct {
	until shards[time.Time]
	// latest is the latest time a Denied call was asked about (Unix ns):
	// Deny has no clock, and sweeps only what had expired by then.
	latest atomic.Int64
}

var _ Denylist = (*MemoryDenylist)(nil)

// NewMemoryDenylist returns an empty MemoryDenylist.
func NewMemoryDenylist() *MemoryDenylist { return &MemoryDenylist{} }

// Deny implements [Denylist].
func (m *MemoryDenylist) Deny(_ context.Context, jti string, until time.Time) error {
	sh := m.until.of(jti)
	sh.lock()
	defer sh.unlock()
	// Deny has no clock: sweep by the latest time a lookup was made at,
	// which has surely passed (never by the new entry's own time, which may
	// be far ahead of it).
	if latest := m.latest.Load(); latest != 0 {
		now := time.Unix(0, latest)
		sh.sweep(func(u time.Time) bool { return !now.Before(u) })
	}
	sh.put(jti, until)
	return nil
}

// Denied implements [Denylist].
func (m *MemoryDenylist) Denied(_ context.Context, jti string, now time.Time) (bool, error) {
	for ns := now.UnixNano(); ; {
		if old := m.latest.Load(); ns <= old || m.latest.CompareAndSwap(old, ns) {
			break
		}
	}
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
