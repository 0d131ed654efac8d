package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keygate/auth"
)

// logLines sends each log line to a channel, so that the test reads the
// development mailer's links as an operator would.
type logLines chan []byte

func (l logLines) Write(p []byte) (int, error) {
	l <- bytes.Clone(p)
	return len(p), nil
}

type browser struct {
	t      *testing.T
	srv    *httptest.Server
	client *http.Client
	logs   logLines
	offset atomic.Int64 // seconds added to the clock
}

const adaPassword = "correct horse battery staple"

func newBrowser(t *testing.T) *browser {
	t.Helper()
	b := &browser{t: t, logs: make(logLines, 4096)}
	start := time.Now()
	h, err := newServer(config{
		log:     slog.New(slog.NewJSONHandler(b.logs, nil)),
		secret:  []byte(auth.GenerateSecret()),
		baseURL: "http://localhost:8080",
		now:     func() time.Time { return start.Add(time.Duration(b.offset.Load()) * time.Second) },
		users:   map[string]string{"ada@example.com": adaPassword},
	})
	if err != nil {
		t.Fatal(err)
	}
	b.srv = httptest.NewServer(h)
	t.Cleanup(b.srv.Close)
	jar, _ := cookiejar.New(nil)
	b.client = &http.Client{Jar: jar}
	return b
}

type response struct {
	status int
	header http.Header
	body   string
}

// do sends a request with the browser's cookie jar; body is JSON if set.
func (b *browser) do(method, path, body string, header ...string) response {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.t.Context(), method, b.srv.URL+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != "GET" { // as the app's scripts do: echo the CSRF cookie
		if c := b.cookies()["csrf_token"]; c != nil {
			req.Header.Set(auth.CSRFHeader, c.Value)
		}
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] == "" {
			req.Header.Del(header[i])
			continue
		}
		req.Header.Set(header[i], header[i+1])
	}
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, string(out)}
}

func (b *browser) expect(what string, res response, status int) {
	b.t.Helper()
	if res.status != status {
		b.t.Fatalf("%s: %d %s; want %d", what, res.status, res.body, status)
	}
}

// link waits for the development mailer's next link of the purpose and
// returns its token.
func (b *browser) link(purpose auth.Purpose) string {
	b.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case line := <-b.logs:
			var entry struct{ Purpose, Link string }
			if json.Unmarshal(line, &entry) == nil && entry.Purpose == string(purpose) && entry.Link != "" {
				_, token, ok := strings.Cut(entry.Link, "#token=")
				if !ok {
					b.t.Fatalf("link %q has no token", entry.Link)
				}
				return token
			}
		case <-timeout:
			b.t.Fatalf("no %s link in the log", purpose)
			return ""
		}
	}
}

func (b *browser) login(password string) response {
	b.t.Helper()
	return b.do("POST", "/auth/login", `{"email":"ada@example.com","password":"`+password+`"}`)
}

func (b *browser) cookies() map[string]*http.Cookie {
	u, _ := url.Parse(b.srv.URL + "/auth/refresh")
	out := map[string]*http.Cookie{}
	for _, c := range b.client.Jar.Cookies(u) {
		out[c.Name] = c
	}
	return out
}

// The whole browser flow, end to end, as a browser with a cookie jar.
func TestBrowserFlow(t *testing.T) {
	t.Parallel()
	b := newBrowser(t)

	// Login: the tokens go into cookies, not the body.
	res := b.login(adaPassword)
	b.expect("login", res, 200)
	if strings.Contains(res.body, "token\":\"") || b.cookies()["refresh_token"] == nil || b.cookies()["access_token"] == nil {
		t.Fatalf("login body %s, cookies %v", res.body, b.cookies())
	}
	b.expect("me", b.do("GET", "/me", ""), 200)

	// Email verification: the link from the log verifies the address.
	b.expect("send verification", b.do("POST", "/auth/email/send", ""), 202)
	verify := b.link(auth.EmailVerification)
	b.expect("verify", b.do("POST", "/auth/email/verify", `{"token":"`+verify+`"}`), 204)
	if res := b.do("GET", "/me", ""); !strings.Contains(res.body, `"email_verified":true`) {
		t.Errorf("me after verification: %s", res.body)
	}

	// CSRF: a POST without the CSRF token, or a cross-site one, is refused;
	// a GET is not.
	b.expect("POST without the CSRF header", b.do("POST", "/auth/email/send", "", auth.CSRFHeader, ""), 403)
	b.expect("cross-site password change", b.do("POST", "/account/password", `{"password":"x"}`, "Sec-Fetch-Site", "cross-site"), 403)
	b.expect("cross-site GET", b.do("GET", "/me", "", "Sec-Fetch-Site", "cross-site"), 200)

	// Fresh login: ten minutes later a password change needs the password again.
	b.offset.Add(600)
	res = b.do("POST", "/account/password", `{"password":"a new long passphrase"}`, "Sec-Fetch-Site", "same-origin")
	b.expect("stale password change", res, 401)
	if ch := res.header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="insufficient_user_authentication"`) || !strings.Contains(ch, "max_age=300") {
		t.Errorf("challenge %q", ch)
	}
	b.expect("reauth, wrong password", b.do("POST", "/auth/reauth", `{"password":"guess"}`), 401)
	b.expect("reauth", b.do("POST", "/auth/reauth", `{"password":"`+adaPassword+`"}`), 200)
	b.expect("fresh password change", b.do("POST", "/account/password", `{"password":"a new long passphrase"}`, "Sec-Fetch-Site", "same-origin"), 204)
	b.expect("me after the change: every session ended", b.do("GET", "/me", ""), 401)
	b.expect("refresh after the change", b.do("POST", "/auth/refresh", ""), 401)

	// Forgotten password: 202 for a known and an unknown email alike.
	b.expect("forgot, unknown", b.do("POST", "/auth/password/forgot", `{"email":"nobody@example.com"}`), 202)
	b.expect("forgot", b.do("POST", "/auth/password/forgot", `{"email":"ada@example.com"}`), 202)
	reset := b.link(auth.PasswordReset)
	b.expect("verification token as reset token", b.do("POST", "/auth/password/reset", `{"token":"`+verify+`","password":"the reset passphrase"}`), 400)
	b.expect("reset token as verification token", b.do("POST", "/auth/email/verify", `{"token":"`+reset+`"}`), 400)
	b.expect("reset", b.do("POST", "/auth/password/reset", `{"token":"`+reset+`","password":"the reset passphrase"}`), 204)
	res = b.do("POST", "/auth/password/reset", `{"token":"`+reset+`","password":"another passphrase"}`)
	b.expect("replayed reset token", res, 400)
	if strings.Contains(res.body, reset) {
		t.Errorf("the answer echoes the token: %s", res.body)
	}
	b.expect("old password", b.login("a new long passphrase"), 401)
	b.expect("login with the reset password", b.login("the reset passphrase"), 200)

	// Refresh by cookie, then logout clears the cookies.
	b.expect("refresh", b.do("POST", "/auth/refresh", ""), 200)
	b.expect("logout", b.do("POST", "/auth/logout", ""), 204)
	if len(b.cookies()) != 0 {
		t.Errorf("cookies after logout: %v", b.cookies())
	}
	b.expect("me after logout", b.do("GET", "/me", ""), 401)

	// Account deletion right after a login (fresh): the account is gone.
	b.expect("login", b.login("the reset passphrase"), 200)
	b.expect("delete account", b.do("DELETE", "/account", ""), 204)
	b.expect("login after deletion", b.login("the reset passphrase"), 401)
}
