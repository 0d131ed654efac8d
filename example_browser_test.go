package auth_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/keygate/auth"
)

// send posts a form (or nothing) through h with the given headers and
// returns the recorder.
func send(h http.Handler, method, path string, form url.Values, header http.Header) *httptest.ResponseRecorder {
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req := httptest.NewRequest(method, "https://app.example.com"+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// A browser app keeps its tokens in HttpOnly cookies: the login sets them,
// the middleware reads the access cookie, and a cross-site POST carrying
// the cookie is refused while a same-origin one goes through.
func ExampleWithCookies() {
	key, _ := auth.NewHMACKey("", "HS256", []byte(auth.GenerateSecret()))
	tokens, _ := auth.NewTokens(key)
	passwords, _ := auth.NewPasswords()
	hash, _ := passwords.Hash(context.Background(), "correct horse battery staple")
	users := auth.NewMemoryUsers()
	users.Put("ada@example.com", auth.Account{ID: "u1", PasswordHash: hash, Active: true})
	a, err := auth.New[auth.Account](tokens, users, auth.WithPasswords(passwords),
		auth.WithCookies(auth.CookieConfig{RefreshPath: "/auth", AccessToken: true}))
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /auth/login", a.LoginHandler())
	mux.Handle("POST /auth/refresh", a.RefreshHandler())
	mux.Handle("POST /auth/logout", a.LogoutHandler())
	mux.Handle("/notes", a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := auth.PrincipalFrom(r.Context())
		fmt.Fprintln(w, "notes of", p.Subject)
	})))

	login := send(mux, "POST", "/auth/login", url.Values{"username": {"ada@example.com"}, "password": {"correct horse battery staple"}},
		http.Header{"Sec-Fetch-Site": {"same-origin"}})
	cookies := http.Header{}
	for _, c := range login.Result().Cookies() {
		fmt.Printf("%s Path=%s HttpOnly=%v Secure=%v SameSite=Lax:%v\n", c.Name, c.Path, c.HttpOnly, c.Secure, c.SameSite == http.SameSiteLaxMode)
		cookies.Add("Cookie", c.Name+"="+c.Value)
	}
	fmt.Println("body:", strings.TrimSpace(login.Body.String()))

	sameOrigin := cookies.Clone()
	sameOrigin.Set("Sec-Fetch-Site", "same-origin")
	crossSite := cookies.Clone()
	crossSite.Set("Sec-Fetch-Site", "cross-site")
	fmt.Println("same-origin POST:", send(mux, "POST", "/notes", nil, sameOrigin).Code)
	fmt.Println("cross-site POST:", send(mux, "POST", "/notes", nil, crossSite).Code)
	fmt.Println("cross-site GET:", send(mux, "GET", "/notes", nil, crossSite).Code)
	// Output:
	// __Secure-refresh_token Path=/auth HttpOnly=true Secure=true SameSite=Lax:true
	// __Host-access_token Path=/ HttpOnly=true Secure=true SameSite=Lax:true
	// body: {"token_type":"bearer","expires_in":900}
	// same-origin POST: 200
	// cross-site POST: 403
	// cross-site GET: 200
}

// A password change needs a login at most 5 minutes old: an older one gets
// 401 with RFC 9470's challenge, and re-entering the password at the
// re-authentication endpoint gives a fresh access token.
func ExampleAuthenticator_RequireFresh() {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	key, _ := auth.NewHMACKey("", "HS256", []byte(auth.GenerateSecret()))
	tokens, _ := auth.NewTokens(key, auth.WithClock(func() time.Time { return now }))
	passwords, _ := auth.NewPasswords()
	hash, _ := passwords.Hash(context.Background(), "correct horse battery staple")
	users := auth.NewMemoryUsers()
	users.Put("ada@example.com", auth.Account{ID: "u1", PasswordHash: hash, Active: true})
	a, _ := auth.New[auth.Account](tokens, users, auth.WithPasswords(passwords))

	mux := http.NewServeMux()
	mux.Handle("POST /auth/login", a.LoginHandler())
	mux.Handle("POST /auth/reauth", a.Middleware(a.ReauthenticateHandler()))
	changePassword := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "changed") })
	mux.Handle("POST /account/password", a.Middleware(a.RequireFresh(5*time.Minute)(changePassword)))

	token := func(rec *httptest.ResponseRecorder) http.Header {
		var body struct {
			AccessToken string `json:"access_token"`
		}
		json.Unmarshal(rec.Body.Bytes(), &body)
		return http.Header{"Authorization": {"Bearer " + body.AccessToken}}
	}
	login := send(mux, "POST", "/auth/login", url.Values{"username": {"ada@example.com"}, "password": {"correct horse battery staple"}}, nil)
	fmt.Println("just logged in:", send(mux, "POST", "/account/password", nil, token(login)).Code)

	now = now.Add(10 * time.Minute)
	stale := send(mux, "POST", "/account/password", nil, token(login))
	fmt.Println("10 minutes later:", stale.Code, stale.Header().Get("WWW-Authenticate"))

	reauth := send(mux, "POST", "/auth/reauth", url.Values{"password": {"correct horse battery staple"}}, token(login))
	fmt.Println("after re-authentication:", send(mux, "POST", "/account/password", nil, token(reauth)).Code)
	// Output:
	// just logged in: 200
	// 10 minutes later: 401 Bearer realm="api", error="insufficient_user_authentication", error_description="A more recent login is required", max_age=300
	// after re-authentication: 200
}

// A forgotten password: the request answers 202 whether or not the email
// has an account, the hook sends the token (here, to a channel; in
// development, to the log), and the token resets the password once.
func ExampleAuthenticator_PasswordResetHandler() {
	passwords, _ := auth.NewPasswords()
	hash, _ := passwords.Hash(context.Background(), "correct horse battery staple")
	users := auth.NewMemoryUsers() // a PasswordHashUpdater and TokenVersionBumper
	users.Put("ada@example.com", auth.Account{ID: "u1", PasswordHash: hash, Active: true, Email: "ada@example.com"})
	key, _ := auth.NewHMACKey("", "HS256", []byte(auth.GenerateSecret()))
	tokens, _ := auth.NewTokens(key)
	outbox := make(chan auth.OneTimeMessage, 1)
	a, err := auth.New[auth.Account](tokens, users, auth.WithPasswords(passwords),
		auth.WithOneTimeTokens(auth.OneTimeConfig{
			Secret: []byte(auth.GenerateSecret()), // from the environment, in production
			Send: func(ctx context.Context, m auth.OneTimeMessage) error {
				outbox <- m // queue an email with a link holding m.Token
				return nil
			},
		}))
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /password/forgot", a.PasswordResetRequestHandler())
	mux.Handle("POST /password/reset", a.PasswordResetHandler())

	fmt.Println("unknown email:", send(mux, "POST", "/password/forgot", url.Values{"email": {"nobody@example.com"}}, nil).Code)
	fmt.Println("known email:", send(mux, "POST", "/password/forgot", url.Values{"email": {"ada@example.com"}}, nil).Code)
	m := <-outbox
	fmt.Println("sent to:", m.Email, m.Purpose)

	reset := url.Values{"token": {m.Token}, "password": {"a new and long passphrase"}}
	fmt.Println("reset:", send(mux, "POST", "/password/reset", reset, nil).Code)
	replay := send(mux, "POST", "/password/reset", reset, nil)
	fmt.Println("replayed:", replay.Code, strings.TrimSpace(replay.Body.String()))
	// Output:
	// unknown email: 202
	// known email: 202
	// sent to: ada@example.com password_reset
	// reset: 204
	// replayed: 400 {"error":"invalid_token","error_description":"Invalid or expired link"}
}
