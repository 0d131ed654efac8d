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
// A refusal is remembered only if this instance cleared nothing in the
// key's shard (a Reset or Release, see forget) since before the Reserve
// that gave it: a store's answer that predates a clear must not outlive it,
// or a user whose success just reset the count would be refused here for
// up to the throttle's Max while the store lets them in.
//
// It holds at most refusalsPerShard keys a shard (64k in all); a key that
// finds its shard full after a sweep is not remembered, and its attempts
// ask the store as before.
type refusals struct {
	until versioned[time.Time]
}

const refusalsPerShard = 256

// wait returns how long key must still wait at now, or 0 if nothing is
// remembered for it (or the wait has passed), and the generation to pass
// to refuse if the store is asked next.
func (r *refusals) wait(key string, now time.Time) (time.Duration, uint64) {
	u, ok, gen := r.until.get(key, passed(now))
	if !ok {
		return 0, gen
	}
	return u.Sub(now), gen
}

// refuse remembers that key must wait until until, as the store answered a
// Reserve made after wait returned gen; not if key's shard was cleared
// since, nor if the shard is full.
func (r *refusals) refuse(key string, until, now time.Time, gen uint64) {
	r.until.putIf(key, until, gen, refusalsPerShard, passed(now), false)
}

// forget drops what is remembered for key, and keeps a refusal the store
// gave before from being remembered: after this instance resets or
// releases key in the store.
func (r *refusals) forget(key string) { r.until.forget(key) }

// passed reports whether a time has come by now.
func passed(now time.Time) func(time.Time) bool {
	return func(u time.Time) bool { return !now.Before(u) }
}
