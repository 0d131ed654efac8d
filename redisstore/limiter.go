package redisstore

import (
	"context"
	"time"

	"github.com/keygate/auth"
	"github.com/redis/go-redis/v9"
)

// An attempt count is a hash at prefix+"lim:"+key with fields n (the
// count), last (the last attempt, Unix microseconds) and win (the Window
// it was counted under, microseconds). Its TTL is that Window, restarted
// with every counted attempt.
const limKey = "lim:"

// reserve applies auth.Throttle.Wait and counts, in one step, with
// durations and times in microseconds. It returns the wait, 0 if the
// attempt was counted. KEYS[1] count; ARGV now, Threshold, Base, Max,
// Window, Window in ms (the TTL).
var reserve = redis.NewScript(`
local now, th, base, mx, win = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local v = redis.call('HMGET', KEYS[1], 'n', 'last', 'win')
local n, last, w = tonumber(v[1]), tonumber(v[2]), tonumber(v[3])
if not (n and last and w) or now >= last + w then
	n, last = 0, 0
end
if n >= th and now < last + win then
	local d, i = base, th
	while i < n and d < mx do
		d, i = d * 2, i + 1
	end
	if d > mx then d = mx end
	local wait = d - (now - last)
	if wait > 0 then
		return wait
	end
end
redis.call('HSET', KEYS[1], 'n', n + 1, 'last', ARGV[1], 'win', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return 0`)

// release takes back one attempt, never below zero, and leaves the last
// attempt and the TTL alone. KEYS[1] count.
var release = redis.NewScript(`
local n = tonumber(redis.call('HGET', KEYS[1], 'n'))
if n and n > 0 then
	redis.call('HSET', KEYS[1], 'n', n - 1)
end
return 1`)

// Reserve implements [auth.Limiter] in one script that applies
// [auth.Throttle.Wait] to the count and last attempt of key, at now, with
// times and durations truncated to microseconds. A counted attempt sets
// the key's TTL to t.Window: a count lives a Window after its last attempt.
// A reply lost after Redis ran the script, and retried by the client,
// counts the attempt twice: the count errs high, never low.
func (s *Store) Reserve(ctx context.Context, key string, now time.Time, t auth.Throttle) (time.Duration, error) {
	windowMillis := max(int64((t.Window+time.Millisecond-1)/time.Millisecond), 1)
	// At least 1µs each, so that the doubling in the script ends.
	base, maxWait := max(t.Base.Microseconds(), 1), max(t.Max.Microseconds(), 1)
	us, err := reserve.Run(ctx, s.client, []string{s.key(limKey, key)}, now.UnixMicro(), t.Threshold,
		base, maxWait, t.Window.Microseconds(), windowMillis).Int64()
	if err != nil {
		return 0, wrap("reserve", err)
	}
	return time.Duration(us) * time.Microsecond, nil
}

// Release implements [auth.Limiter].
func (s *Store) Release(ctx context.Context, key string) error {
	return wrap("release", release.Run(ctx, s.client, []string{s.key(limKey, key)}).Err())
}

// Reset implements [auth.Limiter]: it deletes key's count.
func (s *Store) Reset(ctx context.Context, key string) error {
	return wrap("reset", s.client.Del(ctx, s.key(limKey, key)).Err())
}
