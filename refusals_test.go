package auth

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingLimiter counts the calls that reach the store.
type countingLimiter struct {
	Limiter
	reserves, releases atomic.Int32
}

func (c *countingLimiter) Reserve(ctx context.Context, key string, now time.Time, t Throttle) (time.Duration, error) {
	c.reserves.Add(1)
	return c.Limiter.Reserve(ctx, key, now, t)
}

func (c *countingLimiter) Release(ctx context.Context, key string) error {
	c.releases.Add(1)
	return c.Limiter.Release(ctx, key)
}

// Issue 11: a flood from one throttled address cost the store a Reserve
// (a write, on SQLite) and a Release per request, every one answered 429:
// the store did more work for the refused flood than for the API. Once the
// store has refused a key, this instance refuses it until the wait ends
// without asking, with a Retry-After that counts down, and asks again after.
func TestThrottledFloodSkipsTheStore(t *testing.T) {
	t.Parallel()
	store := &countingLimiter{Limiter: NewMemoryLimiter()}
	ipth := Throttle{Threshold: 3, Base: 10 * time.Second, Max: time.Minute, Window: time.Hour}
	f := newFixture(t, WithLimiter(store), WithThrottles(DefaultAccountThrottle, ipth))
	const addr = "203.0.113.9:1"
	for i := range 3 {
		if rec := loginFrom(t, f.a, addr, "user"+strconv.Itoa(i)+"@example.com", "guess"); rec.Code != 401 {
			t.Fatalf("attempt %d: %d; want 401", i+1, rec.Code)
		}
	}
	// The fourth is refused by the store: its name was counted first, and
	// is given back.
	if rec := loginFrom(t, f.a, addr, "user3@example.com", "guess"); rec.Code != 429 || rec.Header().Get("Retry-After") != "10" {
		t.Fatalf("fourth attempt: %d, Retry-After %q; want 429, 10", rec.Code, rec.Header().Get("Retry-After"))
	}
	reserves, releases := store.reserves.Load(), store.releases.Load()
	if reserves != 3*2+2 || releases != 1 {
		t.Fatalf("store calls after the refusal: %d reserves, %d releases; want 8, 1", reserves, releases)
	}
	// 200 more within the wait, some 4 s later: none reaches the store.
	f.now.Add(4)
	for i := range 200 {
		rec := loginFrom(t, f.a, addr, "other"+strconv.Itoa(i)+"@example.com", "guess")
		if rec.Code != 429 || rec.Header().Get("Retry-After") != "6" {
			t.Fatalf("attempt %d within the wait: %d, Retry-After %q; want 429, 6", i+1, rec.Code, rec.Header().Get("Retry-After"))
		}
	}
	if r, l := store.reserves.Load(), store.releases.Load(); r != reserves || l != releases {
		t.Errorf("200 refused attempts made %d reserves and %d releases in the store; want none", r-reserves, l-releases)
	}
	// One Warn line for the store's refusal; the repeats at Debug.
	var warn, debug int
	for line := range strings.Lines(f.logs.String()) {
		if strings.Contains(line, `"event":"login_throttled"`) {
			switch {
			case strings.Contains(line, `"level":"WARN"`):
				warn++
			case strings.Contains(line, `"level":"DEBUG"`):
				debug++
			}
		}
	}
	if warn != 1 || debug != 200 {
		t.Errorf("throttled logins logged %d Warn and %d Debug lines; want 1 and 200", warn, debug)
	}
	// Another address is not affected, and the right password from it works.
	if rec := loginFrom(t, f.a, "198.51.100.1:1", "alice@example.com", alicePassword); rec.Code != 200 {
		t.Errorf("alice from another address during the wait: %d; want 200", rec.Code)
	}
	// When the wait has passed, the store decides again: one more attempt
	// is counted (the fourth failure doubles the next wait).
	f.now.Add(6)
	before := store.reserves.Load()
	if rec := loginFrom(t, f.a, addr, "late@example.com", "guess"); rec.Code != 401 {
		t.Errorf("after the wait: %d; want 401", rec.Code)
	}
	if n := store.reserves.Load() - before; n != 2 {
		t.Errorf("after the wait the attempt made %d reserves; want 2 (name and IP)", n)
	}
	if rec := loginFrom(t, f.a, addr, "later@example.com", "guess"); rec.Code != 429 || rec.Header().Get("Retry-After") != "20" {
		t.Errorf("next attempt: %d, Retry-After %q; want 429, 20", rec.Code, rec.Header().Get("Retry-After"))
	}
}

// The same for an account: once its name is refused, guesses for it from
// any address stop at this instance, and a refused account never counts
// against the addresses that try it.
func TestThrottledAccountSkipsTheStore(t *testing.T) {
	t.Parallel()
	store := &countingLimiter{Limiter: NewMemoryLimiter()}
	f := newFixture(t, WithLimiter(store))
	for i := range DefaultAccountThrottle.Threshold {
		if rec := loginFrom(t, f.a, "192.0.2."+strconv.Itoa(i+1)+":1", "alice@example.com", "guess"); rec.Code != 401 {
			t.Fatalf("guess %d: %d; want 401", i+1, rec.Code)
		}
	}
	if rec := loginFrom(t, f.a, "192.0.2.50:1", "alice@example.com", "guess"); rec.Code != 429 {
		t.Fatalf("guess past the threshold: %d; want 429", rec.Code)
	}
	reserves := store.reserves.Load()
	for i := range 50 {
		if rec := loginFrom(t, f.a, "192.0.2."+strconv.Itoa(100+i)+":1", "Alice@Example.com ", alicePassword); rec.Code != 429 {
			t.Fatalf("login %d during the wait: %d; want 429", i+1, rec.Code)
		}
	}
	if n := store.reserves.Load() - reserves; n != 0 {
		t.Errorf("50 attempts at a refused account made %d reserves; want 0", n)
	}
}

// What refusals remembers is bounded: at most refusalsPerShard keys a shard,
// and expired ones make room.
func TestRefusalsBounded(t *testing.T) {
	t.Parallel()
	var r refusals
	now := time.Unix(1_000_000, 0)
	const n = shardCount*refusalsPerShard + 20_000
	for i := range n {
		r.refuse("k"+strconv.Itoa(i), now.Add(time.Minute), now)
	}
	if size := r.until.size(); size > shardCount*refusalsPerShard {
		t.Fatalf("%d keys remembered; want at most %d", size, shardCount*refusalsPerShard)
	}
	if w := r.wait("k1", now.Add(20*time.Second)); w != 40*time.Second {
		t.Errorf("wait of a remembered key = %v; want 40s", w)
	}
	// A minute later every entry has expired: new keys sweep them out and
	// are remembered.
	later := now.Add(2 * time.Minute)
	for i := range 5000 {
		r.refuse("new"+strconv.Itoa(i), later.Add(time.Minute), later)
	}
	for i := range 5000 {
		if r.wait("new"+strconv.Itoa(i), later) == 0 {
			t.Fatalf("new key %d was not remembered though every old entry had expired", i)
		}
	}
	if w := r.wait("k1", later); w != 0 {
		t.Errorf("an expired key still waits %v", w)
	}
}
