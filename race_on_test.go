//go:build race

package auth

// raceEnabled is whether the race detector is on: it makes sync.Pool drop
// a random quarter of what is put back, so allocation counts through a pool
// (the HMAC states) are not exact under it.
const raceEnabled = true
