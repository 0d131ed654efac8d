package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Limiter counts attempts per key (a login name, a client IP) for backoff
// throttling. Each method is atomic on its own and takes the time from the
// caller. An attempt is counted before the work it guards (a password hash),
// so that parallel requests cannot all pass one check before any of them is
// counted.
type Limiter interface {
	// Reserve decides and counts, in one atomic step, an attempt by key at
	// now under policy t. If key must still wait ([Throttle.Wait] of its
	// count and last attempt is positive), Reserve counts nothing and
	// returns that wait. Otherwise it counts the attempt (a count whose last
	// attempt is t.Window or more before now starts again from zero),
	// records now as its last attempt and returns 0.
	//
	// So, whatever the number of concurrent calls for one key at one
	// instant, at most t.Threshold of them return 0 from a zero count; each
	// further one returns a positive wait until that wait has passed.
	Reserve(ctx context.Context, key string, now time.Time, t Throttle) (wait time.Duration, err error)
	// Release takes back one attempt counted by Reserve (never below zero)
	// and leaves the time of the last attempt alone: for an attempt that
	// succeeded, or never ran, and should not count against a shared key
	// such as a client IP.
	Release(ctx context.Context, key string) error
	// Reset forgets key's count: after a successful login, for its name.
	Reset(ctx context.Context, key string) error
}

// Throttle is a backoff policy: after Threshold counted attempts within
// Window (a window that restarts with every counted attempt), each further
// attempt must wait Base, doubling with every counted attempt up to Max,
// counted from the last one. An attempt that must wait is not counted. For
// logins, a success clears the name's count and gives the IP's attempt
// back, so in effect only failures accumulate. Construction checks
// Threshold ≥ 1 and 0 < Base ≤ Max ≤ Window.
type Throttle struct {
	Threshold int
	Base, Max time.Duration
	Window    time.Duration
}

// Default throttles, from OWASP's Authentication Cheat Sheet: per account,
// backoff from the 6th attempt within 15 minutes, doubling from 1 s up to
// 15 minutes (well under ASVS's 100 failures an hour); per client IP, the
// same from the 21st, to stop one address spraying many accounts.
var (
	DefaultAccountThrottle = Throttle{Threshold: 5, Base: time.Second, Max: 15 * time.Minute, Window: 15 * time.Minute}
	DefaultIPThrottle      = Throttle{Threshold: 20, Base: time.Second, Max: 15 * time.Minute, Window: 15 * time.Minute}
)

func (t Throttle) check() error {
	if t.Threshold < 1 || t.Base <= 0 || t.Max < t.Base || t.Window < t.Max {
		return fmt.Errorf("auth: throttle %+v: want Threshold ≥ 1 and 0 < Base ≤ Max ≤ Window", t)
	}
	return nil
}

// Wait returns how long an attempt must still wait at now, after n counted
// attempts, the last at last: 0 below Threshold, else Base doubled for each
// attempt past Threshold, capped at Max, counted from last. A count whose
// last attempt is Window or more before now counts as zero. It is the rule
// every [Limiter] applies in [Limiter.Reserve].
func (t Throttle) Wait(n int, last, now time.Time) time.Duration {
	if n < t.Threshold || !now.Before(last.Add(t.Window)) {
		return 0
	}
	d := t.Base
	for i := t.Threshold; i < n && d < t.Max; i++ {
		if d > t.Max/2 {
			d = t.Max // doubling would pass Max, or wrap around
			break
		}
		d *= 2
	}
	switch elapsed := now.Sub(last); {
	case elapsed >= d:
		return 0
	case elapsed < d-math.MaxInt64: // a clock gone back: d−elapsed would wrap
		return math.MaxInt64
	default:
		return d - elapsed
	}
}

// RateLimitError is returned for an attempt that must wait: it answers 429
// with Retry-After. It matches [ErrRateLimited].
type RateLimitError struct {
	// RetryAfter is how long the caller must wait; the Retry-After header
	// gives it in whole seconds, rounded up, at least 1.
	RetryAfter time.Duration
	// repeat is set when this instance refused from its memory of an
	// earlier refusal by the Limiter: its event is logged at Debug.
	repeat bool
}

// ErrRateLimited is matched by every [*RateLimitError].
var ErrRateLimited = errors.New("auth: too many attempts")

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("auth: too many attempts; retry after %v", e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// retryAfter is the Retry-After value in whole seconds, at least 1.
func (e *RateLimitError) retryAfter() int {
	s := e.RetryAfter / time.Second
	if e.RetryAfter%time.Second > 0 {
		s++ // up, without adding to a wait near the largest Duration
	}
	return max(int(s), 1)
}

// accountKey is the limiter key of a login name, whether or not such an
// account exists, so throttling never tells which do. It is normalized
// (trimmed, lower-cased) and hashed, so a password typed into the user name
// field does not end up in a store.
func accountKey(login string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(login))))
	return "login:" + hex.EncodeToString(sum[:16])
}

// userKey is the limiter key of a user's password checks outside login
// ([Authenticator.CheckPassword]), by user ID.
func userKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "user:" + hex.EncodeToString(sum[:16])
}

// MemoryLimiter is an in-memory [Limiter] for a single instance. Counts are
// removed a window after their last attempt (each write sweeps a bounded
// sample), maps are rebuilt as they empty, and no operation locks more than
// one shard (1/256) of the counts. It is safe for concurrent use; it starts
// no goroutine.
type MemoryLimiter struct {
	counts shards[attemptCount]
}

type attemptCount struct {
	n      int
	last   time.Time
	window time.Duration
}

func (c attemptCount) expired(now time.Time) bool { return !now.Before(c.last.Add(c.window)) }

var _ Limiter = (*MemoryLimiter)(nil)

// NewMemoryLimiter returns an empty MemoryLimiter.
func NewMemoryLimiter() *MemoryLimiter { return &MemoryLimiter{} }

// Reserve implements [Limiter].
func (m *MemoryLimiter) Reserve(_ context.Context, key string, now time.Time, t Throttle) (time.Duration, error) {
	sh := m.counts.of(key)
	sh.lock()
	defer sh.unlock()
	sh.sweep(func(c attemptCount) bool { return c.expired(now) })
	c := sh.m[key]
	if c.expired(now) {
		c = attemptCount{}
	}
	if wait := t.Wait(c.n, c.last, now); wait > 0 {
		return wait, nil
	}
	c.n++
	c.last, c.window = now, t.Window
	sh.put(key, c)
	return 0, nil
}

// Release implements [Limiter].
func (m *MemoryLimiter) Release(_ context.Context, key string) error {
	sh := m.counts.of(key)
	sh.lock()
	defer sh.unlock()
	if c, ok := sh.m[key]; ok && c.n > 0 {
		c.n--
		sh.m[key] = c
	}
	return nil
}

// Reset implements [Limiter].
func (m *MemoryLimiter) Reset(_ context.Context, key string) error {
	sh := m.counts.of(key)
	sh.lock()
	defer sh.unlock()
	sh.remove(key)
	return nil
}
