// Package authtest checks that a store keeps the contract of the auth
// package's interfaces. An adapter for a database runs these from its own
// tests, against a real database:
//
//	func TestRefreshStore(t *testing.T) {
//		authtest.RefreshStore(t, func(t *testing.T) auth.RefreshStore { return newStore(t) })
//	}
//
// The checks use fixed times in whole seconds, so stores may keep times at
// second precision, and take a fresh store for each check.
package authtest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/auth"
)

// T0 is the time the checks start at.
var T0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// Racers is how many goroutines the concurrency checks start.
const Racers = 50

// RefreshStore checks the [auth.RefreshStore] contract: creation, rotation
// as a compare-and-swap that at most one of Racers concurrent callers wins,
// revocation of a family and of a user's families, and the absolute limit.
func RefreshStore(t *testing.T, newStore func(t *testing.T) auth.RefreshStore) {
	ctx := context.Background()
	family := func(id, user string) auth.RefreshFamily {
		return auth.RefreshFamily{ID: id, UserID: user, Current: id + "-t0", CreatedAt: T0, ExpiresAt: T0.Add(30 * 24 * time.Hour)}
	}
	must := func(t *testing.T, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Run("rotate swaps once", func(t *testing.T) {
		s := newStore(t)
		must(t, s.Create(ctx, family("f1", "u1")))
		now := T0.Add(time.Minute)
		after, found, swapped, err := s.Rotate(ctx, "f1", "f1-t0", "f1-t1", now)
		must(t, err)
		if !found || !swapped || after.Current != "f1-t1" || after.Previous != "f1-t0" || after.UserID != "u1" || after.Revoked {
			t.Fatalf("first Rotate = %+v, found %v, swapped %v; want the family after the swap, swapped", after, found, swapped)
		}
		again, found, swapped, err := s.Rotate(ctx, "f1", "f1-t0", "f1-t2", now.Add(time.Second))
		must(t, err)
		if !found || swapped {
			t.Fatalf("Rotate of a consumed token: found %v, swapped %v; want found, not swapped", found, swapped)
		}
		if again.Current != "f1-t1" || again.Previous != "f1-t0" || !again.RotatedAt.Equal(now) || !again.ExpiresAt.Equal(T0.Add(30*24*time.Hour)) {
			t.Errorf("family after a rotation = %+v; want Current f1-t1, Previous f1-t0, RotatedAt %v, ExpiresAt unchanged", again, now)
		}
		if _, _, swapped, _ := s.Rotate(ctx, "f1", "f1-t1", "f1-t2", now.Add(2*time.Second)); !swapped {
			t.Error("Rotate of the current token after a refused one did not swap")
		}
	})
	t.Run("unknown family", func(t *testing.T) {
		s := newStore(t)
		_, found, swapped, err := s.Rotate(ctx, "nope", "x", "y", T0)
		must(t, err)
		if found || swapped {
			t.Errorf("Rotate of an unknown family: found %v, swapped %v", found, swapped)
		}
		must(t, s.Revoke(ctx, "nope"))
		must(t, s.RevokeUser(ctx, "nobody"))
	})
	t.Run("revoke", func(t *testing.T) {
		s := newStore(t)
		must(t, s.Create(ctx, family("f1", "u1")))
		must(t, s.Create(ctx, family("f2", "u1")))
		must(t, s.Revoke(ctx, "f1"))
		must(t, s.Revoke(ctx, "f1")) // idempotent
		f, found, swapped, err := s.Rotate(ctx, "f1", "f1-t0", "f1-t1", T0.Add(time.Minute))
		must(t, err)
		if swapped || found && !f.Revoked {
			t.Errorf("Rotate of a revoked family: %+v, found %v, swapped %v", f, found, swapped)
		}
		if _, _, swapped, _ := s.Rotate(ctx, "f2", "f2-t0", "f2-t1", T0.Add(time.Minute)); !swapped {
			t.Error("revoking f1 revoked f2")
		}
	})
	t.Run("revoke user", func(t *testing.T) {
		s := newStore(t)
		for _, f := range []auth.RefreshFamily{family("a1", "alice"), family("a2", "alice"), family("b1", "bob")} {
			must(t, s.Create(ctx, f))
		}
		must(t, s.RevokeUser(ctx, "alice"))
		for _, id := range []string{"a1", "a2"} {
			if _, _, swapped, _ := s.Rotate(ctx, id, id+"-t0", id+"-t1", T0.Add(time.Minute)); swapped {
				t.Errorf("family %s of a revoked user rotated", id)
			}
		}
		if _, _, swapped, _ := s.Rotate(ctx, "b1", "b1-t0", "b1-t1", T0.Add(time.Minute)); !swapped {
			t.Error("revoking alice revoked bob's family")
		}
	})
	t.Run("absolute limit", func(t *testing.T) {
		s := newStore(t)
		f := family("f1", "u1")
		f.ExpiresAt = T0.Add(time.Hour)
		must(t, s.Create(ctx, f))
		if _, _, swapped, _ := s.Rotate(ctx, "f1", "f1-t0", "f1-t1", T0.Add(time.Hour-time.Second)); !swapped {
			t.Fatal("Rotate before the limit did not swap")
		}
		if _, _, swapped, _ := s.Rotate(ctx, "f1", "f1-t1", "f1-t2", T0.Add(time.Hour)); swapped {
			t.Error("Rotate at the absolute limit swapped")
		}
	})
	t.Run("concurrent rotate", func(t *testing.T) {
		s := newStore(t)
		must(t, s.Create(ctx, family("f1", "u1")))
		var wins atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range Racers {
			wg.Go(func() {
				<-start
				_, _, swapped, err := s.Rotate(ctx, "f1", "f1-t0", fmt.Sprintf("next-%d", i), T0.Add(time.Minute))
				if err != nil {
					t.Error(err)
				}
				if swapped {
					wins.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 {
			t.Errorf("%d of %d concurrent rotations of one token swapped; want exactly 1", wins.Load(), Racers)
		}
	})
}

// Limiter checks the [auth.Limiter] contract: Reserve counts attempts up
// to the threshold and then answers the backoff without counting, the
// backoff doubles and is capped, a count is forgotten a window after its
// last attempt, Release takes back one attempt, Reset forgets a key, keys
// are independent, and of Racers concurrent Reserve calls on one key
// exactly Threshold proceed.
func Limiter(t *testing.T, newLimiter func(t *testing.T) auth.Limiter) {
	ctx := context.Background()
	th := auth.Throttle{Threshold: 3, Base: time.Second, Max: 8 * time.Second, Window: 15 * time.Minute}
	reserve := func(t *testing.T, l auth.Limiter, key string, now time.Time) time.Duration {
		t.Helper()
		wait, err := l.Reserve(ctx, key, now, th)
		if err != nil {
			t.Fatalf("Reserve(%q, %v): %v", key, now, err)
		}
		return wait
	}
	t.Run("threshold and backoff", func(t *testing.T) {
		l := newLimiter(t)
		for i := range th.Threshold {
			if wait := reserve(t, l, "k", T0); wait != 0 {
				t.Fatalf("attempt %d of %d at one instant waits %v; want 0", i+1, th.Threshold, wait)
			}
		}
		if wait := reserve(t, l, "k", T0); wait != time.Second {
			t.Fatalf("attempt past the threshold waits %v; want Base (1s)", wait)
		}
		if wait := reserve(t, l, "k", T0.Add(500*time.Millisecond)); wait != 500*time.Millisecond {
			t.Errorf("a refused attempt was counted or the wait is not from the last attempt: waits %v, want 500ms", wait)
		}
		if wait := reserve(t, l, "other", T0); wait != 0 {
			t.Errorf("another key waits %v", wait)
		}
		// The backoff doubles with each attempt past the threshold, up to Max.
		now := T0.Add(time.Second)
		for _, want := range []time.Duration{2, 4, 8, 8} {
			if wait := reserve(t, l, "k", now); wait != 0 {
				t.Fatalf("attempt after the wait waits %v", wait)
			}
			if wait := reserve(t, l, "k", now); wait != want*time.Second {
				t.Fatalf("backoff = %v; want %v", wait, want*time.Second)
			}
			now = now.Add(want * time.Second)
		}
	})
	t.Run("window", func(t *testing.T) {
		l := newLimiter(t)
		for range th.Threshold {
			reserve(t, l, "k", T0)
		}
		if wait := reserve(t, l, "k", T0.Add(th.Window-time.Second)); wait != 0 {
			t.Fatalf("wait after the backoff = %v", wait)
		}
		// That attempt restarted the window: the count is 4, the next must wait 2s.
		last := T0.Add(th.Window - time.Second)
		if wait := reserve(t, l, "k", last); wait != 2*time.Second {
			t.Errorf("the window did not restart with the last attempt: wait %v, want 2s", wait)
		}
		for i := range th.Threshold {
			if wait := reserve(t, l, "k", last.Add(th.Window)); wait != 0 {
				t.Fatalf("a window after the last attempt, attempt %d waits %v; want a fresh count", i+1, wait)
			}
		}
	})
	t.Run("release and reset", func(t *testing.T) {
		l := newLimiter(t)
		for range th.Threshold {
			reserve(t, l, "k", T0)
			reserve(t, l, "j", T0)
		}
		if err := l.Release(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if wait := reserve(t, l, "k", T0); wait != 0 {
			t.Errorf("after Release, the next attempt waits %v; want 0", wait)
		}
		if err := l.Reset(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		for i := range th.Threshold {
			if wait := reserve(t, l, "k", T0); wait != 0 {
				t.Fatalf("after Reset, attempt %d waits %v", i+1, wait)
			}
		}
		if wait := reserve(t, l, "j", T0); wait == 0 {
			t.Error("Release or Reset of k changed j")
		}
		for _, key := range []string{"never-seen", "k"} {
			if err := l.Release(ctx, key); err != nil {
				t.Errorf("Release(%q): %v", key, err)
			}
			if err := l.Reset(ctx, key); err != nil {
				t.Errorf("Reset(%q): %v", key, err)
			}
		}
		if err := l.Release(ctx, "k"); err != nil { // below zero stays zero
			t.Fatal(err)
		}
		for range th.Threshold {
			reserve(t, l, "k", T0)
		}
		if wait := reserve(t, l, "k", T0); wait == 0 {
			t.Error("Release below zero gave extra attempts")
		}
	})
	t.Run("concurrent reserves", func(t *testing.T) {
		l := newLimiter(t)
		var wg sync.WaitGroup
		var passed atomic.Int64
		for range Racers {
			wg.Go(func() {
				wait, err := l.Reserve(ctx, "k", T0, th)
				if err != nil {
					t.Error(err)
				}
				if err == nil && wait == 0 {
					passed.Add(1)
				}
			})
		}
		wg.Wait()
		if n := passed.Load(); n != int64(th.Threshold) {
			t.Errorf("%d concurrent attempts at one instant: %d proceeded; want exactly the threshold, %d", Racers, n, th.Threshold)
		}
	})
	t.Run("concurrent releases", func(t *testing.T) {
		l := newLimiter(t)
		big := th
		big.Threshold = 2 * Racers
		for range 2 * Racers {
			if wait, err := l.Reserve(ctx, "k", T0, big); err != nil || wait != 0 {
				t.Fatalf("Reserve = %v, %v", wait, err)
			}
		}
		var wg sync.WaitGroup
		for range Racers {
			wg.Go(func() {
				if err := l.Release(ctx, "k"); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		n := 0
		for {
			wait, err := l.Reserve(ctx, "k", T0, big)
			if err != nil || wait != 0 || n > 2*Racers {
				break
			}
			n++
		}
		if n != Racers {
			t.Errorf("after %d concurrent releases of %d attempts, %d more proceeded; want %d", Racers, 2*Racers, n, Racers)
		}
	})
}

// Denylist checks the [auth.Denylist] contract: an entry holds until its
// time and no longer, and entries are independent.
func Denylist(t *testing.T, newDenylist func(t *testing.T) auth.Denylist) {
	ctx := context.Background()
	d := newDenylist(t)
	if denied, err := d.Denied(ctx, "j1", T0); err != nil || denied {
		t.Fatalf("Denied of a new ID = %v, %v", denied, err)
	}
	if err := d.Deny(ctx, "j1", T0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if denied, _ := d.Denied(ctx, "j1", T0.Add(time.Hour-time.Second)); !denied {
		t.Error("a denied ID is not denied before its time")
	}
	if denied, _ := d.Denied(ctx, "j1", T0.Add(time.Hour)); denied {
		t.Error("a denied ID is still denied at its time")
	}
	if denied, _ := d.Denied(ctx, "j2", T0); denied {
		t.Error("denying j1 denied j2")
	}
}
