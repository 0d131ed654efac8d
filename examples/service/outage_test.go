package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// pgServer is a PostgreSQL server this test started and owns, so that it
// may freeze it.
type pgServer struct {
	cmd *exec.Cmd
	url string
}

// startPostgres starts a throwaway PostgreSQL server on a loopback port
// from the installed binaries (.ci/with-postgres installs them), until the
// test ends.
func startPostgres(t *testing.T) *pgServer {
	t.Helper()
	initdbs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(initdbs) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("PostgreSQL is not installed: run the tests under .ci/with-postgres, which installs it (apt-get install postgresql)")
		}
		t.Skip("PostgreSQL is not installed: run the tests under .ci/with-postgres, which installs it (apt-get install postgresql)")
	}
	slices.Sort(initdbs) // good enough for one installed major version
	bin := filepath.Dir(initdbs[len(initdbs)-1])
	dir, err := os.MkdirTemp("", "pg-outage-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	attr := &syscall.SysProcAttr{}
	if os.Getuid() == 0 { // initdb and postgres refuse to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "db"), "-A", "trust", "-U", "postgres")
	initdb.SysProcAttr = attr
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", filepath.Join(dir, "db"), "-p", strconv.Itoa(port),
		"-k", dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off")
	cmd.SysProcAttr = attr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &pgServer{cmd: cmd, url: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)}
	t.Cleanup(func() {
		s.signal(syscall.SIGCONT)
		cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		cmd.Wait()
	})
	db, err := sql.Open("pgx", s.url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for deadline := time.Now().Add(30 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("PostgreSQL did not start: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// signal sends sig to the server and every process it started, by ID.
func (s *pgServer) signal(sig syscall.Signal) {
	pids := []int{s.cmd.Process.Pid}
	for i := 0; i < len(pids); i++ { // breadth-first over /proc's children lists
		for _, task := range taskIDs(pids[i]) {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pids[i], task))
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					pids = append(pids, pid)
				}
			}
		}
	}
	for _, pid := range pids {
		syscall.Kill(pid, sig)
	}
}

func taskIDs(pid int) []int {
	entries, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var ids []int
	for _, e := range entries {
		if id, err := strconv.Atoi(e.Name()); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

// TestFrozenPostgres freezes the database (SIGSTOP on the server and its
// backends): requests that need it answer 503 within the service's 2 s
// deadline, not when the client gives up, with a generic body; once the
// server runs again (SIGCONT), so does the service.
func TestFrozenPostgres(t *testing.T) {
	t.Parallel()
	pg := startPostgres(t)
	in := start(t, pg.url)
	expect(t, "register", in.do("POST", "/auth/register", jsonCT, `{"email":"ada@example.com","password":"ada's long password"}`), 201)
	p := in.login("ada@example.com", "ada's long password")

	pg.signal(syscall.SIGSTOP)
	frozen := true
	defer func() {
		if frozen {
			pg.signal(syscall.SIGCONT)
		}
	}()
	requests := []struct {
		name, method, path string
		header             map[string]string
		body               string
	}{
		{"healthz", "GET", "/healthz", nil, ""},
		{"me", "GET", "/users/me", bearer(p.access), ""},
		{"login", "POST", "/auth/login", jsonCT, `{"username":"ada@example.com","password":"ada's long password"}`},
		{"refresh", "POST", "/auth/refresh", jsonCT, `{"refresh_token":"` + p.refresh + `"}`},
		{"admin list", "GET", "/admin/users", bearer(p.access), ""},
	}
	var wg sync.WaitGroup
	for _, r := range requests {
		wg.Go(func() {
			start := time.Now()
			res := in.do(r.method, r.path, r.header, r.body)
			took := time.Since(start)
			if res.status != 503 {
				t.Errorf("%s with the database frozen: %d %s; want 503", r.name, res.status, res.body)
			}
			if took > requestTimeout+2*time.Second {
				t.Errorf("%s with the database frozen took %v; want about %v", r.name, took, requestTimeout)
			}
			t.Logf("%s: %d after %v", r.name, res.status, took.Round(time.Millisecond))
			if strings.Contains(res.body, "ada") || strings.Contains(res.body, "postgres") || strings.Contains(res.body, "deadline") {
				t.Errorf("%s: body %q is not generic", r.name, res.body)
			}
		})
	}
	wg.Wait()

	pg.signal(syscall.SIGCONT)
	frozen = false
	expect(t, "healthz after thawing", in.do("GET", "/healthz", nil, ""), 200)
	expect(t, "me after thawing", in.do("GET", "/users/me", bearer(p.access), ""), 200)
	in.login("ada@example.com", "ada's long password")
	for _, s := range []string{"ada's long password", p.access, p.refresh, in.env["AUTH_SECRET"]} {
		if strings.Contains(in.logs.String(), s) {
			t.Errorf("the logs contain a secret (%.12s…)", s)
		}
	}
}

// TestHealthzSQLiteFileGone: /healthz answers 503 once the SQLite file is
// deleted, though the open connection would still answer.
func TestHealthzSQLiteFileGone(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "service.db")
	in := start(t, path)
	expect(t, "healthz", in.do("GET", "/healthz", nil, ""), 200)
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	expect(t, "healthz with the file deleted", in.do("GET", "/healthz", nil, ""), 503)
}

// TestRegisterUnstorableEmail: an email PostgreSQL cannot store answers
// 400, not 500, on both engines.
func TestRegisterUnstorableEmail(t *testing.T) {
	t.Parallel()
	urls := map[string]string{"sqlite": filepath.Join(t.TempDir(), "service.db")}
	if dsn := os.Getenv("DATABASE_URL"); dsn != "" {
		urls["postgres"] = postgresSchema(t, dsn)
	}
	for name, u := range urls {
		t.Run(name, func(t *testing.T) {
			in := start(t, u)
			// (JSON cannot carry invalid UTF-8: the decoder turns it into U+FFFD.)
			expect(t, "register with a NUL", in.do("POST", "/auth/register", jsonCT, `{"email":"ada\u0000@example.com","password":"ada's long password"}`), 400)
			expect(t, "login with a NUL", in.do("POST", "/auth/login", jsonCT, `{"username":"ada\u0000@example.com","password":"ada's long password"}`), 401)
			expect(t, "delete a user named with a NUL", in.do("DELETE", "/users/%00", bearer(in.login(adminEmail, adminPassword).access), ""), 404)
		})
	}
}
