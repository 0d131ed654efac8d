package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Limiter counts failed logins per key (an account, a client IP). Each
// method is atomic on its own and takes the time from the caller.
type Limiter interface {
	// Failures returns how many failures key has had, and when the last
	// was. A count whose last failure is a window or more before now is
	// forgotten (0).
	Failures(ctx context.Context, key string, now time.Time) (n int, last time.Time, err error)
	// AddFailure records a failure of key at now and returns the new count.
	// The count is forgotten once window passes with no failure.
	AddFailure(ctx context.Context, key string, now time.Time, window time.Duration) (n int, err error)
	// Reset forgets key's failures.
	Reset(ctx context.Context, key string) error
}

// Throttle is a backoff policy: after Threshold failures within Window (a
// window that restarts with every failure), each further attempt must wait
// Base, doubling with every failure up to Max, counted from the last one.
type Throttle struct {
	Threshold int
	Base, Max time.Duration
	Window    time.Duration
}

// Default throttles, from OWASP's Authentication Cheat Sheet: per account,
// backoff from the 6th failure within 15 minutes, doubling from 1 s up to
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

// wait returns how long an attempt after n failures, the last at last, must
// still wait at now.
func (t Throttle) wait(n int, last, now time.Time) time.Duration {
	if n < t.Threshold {
		return 0
	}
	d := t.Base
	for i := t.Threshold; i < n && d < t.Max; i++ {
		d *= 2
	}
	return max(min(d, t.Max)-now.Sub(last), 0)
}

// RateLimitError is returned for an attempt that must wait: it answers 429
// with Retry-After. It matches [ErrRateLimited].
type RateLimitError struct {
	RetryAfter time.Duration
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
	return max(int((e.RetryAfter+time.Second-1)/time.Second), 1)
}

// accountKey is the limiter key of a login name, whether or not such an
// account exists, so throttling never tells which do. It is normalized
// (trimmed, lower-cased) and hashed, so a password typed into the user name
// field does not end up in a store.
func accountKey(login string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(login))))
	return "login:" + hex.EncodeToString(sum[:16])
}

func ipKey(ip string) string { return "ip:" + ip }

// MemoryLimiter is an in-memory [Limiter] for a single instance: a mutex
// inside, stale counts removed on write, no goroutine.
type MemoryLimiter struct {
	mu        sync.Mutex
	counts    map[string]failureCount
	lastSweep time.Time
}

type failureCount struct {
	n      int
	last   time.Time
	window time.Duration
}

var _ Limiter = (*MemoryLimiter)(nil)

// NewMemoryLimiter returns an empty MemoryLimiter.
func NewMemoryLimiter() *MemoryLimiter { return &MemoryLimiter{counts: map[string]failureCount{}} }

// Failures implements [Limiter].
func (m *MemoryLimiter) Failures(_ context.Context, key string, now time.Time) (int, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.counts[key]
	if !ok || !now.Before(c.last.Add(c.window)) {
		return 0, time.Time{}, nil
	}
	return c.n, c.last, nil
}

// AddFailure implements [Limiter].
func (m *MemoryLimiter) AddFailure(_ context.Context, key string, now time.Time, window time.Duration) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if now.Sub(m.lastSweep) >= time.Minute {
		m.lastSweep = now
		for k, c := range m.counts {
			if !now.Before(c.last.Add(c.window)) {
				delete(m.counts, k)
			}
		}
	}
	c := m.counts[key]
	if !now.Before(c.last.Add(c.window)) {
		c = failureCount{}
	}
	c.n++
	c.last, c.window = now, window
	m.counts[key] = c
	return c.n, nil
}

// Reset implements [Limiter].
func (m *MemoryLimiter) Reset(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.counts, key)
	return nil
}
