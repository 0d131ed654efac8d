// Package bench compares the verified-request cost of auth's middleware
// with other Go JWT middlewares, on the same tokens (auth-issued, with iss
// and aud) through the same httptest recorder into a trivial handler.
// run.sh runs it and prints the ratios to the floor from one run.
package bench

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jwtmiddleware "github.com/auth0/go-jwt-middleware/v2"
	"github.com/auth0/go-jwt-middleware/v2/validator"
	"github.com/go-chi/jwtauth/v5"
	"github.com/golang-jwt/jwt/v5"
	"github.com/keygate/auth"
	echojwt "github.com/labstack/echo-jwt/v4"
	"github.com/labstack/echo/v4"
	jwxjwt "github.com/lestrrat-go/jwx/v2/jwt"
)

const (
	issuer   = "https://issuer.example"
	audience = "https://api.example"
)

// setup is one algorithm's keys and tokens.
type setup struct {
	alg      string
	sign     crypto.Signer // nil for HS256
	secret   []byte
	verify   any // what the other libraries verify with
	valid    string
	forged   string
	verifier auth.AccessVerifier
}

func newSetup(b *testing.B, alg string) setup {
	s := setup{alg: alg}
	var key auth.Key
	var err error
	switch alg {
	case "HS256":
		s.secret = []byte(auth.GenerateSecret())
		s.verify = s.secret
		key, err = auth.NewHMACKey("", alg, s.secret)
	case "RS256":
		k, _ := rsa.GenerateKey(rand.Reader, 2048)
		s.sign, s.verify = k, &k.PublicKey
	case "ES256":
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		s.sign, s.verify = k, &k.PublicKey
	case "EdDSA":
		pub, k, _ := ed25519.GenerateKey(rand.Reader)
		s.sign, s.verify = k, pub
	}
	if s.sign != nil {
		key, err = auth.NewSigningKey("", alg, s.sign)
	}
	if err != nil {
		b.Fatal(err)
	}
	tokens, err := auth.NewTokens(key, auth.WithIssuer(issuer), auth.WithAudience(audience))
	if err != nil {
		b.Fatal(err)
	}
	c := auth.Claims{Email: "ada@example.com", Roles: []string{"user"}}
	c.Subject = "user-42"
	if s.valid, _, err = tokens.Issue(auth.AccessToken, c); err != nil {
		b.Fatal(err)
	}
	// Forged: the right shape, a signature of the right length that does
	// not verify.
	i := strings.LastIndexByte(s.valid, '.')
	sig := []byte(s.valid[i+1:])
	sig[len(sig)/2] ^= 1
	s.forged = s.valid[:i+1] + string(sig)
	s.verifier = tokens
	return s
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })

type floorKey struct{}

// floor is the 15-line middleware on jwt.ParseWithClaims every other result
// is compared with.
func floor(s setup) http.Handler {
	p := jwt.NewParser(jwt.WithValidMethods([]string{s.alg}), jwt.WithIssuer(issuer), jwt.WithAudience(audience), jwt.WithExpirationRequired())
	keyFunc := func(*jwt.Token) (any, error) { return s.verify, nil }
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !found {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		claims := &jwt.RegisteredClaims{}
		if _, err := p.ParseWithClaims(tok, claims, keyFunc); err != nil {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		ok.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), floorKey{}, claims)))
	})
}

func ours(b *testing.B, s setup) http.Handler {
	a, err := auth.NewStateless(s.verifier, auth.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	return a.Middleware(ok)
}

func auth0(b *testing.B, s setup) http.Handler {
	v, err := validator.New(func(context.Context) (any, error) { return s.verify, nil },
		validator.SignatureAlgorithm(s.alg), issuer, []string{audience})
	if err != nil {
		b.Fatal(err)
	}
	return jwtmiddleware.New(v.ValidateToken, jwtmiddleware.WithErrorHandler(func(w http.ResponseWriter, r *http.Request, err error) {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	})).CheckJWT(ok)
}

func chiJWTAuth(s setup) http.Handler {
	ja := jwtauth.New(s.alg, nil, s.verify, jwxjwt.WithIssuer(issuer), jwxjwt.WithAudience(audience))
	return jwtauth.Verifier(ja)(jwtauth.Authenticator(ja)(ok))
}

func echoJWT(s setup) http.Handler {
	e := echo.New()
	e.Use(echojwt.WithConfig(echojwt.Config{
		SigningKey:    s.verify,
		SigningMethod: s.alg,
		ParseTokenFunc: func(c echo.Context, auth string) (any, error) {
			p := jwt.NewParser(jwt.WithValidMethods([]string{s.alg}), jwt.WithIssuer(issuer), jwt.WithAudience(audience))
			t, err := p.ParseWithClaims(auth, &jwt.RegisteredClaims{}, func(*jwt.Token) (any, error) { return s.verify, nil })
			if err != nil {
				return nil, err
			}
			return t, nil
		},
	}))
	e.GET("/", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	return e
}

type impl struct {
	name string
	h    http.Handler
}

func impls(b *testing.B, s setup) []impl {
	return []impl{
		{"floor", floor(s)},
		{"auth", ours(b, s)},
		{"auth0", auth0(b, s)},
		{"jwtauth", chiJWTAuth(s)},
		{"echojwt", echoJWT(s)},
	}
}

func serve(b *testing.B, h http.Handler, token string, want int) {
	b.Helper()
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			b.Fatalf("status %d; want %d", rec.Code, want)
		}
	}
}

// BenchmarkValid: a valid access token, per algorithm and implementation,
// and a bare handler as the baseline.
func BenchmarkValid(b *testing.B) {
	for _, alg := range []string{"HS256", "RS256", "ES256", "EdDSA"} {
		s := newSetup(b, alg)
		b.Run(alg+"/none", func(b *testing.B) { serve(b, ok, s.valid, http.StatusNoContent) })
		for _, im := range impls(b, s) {
			b.Run(alg+"/"+im.name, func(b *testing.B) { serve(b, im.h, s.valid, http.StatusNoContent) })
		}
	}
}

// BenchmarkForged: an HS256 token whose signature does not verify, and a
// 1 MiB junk token.
func BenchmarkForged(b *testing.B) {
	s := newSetup(b, "HS256")
	junk := strings.Repeat("A", 1<<20)
	for _, im := range impls(b, s) {
		b.Run("HS256/"+im.name, func(b *testing.B) { serve(b, im.h, s.forged, http.StatusUnauthorized) })
	}
	for _, im := range impls(b, s) {
		b.Run("junk-1MiB/"+im.name, func(b *testing.B) { serve(b, im.h, junk, http.StatusUnauthorized) })
	}
}

// BenchmarkSignature is the raw signature verification of each algorithm,
// for "our time minus the signature".
func BenchmarkSignature(b *testing.B) {
	for _, alg := range []string{"HS256", "RS256", "ES256", "EdDSA"} {
		s := newSetup(b, alg)
		i := strings.LastIndexByte(s.valid, '.')
		sig, err := jwt.NewParser().DecodeSegment(s.valid[i+1:])
		if err != nil {
			b.Fatal(err)
		}
		m := jwt.GetSigningMethod(alg)
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := m.Verify(s.valid[:i], sig, s.verify); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
