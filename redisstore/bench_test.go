package redisstore_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keygate/auth"
	"github.com/keygate/auth/redisstore"
	"github.com/redis/go-redis/v9"
)

// benchEntries are the numbers of entries of the same kind already in Redis
// when each benchmark runs: REDISSTORE_BENCH_ENTRIES (comma-separated), or
// 1 and 1000, cheap enough for CI's one run of each. A count below 1 is
// taken as 1.
func benchEntries(b *testing.B) []int {
	spec := os.Getenv("REDISSTORE_BENCH_ENTRIES")
	if spec == "" {
		return []int{1, 1000}
	}
	var ns []int
	for f := range strings.SplitSeq(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			b.Fatalf("REDISSTORE_BENCH_ENTRIES: %q is not a count", f)
		}
		ns = append(ns, max(n, 1))
	}
	return ns
}

// fill runs put(i) for i in [0, n) from 32 goroutines.
func fill(b *testing.B, n int, put func(ctx context.Context, i int) error) {
	b.Helper()
	var wg sync.WaitGroup
	var failed sync.Once
	const workers = 32
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if err := put(context.Background(), i); err != nil {
					failed.Do(func() { b.Error(err) })
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// keyspace returns the database's number of keys and of keys with a TTL,
// from INFO keyspace.
func keyspace(b *testing.B, c redis.UniversalClient) (keys, expires int) {
	b.Helper()
	info, err := c.Info(context.Background(), "keyspace").Result()
	if err != nil {
		b.Fatal(err)
	}
	db := "db" + strconv.Itoa(c.(*redis.Client).Options().DB) + ":"
	for line := range strings.SplitSeq(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), db); ok {
			for kv := range strings.SplitSeq(rest, ",") {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "keys":
					keys, _ = strconv.Atoi(v)
				case "expires":
					expires, _ = strconv.Atoi(v)
				}
			}
		}
	}
	return keys, expires
}

// commandStats returns how many times Redis has run cmd and the
// microseconds it spent on them, from INFO commandstats.
func commandStats(b *testing.B, c redis.UniversalClient, cmd string) (calls, usec float64) {
	b.Helper()
	info, err := c.Info(context.Background(), "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_"+cmd+":")
		if !ok {
			continue
		}
		for kv := range strings.SplitSeq(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "calls":
				calls, _ = strconv.ParseFloat(v, 64)
			case "usec":
				usec, _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	return calls, usec
}

func usedMemory(b *testing.B, c redis.UniversalClient) int {
	b.Helper()
	info, err := c.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	b.Fatal("no used_memory in INFO")
	return 0
}

// benchStore fills a fresh prefix with n entries by put and checks that
// every key they made has a TTL; it reports Redis's memory per entry. The
// keys are deleted when the benchmark ends. Call the function it returns
// after the loop: it reports Redis's memory per entry and the time Redis
// spent per call of cmd (the command each iteration sends once), which
// depends less than ns/op on what else the machine runs.
func benchStore(b *testing.B, n int, cmd string, put func(s *redisstore.Store, ctx context.Context, i int) error) (*redisstore.Store, func()) {
	s, c, _ := newStore(b, redisstore.WithClock(time.Now))
	keys0, expires0 := keyspace(b, c)
	mem0 := usedMemory(b, c)
	fill(b, n, func(ctx context.Context, i int) error { return put(s, ctx, i) })
	keys1, expires1 := keyspace(b, c)
	if keys1-keys0 != expires1-expires0 {
		b.Fatalf("%d keys written, %d of them with a TTL", keys1-keys0, expires1-expires0)
	}
	perEntry := float64(usedMemory(b, c)-mem0) / float64(n)
	calls0, usec0 := commandStats(b, c, cmd)
	return s, func() {
		b.StopTimer()
		calls, usec := commandStats(b, c, cmd)
		b.ReportMetric(perEntry, "redis-B/entry")
		b.ReportMetric((usec-usec0)/max(calls-calls0, 1), "redis-µs/op")
	}
}

// BenchmarkRotate rotates families in turn among n others: one script call each.
func BenchmarkRotate(b *testing.B) {
	for _, n := range benchEntries(b) {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			now := time.Now()
			family := func(i int) auth.RefreshFamily {
				id := "fam-" + strconv.Itoa(i)
				return auth.RefreshFamily{ID: id, UserID: "user-" + strconv.Itoa(i%1000), Current: id + "-0", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			}
			s, report := benchStore(b, n, "evalsha", func(s *redisstore.Store, ctx context.Context, i int) error { return s.Create(ctx, family(i)) })
			current := make([]string, n)
			for i := range current {
				current[i] = family(i).Current
			}
			ctx := context.Background()
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				j := i % len(current)
				next := "fam-" + strconv.Itoa(j) + "-" + strconv.Itoa(i+1)
				_, _, swapped, err := s.Rotate(ctx, "fam-"+strconv.Itoa(j), current[j], next, now)
				if err != nil || !swapped {
					b.Fatalf("Rotate: swapped %v, %v", swapped, err)
				}
				current[j] = next
				i++
			}
			report()
		})
	}
}

// BenchmarkReserve counts attempts on keys in turn among n others under a threshold that is never reached.
func BenchmarkReserve(b *testing.B) {
	th := auth.Throttle{Threshold: 1 << 30, Base: time.Second, Max: time.Minute, Window: 15 * time.Minute}
	for _, n := range benchEntries(b) {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			now := time.Now()
			s, report := benchStore(b, n, "evalsha", func(s *redisstore.Store, ctx context.Context, i int) error {
				_, err := s.Reserve(ctx, "login:"+strconv.Itoa(i), now, th)
				return err
			})
			ctx := context.Background()
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				if wait, err := s.Reserve(ctx, "login:"+strconv.Itoa(i%n), now, th); wait != 0 || err != nil {
					b.Fatalf("Reserve = %v, %v", wait, err)
				}
				i++
			}
			report()
		})
	}
}

// BenchmarkDenied looks up denied IDs in turn among n:
// what the middleware pays per request with a denylist.
func BenchmarkDenied(b *testing.B) {
	for _, n := range benchEntries(b) {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			now := time.Now()
			s, report := benchStore(b, n, "get", func(s *redisstore.Store, ctx context.Context, i int) error {
				return s.Deny(ctx, "jti-"+strconv.Itoa(i), now.Add(17*time.Minute))
			})
			ctx := context.Background()
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				if denied, err := s.Denied(ctx, "jti-"+strconv.Itoa(i%n), now); !denied || err != nil {
					b.Fatalf("Denied = %v, %v", denied, err)
				}
				i++
			}
			report()
		})
	}
}
