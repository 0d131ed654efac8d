// Package bench compares the verified-request cost of auth's middleware
// with other Go JWT middlewares, on the same tokens through the same
// httptest recorder into a trivial handler: auth's own tokens (with iss and
// aud), tokens from another issuer (an ExternalIssuer, with a shared HS256
// secret and with an EdDSA key from a JWKS), forged ones, and a request
// that also reads a user store and a denylist. run.sh runs it in
// interleaved passes and prints the medians of the per-pass ratios to the
// floor, with their spread.
package bench

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	case "RS256", "ES256", "EdDSA":
		// The repository's test keys, so that every run verifies the same
		// signatures and instruction counts repeat (instructions.sh).
		s.sign = testKey(b, map[string]string{"RS256": "rsa2048", "ES256": "p256", "EdDSA": "ed25519"}[alg])
		s.verify = s.sign.Public()
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

// testKey reads the private key ../testdata/name.pem (PKCS #8).
func testKey(b *testing.B, name string) crypto.Signer {
	pemBytes, err := os.ReadFile(filepath.Join("..", "testdata", name+".pem"))
	if err != nil {
		b.Fatal(err)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		b.Fatalf("%s.pem: no PEM block", name)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		b.Fatal(err)
	}
	return k.(crypto.Signer)
}

var ok = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })

type floorKey struct{}

// floor is the 15-line middleware on jwt.ParseWithClaims every other result
// is compared with.
func floor(s setup) http.Handler { return floorWith(s, nil) }

// floorWith is floor with a check of the verified claims (a store lookup)
// before the handler, when check is not nil.
func floorWith(s setup, check func(context.Context, *jwt.RegisteredClaims) bool) http.Handler {
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
		if check != nil && !check(r.Context(), claims) {
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

// BenchmarkSignature is the signature check of each algorithm alone, for
// "our time minus the signature": "jwt" is golang-jwt's SigningMethod.Verify
// (what the floor, echo-jwt and auth before 2026-11 run), "raw" the
// standard library's check on precomputed inputs: hmac over the signing
// input, rsa.VerifyPKCS1v15 and ecdsa.VerifyASN1 on a precomputed SHA-256
// (and DER signature), ed25519.Verify on the signing input.
func BenchmarkSignature(b *testing.B) {
	for _, alg := range []string{"HS256", "RS256", "ES256", "EdDSA"} {
		s := newSetup(b, alg)
		i := strings.LastIndexByte(s.valid, '.')
		sig, err := jwt.NewParser().DecodeSegment(s.valid[i+1:])
		if err != nil {
			b.Fatal(err)
		}
		m := jwt.GetSigningMethod(alg)
		b.Run(alg+"/jwt", func(b *testing.B) { check(b, func() bool { return m.Verify(s.valid[:i], sig, s.verify) == nil }) })
		input := []byte(s.valid[:i])
		digest := sha256.Sum256(input)
		var raw func() bool
		switch alg {
		case "HS256":
			raw = func() bool {
				h := hmac.New(sha256.New, s.secret)
				h.Write(input)
				return hmac.Equal(h.Sum(nil), sig)
			}
		case "RS256":
			raw = func() bool {
				return rsa.VerifyPKCS1v15(s.verify.(*rsa.PublicKey), crypto.SHA256, digest[:], sig) == nil
			}
		case "ES256":
			r, ss := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
			der, err := asn1.Marshal(struct{ R, S *big.Int }{r, ss}) // as ecdsa.SignASN1 writes it
			if err != nil {
				b.Fatal(err)
			}
			raw = func() bool { return ecdsa.VerifyASN1(s.verify.(*ecdsa.PublicKey), digest[:], der) }
		case "EdDSA":
			raw = func() bool { return ed25519.Verify(s.verify.(ed25519.PublicKey), input, sig) }
		}
		b.Run(alg+"/raw", func(b *testing.B) { check(b, raw) })
	}
}

// check runs a signature check in a benchmark loop.
func check(b *testing.B, verify func() bool) {
	b.ReportAllocs()
	for b.Loop() {
		if !verify() {
			b.Fatal("signature does not verify")
		}
	}
}

// external is a token from another issuer, signed with a key the verifier
// only knows as a shared secret or a public key from a JWKS, with the
// claims Better Auth's jwt plugin writes (a "role" string among claims the
// verifier does not read) and golang-jwt's or jose's header.
type external struct {
	setup
	jwks *httptest.Server // serves the public key for EdDSA, or nil
}

func newExternal(b *testing.B, alg string) external {
	var e external
	e.alg = alg
	now := time.Now()
	claims := jwt.MapClaims{
		"sub": "user-42", "iss": issuer, "aud": audience,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"id": "user-42", "email": "ada@example.com", "name": "Ada Lovelace",
		"emailVerified": true, "image": nil, "role": "user",
		"createdAt": "2026-01-02T03:04:05.000Z", "updatedAt": "2026-01-02T03:04:05.000Z",
	}
	opts := []auth.TokenOption{auth.WithIssuer(issuer), auth.WithAudience(audience), auth.WithRolesClaim("role")}
	var key auth.Key
	var err error
	switch alg {
	case "HS256":
		e.secret = []byte(auth.GenerateSecret())
		e.verify = e.secret
		if e.valid, err = jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(e.secret); err != nil {
			b.Fatal(err)
		}
		if key, err = auth.NewHMACKey("", alg, e.secret); err != nil {
			b.Fatal(err)
		}
	case "EdDSA":
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		e.sign, e.verify = priv, pub
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
		tok.Header = map[string]any{"alg": "EdDSA", "kid": "k1"} // jose's header
		if e.valid, err = tok.SignedString(priv); err != nil {
			b.Fatal(err)
		}
		publisher, err := auth.NewSigningKey("k1", alg, priv)
		if err != nil {
			b.Fatal(err)
		}
		pt, err := auth.NewTokens(publisher)
		if err != nil {
			b.Fatal(err)
		}
		h, err := pt.JWKSHandler()
		if err != nil {
			b.Fatal(err)
		}
		e.jwks = httptest.NewServer(h)
		b.Cleanup(e.jwks.Close)
		set, err := auth.NewJWKS(e.jwks.URL)
		if err != nil {
			b.Fatal(err)
		}
		opts = append(opts, auth.WithJWKS(set))
	}
	ext, err := auth.NewExternalIssuer(key, nil, opts...)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := ext.VerifyAccess(e.valid); err != nil { // and fetch the JWKS
		b.Fatal(err)
	}
	e.verifier = ext
	i := strings.LastIndexByte(e.valid, '.')
	sig := []byte(e.valid[i+1:])
	sig[len(sig)/2] ^= 1
	e.forged = e.valid[:i+1] + string(sig)
	return e
}

// BenchmarkExternal: tokens from another issuer through an ExternalIssuer
// (HS256 with a shared secret; EdDSA with the key from a JWKS), and forged
// HS256 ones.
func BenchmarkExternal(b *testing.B) {
	// Each group sets up only when it runs, so that a run of one (as
	// instructions.sh makes) does not fetch a JWKS it does not use.
	for _, g := range []struct {
		name, alg string
		forged    bool
	}{{"HS256", "HS256", false}, {"HS256-forged", "HS256", true}, {"EdDSA-JWKS", "EdDSA", false}} {
		b.Run(g.name, func(b *testing.B) {
			e := newExternal(b, g.alg)
			tok, want := e.valid, http.StatusNoContent
			if g.forged {
				tok, want = e.forged, http.StatusUnauthorized
			}
			for _, im := range impls(b, e.setup) {
				b.Run(im.name, func(b *testing.B) { serve(b, im.h, tok, want) })
			}
		})
	}
}

// BenchmarkStore: an HS256 access token whose user is read from a store and
// whose ID is looked up in a denylist on every request: auth.New with
// MemoryUsers and WithDenylist(MemoryDenylist), against the floor doing the
// same two lookups in the same stores.
func BenchmarkStore(b *testing.B) {
	s := newSetup(b, "HS256")
	users := auth.NewMemoryUsers()
	users.Put("ada@example.com", auth.Account{ID: "user-42", Active: true, Roles: []string{"user"}, Email: "ada@example.com"})
	deny := auth.NewMemoryDenylist()
	for i := range 1000 { // a denylist with entries in it
		if err := deny.Deny(context.Background(), auth.GenerateSecret(), time.Now().Add(time.Duration(i)*time.Second+time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
	a, err := auth.New[auth.Account](s.verifier, users, auth.WithDenylist(deny), auth.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	floorStore := floorWith(s, func(ctx context.Context, c *jwt.RegisteredClaims) bool {
		u, found, err := users.User(ctx, c.Subject)
		if err != nil || !found || !u.Active {
			return false
		}
		denied, err := deny.Denied(ctx, c.ID, time.Now())
		return err == nil && !denied
	})
	b.Run("HS256/floor", func(b *testing.B) { serve(b, floorStore, s.valid, http.StatusNoContent) })
	b.Run("HS256/auth", func(b *testing.B) { serve(b, a.Middleware(ok), s.valid, http.StatusNoContent) })
}
