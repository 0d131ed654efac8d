package auth

import (
	"hash/maphash"
	"sync"
	"time"
)

// The in-memory stores keep their entries in shards, each with its own
// mutex and map, so that no operation holds one lock over every entry: a
// sweep looks at a few entries of one shard per write, and a shard whose
// map has emptied is rebuilt, since Go maps never give memory back.
const (
	shardCount  = 256 // 1e6 entries: ~4k a shard, rebuilt in well under 1 ms
	sweepBatch  = 16  // entries a write looks at for expiry, per round
	sweepRounds = 4   // at most 64 entries a write
	minRebuild  = 256 // a map smaller than this is never rebuilt
)

var shardSeed = maphash.MakeSeed()

type shard[V any] struct {
	mu     sync.Mutex
	m      map[string]V
	peak   int       // the map's largest size since it was made
	locked time.Time // when lock took mu, while lockHeld is set
}

// lockHeld, when set (by benchmarks, before any store is used), is told how
// long each shard lock was held.
var lockHeld func(time.Duration)

func (sh *shard[V]) lock() {
	sh.mu.Lock()
	if lockHeld != nil {
		sh.locked = time.Now()
	}
}

func (sh *shard[V]) unlock() {
	if lockHeld != nil {
		lockHeld(time.Since(sh.locked))
	}
	sh.mu.Unlock()
}

type shards[V any] [shardCount]shard[V]

func (s *shards[V]) of(key string) *shard[V] { return &s[s.index(key)] }

func (s *shards[V]) index(key string) int { return int(maphash.String(shardSeed, key) % shardCount) }

// put stores v under key in a locked shard.
func (sh *shard[V]) put(key string, v V) {
	if sh.m == nil {
		sh.m = map[string]V{}
	}
	sh.m[key] = v
	sh.peak = max(sh.peak, len(sh.m))
}

// sweep drops expired entries of a locked shard, sampling sweepBatch
// entries from a random place in the map (Go randomises where a range
// starts), and another batch while a quarter or more of the last one had
// expired, at most sweepRounds batches: the work per write is bounded, and
// a shard full of expired entries empties within a few writes (the rule
// Redis uses for its keys). Then it rebuilds the map if it holds less than
// a quarter of its peak.
func (sh *shard[V]) sweep(expired func(V) bool) {
	for range sweepRounds {
		seen, dropped := 0, 0
		for k, v := range sh.m {
			if expired(v) {
				delete(sh.m, k)
				dropped++
			}
			if seen++; seen == sweepBatch {
				break
			}
		}
		if dropped*4 < sweepBatch {
			break
		}
	}
	sh.shrink()
}

// remove deletes key from a locked shard.
func (sh *shard[V]) remove(key string) {
	delete(sh.m, key)
	sh.shrink()
}

func (sh *shard[V]) shrink() {
	if sh.peak < minRebuild || len(sh.m) >= sh.peak/4 {
		return
	}
	m := make(map[string]V, len(sh.m))
	for k, v := range sh.m {
		m[k] = v
	}
	sh.m, sh.peak = m, len(m)
}

// size is the number of entries, for tests and benchmarks.
func (s *shards[V]) size() int {
	n := 0
	for i := range s {
		s[i].lock()
		n += len(s[i].m)
		s[i].unlock()
	}
	return n
}

// versioned is shards filled from a slower source (a store's answer) and
// cleared by forget: each shard counts its forgets, under its lock, and
// putIf adds an entry only if nothing in its shard was forgotten since the
// writer's get, so an answer read before a forget cannot outlive it.
type versioned[V any] struct {
	shards[V]
	gens [shardCount]uint64
}

// get returns key's entry unless it has expired (an expired one is
// dropped), and the generation to pass to putIf.
func (s *versioned[V]) get(key string, expired func(V) bool) (v V, ok bool, gen uint64) {
	i := s.index(key)
	sh := &s.shards[i]
	sh.lock()
	defer sh.unlock()
	v, ok = sh.m[key]
	if ok && expired(v) {
		sh.remove(key)
		var zero V
		v, ok = zero, false
	}
	return v, ok, s.gens[i]
}

// putIf stores v under key if the shard was not forgotten since gen. It
// sweeps expired entries first; if the shard still holds limit entries
// and key is new, it evicts an arbitrary one when evict is set, and else
// stores nothing.
func (s *versioned[V]) putIf(key string, v V, gen uint64, limit int, expired func(V) bool, evict bool) {
	i := s.index(key)
	sh := &s.shards[i]
	sh.lock()
	defer sh.unlock()
	if s.gens[i] != gen {
		return // forgotten since: v may be stale
	}
	sh.sweep(expired)
	if _, present := sh.m[key]; !present && len(sh.m) >= limit {
		if !evict {
			return
		}
		for k := range sh.m { // Go randomises where a range starts
			delete(sh.m, k)
			break
		}
	}
	sh.put(key, v)
}

// forget drops key and keeps an answer read before from being stored.
func (s *versioned[V]) forget(key string) {
	i := s.index(key)
	sh := &s.shards[i]
	sh.lock()
	defer sh.unlock()
	s.gens[i]++
	if _, ok := sh.m[key]; ok {
		sh.remove(key)
	}
}
