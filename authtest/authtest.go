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

// Limiter checks the [auth.Limiter] contract: counting, the window that
// restarts with each failure, Reset, independent keys, and Racers
// concurrent failures all counted.
func Limiter(t *testing.T, newLimiter func(t *testing.T) auth.Limiter) {
	ctx := context.Background()
	const window = 15 * time.Minute
	t.Run("count and window", func(t *testing.T) {
		l := newLimiter(t)
		if n, _, err := l.Failures(ctx, "k", T0); err != nil || n != 0 {
			t.Fatalf("Failures of a new key = %d, %v; want 0", n, err)
		}
		for i := 1; i <= 3; i++ {
			n, err := l.AddFailure(ctx, "k", T0.Add(time.Duration(i)*time.Minute), window)
			if err != nil || n != i {
				t.Fatalf("AddFailure #%d = %d, %v", i, n, err)
			}
		}
		last := T0.Add(3 * time.Minute)
		if n, got, err := l.Failures(ctx, "k", last.Add(window-time.Second)); err != nil || n != 3 || !got.Equal(last) {
			t.Errorf("Failures within the window = %d, %v, %v; want 3, %v", n, got, err, last)
		}
		if n, _, _ := l.Failures(ctx, "k", last.Add(window)); n != 0 {
			t.Errorf("Failures a window after the last = %d; want 0", n)
		}
		if n, _ := l.AddFailure(ctx, "k", last.Add(window), window); n != 1 {
			t.Errorf("AddFailure after the window = %d; want a new count of 1", n)
		}
		if n, _, _ := l.Failures(ctx, "other", last); n != 0 {
			t.Errorf("another key has %d failures", n)
		}
	})
	t.Run("reset", func(t *testing.T) {
		l := newLimiter(t)
		l.AddFailure(ctx, "k", T0, window)
		l.AddFailure(ctx, "j", T0, window)
		if err := l.Reset(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := l.Failures(ctx, "k", T0); n != 0 {
			t.Errorf("Failures after Reset = %d", n)
		}
		if n, _, _ := l.Failures(ctx, "j", T0); n != 1 {
			t.Errorf("Reset of k changed j: %d", n)
		}
		if err := l.Reset(ctx, "never-seen"); err != nil {
			t.Errorf("Reset of an unknown key: %v", err)
		}
	})
	t.Run("concurrent failures", func(t *testing.T) {
		l := newLimiter(t)
		var wg sync.WaitGroup
		for range Racers {
			wg.Go(func() {
				if _, err := l.AddFailure(ctx, "k", T0, window); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if n, _, _ := l.Failures(ctx, "k", T0); n != Racers {
			t.Errorf("%d concurrent failures counted as %d", Racers, n)
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
