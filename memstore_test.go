package auth

import (
	"context"
	"fmt"
	"math/bits"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// Issue 11: the memory stores kept revoked and expired entries, never gave
// map memory back, and swept every entry under one lock.
func TestMemoryRefreshTokensBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := NewMemoryRefreshTokens()
	const n = 20000
	for i := range n {
		id := "f" + strconv.Itoa(i)
		m.Create(ctx, RefreshFamily{ID: id, UserID: "u" + strconv.Itoa(i), Current: id, CreatedAt: testNow, ExpiresAt: testNow.Add(time.Hour)})
	}
	if got := m.families.size(); got != n {
		t.Fatalf("%d families; want %d", got, n)
	}
	m.Revoke(ctx, "f0")
	if _, found, _, _ := m.Rotate(ctx, "f0", "f0", "x", testNow); found {
		t.Error("a revoked family is still kept")
	}
	// An hour later every family has expired: new logins sweep them out.
	later := testNow.Add(time.Hour)
	for i := range n / 4 {
		id := "g" + strconv.Itoa(i)
		m.Create(ctx, RefreshFamily{ID: id, UserID: "v" + strconv.Itoa(i), Current: id, CreatedAt: later, ExpiresAt: later.Add(time.Hour)})
	}
	if left := m.families.size() - n/4; left > n/100 {
		t.Errorf("%d of %d expired families left after %d writes; want nearly none", left, n, n/4)
	}
	if users := m.users.size() - n/4; users > n/100 {
		t.Errorf("%d user entries left; the expired users' sets should go", users)
	}
	// Maps were rebuilt: no shard's peak is far above its size.
	for i := range m.families {
		sh := &m.families[i]
		if sh.peak >= minRebuild && len(sh.m) < sh.peak/4 {
			t.Fatalf("shard %d holds %d of a peak of %d: never rebuilt", i, len(sh.m), sh.peak)
		}
	}
}

func TestMemoryRefreshTokensCapPerUser(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := NewMemoryRefreshTokens()
	for i := range DefaultMaxSessionsPerUser + 50 {
		id := "f" + strconv.Itoa(i)
		m.Create(ctx, RefreshFamily{ID: id, UserID: "u1", Current: id, CreatedAt: testNow.Add(time.Duration(i) * time.Second), ExpiresAt: testNow.Add(time.Hour)})
	}
	if got := m.families.size(); got != DefaultMaxSessionsPerUser {
		t.Errorf("one user holds %d families; want the cap, %d", got, DefaultMaxSessionsPerUser)
	}
	if _, found, _, _ := m.Rotate(ctx, "f0", "f0", "x", testNow.Add(time.Minute)); found {
		t.Error("the oldest family survived the cap")
	}
	if _, _, swapped, _ := m.Rotate(ctx, "f149", "f149", "x", testNow.Add(time.Minute)); !swapped {
		t.Error("the newest family did not survive the cap")
	}
	m.RevokeUser(ctx, "u1")
	if got := m.families.size(); got != 0 {
		t.Errorf("RevokeUser left %d families", got)
	}
	unlimited := NewMemoryRefreshTokens()
	unlimited.SetMaxPerUser(0)
	for i := range DefaultMaxSessionsPerUser + 1 {
		unlimited.Create(ctx, RefreshFamily{ID: strconv.Itoa(i), UserID: "u1", CreatedAt: testNow, ExpiresAt: testNow.Add(time.Hour)})
	}
	if got := unlimited.families.size(); got != DefaultMaxSessionsPerUser+1 {
		t.Errorf("SetMaxPerUser(0) kept %d", got)
	}
}

func TestMemoryLimiterAndDenylistBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const n = 20000
	l := NewMemoryLimiter()
	d := NewMemoryDenylist()
	th := Throttle{Threshold: 5, Base: time.Second, Max: time.Minute, Window: 15 * time.Minute}
	for i := range n {
		l.Reserve(ctx, "k"+strconv.Itoa(i), testNow, th)
		d.Deny(ctx, "j"+strconv.Itoa(i), testNow.Add(15*time.Minute))
	}
	later := testNow.Add(time.Hour + 15*time.Minute + maxAccessTTL + maxLeeway)
	d.Denied(ctx, "lookup", later) // requests go on: Deny sweeps by their clock
	for i := range n / 4 {
		l.Reserve(ctx, "new"+strconv.Itoa(i), later, th)
		d.Deny(ctx, "new"+strconv.Itoa(i), later.Add(15*time.Minute))
	}
	if left := l.counts.size() - n/4; left > n/100 {
		t.Errorf("limiter: %d of %d expired counts left", left, n)
	}
	if left := d.until.size() - n/4; left > n/100 {
		t.Errorf("denylist: %d of %d expired entries left", left, n)
	}
	if denied, _ := d.Denied(ctx, "new1", later); !denied {
		t.Error("a live denylist entry was swept")
	}
}

// A denial far in the future never sweeps out the others: Deny has no
// clock, and sweeps by the latest lookup's time, not by its own entry's.
func TestMemoryDenylistKeepsLiveEntries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := NewMemoryDenylist()
	d.Denied(ctx, "lookup", testNow)
	for i := range 2000 {
		d.Deny(ctx, "jti-"+strconv.Itoa(i), testNow.Add(17*time.Minute))
	}
	for i := range 2000 {
		d.Deny(ctx, "long-"+strconv.Itoa(i), testNow.Add(24*time.Hour)) // an external token's own exp, say
	}
	for i := range 2000 {
		if denied, _ := d.Denied(ctx, "jti-"+strconv.Itoa(i), testNow.Add(16*time.Minute)); !denied {
			t.Fatalf("jti-%d is no longer denied 1 minute before its end", i)
		}
	}
}

// BenchmarkMemoryStores reports, at 1e5 and 1e6 entries, the bytes each
// entry costs and the longest time a shard lock was held (every call holds
// at most one lock at a time, so this bounds how long a login waits on the
// store) while, after the fill, a user at the session cap logs in and out
// everywhere (RevokeUser), and new writes sweep out a store whose every
// entry has expired, until it is empty of them: the work the issue saw stop
// the world.
func BenchmarkMemoryStores(b *testing.B) {
	// Holds are counted in power-of-two buckets of microseconds: the
	// longest one on a busy machine is often a preemption or a GC pause
	// that fell inside the lock, so the 99.99th percentile is reported too.
	var longest atomic.Int64
	var buckets [32]atomic.Int64
	lockHeld = func(d time.Duration) {
		buckets[min(bits.Len64(uint64(d.Microseconds())), 31)].Add(1)
		for {
			old := longest.Load()
			if int64(d) <= old || longest.CompareAndSwap(old, int64(d)) {
				return
			}
		}
	}
	defer func() { lockHeld = nil }()
	report := func(b *testing.B) {
		var total, seen int64
		for i := range buckets {
			total += buckets[i].Load()
		}
		for i := range buckets {
			if seen += buckets[i].Load(); seen*10000 >= total*9999 {
				b.ReportMetric(float64(uint64(1)<<i), "µs-p99.99-lock-≤")
				break
			}
		}
		b.ReportMetric(float64(longest.Load())/1e3, "µs-longest-lock")
	}
	reset := func() {
		longest.Store(0)
		for i := range buckets {
			buckets[i].Store(0)
		}
	}
	sizes := []int{1e5, 1e6}
	if testing.Short() {
		sizes = sizes[:1] // CI runs every benchmark once, to keep it compiling
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("refresh/%d", n), func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				reset()
				before := heap()
				m := NewMemoryRefreshTokens()
				for i := range n {
					id := "family-" + strconv.Itoa(i)
					m.Create(ctx, RefreshFamily{ID: id, UserID: "user-" + strconv.Itoa(i%(n/10)), Current: id, CreatedAt: testNow, ExpiresAt: testNow.Add(time.Hour)})
				}
				b.ReportMetric(float64(heap()-before)/float64(n), "B/entry")
				reset() // the sweeps and the log-out-everywhere, not the fill
				for i := range DefaultMaxSessionsPerUser {
					m.Create(ctx, RefreshFamily{ID: "big-" + strconv.Itoa(i), UserID: "big", CreatedAt: testNow, ExpiresAt: testNow.Add(time.Hour)})
				}
				m.RevokeUser(ctx, "big")
				later := testNow.Add(2 * time.Hour) // every family has expired
				writes := 0
				for m.families.size()-writes > n/100 {
					for range 1000 {
						id := "late-" + strconv.Itoa(writes)
						m.Create(ctx, RefreshFamily{ID: id, UserID: id, CreatedAt: later, ExpiresAt: later.Add(time.Hour)})
						writes++
					}
				}
				b.ReportMetric(float64(writes), "writes-to-sweep")
				report(b)
				runtime.KeepAlive(m)
			}
		})
		b.Run(fmt.Sprintf("limiter/%d", n), func(b *testing.B) {
			ctx := context.Background()
			th := Throttle{Threshold: 5, Base: time.Second, Max: time.Minute, Window: 15 * time.Minute}
			for b.Loop() {
				reset()
				before := heap()
				l := NewMemoryLimiter()
				for i := range n {
					l.Reserve(ctx, "ip:203.0."+strconv.Itoa(i), testNow, th)
				}
				b.ReportMetric(float64(heap()-before)/float64(n), "B/entry")
				reset()
				later := testNow.Add(time.Hour)
				writes := 0
				for l.counts.size()-writes > n/100 {
					for range 1000 {
						l.Reserve(ctx, "late"+strconv.Itoa(writes), later, th)
						writes++
					}
				}
				b.ReportMetric(float64(writes), "writes-to-sweep")
				report(b)
				runtime.KeepAlive(l)
			}
		})
		b.Run(fmt.Sprintf("denylist/%d", n), func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				reset()
				before := heap()
				d := NewMemoryDenylist()
				for i := range n {
					d.Deny(ctx, "jti-"+strconv.Itoa(i), testNow.Add(15*time.Minute))
				}
				b.ReportMetric(float64(heap()-before)/float64(n), "B/entry")
				reset()
				later := testNow.Add(2*time.Hour + maxAccessTTL)
				d.Denied(ctx, "lookup", later) // requests go on: Deny sweeps by their clock
				writes := 0
				for d.until.size()-writes > n/100 {
					for range 1000 {
						d.Deny(ctx, "late"+strconv.Itoa(writes), later)
						writes++
					}
				}
				b.ReportMetric(float64(writes), "writes-to-sweep")
				report(b)
				runtime.KeepAlive(d)
			}
		})
	}
}

func heap() uint64 {
	runtime.GC()
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	return s.HeapAlloc
}

// BenchmarkMemoryOps is what the hot store operations cost on the memory
// stores, empty and with 1e5 or 1e6 other entries (as sqlstore's and
// redisstore's benchmarks measure theirs): a refresh rotation, a counted
// login attempt, a denylist lookup of a token that is not denied.
func BenchmarkMemoryOps(b *testing.B) {
	ctx := context.Background()
	sizes := []int{0, 1e5, 1e6}
	if testing.Short() {
		sizes = sizes[:2]
	}
	th := Throttle{Threshold: 1 << 30, Base: time.Second, Max: time.Minute, Window: 15 * time.Minute}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("Rotate/%d", n), func(b *testing.B) {
			m := NewMemoryRefreshTokens()
			for i := range n {
				id := "family-" + strconv.Itoa(i)
				m.Create(ctx, RefreshFamily{ID: id, UserID: "user-" + strconv.Itoa(i%max(n/10, 1)), Current: id, CreatedAt: testNow, ExpiresAt: testNow.Add(time.Hour)})
			}
			m.Create(ctx, RefreshFamily{ID: "f", UserID: "u", Current: "t0", CreatedAt: testNow, ExpiresAt: testNow.Add(time.Hour)})
			cur, next := "t0", "t1"
			b.ReportAllocs()
			for b.Loop() {
				if _, _, swapped, _ := m.Rotate(ctx, "f", cur, next, testNow); !swapped {
					b.Fatal("no swap")
				}
				cur, next = next, cur
			}
		})
		b.Run(fmt.Sprintf("Reserve/%d", n), func(b *testing.B) {
			l := NewMemoryLimiter()
			for i := range n {
				l.Reserve(ctx, "ip:"+strconv.Itoa(i), testNow, th)
			}
			b.ReportAllocs()
			for b.Loop() {
				if wait, _ := l.Reserve(ctx, "login:k", testNow, th); wait != 0 {
					b.Fatal("throttled")
				}
			}
		})
		b.Run(fmt.Sprintf("Denied/%d", n), func(b *testing.B) {
			d := NewMemoryDenylist()
			for i := range n {
				d.Deny(ctx, "jti-"+strconv.Itoa(i), testNow.Add(15*time.Minute))
			}
			b.ReportAllocs()
			for b.Loop() {
				if denied, _ := d.Denied(ctx, "not-denied", testNow); denied {
					b.Fatal("denied")
				}
			}
		})
	}
}
