package redisstore_test

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/keygate/auth"
	"github.com/keygate/auth/authtest"
	"github.com/keygate/auth/redisstore"
	"github.com/redis/go-redis/v9"
)

// startCluster starts a Redis Cluster of three masters on loopback ports
// and returns a client of it, closed and stopped when the test ends.
func startCluster(t *testing.T) *redis.ClusterClient {
	t.Helper()
	server := redisServerPath(t)
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		unavailable(t, "redis-cli is not installed")
	}
	dir := t.TempDir()
	var addrs []string
	for i := range 3 {
		port, bus := freePort(t), freePort(t)
		cmd := exec.Command(server, "--port", strconv.Itoa(port), "--cluster-port", strconv.Itoa(bus),
			"--bind", "127.0.0.1", "--cluster-enabled", "yes",
			"--cluster-config-file", fmt.Sprintf("%s/nodes-%d.conf", dir, i),
			"--save", "", "--appendonly", "no", "--dir", dir, "--loglevel", "warning")
		cmd.SysProcAttr = dieWithTest
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", port))
	}
	for _, addr := range addrs {
		c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		for deadline := time.Now().Add(10 * time.Second); c.Ping(context.Background()).Err() != nil; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("cluster node %s did not answer", addr)
			}
		}
		c.Close()
	}
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		info, err := c.ClusterInfo(context.Background()).Result()
		if err == nil && strings.Contains(info, "cluster_state:ok") && c.Ping(context.Background()).Err() == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster did not come up: %v\n%s", err, info)
		}
	}
	return c
}

// On a Redis Cluster of three masters, where a family, its user's index,
// counts and denied IDs land in different slots, the Store keeps every
// contract: each of its scripts touches one key.
func TestClusterContracts(t *testing.T) {
	t.Parallel()
	c := startCluster(t)
	newStore := func() *redisstore.Store {
		return redisstore.New(c, redisstore.WithPrefix(prefix()), redisstore.WithClock(func() time.Time { return authtest.T0 }))
	}
	t.Run("refresh", func(t *testing.T) {
		authtest.RefreshStore(t, func(t *testing.T) auth.RefreshStore { return newStore() })
	})
	t.Run("limiter", func(t *testing.T) {
		authtest.Limiter(t, func(t *testing.T) auth.Limiter { return newStore() })
	})
	t.Run("denylist", func(t *testing.T) {
		authtest.Denylist(t, func(t *testing.T) auth.Denylist { return newStore() })
	})
	t.Run("revoke user across slots", func(t *testing.T) {
		s := newStore()
		ctx := t.Context()
		if err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return m.ScriptFlush(ctx).Err() }); err != nil {
			t.Fatal(err)
		}
		for i := range 300 {
			f := auth.RefreshFamily{ID: fmt.Sprint("f", i), UserID: "u", Current: "a", CreatedAt: authtest.T0, ExpiresAt: authtest.T0.Add(time.Hour)}
			if err := s.Create(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return m.ScriptFlush(ctx).Err() }); err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeUser(ctx, "u"); err != nil {
			t.Fatal(err)
		}
		for i := range 300 {
			if f, _, swapped, err := s.Rotate(ctx, fmt.Sprint("f", i), "a", "b", authtest.T0); err != nil || swapped || !f.Revoked {
				t.Fatalf("f%d after RevokeUser: %+v, swapped %v, %v", i, f, swapped, err)
			}
		}
	})
}
