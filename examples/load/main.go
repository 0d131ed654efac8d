// Command load measures what a login flood costs the rest of the API: it
// builds and starts the example service on a loopback port, measures the
// latency of authenticated GET /users/me with nothing else going on, then
// again during a flood of wrong-password logins, and repeats the pair for a
// few rounds. By default each login comes from a client address of its own
// (127.x.y.z: Linux routes the whole 127/8 to loopback) and for a name of
// its own, so that no throttle ever stops one and each costs a password
// hash; with -from one they all come from one address, which the per-IP
// throttle soon answers with 429. It prints p50 and p99 of both phases of
// every round, their ratio, the median ratio over the rounds with its range,
// and the login rate during the flood: the trade-off between login
// throughput and API latency that the hash-slot bound chooses.
//
//	go -C examples run ./load                          # SQLite
//	DATABASE_URL=postgres://… go -C examples run ./load # PostgreSQL
//	go -C examples run ./load -from one                 # a throttled flood
//
// Every request goes to 127.0.0.0/8; each phase is bounded in time and in
// requests. Idle and flood phases alternate, so a burst of load from
// elsewhere on the machine lands in one round rather than on one side of
// the ratio.
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	cfg := config{}
	flag.DurationVar(&cfg.phase, "phase", 5*time.Second, "length of each phase")
	flag.IntVar(&cfg.rounds, "rounds", 5, "idle and flood phase pairs")
	flag.StringVar(&cfg.from, "from", "many", "flood from many client addresses (never throttled) or from one")
	flag.IntVar(&cfg.readers, "c", 8, "concurrent authenticated GETs")
	flag.IntVar(&cfg.flooders, "flood", 16, "concurrent flooding logins")
	flag.IntVar(&cfg.maxRequests, "max", 200000, "at most this many requests per phase")
	flag.StringVar(&cfg.database, "db", os.Getenv("DATABASE_URL"), "postgres:// URL (default: a fresh SQLite file, whatever else DATABASE_URL says)")
	flag.StringVar(&cfg.redis, "redis", os.Getenv("REDIS_URL"), "redis:// URL for the volatile state (optional)")
	flag.StringVar(&cfg.service, "service", "", "a built service binary (default: build ./service)")
	flag.Parse()
	if !strings.HasPrefix(cfg.database, "postgres://") && !strings.HasPrefix(cfg.database, "postgresql://") {
		if cfg.database != "" {
			fmt.Fprintf(os.Stderr, "load: ignoring DATABASE_URL/-db, not a postgres:// URL: the benchmark runs on a fresh SQLite file of its own\n")
		}
		cfg.database = ""
	}
	if cfg.from != "many" && cfg.from != "one" {
		fmt.Fprintln(os.Stderr, "load: -from is many or one")
		os.Exit(2)
	}
	res, err := run(context.Background(), cfg, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
	fmt.Println(res)
}

type config struct {
	phase             time.Duration
	rounds            int
	from              string // "many" or "one" client address for the flood
	readers, flooders int
	maxRequests       int
	database, redis   string
	service           string // a built service binary; built if empty
}

// result is what one run measured.
type result struct {
	engine, from string
	phase        time.Duration
	rounds       []round
	cpuPerGet    time.Duration // server CPU (user + system) per idle GET
}

// round is one idle phase and the flood phase after it.
type round struct {
	idle, flood phase
	loginRate   float64 // flood logins answered per second
	floodStatus map[int]int
}

func (r round) ratio() float64 { return float64(r.flood.p99) / float64(r.idle.p99) }

func (r round) String() string {
	codes := make([]string, 0, len(r.floodStatus))
	for code, n := range r.floodStatus {
		codes = append(codes, fmt.Sprintf("%d×%d", n, code))
	}
	slices.Sort(codes)
	return fmt.Sprintf("idle p50 %v p99 %v (%.0f/s) | flood p50 %v p99 %v (%.0f/s) | p99 ratio %.2f× | logins %.1f/s (%s) | errors %d idle, %d flood",
		r.idle.p50.Round(time.Microsecond), r.idle.p99.Round(time.Microsecond), r.idle.rate,
		r.flood.p50.Round(time.Microsecond), r.flood.p99.Round(time.Microsecond), r.flood.rate, r.ratio(),
		r.loginRate, strings.Join(codes, " "), r.idle.errors, r.flood.errors)
}

// ratios are the rounds' p99 ratios, sorted.
func (r result) ratios() []float64 {
	out := make([]float64, len(r.rounds))
	for i, rd := range r.rounds {
		out[i] = rd.ratio()
	}
	slices.Sort(out)
	return out
}

func (r result) String() string {
	var b strings.Builder
	from := "many addresses (never throttled)"
	if r.from == "one" {
		from = "one address (throttled)"
	}
	fmt.Fprintf(&b, "%s, flood from %s, %s of %v idle + %v flood:\n", r.engine, from, plural(len(r.rounds), "round"), r.phase, r.phase)
	var logins float64
	for i, rd := range r.rounds {
		fmt.Fprintf(&b, "  round %d: %v\n", i+1, rd)
		logins += rd.loginRate
	}
	if len(r.rounds) == 0 {
		return b.String()
	}
	ratios := r.ratios()
	fmt.Fprintf(&b, "%s: GET /users/me p99 during the flood ÷ idle p99: median %.2f× (%.2f–%.2f×, %s) | server CPU per idle GET %v | logins %.1f/s",
		r.engine, median(ratios), ratios[0], ratios[len(ratios)-1], plural(len(ratios), "round"), r.cpuPerGet.Round(time.Microsecond), logins/float64(len(r.rounds)))
	return b.String()
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// median of sorted, non-empty xs.
func median(xs []float64) float64 {
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func run(ctx context.Context, cfg config, logs io.Writer) (result, error) {
	dir, err := os.MkdirTemp("", "auth-load-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	bin := cfg.service
	if bin == "" {
		bin = filepath.Join(dir, "service")
		build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./service")
		build.Stderr = logs
		if err := build.Run(); err != nil {
			return result{}, fmt.Errorf("building the service: %w", err)
		}
	}
	addr, err := freeAddr()
	if err != nil {
		return result{}, err
	}
	res := result{engine: "SQLite", from: cfg.from, phase: cfg.phase}
	db := filepath.Join(dir, "load.db")
	if cfg.database != "" {
		db, res.engine = cfg.database, "PostgreSQL"
	}
	if cfg.redis != "" {
		res.engine += " + Redis"
	}
	adminPassword := rand.Text()
	srv := exec.CommandContext(ctx, bin, "serve")
	srv.Env = append(os.Environ(), "ADDR="+addr, "DATABASE_URL="+db, "AUTH_SECRET="+rand.Text()+rand.Text(),
		"ADMIN_PASSWORD="+adminPassword, "REDIS_URL="+cfg.redis) // the default log level, as deployed
	var serverLog tailBuffer // the flood logs a line per login: keep the end, for errors
	srv.Stdout, srv.Stderr = io.Discard, &serverLog
	if err := srv.Start(); err != nil {
		return result{}, err
	}
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	base := "http://" + addr
	if err := waitHealthy(ctx, base); err != nil {
		fmt.Fprintf(logs, "%s", serverLog.String())
		return result{}, err
	}

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	email, password := "load-"+strings.ToLower(rand.Text()[:8])+"@example.com", rand.Text()
	body, _ := json.Marshal(map[string]string{"email": email, "password": password})
	if code, err := post(client, base+"/auth/register", "application/json", string(body)); err != nil || code != http.StatusCreated {
		return result{}, fmt.Errorf("register: %d %v", code, err)
	}
	token, err := login(client, base, email, password)
	if err != nil {
		return result{}, err
	}

	// The one-address flood keeps its connections, as a client that sends
	// thousands of requests a second would (and as the loopback's ephemeral
	// ports need); the many-address one opens one per login.
	oneAddr := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConnsPerHost: cfg.flooders,
		DialContext:         (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext,
	}}
	var next atomic.Uint32 // names and addresses are never reused across rounds
	var cpu time.Duration
	var gets int
	for range max(cfg.rounds, 1) {
		cpu0 := processCPU(srv.Process.Pid)
		idle := measure(ctx, client, base, token, cfg, nil)
		cpu += processCPU(srv.Process.Pid) - cpu0
		gets += idle.count

		rd := round{idle: idle, floodStatus: map[int]int{}}
		var logins atomic.Int64
		var mu sync.Mutex
		flood := func(stop <-chan struct{}, wg *sync.WaitGroup) {
			for range cfg.flooders {
				wg.Go(func() {
					for logins.Load() < int64(cfg.maxRequests) {
						select {
						case <-stop:
							return
						default:
						}
						n := next.Add(1)
						var code int
						var err error
						if cfg.from == "one" {
							code, err = loginWith(ctx, oneAddr, base, n)
						} else {
							code, err = loginFrom(ctx, base, n)
						}
						mu.Lock()
						if err != nil {
							code = -1
						}
						rd.floodStatus[code]++
						mu.Unlock()
						logins.Add(1)
					}
				})
			}
		}
		start := time.Now()
		rd.flood = measure(ctx, client, base, token, cfg, flood)
		rd.loginRate = float64(logins.Load()) / time.Since(start).Seconds()
		res.rounds = append(res.rounds, rd)
	}
	if gets > 0 {
		res.cpuPerGet = cpu / time.Duration(gets)
	}
	return res, nil
}

type phase struct {
	p50, p99 time.Duration
	rate     float64
	errors   int
	count    int // successful GETs
}

// measure runs cfg.readers workers sending GET /users/me for cfg.phase (or
// cfg.maxRequests requests), with background running alongside, and
// returns the latency percentiles of the GETs.
func measure(ctx context.Context, c *http.Client, base, token string, cfg config, background func(<-chan struct{}, *sync.WaitGroup)) phase {
	stop := make(chan struct{})
	var bg sync.WaitGroup
	if background != nil {
		background(stop, &bg)
		time.Sleep(cfg.phase / 10) // let the flood fill the hash slots
	}
	var mu sync.Mutex
	var lat []time.Duration
	var errs, count atomic.Int64
	deadline := time.Now().Add(cfg.phase)
	var wg sync.WaitGroup
	start := time.Now()
	for range cfg.readers {
		wg.Go(func() {
			var mine []time.Duration
			for time.Now().Before(deadline) && count.Add(1) <= int64(cfg.maxRequests) {
				req, _ := http.NewRequestWithContext(ctx, "GET", base+"/users/me", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				t0 := time.Now()
				res, err := c.Do(req)
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				if err != nil || res.StatusCode != 200 {
					errs.Add(1)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stop)
	bg.Wait()
	slices.Sort(lat)
	p := phase{errors: int(errs.Load()), rate: float64(len(lat)) / elapsed.Seconds(), count: len(lat)}
	if len(lat) > 0 {
		p.p50, p.p99 = lat[len(lat)/2], lat[len(lat)*99/100]
	}
	return p
}

// loginFrom sends a wrong-password login for a name of its own from the
// loopback address 127.a.b.c that n selects, on a connection of its own.
func loginFrom(ctx context.Context, base string, n uint32) (int, error) {
	ip := net.IPv4(127, byte(1+n>>16%250), byte(n>>8), byte(n))
	tr := &http.Transport{DisableKeepAlives: true, DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}).DialContext}
	defer tr.CloseIdleConnections()
	return loginWith(ctx, &http.Client{Transport: tr, Timeout: 30 * time.Second}, base, n)
}

// loginWith sends a wrong-password login for the name n selects with c.
func loginWith(ctx context.Context, c *http.Client, base string, n uint32) (int, error) {
	form := url.Values{"username": {fmt.Sprintf("flood-%d@example.com", n)}, "password": {"wrong password " + rand.Text()}}
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/auth/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

func login(c *http.Client, base, email, password string) (string, error) {
	form := url.Values{"username": {email}, "password": {password}}
	res, err := c.Post(base+"/auth/login", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 || out.AccessToken == "" {
		return "", fmt.Errorf("login: %d %v", res.StatusCode, err)
	}
	return out.AccessToken, nil
}

func post(c *http.Client, u, contentType, body string) (int, error) {
	res, err := c.Post(u, contentType, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode, nil
}

// processCPU is the CPU time (user and system) the process has used, from
// /proc (Linux; 0 elsewhere), in the kernel's clock ticks of 10 ms: over
// thousands of requests that is precise enough.
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	var utime, stime int64
	fmt.Sscan(f[11], &utime)
	fmt.Sscan(f[12], &stime)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// tailBuffer keeps the last 8 KiB written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 8<<10 {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-8<<10:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

func waitHealthy(ctx context.Context, base string) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		res, err := http.Get(base + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New("the service did not become healthy within 30 s")
}
