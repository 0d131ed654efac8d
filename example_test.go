package auth_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

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
