// Package redisstore keeps the shared state of [github.com/keygate/auth] in
// Redis, for services with more than one instance: refresh-token families
// ([auth.RefreshStore]), login-attempt counts ([auth.Limiter]), revoked
// access-token IDs ([auth.Denylist]) and, optionally, API keys
// ([auth.APIKeyStore]). One [*Store] implements all four over one go-redis v9
// client:
//
//	rdb := redis.NewClient(&redis.Options{Addr: "localhost:6379", ContextTimeoutEnabled: true})
//	s := redisstore.New(rdb)
//	a, err := auth.New[*User](tokens, users,
//		auth.WithRefreshStore(s), auth.WithLimiter(s), auth.WithDenylist(s))
//
// # Atomicity
//
// Each method that reads and writes does so in one Lua script (EVALSHA,
// falling back to EVAL), so it is atomic on its own: [Store.Rotate] is a
// compare-and-swap that at most one of any number of concurrent callers
// wins, and [Store.Reserve] decides and counts in one step. Every script
// touches one key, so the Store works on Redis Cluster too (its tests run
// the contracts on a cluster of three masters).
//
// # Time
//
// Every decision uses the times the caller passes (now, ExpiresAt, until),
// never Redis's clock, kept at microsecond precision. Only key lifetimes
// (TTLs) are taken from the Store's clock ([WithClock], time.Now by
// default): nothing is kept forever. A family lives until its ExpiresAt, a
// denylist entry until its until, a user's index of families until its
// newest family expires, an attempt count for the throttle's Window after
// its last attempt, and an API key until its ExpiresAt. The one exception is
// an API key without an ExpiresAt, kept until [Store.RevokeAPIKey]; its
// number is what the service adds, not what traffic makes.
//
// # Failures
//
// Every error a method returns starts with "redisstore:" and contains no
// token, key, hash or ID. When Redis cannot be reached (connection refused
// or reset, a timeout, a server still loading, a full pool) the error
// matches [ErrUnavailable], and also the client's own error. The auth
// handlers fail closed on any store error: the request is refused.
//
// # Deployment
//
// Redis must not evict these keys: run it with maxmemory-policy noeviction
// (the default), since an evicted denylist entry or revoked family would
// let a revoked token work again. Without persistence (RDB or AOF), a
// restart forgets revocations and counts as well as sessions.
//
// For [context.Context] deadlines to cut a slow call short, create the client
// with ContextTimeoutEnabled; otherwise its ReadTimeout and WriteTimeout
// apply.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/keygate/auth"
	"github.com/redis/go-redis/v9"
)

// ErrUnavailable is matched by the errors of calls that could not reach
// Redis, or that Redis could not serve for now: a service can answer them
// with 503 rather than 500.
var ErrUnavailable = errors.New("redisstore: Redis unavailable")

// Store keeps refresh-token families, attempt counts, denied token IDs and
// API keys in Redis. It implements [auth.RefreshStore], [auth.Limiter],
// [auth.Denylist] and [auth.APIKeyStore]. It holds no state of its own
// beyond its configuration and is safe for concurrent use.
type Store struct {
	client redis.UniversalClient
	prefix string
	now    func() time.Time
}

var (
	_ auth.RefreshStore = (*Store)(nil)
	_ auth.Limiter      = (*Store)(nil)
	_ auth.Denylist     = (*Store)(nil)
	_ auth.APIKeyStore  = (*Store)(nil)
)

// An Option configures [New].
type Option func(*Store)

// DefaultPrefix is the key prefix of a Store made without [WithPrefix].
const DefaultPrefix = "auth:"

// WithPrefix sets the prefix of every key the Store writes (DefaultPrefix,
// "auth:", by default), so that several services or environments can share
// one Redis database. On Redis Cluster, a prefix with a hash tag ("{auth}:")
// puts every key in one slot.
func WithPrefix(prefix string) Option { return func(s *Store) { s.prefix = prefix } }

// WithClock sets the clock the Store computes key lifetimes (TTLs) from
// (time.Now by default). It decides nothing else: every check uses the
// times the caller passes. Tests that pass fixed times, as authtest does,
// set it to a clock near those times.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// New returns a Store over client, which may be a *redis.Client, a
// *redis.ClusterClient, a *redis.Ring or any other [redis.UniversalClient].
// It panics if client is nil. New makes no call to Redis: use [Store.Ping]
// to check the connection.
func New(client redis.UniversalClient, opts ...Option) *Store {
	if client == nil {
		panic("redisstore: New needs a client")
	}
	s := &Store{client: client, prefix: DefaultPrefix, now: time.Now}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// Ping checks that Redis answers, for health checks. Its error matches
// [ErrUnavailable] when it does not.
func (s *Store) Ping(ctx context.Context) error {
	return wrap("ping", s.client.Ping(ctx).Err())
}

// key is the Redis key of id in the namespace kind.
func (s *Store) key(kind, id string) string { return s.prefix + kind + id }

// ttl is how long, in whole milliseconds rounded up, a key must live to
// outlast until by the Store's clock: 0 if until has passed.
func (s *Store) ttl(until time.Time) int64 {
	d := until.Sub(s.now())
	if d <= 0 {
		return 0
	}
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// micros encodes t as Unix microseconds, or "" for the zero time.
func micros(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.UnixMicro(), 10)
}

// parseMicros decodes micros.
func parseMicros(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	us, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, errMalformed
	}
	return time.UnixMicro(us).UTC(), nil
}

// errMalformed is returned for a record this package did not write.
var errMalformed = errors.New("malformed record")

// wrap prefixes err with the operation and marks outages with
// ErrUnavailable. The client's errors name no keys or values.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if unavailable(err) {
		return fmt.Errorf("redisstore: %s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("redisstore: %s: %w", op, err)
}

// unavailable reports whether err means Redis could not serve the call for
// now: any failure other than a reply from Redis or a malformed record (network errors, timeouts,
// a closed or exhausted pool), and the replies of a server that is loading,
// read-only, down or full. A cancelled context is the caller's doing.
func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, errMalformed) {
		return false
	}
	var reply redis.Error
	if !errors.As(err, &reply) {
		return true
	}
	return redis.IsLoadingError(err) || redis.IsReadOnlyError(err) || redis.IsClusterDownError(err) ||
		redis.IsTryAgainError(err) || redis.IsMasterDownError(err) || redis.IsMaxClientsError(err) ||
		redis.IsOOMError(err)
}
