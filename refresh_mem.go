package auth

import (
	"context"
	"time"
)

// DefaultMaxSessionsPerUser is how many live refresh-token families
// (logins) a [MemoryRefreshTokens] keeps per user by default.
const DefaultMaxSessionsPerUser = 100

// MemoryRefreshTokens is an in-memory [RefreshStore] for a single instance,
// tests and prototypes; services with more than one instance, or that must
// keep sessions across a restart, need a shared store (a restart forgets
// every session: each refresh token then answers 401, logged as an unknown
// session).
//
// Memory is bounded: a revoked family is removed at once, an expired one
// within a few writes (each write sweeps a bounded sample), maps are
// rebuilt as they empty, and each user keeps at most
// [DefaultMaxSessionsPerUser] families ([MemoryRefreshTokens.SetMaxPerUser]):
// a new login past the cap ends the user's oldest one. No operation holds a
// lock over more than one shard of the entries (1/256) or one user's
// families. It is safe for concurrent use; it starts no goroutine.
type MemoryRefreshTokens struct {
	families   shards[RefreshFamily]
	users      shards[map[string]span] // user ID → its families' IDs and times
	maxPerUser int
}

// span is when a family was created and when it expires, kept in the user
// index so that sweeping it needs no family lookup.
type span struct{ created, expires time.Time }

var _ RefreshStore = (*MemoryRefreshTokens)(nil)

// NewMemoryRefreshTokens returns an empty MemoryRefreshTokens.
func NewMemoryRefreshTokens() *MemoryRefreshTokens {
	return &MemoryRefreshTokens{maxPerUser: DefaultMaxSessionsPerUser}
}

// SetMaxPerUser sets how many families a user keeps (0: no cap). Call it
// before the store is used.
func (m *MemoryRefreshTokens) SetMaxPerUser(n int) { m.maxPerUser = max(n, 0) }

// Create implements [RefreshStore]. Past the user's cap, it removes the
// family that was created first.
func (m *MemoryRefreshTokens) Create(_ context.Context, f RefreshFamily) error {
	sh := m.families.of(f.ID)
	sh.lock()
	sh.put(f.ID, f)
	sh.sweep(func(g RefreshFamily) bool { return !f.CreatedAt.Before(g.ExpiresAt) })
	sh.unlock()

	us := m.users.of(f.UserID)
	us.lock()
	set := us.m[f.UserID]
	if set == nil {
		set = map[string]span{}
		us.put(f.UserID, set)
	}
	set[f.ID] = span{f.CreatedAt, f.ExpiresAt}
	var evict string
	if m.maxPerUser > 0 && len(set) > m.maxPerUser {
		evict = trim(set, f.CreatedAt, m.maxPerUser)
	}
	// Sweep other users of the shard as the shards sweep entries, so that
	// users who never log in again do not keep their index forever.
	us.sweep(func(other map[string]span) bool {
		trim(other, f.CreatedAt, 0)
		return len(other) == 0
	})
	us.unlock()
	if evict != "" {
		sh := m.families.of(evict)
		sh.lock()
		sh.remove(evict)
		sh.unlock()
	}
	return nil
}

// trim drops the expired families from a user's index, then, if limit is
// positive and the index is still over it, the oldest family, whose ID it
// returns for removal from the store.
func trim(set map[string]span, now time.Time, limit int) (evicted string) {
	var oldest string
	for id, sp := range set {
		switch {
		case !now.Before(sp.expires):
			delete(set, id)
		case oldest == "" || sp.created.Before(set[oldest].created):
			oldest = id
		}
	}
	if limit > 0 && len(set) > limit && oldest != "" {
		delete(set, oldest)
		return oldest
	}
	return ""
}

// Rotate implements [RefreshStore].
func (m *MemoryRefreshTokens) Rotate(_ context.Context, id, current, next string, now time.Time) (RefreshFamily, bool, bool, error) {
	sh := m.families.of(id)
	sh.lock()
	defer sh.unlock()
	f, ok := sh.m[id]
	if !ok {
		return RefreshFamily{}, false, false, nil
	}
	if f.Revoked || f.Current != current || !now.Before(f.ExpiresAt) {
		return f, true, false, nil
	}
	f.Previous, f.Current, f.RotatedAt = current, next, now
	sh.m[id] = f
	sh.sweep(func(g RefreshFamily) bool { return !now.Before(g.ExpiresAt) })
	return f, true, true, nil
}

// Revoke implements [RefreshStore]: the family is removed, so a later
// presentation of its tokens finds no family (found false).
func (m *MemoryRefreshTokens) Revoke(_ context.Context, id string) error {
	sh := m.families.of(id)
	sh.lock()
	defer sh.unlock()
	sh.remove(id)
	return nil
}

// RevokeUser implements [RefreshStore]: it removes the user's families, one
// shard lock at a time.
func (m *MemoryRefreshTokens) RevokeUser(_ context.Context, userID string) error {
	us := m.users.of(userID)
	us.lock()
	set := us.m[userID]
	us.remove(userID)
	us.unlock()
	for id := range set {
		sh := m.families.of(id)
		sh.lock()
		if f, ok := sh.m[id]; ok && f.UserID == userID {
			sh.remove(id)
		}
		sh.unlock()
	}
	return nil
}
