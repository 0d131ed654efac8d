package auth_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keygate/auth"
)

// The quick start: hash a password at sign-up, verify it at login, issue
// tokens, and verify an access token on a later request.
func Example() {
	ctx := context.Background()
	os.Setenv("AUTH_SECRET", auth.GenerateSecret()) // in production, set by the deployment

	passwords, err := auth.NewPasswords() // argon2id, OWASP parameters
	if err != nil {
		log.Fatal(err)
	}
	key, err := auth.HMACKeyFromEnv("AUTH_SECRET")
	if err != nil {
		log.Fatal(err)
	}
	tokens, err := auth.NewTokens(key, auth.WithIssuer("https://api.example.com"))
	if err != nil {
		log.Fatal(err)
	}

	// Sign-up: store the hash, never the password.
	hash, err := passwords.Hash(ctx, "correct horse battery staple")
	if err != nil {
		log.Fatal(err)
	}

	// Login: verify, then issue a pair of tokens.
	if _, err := passwords.Verify(ctx, hash, "correct horse battery staple"); err != nil {
		log.Fatal(err)
	}
	claims := auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "user-42"}, Roles: []string{"admin"}}
	access, _, err := tokens.Issue(auth.AccessToken, claims)
	if err != nil {
		log.Fatal(err)
	}
	refresh, _, err := tokens.Issue(auth.RefreshToken, claims)
	if err != nil {
		log.Fatal(err)
	}

	// A later request: the access token is accepted, the refresh token is not.
	c, err := tokens.Verify(access, auth.AccessToken)
	fmt.Println(c.Subject, c.Roles, err)
	_, err = tokens.Verify(refresh, auth.AccessToken)
	fmt.Println(err)
	// Output:
	// user-42 [admin] <nil>
	// auth: invalid token: wrong token type
}

func ExampleTokens_Verify_errorChecking() {
	key, _ := auth.NewHMACKey("", "HS256", []byte(auth.GenerateSecret()))
	tokens, _ := auth.NewTokens(key)

	for _, token := range []string{"not-a-jwt", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9."} {
		_, err := tokens.Verify(token, auth.AccessToken)
		switch {
		case errors.Is(err, auth.ErrTokenExpired):
			fmt.Println("expired: ask the client to refresh")
		case errors.Is(err, auth.ErrInvalidToken):
			fmt.Println("rejected:", err)
		}
	}
	// Output:
	// rejected: auth: invalid token: malformed token
	// rejected: auth: invalid token: malformed token
}

// Verify reports when a stored hash is below the current policy, so a login
// can replace it with a fresh hash of the password it just checked.
func ExamplePasswords_Verify() {
	ctx := context.Background()
	passwords, _ := auth.NewPasswords()

	// A bcrypt hash from an older service (PHP's password_hash example).
	stored := "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a"
	rehash, err := passwords.Verify(ctx, stored, "rasmuslerdorf")
	fmt.Println(rehash, err)
	if err == nil && rehash {
		stored, _ = passwords.Hash(ctx, "rasmuslerdorf") // store the new hash
	}
	fmt.Println(stored[:31])

	_, err = passwords.Verify(ctx, stored, "wrong password")
	fmt.Println(errors.Is(err, auth.ErrPasswordMismatch))

	// An unknown user: verify against no hash, at the cost of a real verify.
	_, err = passwords.Verify(ctx, "", "rasmuslerdorf")
	fmt.Println(errors.Is(err, auth.ErrPasswordMismatch))
	// Output:
	// true <nil>
	// $argon2id$v=19$m=19456,t=2,p=1$
	// true
	// true
}

// Rotating keys: sign with the new key, keep verifying with the old one until
// its tokens have expired.
func ExampleWithVerificationKeys() {
	oldKey, _ := auth.NewHMACKey("2025-10", "HS256", []byte(auth.GenerateSecret()))
	newKey, _ := auth.NewHMACKey("2025-11", "HS256", []byte(auth.GenerateSecret()))
	before, _ := auth.NewTokens(oldKey)
	after, _ := auth.NewTokens(newKey, auth.WithVerificationKeys(oldKey))

	token, _, _ := before.Issue(auth.AccessToken, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "user-42"}})
	c, err := after.Verify(token, auth.AccessToken)
	fmt.Println(c.Subject, err)
	// Output: user-42 <nil>
}

// exampleAuth builds what a service builds once at start-up: tokens, a user
// store with one user and one admin, and the Authenticator.
func exampleAuth() (*auth.Authenticator[auth.Account], *auth.Tokens) {
	key, _ := auth.NewHMACKey("", "HS256", []byte(auth.GenerateSecret()))
	tokens, _ := auth.NewTokens(key)
	passwords, _ := auth.NewPasswords()
	hash, _ := passwords.Hash(context.Background(), "correct horse battery staple")
	users := auth.NewMemoryUsers() // your database, through auth.UserStore
	users.Put("ada@example.com", auth.Account{ID: "u1", PasswordHash: hash, Active: true, Roles: []string{"user"}})
	users.Put("root@example.com", auth.Account{ID: "u2", Active: true, Roles: []string{"admin"}})
	a, _ := auth.New[auth.Account](tokens, users, auth.WithPasswords(passwords))
	return a, tokens
}

func accessToken(tokens *auth.Tokens, userID string) string {
	c := auth.Claims{}
	c.Subject = userID
	tok, _, _ := tokens.Issue(auth.AccessToken, c)
	return tok
}

// get sends a GET through h and prints the status and body.
func get(h http.Handler, path string, header http.Header) {
	req := httptest.NewRequest("GET", path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, strings.TrimSpace(rec.Body.String()))
}

func bearer(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

func ExampleAuthenticator_Middleware() {
	a, tokens := exampleAuth()
	me := func(w http.ResponseWriter, r *http.Request) {
		user := auth.MustUser[auth.Account](r.Context()) // behind the middleware, always there
		fmt.Fprintln(w, "hello", user.ID)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /users/me", a.Middleware(http.HandlerFunc(me)))

	get(mux, "/users/me", bearer(accessToken(tokens, "u1")))
	get(mux, "/users/me", nil)
	get(mux, "/users/me", bearer("forged.token.value"))
	// Output:
	// 200 hello u1
	// 401 {"error":"unauthorized","error_description":"Not authenticated"}
	// 401 {"error":"invalid_token","error_description":"Could not validate credentials"}
}

func ExampleUserFrom() {
	a, tokens := exampleAuth()
	greet := func(w http.ResponseWriter, r *http.Request) {
		if user, ok := auth.UserFrom[auth.Account](r.Context()); ok {
			fmt.Fprintln(w, "hello", user.ID)
			return
		}
		fmt.Fprintln(w, "hello, stranger")
	}
	h := a.Optional(http.HandlerFunc(greet))
	get(h, "/", bearer(accessToken(tokens, "u1")))
	get(h, "/", nil)
	// Output:
	// 200 hello u1
	// 200 hello, stranger
}

func ExampleRequireRole() {
	a, tokens := exampleAuth()
	stats := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "stats") })
	mux := http.NewServeMux()
	mux.Handle("GET /admin/stats", a.Middleware(auth.RequireRole("admin")(stats)))
	mux.Handle("DELETE /users/{id}", a.Middleware(auth.RequireOwner("id", "admin")(stats)))

	get(mux, "/admin/stats", bearer(accessToken(tokens, "u2")))
	get(mux, "/admin/stats", bearer(accessToken(tokens, "u1")))
	// Output:
	// 200 stats
	// 403 {"error":"insufficient_scope","error_description":"Access denied"}
}

func ExampleAuthenticator_RequireAPIKey() {
	a, _ := exampleAuth()
	keys := auth.NewMemoryAPIKeys() // your database, through auth.APIKeyStore
	key, record, _ := auth.GenerateAPIKey("sk")
	record.Name, record.Roles = "billing service", []string{"reports"}
	keys.Add(record) // stores the hash; show key once, to whoever will use it

	data := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := auth.PrincipalFrom(r.Context())
		fmt.Fprintln(w, "data for", p.APIKey.Name)
	})
	h := a.RequireAPIKey(keys)(auth.RequireRole("reports")(data))

	get(h, "/external-data", http.Header{"X-Api-Key": {key}})
	get(h, "/external-data", http.Header{"X-Api-Key": {"sk_0000_guess"}})
	// Output:
	// 200 data for billing service
	// 401 {"error":"invalid_api_key","error_description":"Invalid or missing API key"}
}

func ExampleAuthenticator_LoginHandler() {
	a, _ := exampleAuth()
	mux := http.NewServeMux()
	mux.Handle("POST /auth/login", a.LoginHandler())
	mux.Handle("POST /auth/refresh", a.RefreshHandler())

	for _, password := range []string{"correct horse battery staple", "guess"} {
		body := url.Values{"username": {"ada@example.com"}, "password": {password}}.Encode()
		req := httptest.NewRequest("POST", "/auth/login", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Header().Get("Cache-Control"), strings.Contains(rec.Body.String(), `"token_type":"bearer"`))
	}
	// Output:
	// 200 no-store true
	// 401 no-store false
}
