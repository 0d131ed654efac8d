package main

import (
	"crypto/rand"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// link returns the token of the newest development-mailer link of purpose
// ("reset-password" or "verify-email") sent to email, waiting briefly: the
// library sends in the background.
func (in *instance) link(t *testing.T, purpose, email string, after int) string {
	t.Helper()
	re := regexp.MustCompile(`"to":"` + regexp.QuoteMeta(email) + `"[^\n]*"link":"[^"]*/` + purpose + `#token=([^"]+)"`)
	for range 100 {
		logs := in.logs.String()[after:]
		if m := re.FindAllStringSubmatch(logs, -1); len(m) > 0 {
			return m[len(m)-1][1]
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s link for %s in the log", purpose, email)
	return ""
}

// Issue 14, end to end on the example service: email verification after
// registration, a fresh login for a password change and an account
// deletion, and a password reset that works once, refuses a replay and a
// token of the other purpose, and ends every session.
//
// With USER_CACHE_TTL, the same flows must behave the same: what changes a
// user (a password change or reset, a deletion) drops it from the cache.
func TestAccountFlows(t *testing.T) {
	t.Parallel()
	for name, extra := range map[string]string{"no user cache": "", "user cache": "USER_CACHE_TTL=1m"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			accountFlows(t, extra)
		})
	}
}

func accountFlows(t *testing.T, extra string) {
	in := startWith(t, filepath.Join(t.TempDir(), "service.db"), "test-secret-"+rand.Text(), "FRESH_LOGIN_MAX_AGE=1s", extra)
	const email, password = "ada@example.com", "ada's long password"
	mark := len(in.logs.String())
	expect(t, "register", in.do("POST", "/auth/register", jsonCT, registerBody(email, password)), 201)
	verifyTok := in.link(t, "verify-email", email, mark)

	p := in.login(email, password)
	if res := in.do("GET", "/users/me/email", bearer(p.access), ""); !strings.Contains(res.body, `"verified":false`) {
		t.Errorf("before verification: %s", res.body)
	}
	expect(t, "a verification token as a reset token", in.do("POST", "/auth/password-reset", jsonCT, `{"token":"`+verifyTok+`","password":"hijacked password!"}`), 400)
	expect(t, "verify", in.do("POST", "/auth/verify-email", jsonCT, `{"token":"`+verifyTok+`"}`), 204)
	if res := in.do("GET", "/users/me/email", bearer(p.access), ""); !strings.Contains(res.body, `"verified":true`) {
		t.Errorf("after verification: %s", res.body)
	}

	t.Run("fresh login for sensitive actions", func(t *testing.T) {
		time.Sleep(1100 * time.Millisecond) // FRESH_LOGIN_MAX_AGE=1s
		res := in.do("POST", "/auth/password", jsonBearer(p.access), `{"current_password":"`+password+`","new_password":"a second password"}`)
		expect(t, "password change with a stale login", res, 401)
		if ch := res.header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="insufficient_user_authentication"`) || !strings.Contains(ch, "max_age=1") {
			t.Errorf("challenge %q; want RFC 9470's insufficient_user_authentication with max_age", ch)
		}
		expect(t, "delete own account with a stale login", in.do("DELETE", "/users/nobody", bearer(p.access), ""), 401)
		res = in.do("POST", "/auth/reauth", jsonBearer(p.access), `{"password":"wrong password"}`)
		if res.status != 401 && res.status != 403 {
			t.Errorf("re-authentication with a wrong password: %d", res.status)
		}
		res = in.do("POST", "/auth/reauth", jsonBearer(p.access), `{"password":"`+password+`"}`)
		expect(t, "re-authentication", res, 200)
		fresh := res.json(t)["access_token"].(string)
		expect(t, "password change with a fresh login", in.do("POST", "/auth/password", jsonBearer(fresh), `{"current_password":"`+password+`","new_password":"a second password"}`), 204)
	})

	t.Run("password reset", func(t *testing.T) {
		other := in.login(email, "a second password")
		mark := len(in.logs.String())
		expect(t, "reset request", in.do("POST", "/auth/password-reset/request", jsonCT, `{"email":"`+email+`"}`), 202)
		expect(t, "reset request for nobody", in.do("POST", "/auth/password-reset/request", jsonCT, `{"email":"nobody@example.com"}`), 202)
		resetTok := in.link(t, "reset-password", email, mark)
		expect(t, "a reset token as an access token", in.do("GET", "/users/me", bearer(resetTok), ""), 401)
		expect(t, "a reset token as a verification token", in.do("POST", "/auth/verify-email", jsonCT, `{"token":"`+resetTok+`"}`), 400)
		expect(t, "reset", in.do("POST", "/auth/password-reset", jsonCT, `{"token":"`+resetTok+`","password":"the third password"}`), 204)
		expect(t, "replayed reset token", in.do("POST", "/auth/password-reset", jsonCT, `{"token":"`+resetTok+`","password":"a fourth password!"}`), 400)
		expect(t, "a session from before the reset", in.do("GET", "/users/me", bearer(other.access), ""), 401)
		expect(t, "its refresh token", in.refresh(other.refresh), 401)
		in.login(email, "the third password")
		logs := in.logs.String()
		if strings.Count(logs, resetTok) != 1 {
			t.Error("the reset token appears in the log outside the development mailer's line")
		}
	})

	t.Run("account deletion with a fresh login", func(t *testing.T) {
		p := in.login(email, "the third password")
		me := in.do("GET", "/users/me", bearer(p.access), "").json(t)["id"].(string)
		expect(t, "delete another's account", in.do("DELETE", "/users/usr_someone_else", bearer(p.access), ""), 403)
		expect(t, "delete own account", in.do("DELETE", "/users/"+me, bearer(p.access), ""), 204)
		expect(t, "the deleted account's token", in.do("GET", "/users/me", bearer(p.access), ""), 401)
	})
}
