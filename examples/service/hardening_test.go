package main

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// send is in.do for other goroutines: it reports a transport error as
// status 0 instead of stopping the test.
func (in *instance) send(method, path string, header map[string]string, body string) response {
	req, err := http.NewRequest(method, in.url+path, strings.NewReader(body))
	if err != nil {
		return response{}
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

func registerBody(email, password string) string {
	b, _ := json.Marshal(map[string]string{"email": email, "password": password})
	return string(b)
}

// Issue 9.7: /auth/password took 40 guesses of the current password, all
// 403, never 429. The check is now the library's throttled one: of 40
// parallel guesses at most the threshold (5) reach the hash.
func TestPasswordChangeThrottled(t *testing.T) {
	t.Parallel()
	in := start(t, filepath.Join(t.TempDir(), "service.db"))
	expect(t, "register", in.do("POST", "/auth/register", jsonCT, registerBody("eve@example.com", "eve's long password")), 201)
	p := in.login("eve@example.com", "eve's long password")
	var wg sync.WaitGroup
	statuses := make([]response, 40)
	for i := range statuses {
		wg.Go(func() {
			statuses[i] = in.send("POST", "/auth/password", jsonBearer(p.access),
				fmt.Sprintf(`{"current_password":"guess number %d","new_password":"a brand new password"}`, i))
		})
	}
	wg.Wait()
	count := map[int]int{}
	for _, res := range statuses {
		count[res.status]++
		if res.status == 429 && res.header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	}
	if count[403] > 5 || count[403]+count[429] != 40 {
		t.Errorf("40 parallel wrong current passwords: %v; want at most 5 × 403 (the threshold), the rest 429", count)
	}
	res := in.do("POST", "/auth/password", jsonBearer(p.access), `{"current_password":"eve's long password","new_password":"a brand new password"}`)
	if res.status != 429 && res.status != 204 {
		t.Errorf("the right password after the burst: %d", res.status)
	}
	logs := in.logs.String()
	if !strings.Contains(logs, `"event":"password_check_failed"`) || !strings.Contains(logs, `"event":"login_throttled"`) {
		t.Errorf("the password checks were not logged: %s", logs)
	}
	if strings.Contains(logs, "guess number") || strings.Contains(logs, "eve's long password") {
		t.Error("a password is in the log")
	}
	if res.status == 204 && !strings.Contains(logs, `"event":"password_changed"`) {
		t.Error("the password change was not logged")
	}
}

// Issue 9.8: 30 clients registering an existing email made every real
// login answer 503 within ~2 s. A taken email is answered before any
// hash, registrations are throttled per IP and hash in a pool of their
// own: a real login during the flood gets 200.
func TestRegistrationFloodLeavesLogin(t *testing.T) {
	t.Parallel()
	in := start(t, filepath.Join(t.TempDir(), "service.db"))
	expect(t, "register", in.do("POST", "/auth/register", jsonCT, registerBody("real@example.com", "the real user's password")), 201)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	count := map[int]int{}
	for i := range 30 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				email := "real@example.com" // taken
				if n%2 == 1 {
					email = fmt.Sprintf("new-%d-%d@example.com", i, n)
				}
				res := in.send("POST", "/auth/register", jsonCT, registerBody(email, "a flood of passwords"))
				mu.Lock()
				count[res.status]++
				mu.Unlock()
			}
		})
	}
	time.Sleep(300 * time.Millisecond) // the flood is on
	for i := range 3 {
		res := in.send("POST", "/auth/login", map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			url.Values{"username": {"real@example.com"}, "password": {"the real user's password"}}.Encode())
		if res.status != 200 {
			t.Errorf("real login %d during the registration flood: %d %s", i+1, res.status, res.body)
		}
	}
	close(stop)
	wg.Wait()
	if count[429] == 0 || count[201] > 20 {
		t.Errorf("registration flood answers: %v; want at most 20 accounts (the per-IP threshold), the rest 409 or 429", count)
	}
	if !strings.Contains(in.logs.String(), `"event":"registered"`) {
		t.Error("registrations were not logged")
	}
}

// Issue 9: registration accepted control, bidi and zero-width characters,
// so look-alike accounts reached the admin list and the tokens' email
// claim.
func TestRegisterLookAlikeEmails(t *testing.T) {
	t.Parallel()
	in := start(t, filepath.Join(t.TempDir(), "service.db"))
	for _, email := range []string{
		"admin@example.com\u0000", "admin@example.com\r\n", "ad\u202emin@example.com", "admin\u200b@example.com",
		"admin@exa\u2060mple.com", "\ufeffadmin@example.com", "ad min@example.com", "admin@@example.com",
		"@example.com", "admin@", "admin@localhost", "ad\u0085min@example.com", "ad\u00admin@example.com",
		"\xff@example.com",
	} {
		res := in.do("POST", "/auth/register", jsonCT, registerBody(email, "a long enough password"))
		if res.status != 400 {
			t.Errorf("register %q: %d %s; want 400", email, res.status, res.body)
		}
	}
	res := in.do("POST", "/auth/register", jsonCT, registerBody("  ADMIN@Example.COM ", "a long enough password"))
	if res.status != 409 {
		t.Errorf("the admin's email in other case: %d; want 409 (emails compare case-insensitively)", res.status)
	}
	if res := in.do("POST", "/auth/register", jsonCT, registerBody("zoë@exämple.com", "a long enough password")); res.status != 201 {
		t.Errorf("an internationalised email: %d %s; want 201", res.status, res.body)
	}
}

// Behind trusted proxies (TRUSTED_PROXIES), the client is the rightmost
// address in X-Forwarded-For that is not a proxy: a client rotating what
// it writes at the left is still one client to the throttle, and clients
// behind the proxy are told apart.
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	in := startWith(t, filepath.Join(t.TempDir(), "service.db"), "test-secret-"+rand.Text(), "TRUSTED_PROXIES=127.0.0.0/8, ::1/128")
	form := func(i int) string {
		return url.Values{"username": {fmt.Sprintf("u%d@example.com", i)}, "password": {"wrong password"}}.Encode()
	}
	formCT := "application/x-www-form-urlencoded"
	for i := range 21 { // 21 clients behind the proxy: none reaches the IP threshold (20)
		res := in.do("POST", "/auth/login", map[string]string{"Content-Type": formCT, "X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i)}, form(i))
		expect(t, "a client behind the proxy", res, 401)
	}
	var last response
	for i := range 21 { // one client spoofing the left of the header
		last = in.do("POST", "/auth/login", map[string]string{"Content-Type": formCT, "X-Forwarded-For": fmt.Sprintf("6.6.%d.6, 203.0.113.9", i)}, form(100+i))
	}
	expect(t, "the 21st attempt of one client spoofing X-Forwarded-For", last, 429)
	if _, _, err := parseConfig(nil, func(k string) string {
		return map[string]string{"TRUSTED_PROXIES": "10.0.0.0/33"}[k]
	}, io.Discard); err == nil {
		t.Error("a malformed TRUSTED_PROXIES was accepted")
	}
}
