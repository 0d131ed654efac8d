package redisstore

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// A denied token ID is a string at prefix+"deny:"+jti holding until in
// Unix microseconds, with a TTL ending at until.
const denyKey = "deny:"

// Deny implements [auth.Denylist]: one SET with a TTL ending at until by
// the Store's clock (the auth logout handler passes exp plus the largest
// leeway). An until already past by that clock writes nothing. Denying an
// ID again replaces its time.
func (s *Store) Deny(ctx context.Context, jti string, until time.Time) error {
	ttl := s.ttl(until)
	if ttl == 0 {
		return nil
	}
	err := s.client.Set(ctx, s.key(denyKey, jti), until.UnixMicro(), time.Duration(ttl)*time.Millisecond).Err()
	return wrap("deny", err)
}

// Denied implements [auth.Denylist]: one GET; the ID is denied while now
// is before the until it was denied with.
func (s *Store) Denied(ctx context.Context, jti string, now time.Time) (bool, error) {
	v, err := s.client.Get(ctx, s.key(denyKey, jti)).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, wrap("denied", err)
	}
	until, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return false, wrap("denied", errMalformed)
	}
	return now.UnixMicro() < until, nil
}
