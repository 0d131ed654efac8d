package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// WithUserCache keeps about size users that the middleware loaded, for up
// to ttl each, so that a request whose user was loaded within ttl on this
// instance skips [UserStore.User]. Off by default: without it every request
// loads its user, so a change to the user (roles, a deactivation, a token
// version) takes effect on the next request.
//
// With it, such a change made through this Authenticator takes effect at
// once on this instance (every write it makes to a user drops the user from
// the cache: [Authenticator.LogoutEverywhere], the password reset and
// email verification handlers, a login's re-hash), and so does one
// the service reports with [Authenticator.ForgetUser]; any other change (made
// on another instance, or in the database directly) takes effect within
// ttl. A cached user answers only a token it accepts (an active user, the
// token's version): for any other token the store is asked, and its answer
// cached, so that tokens issued after a change made elsewhere (a login
// after a password change on another instance, a reactivation) work at
// once, and a refused token costs a load as it does without the cache.
// Access-token denials ([WithDenylist]) are never cached. The cached user
// value is shared by the requests that find it: treat it as read-only
// (each request's [Principal] has roles of its own).
//
// Users are cached by ID alone: a store whose User depends on more than
// the ID (a tenant in the context) must not be cached this way.
//
// size is 1 to 1,048,576 users; the cache is 256 shards of size/256 users
// each (rounded up), and users fall into shards by a hash of their ID, so
// a shard fills before the whole cache does: make size several times the
// number of users active within ttl. When a shard is full, a new user
// replaces an expired one if a bounded sample finds one, else an arbitrary
// one. ttl is over 0 and at most 5 minutes. New returns an error for values
// out of these bounds; NewStateless, which loads no users, returns one for
// any user cache. Users the store does not find, and store errors, are
// never cached.
func WithUserCache(size int, ttl time.Duration) Option {
	return func(o *options) { o.userCache = &userCacheConfig{size: size, ttl: ttl} }
}

type userCacheConfig struct {
	size int
	ttl  time.Duration
}

func (c userCacheConfig) check() error {
	if c.size < 1 || c.size > 1<<20 {
		return fmt.Errorf("auth: user cache size %d out of range [1, 1048576]", c.size)
	}
	if c.ttl <= 0 || c.ttl > 5*time.Minute {
		return fmt.Errorf("auth: user cache TTL %v out of range (0, 5m]", c.ttl)
	}
	return nil
}

// userCache holds loaded users by subject, in shards. A forget (a
// ForgetUser) keeps a load that began before it out of the cache, so it
// cannot put back what was just forgotten.
type userCache[U any] struct {
	entries  versioned[cachedUser[U]]
	perShard int
	ttl      time.Duration
}

type cachedUser[U any] struct {
	user  U
	acct  Account
	until time.Time
}

func newUserCache[U any](c userCacheConfig) *userCache[U] {
	return &userCache[U]{perShard: max((c.size+shardCount-1)/shardCount, 1), ttl: c.ttl}
}

// cached wraps load with the cache: found users are kept for the TTL.
func (c *userCache[U]) cached(now func() time.Time, load func(context.Context, *Claims) (U, Account, bool, error)) func(context.Context, *Claims) (U, Account, bool, error) {
	return func(ctx context.Context, cl *Claims) (U, Account, bool, error) {
		t := now()
		expired := func(e cachedUser[U]) bool { return !t.Before(e.until) }
		e, ok, gen := c.entries.get(cl.Subject, expired)
		if ok && e.acct.Active && e.acct.TokenVersion == cl.Version {
			return e.user, ownRoles(e.acct), true, nil
		}
		// Not cached, or cached as refusing this token: the store decides,
		// so that a token of a version the store has and the cache has not
		// yet seen (a new login after a bump on another instance), or of a
		// user reactivated, is not refused for the TTL.
		u, acct, found, err := load(ctx, cl)
		if err != nil || !found {
			return u, acct, found, err
		}
		c.entries.putIf(cl.Subject, cachedUser[U]{u, ownRoles(acct), t.Add(c.ttl)}, gen, c.perShard, expired, true)
		return u, acct, true, nil
	}
}

// ownRoles returns acct with a roles slice of its own: the Principal of
// each request that finds a cached user gets one, so that a handler
// appending to its roles, or changing one, changes no other request's.
func ownRoles(acct Account) Account {
	acct.Roles = slices.Clone(acct.Roles)
	return acct
}

// ForgetUser drops the user whose ID is userID from this instance's user
// cache ([WithUserCache]), so that the next request loads it again: call it
// after your service changes a user's roles, status or anything else the
// middleware reads. The library's own writes to a user already do
// ([Authenticator.LogoutEverywhere], the password reset and email
// verification handlers, a login's re-hash). Without a cache it does
// nothing. Other instances see the change within the cache's TTL.
func (a *Authenticator[U]) ForgetUser(userID string) {
	if a.userCache != nil {
		a.userCache.entries.forget(userID)
	}
}

var errUserCacheStateless = errors.New("auth: WithUserCache needs New with a UserStore (NewStateless loads no users)")
