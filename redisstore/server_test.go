package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The tests run against a real Redis: REDIS_URL's (as .ci/with-redis sets
// it), or else a redis-server of their own on a loopback port. Without
// either they skip, unless CI=true, where they fail.

// redisServer is a redis-server process started by a test, with no
// persistence, on a loopback port.
type redisServer struct {
	port int
	dir  string
	cmd  *exec.Cmd
}

// dieWithTest kills a server the tests started if the test binary dies
// before its cleanup runs.
var dieWithTest = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}

// redisServerPath finds the redis-server binary, or fails (CI) or skips.
func redisServerPath(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("redis-server")
	if err != nil {
		unavailable(t, "redis-server is not installed (apt-get install redis-server, or run under .ci/with-redis)")
	}
	return path
}

func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("Redis is required in CI: %s", why)
	}
	t.Skip(why)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startRedis starts a redis-server on port in dir and waits until it
// answers. The test's cleanup stops it.
func startRedis(t testing.TB, port int, dir string) *redisServer {
	t.Helper()
	s := &redisServer{port: port, dir: dir}
	s.cmd = exec.Command(redisServerPath(t), "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--loglevel", "warning")
	s.cmd.SysProcAttr = dieWithTest
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	c := redis.NewClient(&redis.Options{Addr: s.addr(), MaxRetries: -1})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		err := c.Ping(context.Background()).Err()
		if err == nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on port %d did not answer: %v", port, err)
		}
	}
}

func (s *redisServer) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// stop kills the server, if it runs, and waits for it to exit.
func (s *redisServer) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// sharedURL is the Redis most tests share: REDIS_URL, or a server started
// once by TestMain.
var sharedURL string

func TestMain(m *testing.M) {
	sharedURL = os.Getenv("REDIS_URL")
	var cleanup func()
	if sharedURL == "" {
		if path, err := exec.LookPath("redis-server"); err == nil {
			sharedURL, cleanup = startShared(path)
		}
	}
	code := m.Run()
	if cleanup != nil {
		cleanup()
	}
	os.Exit(code)
}

// startShared starts the shared server for TestMain, or returns "" if it
// cannot (the tests then skip, or fail in CI).
func startShared(path string) (string, func()) {
	dir, err := os.MkdirTemp("", "redisstore")
	if err != nil {
		return "", nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--loglevel", "warning")
	cmd.SysProcAttr = dieWithTest
	if err := cmd.Start(); err != nil {
		return "", nil
	}
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	stop := func() { cmd.Process.Kill(); cmd.Wait(); os.RemoveAll(dir) }
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), MaxRetries: -1})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c.Ping(context.Background()).Err() == nil {
			return url, stop
		}
	}
	stop()
	return "", nil
}

// client returns a client of the shared Redis, closed when the test ends.
func client(t testing.TB) redis.UniversalClient {
	t.Helper()
	if sharedURL == "" {
		unavailable(t, "no Redis: set REDIS_URL or install redis-server")
	}
	opt, err := redis.ParseURL(sharedURL)
	if err != nil {
		t.Fatalf("REDIS_URL: %v", err)
	}
	opt.ContextTimeoutEnabled = true
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	if err := c.Ping(t.Context()).Err(); err != nil {
		unavailable(t, fmt.Sprintf("Redis at REDIS_URL does not answer: %v", err))
	}
	return c
}

// prefix returns a key prefix no other test uses, so tests share one
// database without seeing each other's keys.
func prefix() string {
	b := make([]byte, 6)
	rand.Read(b)
	return "test:" + hex.EncodeToString(b) + ":"
}
