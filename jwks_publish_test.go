package auth

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A resource server that never signs verifies this package's tokens
// through the issuer's published JWKS, with every rule of Tokens.Verify.
func TestVerifyingTokensOverPublishedJWKS(t *testing.T) {
	t.Parallel()
	for alg, key := range publicKeys(t) {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			old := newEd25519Key(t, "old")
			issuer := newTokens(t, key, WithVerificationKeys(old))
			h, err := issuer.JWKSHandler()
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			j, err := NewJWKS(srv.URL, WithJWKSLogger(discardLogger()))
			if err != nil {
				t.Fatal(err)
			}
			rs, err := NewVerifyingTokens(nil, WithJWKS(j), WithClock(fixedClock),
				WithIssuer("https://issuer.example"), WithAudience("https://api.example"))
			if err != nil {
				t.Fatal(err)
			}
			access, _, _ := issuer.Issue(AccessToken, testClaims)
			refresh, _, _ := issuer.Issue(RefreshToken, testClaims)
			c, err := rs.Verify(access, AccessToken)
			if err != nil || c.Subject != "user-42" || len(c.Roles) != 2 {
				t.Fatalf("Verify(access) = %+v, %v", c, err)
			}
			if _, err := rs.VerifyAccess(refresh); !errors.Is(err, ErrTokenType) {
				t.Errorf("a refresh token as an access token = %v; want ErrTokenType", err)
			}
			if _, _, err := rs.Issue(AccessToken, testClaims); err == nil {
				t.Error("a verify-only Tokens issued a token")
			}
			otherAud, err := NewVerifyingTokens(nil, WithJWKS(j), WithClock(fixedClock),
				WithIssuer("https://issuer.example"), WithAudience("https://other.example"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := otherAud.Verify(access, AccessToken); !errors.Is(err, ErrTokenClaims) || !strings.Contains(err.Error(), "aud") {
				t.Errorf("another audience = %v; want ErrTokenClaims naming aud", err)
			}
			if got := len(j.KeyIDs()); got != 2 {
				t.Errorf("the published set has %d keys; want the signing key and the verification key", got)
			}
		})
	}
}

func TestNewVerifyingTokens(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	pub, err := NewVerifyingKey("ed", "EdDSA", keys["EdDSA"].verify)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := NewVerifyingTokens([]Key{pub}, WithClock(fixedClock), WithIssuer("https://issuer.example"), WithAudience("https://api.example"))
	if err != nil {
		t.Fatal(err)
	}
	tok, _, _ := newTokens(t, keys["EdDSA"]).Issue(AccessToken, testClaims)
	if _, err := rs.Verify(tok, AccessToken); err != nil {
		t.Errorf("Verify = %v", err)
	}
	hsTok, _, _ := newTokens(t, keys["HS256"]).Issue(AccessToken, testClaims)
	if _, err := rs.Verify(hsTok, AccessToken); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("an HS256 token = %v", err)
	}
	// An Authenticator on it authenticates, but has no handlers that sign.
	a, err := New[Account](rs, NewMemoryUsers(), WithLogger(discardLogger()))
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if _, _, err := a.Authenticate(req); !errors.Is(err, ErrUnknownUser) {
		t.Errorf("Authenticate = %v; want the token verified and the user looked up", err)
	}
	for name, f := range map[string]func(){"LoginHandler": func() { a.LoginHandler() }, "RefreshHandler": func() { a.RefreshHandler() }, "LogoutHandler": func() { a.LogoutHandler() }} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s on a verify-only Tokens did not panic at setup", name)
				}
			}()
			f()
		}()
	}
	for name, keys := range map[string][]Key{"none": nil, "zero": {{}}, "mixed": {pub, keys["HS256"]}, "duplicate": {pub, pub}} {
		if _, err := NewVerifyingTokens(keys); err == nil {
			t.Errorf("NewVerifyingTokens(%s) accepted", name)
		}
	}
	if _, err := NewVerifyingTokens([]Key{pub}, WithRolesClaim("role")); err == nil {
		t.Error("NewVerifyingTokens took an ExternalIssuer-only option")
	}
	if _, err := NewTokens(keys["EdDSA"], WithRequiredTyp("JWT")); err == nil {
		t.Error("NewTokens took an ExternalIssuer-only option")
	}
}

func TestJWKSHandler(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	tk := newTokens(t, keys["ES256"], WithVerificationKeys(keys["EdDSA"], keys["RS256"]))
	h, err := tk.JWKSHandler()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	res, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/jwk-set+json" || res.Header.Get("Cache-Control") != "public, max-age=300" {
		t.Errorf("GET = %d %v", res.StatusCode, res.Header)
	}
	doc := string(body)
	for _, want := range []string{`"kid":"es"`, `"kid":"ed"`, `"kid":"rs"`, `"use":"sig"`, `"alg":"ES256"`, `"alg":"EdDSA"`, `"alg":"RS256"`, `"crv":"P-256"`, `"crv":"Ed25519"`} {
		if !strings.Contains(doc, want) {
			t.Errorf("JWKS %s lacks %s", doc, want)
		}
	}
	if strings.Index(doc, `"kid":"es"`) > strings.Index(doc, `"kid":"ed"`) {
		t.Error("the signing key is not first")
	}
	for _, private := range []string{`"d"`, `"p"`, `"q"`, `"dp"`, `"k"`} {
		if strings.Contains(doc, private+":") {
			t.Errorf("the published JWKS holds %s", private)
		}
	}
	if _, err := ParseJWKS(body); err != nil {
		t.Errorf("ParseJWKS(published) = %v", err)
	}
	req, _ := http.NewRequest("POST", srv.URL, nil)
	res, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 405 || res.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST = %d, Allow %q; want 405", res.StatusCode, res.Header.Get("Allow"))
	}
	if _, err := newTokens(t, keys["HS256"]).JWKSHandler(); err == nil {
		t.Error("an HMAC Tokens published a JWKS")
	}
}
