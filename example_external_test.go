package auth_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keygate/auth"
)

// The seed's shared-secret path: the frontend's auth server signs HS256
// tokens with BETTER_AUTH_SECRET, and the API verifies them with the same
// secret. iss and aud are what the auth server writes: its own base URL.
func ExampleNewExternalIssuer_sharedSecret() {
	os.Setenv("BETTER_AUTH_SECRET", auth.GenerateSecret()) // in production, set by the deployment
	const authServer = "https://app.example.com"           // Better Auth's baseURL

	key, err := auth.HMACKeyFromEnv("BETTER_AUTH_SECRET")
	if err != nil {
		log.Fatal(err)
	}
	ext, err := auth.NewExternalIssuer(key, []string{"email"},
		auth.WithIssuer(authServer), auth.WithAudience(authServer), auth.WithRolesClaim("role"))
	if err != nil {
		log.Fatal(err)
	}
	a, err := auth.NewStateless(ext)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /api/{user_id}/tasks", a.Middleware(auth.RequireOwner("user_id")(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			c := auth.MustUser[*auth.Claims](r.Context())
			fmt.Fprintln(w, "tasks of", c.Email)
		}))))

	// What the auth server mints (here with golang-jwt).
	token, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"sub": "user-1", "email": "ada@example.com", "role": "user",
		"iss": authServer, "aud": authServer, "iat": time.Now().Unix(), "exp": time.Now().Add(15 * time.Minute).Unix(),
	}).SignedString([]byte(os.Getenv("BETTER_AUTH_SECRET")))

	get(mux, "/api/user-1/tasks", bearer(token))
	get(mux, "/api/user-2/tasks", bearer(token))
	// Output:
	// 200 tasks of ada@example.com
	// 403 {"error":"insufficient_scope","error_description":"Access denied"}
}

// The JWKS path: Better Auth's jwt plugin signs with Ed25519 and publishes
// its public keys at /api/auth/jwks; the API fetches them, caches them, and
// refetches when a token names a new kid. iss and aud are Better Auth's
// baseURL, and the admin plugin's "role" is the roles claim.
func ExampleNewJWKS() {
	const authServer = "https://app.example.com" // Better Auth's baseURL
	// A stand-in for Better Auth's /api/auth/jwks, with its document shape.
	_, priv, _ := ed25519.GenerateKey(nil)
	jwksDoc := fmt.Sprintf(`{"keys":[{"alg":"EdDSA","crv":"Ed25519","x":%q,"kty":"OKP","kid":"kid-1"}]}`,
		base64.RawURLEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)))
	betterAuth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, jwksDoc)
	}))
	defer betterAuth.Close()

	jwks, err := auth.NewJWKS(betterAuth.URL + "/api/auth/jwks") // https, or http on loopback
	if err != nil {
		log.Fatal(err)
	}
	ext, err := auth.NewExternalIssuer(auth.Key{}, []string{"email"}, auth.WithJWKS(jwks),
		auth.WithIssuer(authServer), auth.WithAudience(authServer), auth.WithRolesClaim("role"))
	if err != nil {
		log.Fatal(err)
	}
	a, err := auth.NewStateless(ext)
	if err != nil {
		log.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux := http.NewServeMux()
	mux.Handle("GET /api/{user_id}/tasks", a.Middleware(auth.RequireOwner("user_id")(ok)))
	mux.Handle("GET /admin", a.Middleware(auth.RequireRole("admin")(ok)))

	// What Better Auth mints: {alg, kid}, no typ; the user's fields as claims.
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"sub": "user-1", "id": "user-1", "email": "ada@example.com", "emailVerified": true, "role": "user",
		"iss": authServer, "aud": authServer, "iat": time.Now().Unix(), "exp": time.Now().Add(15 * time.Minute).Unix(),
	})
	delete(tok.Header, "typ")
	tok.Header["kid"] = "kid-1"
	token, _ := tok.SignedString(priv)

	get(mux, "/api/user-1/tasks", bearer(token))
	get(mux, "/api/user-2/tasks", bearer(token))
	get(mux, "/admin", bearer(token))
	fmt.Println("JWKS fetches:", jwks.Fetches())
	// Output:
	// 200 ok
	// 403 {"error":"insufficient_scope","error_description":"Access denied"}
	// 403 {"error":"insufficient_scope","error_description":"Access denied"}
	// JWKS fetches: 1
}

// A resource server that verifies this package's tokens without the
// private key: the issuing service publishes its JWKS, and the resource
// server builds a verify-only Tokens with the same issuer and audience.
func ExampleNewVerifyingTokens() {
	_, priv, _ := ed25519.GenerateKey(nil)
	key, err := auth.NewSigningKey("2026-11", "EdDSA", priv)
	if err != nil {
		log.Fatal(err)
	}
	opts := []auth.TokenOption{auth.WithIssuer("https://login.example.com"), auth.WithAudience("https://api.example.com")}
	issuer, err := auth.NewTokens(key, opts...)
	if err != nil {
		log.Fatal(err)
	}
	published, err := issuer.JWKSHandler() // mount at GET /.well-known/jwks.json
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewServer(published)
	defer srv.Close()

	jwks, err := auth.NewJWKS(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	resource, err := auth.NewVerifyingTokens(nil, append(opts, auth.WithJWKS(jwks))...)
	if err != nil {
		log.Fatal(err)
	}
	token, _, _ := issuer.Issue(auth.AccessToken, auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: "user-1"}})
	c, err := resource.Verify(token, auth.AccessToken)
	fmt.Println(c.Subject, err)
	_, _, err = resource.Issue(auth.AccessToken, *c)
	fmt.Println(err)
	// Output:
	// user-1 <nil>
	// auth: a verify-only Tokens cannot issue tokens
}
