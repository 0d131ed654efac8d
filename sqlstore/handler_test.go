package sqlstore

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/keygate/auth"
)

// TestLoginHandlerUnstorableName sends login names PostgreSQL cannot store
// through auth's LoginHandler: each answers 401 like any unknown name (the
// old examples/sqlstore answered 500 on PostgreSQL), and a real login still
// works.
func TestLoginHandlerUnstorableName(t *testing.T) {
	for _, d := range dialects {
		t.Run(string(d), func(t *testing.T) {
			db := openTest(t, d)
			key, err := auth.NewHMACKey("", "HS256", []byte(auth.GenerateSecret()))
			if err != nil {
				t.Fatal(err)
			}
			tokens, err := auth.NewTokens(key)
			if err != nil {
				t.Fatal(err)
			}
			passwords, err := auth.NewPasswords()
			if err != nil {
				t.Fatal(err)
			}
			// A long hash wait: this test is about what the store answers,
			// and a loaded machine must not turn a login into a 503.
			a, err := auth.New(tokens, db.Users(), auth.WithPasswords(passwords), auth.WithHashWait(time.Minute),
				auth.WithRefreshStore(db.RefreshTokens()), auth.WithLimiter(db.Limiter()), auth.WithDenylist(db.Denylist()))
			if err != nil {
				t.Fatal(err)
			}
			hash, err := passwords.Hash(t.Context(), "ada's long password")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Users().Create(t.Context(), "ada@example.com", hash, "user"); err != nil {
				t.Fatal(err)
			}
			login := a.LoginHandler()
			post := func(contentType, body string) int {
				r := httptest.NewRequest("POST", "/login", strings.NewReader(body))
				r.Header.Set("Content-Type", contentType)
				w := httptest.NewRecorder()
				login.ServeHTTP(w, r)
				return w.Code
			}
			form := "application/x-www-form-urlencoded"
			for _, name := range []string{"ada@example.com\x00", "\x00", "ada\xff@example.com", "\xc3\x28"} {
				body := url.Values{"username": {name}, "password": {"ada's long password"}}.Encode()
				if code := post(form, body); code != http.StatusUnauthorized {
					t.Errorf("form login as %q: %d; want 401", name, code)
				}
			}
			if code := post("application/json", `{"username":"ada@example.com\u0000","password":"ada's long password"}`); code != http.StatusUnauthorized {
				t.Errorf("JSON login with \\u0000: %d; want 401", code)
			}
			if code := post(form, url.Values{"username": {"ada@example.com"}, "password": {"ada's long password"}}.Encode()); code != http.StatusOK {
				t.Errorf("real login: %d; want 200", code)
			}
		})
	}
}
