package auth

import "time"

// refusals remembers, on this instance, until when a limiter key must wait,
// as the [Limiter] last answered: while it must, further attempts under the
// key are refused here without asking the store. A throttled client keeps
// getting 429 with a Retry-After that counts down, and its flood costs the
// store (a database round trip, a write on SQLite) nothing.
//
// This answers exactly what the store would, since an attempt that must
// wait is not counted and the wait only runs down, with one exception:
// a count reset or released elsewhere (a success on another instance) is
// seen here only when the remembered wait ends, so a key may be refused
// here for at most the wait the store gave, which its client was told.
//
// It holds at most refusalsPerShard keys a shard (64k in all); a key that
// finds its shard full after a sweep is not remembered, and its attempts
// ask the store as before.
type refusals struct {
	until shards[time.Time]
}

const refusalsPerShard = 256

// wait returns how long key must still wait at now, or 0 if nothing is
// remembered for it (or the wait has passed).
func (r *refusals) wait(key string, now time.Time) time.Duration {
	sh := r.until.of(key)
	sh.lock()
	defer sh.unlock()
	u, ok := sh.m[key]
	if !ok {
		return 0
	}
	if !now.Before(u) {
		sh.remove(key)
		return 0
	}
	return u.Sub(now)
}

// refuse remembers that key must wait until until.
func (r *refusals) refuse(key string, until, now time.Time) {
	sh := r.until.of(key)
	sh.lock()
	defer sh.unlock()
	sh.sweep(func(u time.Time) bool { return !now.Before(u) })
	if _, ok := sh.m[key]; !ok && len(sh.m) >= refusalsPerShard {
		return
	}
	sh.put(key, until)
}

// forget drops what is remembered for key: after this instance resets or
// releases it.
func (r *refusals) forget(key string) {
	sh := r.until.of(key)
	sh.lock()
	defer sh.unlock()
	if _, ok := sh.m[key]; ok {
		sh.remove(key)
	}
}
