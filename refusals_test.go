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
		r.refuse("k"+strconv.Itoa(i), now.Add(time.Minute), now, 0)
	}
	if size := r.until.size(); size > shardCount*refusalsPerShard {
		t.Fatalf("%d keys remembered; want at most %d", size, shardCount*refusalsPerShard)
	}
	if w, _ := r.wait("k1", now.Add(20*time.Second)); w != 40*time.Second {
		t.Errorf("wait of a remembered key = %v; want 40s", w)
	}
	// A minute later every entry has expired: new keys sweep them out and
	// are remembered.
	later := now.Add(2 * time.Minute)
	for i := range 5000 {
		r.refuse("new"+strconv.Itoa(i), later.Add(time.Minute), later, 0)
	}
	for i := range 5000 {
		if w, _ := r.wait("new"+strconv.Itoa(i), later); w == 0 {
			t.Fatalf("new key %d was not remembered though every old entry had expired", i)
		}
	}
	if w, _ := r.wait("k1", later); w != 0 {
		t.Errorf("an expired key still waits %v", w)
	}
}

// hookedLimiter lets a test stop a Reserve that the store refused, after
// the store answered, and a Reset or Release before it reaches the store.
type hookedLimiter struct {
	Limiter
	refused func(key string) // after the store refused key
	clear   func(key string) // before a Reset or Release of key
}

func (h *hookedLimiter) Reserve(ctx context.Context, key string, now time.Time, t Throttle) (time.Duration, error) {
	wait, err := h.Limiter.Reserve(ctx, key, now, t)
	if wait > 0 && h.refused != nil {
		h.refused(key)
	}
	return wait, err
}

func (h *hookedLimiter) Reset(ctx context.Context, key string) error {
	if h.clear != nil {
		h.clear(key)
	}
	return h.Limiter.Reset(ctx, key)
}

func (h *hookedLimiter) Release(ctx context.Context, key string) error {
	if h.clear != nil {
		h.clear(key)
	}
	return h.Limiter.Release(ctx, key)
}

// A refusal the store gave before this instance reset or released the key
// must not be remembered past that reset: whether the refused request
// remembers it before the success clears the count or after, the next
// attempt is the store's to decide. Otherwise a user who just logged in is
// refused for up to the throttle's Max on this instance, though the store
// has forgotten every failure.
func TestRefusalNotRememberedAcrossReset(t *testing.T) {
	t.Parallel()
	strict := Throttle{Threshold: 1, Base: time.Minute, Max: 15 * time.Minute, Window: 15 * time.Minute}
	for _, c := range []struct {
		name     string
		account  bool   // which throttle is strict: the account's, or the IP's
		clearKey string // the key whose Reset or Release the success makes
		other    string // the refused request's login name
	}{
		{"name reset", true, accountKey("alice@example.com"), "alice@example.com"},
		{"IP released", false, "", "mallory@example.com"},
	} {
		for _, late := range []bool{false, true} {
			name := c.name + ", refusal remembered before the success clears"
			if late {
				name = c.name + ", refusal remembered after the success clears"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				store := &hookedLimiter{Limiter: NewMemoryLimiter()}
				account, ip := DefaultAccountThrottle, strict
				if c.account {
					account, ip = strict, DefaultIPThrottle
				}
				f := newFixture(t, WithLimiter(store), WithThrottles(account, ip))
				const addr = "203.0.113.7:1"
				clearKey := c.clearKey
				if clearKey == "" {
					clearKey = ipKey("203.0.113.7", DefaultIPv6Prefix)
				}
				clearing, goClear := make(chan struct{}), make(chan struct{})
				var once, onceRefused atomic.Bool
				store.clear = func(key string) {
					if key == clearKey && once.CompareAndSwap(false, true) {
						clearing <- struct{}{}
						<-goClear
					}
				}
				refusedAt, goRefuse := make(chan struct{}), make(chan struct{})
				if late {
					store.refused = func(string) {
						if onceRefused.CompareAndSwap(false, true) {
							refusedAt <- struct{}{}
							<-goRefuse
						}
					}
				}
				// Alice logs in: her attempt is counted, and her success is
				// about to clear the count.
				ok := make(chan int)
				go func() { ok <- loginFrom(t, f.a, addr, "alice@example.com", alicePassword).Code }()
				<-clearing
				// Meanwhile another attempt under the key is refused by the
				// store.
				refused := make(chan int)
				go func() { refused <- loginFrom(t, f.a, addr, c.other, "guess").Code }()
				if late {
					<-refusedAt // the store has refused; nothing is remembered yet
					close(goClear)
					if code := <-ok; code != 200 {
						t.Fatalf("alice: %d; want 200", code)
					}
					close(goRefuse)
					if code := <-refused; code != 429 {
						t.Fatalf("the concurrent attempt: %d; want 429", code)
					}
				} else {
					if code := <-refused; code != 429 {
						t.Fatalf("the concurrent attempt: %d; want 429", code)
					}
					close(goClear)
					if code := <-ok; code != 200 {
						t.Fatalf("alice: %d; want 200", code)
					}
				}
				// The store now lets alice in again; so must this instance.
				if rec := loginFrom(t, f.a, addr, "alice@example.com", alicePassword); rec.Code != 200 {
					t.Errorf("alice again after her success: %d (Retry-After %q); want 200, as the store allows",
						rec.Code, rec.Header().Get("Retry-After"))
				}
			})
		}
	}
}
