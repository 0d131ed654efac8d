package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testNow is the fixed clock of the token tests; the foreign vectors were
// minted with iat = testNow - 100 s.
var testNow = time.Unix(1700000100, 0)

func fixedClock() time.Time { return testNow }

func readPrivateKey(t testing.TB, name string) crypto.Signer {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name + ".pem")
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(crypto.Signer)
}

func testSecret(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/hs256.secret")
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.TrimSpace(string(b)))
}

// testKeys returns one signing key per supported algorithm, with the key
// IDs the foreign vectors use.
func testKeys(t testing.TB) map[string]Key {
	t.Helper()
	mk := func(k Key, err error) Key {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	long := make([]byte, 64)
	rand.Read(long)
	return map[string]Key{
		"HS256": mk(NewHMACKey("hs", "HS256", testSecret(t))),
		"HS384": mk(NewHMACKey("hs384", "HS384", long[:48])),
		"HS512": mk(NewHMACKey("hs512", "HS512", long)),
		"RS256": mk(NewSigningKey("rs", "RS256", readPrivateKey(t, "rsa2048"))),
		"PS256": mk(NewSigningKey("ps", "PS256", readPrivateKey(t, "rsa2048"))),
		"ES256": mk(NewSigningKey("es", "ES256", readPrivateKey(t, "p256"))),
		"ES384": mk(NewSigningKey("es384", "ES384", readPrivateKey(t, "p384"))),
		"EdDSA": mk(NewSigningKey("ed", "EdDSA", readPrivateKey(t, "ed25519"))),
	}
}

func newTokens(t testing.TB, key Key, opts ...TokenOption) *Tokens {
	t.Helper()
	opts = append([]TokenOption{WithClock(fixedClock), WithIssuer("https://issuer.example"), WithAudience("https://api.example")}, opts...)
	tk, err := NewTokens(key, opts...)
	if err != nil {
		t.Fatalf("NewTokens: %v", err)
	}
	return tk
}

var testClaims = Claims{
	RegisteredClaims: jwt.RegisteredClaims{Subject: "user-42"},
	Email:            "ada@example.com",
	Name:             "Ada",
	Roles:            []string{"admin", "user"},
	Version:          3,
}

func TestIssueVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	for alg, key := range testKeys(t) {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			tk := newTokens(t, key)
			for _, typ := range []TokenType{AccessToken, RefreshToken} {
				tok, issued, err := tk.Issue(typ, testClaims)
				if err != nil {
					t.Fatalf("Issue(%s): %v", typ, err)
				}
				got, err := tk.Verify(tok, typ)
				if err != nil {
					t.Fatalf("Verify(%s): %v", typ, err)
				}
				if got.Subject != "user-42" || got.Email != "ada@example.com" || got.Name != "Ada" ||
					!slices.Equal(got.Roles, []string{"admin", "user"}) || got.Version != 3 || got.Type != typ {
					t.Errorf("Verify(%s) claims = %+v; want those issued", typ, got)
				}
				if got.ID != issued.ID || len(got.ID) != 22 {
					t.Errorf("jti = %q; want the issued 22-character (128-bit) ID %q", got.ID, issued.ID)
				}
				if !got.IssuedAt.Equal(testNow) || !got.ExpiresAt.Equal(testNow.Add(tk.TTL(typ))) {
					t.Errorf("iat, exp = %v, %v; want %v, +%v", got.IssuedAt, got.ExpiresAt, testNow, tk.TTL(typ))
				}
				other := AccessToken
				if typ == AccessToken {
					other = RefreshToken
				}
				if _, err := tk.Verify(tok, other); !errors.Is(err, ErrTokenType) || !errors.Is(err, ErrInvalidToken) {
					t.Errorf("Verify(%s token as %s) = %v; want ErrTokenType", typ, other, err)
				}
			}
			a, _, _ := tk.Issue(AccessToken, testClaims)
			b, _, _ := tk.Issue(AccessToken, testClaims)
			if a == b {
				t.Error("two tokens issued for the same claims are equal: the jti is not random")
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	tk, err := NewTokens(testKeys(t)["HS256"], WithClock(fixedClock))
	if err != nil {
		t.Fatal(err)
	}
	if tk.TTL(AccessToken) != 15*time.Minute || tk.TTL(RefreshToken) != 7*24*time.Hour {
		t.Errorf("TTLs = %v, %v; want 15m, 168h", tk.TTL(AccessToken), tk.TTL(RefreshToken))
	}
	tok, c, err := tk.Issue(AccessToken, testClaims)
	if err != nil {
		t.Fatal(err)
	}
	h := decodePart(t, tok, 0)
	if h["alg"] != "HS256" || h["typ"] != "at+jwt" || h["kid"] != "hs" || len(h) != 3 {
		t.Errorf("header = %v; want alg HS256, typ at+jwt, kid hs", h)
	}
	if c.Issuer != "" || c.Audience != nil {
		t.Errorf("iss, aud = %q, %v; want none without WithIssuer and WithAudience", c.Issuer, c.Audience)
	}
	r, _, _ := tk.Issue(RefreshToken, testClaims)
	if h := decodePart(t, r, 0); h["typ"] != "refresh+jwt" {
		t.Errorf("refresh header = %v; want typ refresh+jwt", h)
	}
	if p := decodePart(t, r, 1); p["type"] != "refresh" {
		t.Errorf("refresh claims = %v; want type refresh", p)
	}
}

func decodePart(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// Tokens minted by PyJWT with the same keys verify (testdata/gen_vectors.py).
func TestVerifyForeignTokens(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/foreign_tokens.json")
	if err != nil {
		t.Fatal(err)
	}
	var vectors struct {
		Tokens []struct{ Alg, Kid, Type, Token string }
	}
	if err := json.Unmarshal(b, &vectors); err != nil {
		t.Fatal(err)
	}
	keys := testKeys(t)
	for _, v := range vectors.Tokens {
		t.Run(v.Alg+"/"+v.Type, func(t *testing.T) {
			t.Parallel()
			tk := newTokens(t, keys[v.Alg])
			c, err := tk.Verify(v.Token, TokenType(v.Type))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.Subject != "user-42" || c.ID != "fixed-jti-0001" || c.Email != "ada@example.com" ||
				!slices.Equal(c.Roles, []string{"admin", "user"}) || c.Version != 3 {
				t.Errorf("claims = %+v", c)
			}
		})
	}
	if len(vectors.Tokens) != 6 {
		t.Errorf("%d vectors; want 6", len(vectors.Tokens))
	}
}

// Tokens we mint verify under the plain RFC 7515 rules, checked here with
// the standard library alone, as another implementation would.
func TestTokensVerifyElsewhere(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	for alg, key := range keys {
		t.Run(alg, func(t *testing.T) {
			t.Parallel()
			tok, _, err := newTokens(t, key).Issue(AccessToken, testClaims)
			if err != nil {
				t.Fatal(err)
			}
			parts := strings.Split(tok, ".")
			input := []byte(parts[0] + "." + parts[1])
			sig, err := base64.RawURLEncoding.DecodeString(parts[2])
			if err != nil {
				t.Fatal(err)
			}
			if !stdlibVerify(alg, key, input, sig) {
				t.Errorf("the standard library does not verify our %s token", alg)
			}
			if h := decodePart(t, tok, 0); h["alg"] != alg {
				t.Errorf("header alg = %v; want %s", h["alg"], alg)
			}
		})
	}
}

func stdlibVerify(alg string, key Key, input, sig []byte) bool {
	hashOf := func(h crypto.Hash) []byte { d := h.New(); d.Write(input); return d.Sum(nil) }
	switch alg {
	case "HS256", "HS384", "HS512":
		h := map[string]crypto.Hash{"HS256": crypto.SHA256, "HS384": crypto.SHA384, "HS512": crypto.SHA512}[alg]
		m := hmac.New(h.New, key.sign.([]byte))
		m.Write(input)
		return hmac.Equal(m.Sum(nil), sig)
	case "RS256":
		return rsa.VerifyPKCS1v15(key.verify.(*rsa.PublicKey), crypto.SHA256, hashOf(crypto.SHA256), sig) == nil
	case "PS256":
		return rsa.VerifyPSS(key.verify.(*rsa.PublicKey), crypto.SHA256, hashOf(crypto.SHA256), sig, nil) == nil
	case "ES256", "ES384":
		h, n := crypto.SHA256, 32
		if alg == "ES384" {
			h, n = crypto.SHA384, 48
		}
		if len(sig) != 2*n {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
		return ecdsa.Verify(key.verify.(*ecdsa.PublicKey), hashOf(h), r, s)
	case "EdDSA":
		return ed25519.Verify(key.verify.(ed25519.PublicKey), input, sig)
	}
	return false
}

// The examples of RFC 7515 A.1 (HS256) and RFC 8037 A.4 (Ed25519) check the
// signature layer; as whole tokens they lack what Verify requires.
func TestRFCVectors(t *testing.T) {
	t.Parallel()
	b64d := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	hs, err := NewHMACKey("", "HS256", b64d("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"))
	if err != nil {
		t.Fatal(err)
	}
	ed, err := NewSigningKey("", "EdDSA", ed25519.NewKeyFromSeed(b64d("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")))
	if err != nil {
		t.Fatal(err)
	}
	if got := base64.RawURLEncoding.EncodeToString(ed.verify.(ed25519.PublicKey)); got != "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" {
		t.Fatalf("RFC 8037 public key = %s", got)
	}
	for _, v := range []struct {
		name  string
		key   Key
		token string
	}{
		{"RFC 7515 A.1", hs, "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"},
		{"RFC 8037 A.4", ed, "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"},
	} {
		i := strings.LastIndexByte(v.token, '.')
		sig, err := v.key.method.Sign(v.token[:i], v.key.sign)
		if err != nil {
			t.Fatal(err)
		}
		if got := base64.RawURLEncoding.EncodeToString(sig); got != v.token[i+1:] {
			t.Errorf("%s: signature = %s; want %s", v.name, got, v.token[i+1:])
		}
		if err := v.key.method.Verify(v.token[:i], b64d(v.token[i+1:]), v.key.verify); err != nil {
			t.Errorf("%s: Verify = %v", v.name, err)
		}
		tk, err := NewTokens(v.key, WithClock(fixedClock))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tk.Verify(v.token, AccessToken); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: Tokens.Verify = %v; want a rejection (no typ, no type claim)", v.name, err)
		}
	}
}

// A refresh token is signed with a key derived from the secret: a service
// that shares the secret but skips the type check still rejects it.
func TestRefreshTokenKeyIsDerived(t *testing.T) {
	t.Parallel()
	key := testKeys(t)["HS256"]
	tk := newTokens(t, key)
	r, _, err := tk.Issue(RefreshToken, testClaims)
	if err != nil {
		t.Fatal(err)
	}
	i := strings.LastIndexByte(r, '.')
	sig, _ := base64.RawURLEncoding.DecodeString(r[i+1:])
	if stdlibVerify("HS256", key, []byte(r[:i]), sig) {
		t.Error("a refresh token verifies with the shared secret itself")
	}
	naive, err := jwt.Parse(r, func(*jwt.Token) (any, error) { return testSecret(t), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(fixedClock))
	if err == nil || naive.Valid {
		t.Error("golang-jwt with the shared secret accepts our refresh token")
	}
}

// forge builds a token from raw header and claims JSON, signed with the
// real HMAC key of kind typ, so that each case tests one rule on its own.
func forge(t testing.TB, key Key, typ TokenType, header, claims string) string {
	t.Helper()
	input := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(claims))
	k := key.sign
	if typ == RefreshToken {
		k = key.refreshSign
	}
	sig, err := key.method.Sign(input, k)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64.EncodeToString(sig)
}

// Claims JSON with the times of testNow; fields can be replaced with strings.Replace.
const (
	goodHeader = `{"alg":"HS256","typ":"at+jwt","kid":"hs"}`
	goodClaims = `{"sub":"user-42","iat":1700000000,"exp":1700000900,"jti":"j1","iss":"https://issuer.example","aud":"https://api.example","type":"access"}`
)

func claimsWith(old, new string) string { return strings.Replace(goodClaims, old, new, 1) }
func headerWith(old, new string) string { return strings.Replace(goodHeader, old, new, 1) }

func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	key := keys["HS256"]
	tk := newTokens(t, key)
	good := forge(t, key, AccessToken, goodHeader, goodClaims)
	if _, err := tk.Verify(good, AccessToken); err != nil {
		t.Fatalf("the base token of this table does not verify: %v", err)
	}
	h, p, s := splitToken(good)
	hs384, _ := NewHMACKey("hs", "HS384", append(testSecret(t), make([]byte, 16)...))
	pubDER, _ := x509.MarshalPKIXPublicKey(keys["EdDSA"].verify)

	tests := []struct {
		name  string
		token string
		want  error
	}{
		// Shape, checked before any decoding.
		{"empty", "", ErrMalformedToken},
		{"one part", h, ErrMalformedToken},
		{"two parts", h + "." + p, ErrMalformedToken},
		{"four parts", good + "." + s, ErrMalformedToken},
		{"JWE, five parts", h + ".." + p + "." + s + "." + s, ErrMalformedToken},
		{"dots only", "..", ErrMalformedToken},
		{"three dots", "...", ErrMalformedToken},
		{"a.b.c.d", "a.b.c.d", ErrMalformedToken},
		{"1 MiB of dots", strings.Repeat(".", 1<<20), ErrMalformedToken},
		{"4097 bytes", h + "." + strings.Repeat("A", 4097-len(h)-len(s)-2) + "." + s, ErrMalformedToken},
		{"space", h + " ." + p + "." + s, ErrMalformedToken},
		{"plus and slash", strings.ReplaceAll(strings.ReplaceAll(good, "-", "+"), "_", "/") + "+/", ErrMalformedToken},
		{"padding", h + "==." + p + "." + s, ErrMalformedToken},
		{"CR LF", good + "\r\n", ErrMalformedToken},
		{"non-ASCII", good + "é", ErrMalformedToken},
		{"quote", `"` + good + `"`, ErrMalformedToken},
		{"JSON serialization", `{"payload":"` + p + `","signatures":[{"protected":"` + h + `","signature":"` + s + `"}]}`, ErrMalformedToken},
		{"raw JSON claims", goodClaims, ErrMalformedToken},
		{"empty signature", h + "." + p + ".", ErrMalformedToken},
		{"empty header", "." + p + "." + s, ErrMalformedToken},
		{"empty payload", h + ".." + s, ErrMalformedToken},

		// Signature.
		{"alg none, no signature", forgeUnsigned(`{"alg":"none","typ":"at+jwt","kid":"hs"}`, goodClaims), ErrMalformedToken},
		{"alg none, signature kept", b64.EncodeToString([]byte(`{"alg":"none","typ":"at+jwt","kid":"hs"}`)) + "." + p + "." + s, ErrTokenSignature},
		{"alg None", forge(t, key, AccessToken, headerWith("HS256", "None"), goodClaims), ErrTokenSignature},
		{"alg NONE", forge(t, key, AccessToken, headerWith("HS256", "NONE"), goodClaims), ErrTokenSignature},
		{"alg nOnE", forge(t, key, AccessToken, headerWith("HS256", "nOnE"), goodClaims), ErrTokenSignature},
		{"alg hs256", forge(t, key, AccessToken, headerWith("HS256", "hs256"), goodClaims), ErrTokenSignature},
		{"alg with space", forge(t, key, AccessToken, headerWith("HS256", "HS256 "), goodClaims), ErrTokenSignature},
		{"alg HS1024", forge(t, key, AccessToken, headerWith("HS256", "HS1024"), goodClaims), ErrTokenSignature},
		{"alg missing", forge(t, key, AccessToken, `{"typ":"at+jwt","kid":"hs"}`, goodClaims), ErrMalformedToken},
		{"alg empty", forge(t, key, AccessToken, headerWith("HS256", ""), goodClaims), ErrMalformedToken},
		{"alg a number", forge(t, key, AccessToken, `{"alg":256,"typ":"at+jwt","kid":"hs"}`, goodClaims), ErrMalformedToken},
		{"alg an array", forge(t, key, AccessToken, `{"alg":["HS256"],"typ":"at+jwt","kid":"hs"}`, goodClaims), ErrMalformedToken},
		{"HS384 token, HS256 key", forge(t, hs384, AccessToken, headerWith("HS256", "HS384"), goodClaims), ErrTokenSignature},
		{"truncated signature", h + "." + p + "." + b64.EncodeToString(mustDecode(t, s)[:16]), ErrTokenSignature},
		{"extended signature", good + "AAAA", ErrTokenSignature},
		{"doubled signature", good + s, ErrMalformedToken},
		{"signature bits tweaked", h + "." + p + "." + tweakLastChar(s), ErrMalformedToken},
		{"payload tampered", h + "." + b64.EncodeToString([]byte(claimsWith("user-42", "user-43"))) + "." + s, ErrTokenSignature},
		{"header tampered", b64.EncodeToString([]byte(headerWith(`"kid":"hs"`, `"kid":"hs" `))) + "." + p + "." + s, ErrTokenSignature},
		{"HS256 signed with the EdDSA public key", forge(t, mustHMAC(t, keys["EdDSA"].verify.(ed25519.PublicKey)), AccessToken, goodHeader, goodClaims), ErrTokenSignature},
		{"HS256 signed with the public key in DER", forge(t, mustHMAC(t, pubDER), AccessToken, goodHeader, goodClaims), ErrTokenSignature},
		{"expired and forged", h + "." + b64.EncodeToString([]byte(claimsWith("1700000900", "1600000000"))) + "." + s, ErrTokenSignature},

		// Header members.
		{"embedded jwk", forge(t, key, AccessToken, headerWith(`"kid":"hs"`, `"kid":"hs","jwk":{"kty":"oct","k":"AAAA"}`), goodClaims), ErrMalformedToken},
		{"jku", forge(t, key, AccessToken, headerWith(`"kid":"hs"`, `"kid":"hs","jku":"http://127.0.0.1/keys"`), goodClaims), ErrMalformedToken},
		{"x5u", forge(t, key, AccessToken, headerWith(`"kid":"hs"`, `"kid":"hs","x5u":"http://127.0.0.1/cert"`), goodClaims), ErrMalformedToken},
		{"x5c", forge(t, key, AccessToken, headerWith(`"kid":"hs"`, `"kid":"hs","x5c":["MIIB"]`), goodClaims), ErrMalformedToken},
		{"x5t", forge(t, key, AccessToken, headerWith(`"kid":"hs"`, `"kid":"hs","x5t":"AAAA"`), goodClaims), ErrMalformedToken},
		{"crit unknown", forge(t, key, AccessToken, headerWith(`"kid":"hs"`, `"kid":"hs","crit":["exp2"],"exp2":1`), goodClaims), ErrMalformedToken},
		{"crit empty", forge(t, key, AccessToken, headerWith(`"kid":"hs"`, `"kid":"hs","crit":[]`), goodClaims), ErrMalformedToken},
		{"crit b64", forge(t, key, AccessToken, headerWith(`"kid":"hs"`, `"kid":"hs","crit":["b64"],"b64":false`), goodClaims), ErrMalformedToken},
		{"ALG in capitals", forge(t, key, AccessToken, `{"ALG":"HS256","typ":"at+jwt","kid":"hs"}`, goodClaims), ErrMalformedToken},
		{"kid unknown", forge(t, key, AccessToken, headerWith(`"hs"}`, `"hs2"}`), goodClaims), ErrUnknownKey},
		{"kid path", forge(t, key, AccessToken, headerWith(`"hs"}`, `"../../dev/null"}`), goodClaims), ErrUnknownKey},
		{"kid SQL", forge(t, key, AccessToken, headerWith(`"hs"}`, `"' OR 1=1--"}`), goodClaims), ErrUnknownKey},
		{"kid a number", forge(t, key, AccessToken, headerWith(`"hs"}`, `7}`), goodClaims), ErrMalformedToken},
		{"kid missing", forge(t, key, AccessToken, `{"alg":"HS256","typ":"at+jwt"}`, goodClaims), ErrUnknownKey},
		{"typ missing", forge(t, key, AccessToken, `{"alg":"HS256","kid":"hs"}`, goodClaims), ErrTokenType},
		{"typ JWT", forge(t, key, AccessToken, headerWith("at+jwt", "JWT"), goodClaims), ErrTokenType},
		{"typ refresh", forge(t, key, AccessToken, headerWith("at+jwt", "refresh+jwt"), goodClaims), ErrTokenType},
		{"typ at+jwt, type refresh", forge(t, key, AccessToken, goodHeader, claimsWith(`"access"`, `"refresh"`)), ErrTokenType},
		{"type missing", forge(t, key, AccessToken, goodHeader, claimsWith(`,"type":"access"`, ``)), ErrTokenType},
		{"type in capitals", forge(t, key, AccessToken, goodHeader, claimsWith(`"access"`, `"Access"`)), ErrTokenType},

		// Header and claims encoding.
		{"header not JSON", forge(t, key, AccessToken, `alg=HS256`, goodClaims), ErrMalformedToken},
		{"header an array", forge(t, key, AccessToken, `["HS256"]`, goodClaims), ErrMalformedToken},
		{"header null", forge(t, key, AccessToken, `null`, goodClaims), ErrMalformedToken},
		{"header invalid UTF-8", forge(t, key, AccessToken, headerWith(`"hs"`, "\"h\xffs\""), goodClaims), ErrMalformedToken},
		{"claims not JSON", forge(t, key, AccessToken, goodHeader, `sub=user-42`), ErrMalformedToken},
		{"claims an array", forge(t, key, AccessToken, goodHeader, `[`+goodClaims+`]`), ErrMalformedToken},
		{"claims null", forge(t, key, AccessToken, goodHeader, `null`), ErrMalformedToken},
		{"claims a number", forge(t, key, AccessToken, goodHeader, `42`), ErrMalformedToken},
		{"claims invalid UTF-8", forge(t, key, AccessToken, goodHeader, claimsWith("user-42", "user-4\xff")), ErrMalformedToken},
		{"roles a string", forge(t, key, AccessToken, goodHeader, claimsWith(`"sub"`, `"roles":"admin","sub"`)), ErrMalformedToken},

		// Claims.
		{"exp missing", forge(t, key, AccessToken, goodHeader, claimsWith(`"exp":1700000900,`, ``)), ErrTokenClaims},
		{"exp 0", forge(t, key, AccessToken, goodHeader, claimsWith("1700000900", "0")), ErrTokenExpired},
		{"exp -1", forge(t, key, AccessToken, goodHeader, claimsWith("1700000900", "-1")), ErrMalformedToken},
		{"exp 1e300", forge(t, key, AccessToken, goodHeader, claimsWith("1700000900", "1e300")), ErrMalformedToken},
		{"exp a string", forge(t, key, AccessToken, goodHeader, claimsWith("1700000900", `"1700000900"`)), ErrMalformedToken},
		{"iat a string", forge(t, key, AccessToken, goodHeader, claimsWith("1700000000", `"1700000000"`)), ErrMalformedToken},
		{"nbf a string", forge(t, key, AccessToken, goodHeader, claimsWith(`"sub"`, `"nbf":"1700000000","sub"`)), ErrMalformedToken},
		{"exp an object", forge(t, key, AccessToken, goodHeader, claimsWith("1700000900", `{}`)), ErrMalformedToken},
		{"expired past leeway", forge(t, key, AccessToken, goodHeader, claimsWith("1700000900", "1700000069")), ErrTokenExpired},
		{"nbf beyond leeway", forge(t, key, AccessToken, goodHeader, claimsWith(`"sub"`, `"nbf":1700000131,"sub"`)), ErrTokenClaims},
		{"iat beyond leeway", forge(t, key, AccessToken, goodHeader, claimsWith("1700000000", "1700000131")), ErrTokenClaims},
		{"iat missing", forge(t, key, AccessToken, goodHeader, claimsWith(`"iat":1700000000,`, ``)), ErrTokenClaims},
		{"sub missing", forge(t, key, AccessToken, goodHeader, claimsWith(`"sub":"user-42",`, ``)), ErrTokenClaims},
		{"sub empty", forge(t, key, AccessToken, goodHeader, claimsWith(`"user-42"`, `""`)), ErrTokenClaims},
		{"jti missing", forge(t, key, AccessToken, goodHeader, claimsWith(`"jti":"j1",`, ``)), ErrTokenClaims},
		{"iss missing", forge(t, key, AccessToken, goodHeader, claimsWith(`"iss":"https://issuer.example",`, ``)), ErrTokenClaims},
		{"iss other", forge(t, key, AccessToken, goodHeader, claimsWith(`issuer.example`, `evil.example`)), ErrTokenClaims},
		{"iss case variant", forge(t, key, AccessToken, goodHeader, claimsWith(`issuer.example`, `Issuer.example`)), ErrTokenClaims},
		{"iss trailing slash", forge(t, key, AccessToken, goodHeader, claimsWith(`issuer.example"`, `issuer.example/"`)), ErrTokenClaims},
		{"aud missing", forge(t, key, AccessToken, goodHeader, claimsWith(`"aud":"https://api.example",`, ``)), ErrTokenClaims},
		{"aud other", forge(t, key, AccessToken, goodHeader, claimsWith(`"https://api.example"`, `"https://evil.example"`)), ErrTokenClaims},
		{"aud empty array", forge(t, key, AccessToken, goodHeader, claimsWith(`"https://api.example"`, `[]`)), ErrTokenClaims},
		{"aud array without us", forge(t, key, AccessToken, goodHeader, claimsWith(`"https://api.example"`, `["a","b"]`)), ErrTokenClaims},
		{"aud number in array", forge(t, key, AccessToken, goodHeader, claimsWith(`"https://api.example"`, `[123]`)), ErrMalformedToken},
		{"aud null", forge(t, key, AccessToken, goodHeader, claimsWith(`"https://api.example"`, `null`)), ErrTokenClaims},
		{"aud of refresh tokens", forge(t, key, AccessToken, goodHeader, claimsWith(`"https://api.example"`, `"https://api.example#refresh"`)), ErrTokenClaims},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := tk.Verify(tt.token, AccessToken)
			if !errors.Is(err, ErrInvalidToken) || !errors.Is(err, tt.want) || c != nil {
				t.Fatalf("Verify = %v, %v; want nil, %v", c, err, tt.want)
			}
			assertNoSecret(t, err.Error(), tt.token)
		})
	}
}

// The table's accepted neighbours: these differ from rejected rows by one
// rule, and must pass.
func TestVerifyAccepts(t *testing.T) {
	t.Parallel()
	key := testKeys(t)["HS256"]
	tk := newTokens(t, key)
	tests := []struct{ name, header, claims string }{
		{"typ application/at+jwt", headerWith("at+jwt", "application/at+jwt"), goodClaims},
		{"typ AT+JWT", headerWith("at+jwt", "AT+JWT"), goodClaims},
		{"typ Application/AT+jwt", headerWith("at+jwt", "Application/AT+jwt"), goodClaims},
		{"aud in an array", goodHeader, claimsWith(`"https://api.example"`, `["x","https://api.example"]`)},
		{"expired within leeway", goodHeader, claimsWith("1700000900", "1700000080")},
		{"nbf within leeway", goodHeader, claimsWith(`"sub"`, `"nbf":1700000129,"sub"`)},
		{"iat within leeway", goodHeader, claimsWith("1700000000", "1700000129")},
		{"unknown claims ignored", goodHeader, claimsWith(`"sub"`, `"tenant":{"id":1},"sub"`)},
		{"header members in another order", `{"kid":"hs","typ":"at+jwt","alg":"HS256"}`, goodClaims},
	}
	for _, tt := range tests {
		if _, err := tk.Verify(forge(t, key, AccessToken, tt.header, tt.claims), AccessToken); err != nil {
			t.Errorf("%s: Verify = %v; want nil", tt.name, err)
		}
	}
}

func TestExpiryBoundaries(t *testing.T) {
	t.Parallel()
	key := testKeys(t)["HS256"]
	now := testNow
	clock := func() time.Time { return now }
	tests := []struct {
		name   string
		leeway time.Duration
		after  time.Duration // time since issue
		ok     bool
	}{
		{"just before exp", 30 * time.Second, 15*time.Minute - time.Second, true},
		{"10 s past exp, leeway 30 s", 30 * time.Second, 15*time.Minute + 10*time.Second, true},
		{"1 s past exp + leeway", 30 * time.Second, 15*time.Minute + 31*time.Second, false},
		{"at exp, leeway 0", 0, 15 * time.Minute, false},
	}
	for _, tt := range tests {
		now = testNow
		tk, err := NewTokens(key, WithClock(clock), WithLeeway(tt.leeway))
		if err != nil {
			t.Fatal(err)
		}
		tok, _, _ := tk.Issue(AccessToken, testClaims)
		now = testNow.Add(tt.after)
		_, err = tk.Verify(tok, AccessToken)
		if (err == nil) != tt.ok || !tt.ok && !errors.Is(err, ErrTokenExpired) {
			t.Errorf("%s: Verify = %v; want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	secret := testSecret(t)
	old, _ := NewHMACKey("2025", "HS256", secret)
	cur, err := NewHMACKey("2026", "HS512", append(append([]byte(nil), secret...), "-hs512-0f3a9c2d7b1e"...))
	if err != nil {
		t.Fatal(err)
	}
	before := newTokens(t, old)
	after := newTokens(t, cur, WithVerificationKeys(old))
	tok, _, _ := before.Issue(AccessToken, testClaims)
	if _, err := after.Verify(tok, AccessToken); err != nil {
		t.Errorf("a token of the previous key: Verify = %v; want nil", err)
	}
	fresh, _, _ := after.Issue(AccessToken, testClaims)
	if h := decodePart(t, fresh, 0); h["kid"] != "2026" || h["alg"] != "HS512" {
		t.Errorf("new tokens are signed with %v; want the current key", h)
	}
	if _, err := newTokens(t, cur).Verify(tok, AccessToken); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("a retired key's token: Verify = %v; want ErrUnknownKey", err)
	}
	// A token naming the current key but signed with the old one.
	lying := forge(t, old, AccessToken, `{"alg":"HS512","typ":"at+jwt","kid":"2026"}`, goodClaims)
	if _, err := after.Verify(lying, AccessToken); !errors.Is(err, ErrTokenSignature) {
		t.Errorf("kid of one key, signature of another: Verify = %v; want ErrTokenSignature", err)
	}
	// Each key keeps its algorithm: HS256 under the HS512 key's ID fails.
	swapped := forge(t, old, AccessToken, `{"alg":"HS256","typ":"at+jwt","kid":"2026"}`, goodClaims)
	if _, err := after.Verify(swapped, AccessToken); !errors.Is(err, ErrTokenSignature) {
		t.Errorf("another key's algorithm: Verify = %v; want ErrTokenSignature", err)
	}
}

// Public-key verifiers never take a token the attacker signed with HMAC,
// whatever form of the public key served as the secret.
func TestAlgorithmConfusion(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	for _, alg := range []string{"RS256", "ES256", "EdDSA"} {
		key := keys[alg]
		tk := newTokens(t, key)
		der, _ := x509.MarshalPKIXPublicKey(key.verify)
		pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		for form, secret := range map[string][]byte{"DER": der, "PEM": pemKey} {
			hk := mustHMAC(t, secret)
			tok := forge(t, hk, AccessToken, `{"alg":"HS256","typ":"at+jwt","kid":"`+key.id+`"}`, goodClaims)
			if _, err := tk.Verify(tok, AccessToken); !errors.Is(err, ErrTokenSignature) {
				t.Errorf("%s verifier, HS256 token keyed with the %s public key: Verify = %v; want ErrTokenSignature", alg, form, err)
			}
		}
	}
	// ES256 malleability: (r, n-s) verifies under Go's ecdsa, but the token
	// is only as good as its jti (state is never keyed by the token string).
	es := newTokens(t, keys["ES256"])
	tok, c, _ := es.Issue(AccessToken, testClaims)
	h, p, s := splitToken(tok)
	sig, _ := b64.DecodeString(s)
	n := elliptic.P256().Params().N
	sNeg := new(big.Int).Sub(n, new(big.Int).SetBytes(sig[32:]))
	mall := append(sig[:32:32], sNeg.FillBytes(make([]byte, 32))...)
	if got, err := es.Verify(h+"."+p+"."+b64.EncodeToString(mall), AccessToken); err == nil && got.ID != c.ID {
		t.Errorf("a malleated signature verified with another jti")
	}
}

func mustHMAC(t testing.TB, secret []byte) Key {
	t.Helper()
	if len(secret) < 32 {
		secret = append(append([]byte(nil), secret...), make([]byte, 32-len(secret))...)
	}
	k, err := NewHMACKey("hs", "HS256", secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func splitToken(tok string) (h, p, s string) {
	parts := strings.SplitN(tok, ".", 3)
	return parts[0], parts[1], parts[2]
}

func mustDecode(t testing.TB, seg string) []byte {
	t.Helper()
	b, err := b64.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func forgeUnsigned(header, claims string) string {
	return b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(claims)) + "."
}

// tweakLastChar changes the unused low bits of the last base64 character: a
// different string for the same bytes, unless decoding is strict.
func tweakLastChar(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[last^1])
}

// assertNoSecret fails if msg contains any 8-byte run of secret.
func assertNoSecret(t testing.TB, msg, secret string) {
	t.Helper()
	for i := 0; i+8 <= len(secret); i++ {
		if run := secret[i : i+8]; strings.Trim(run, ".") == run && strings.Contains(msg, run) {
			t.Fatalf("message %q contains part of a secret (%q)", msg, run)
		}
	}
}

func TestNewTokensRejects(t *testing.T) {
	t.Parallel()
	keys := testKeys(t)
	hs := keys["HS256"]
	verifyOnly, _ := NewVerifyingKey("v", "EdDSA", keys["EdDSA"].verify)
	tests := []struct {
		name string
		key  Key
		opts []TokenOption
	}{
		{"zero key", Key{}, nil},
		{"verification-only key", verifyOnly, nil},
		{"access TTL 0", hs, []TokenOption{WithAccessTTL(0)}},
		{"access TTL over 1 h", hs, []TokenOption{WithAccessTTL(61 * time.Minute)}},
		{"refresh TTL below access", hs, []TokenOption{WithAccessTTL(30 * time.Minute), WithRefreshTTL(10 * time.Minute)}},
		{"refresh TTL over 90 days", hs, []TokenOption{WithRefreshTTL(91 * 24 * time.Hour)}},
		{"negative leeway", hs, []TokenOption{WithLeeway(-time.Second)}},
		{"leeway over 2 min", hs, []TokenOption{WithLeeway(121 * time.Second)}},
		{"max token size 10", hs, []TokenOption{WithMaxTokenSize(10)}},
		{"max token size 1 MiB", hs, []TokenOption{WithMaxTokenSize(1 << 20)}},
		{"nil clock", hs, []TokenOption{WithClock(nil)}},
		{"HMAC and EdDSA mixed", hs, []TokenOption{WithVerificationKeys(keys["EdDSA"])}},
		{"EdDSA and HMAC mixed", keys["EdDSA"], []TokenOption{WithVerificationKeys(hs)}},
		{"duplicate key ID", hs, []TokenOption{WithVerificationKeys(mustHMAC(t, []byte(GenerateSecret())))}},
		{"zero verification key", hs, []TokenOption{WithVerificationKeys(Key{})}},
	}
	for _, tt := range tests {
		if tk, err := NewTokens(tt.key, tt.opts...); err == nil || tk != nil {
			t.Errorf("%s: NewTokens = %v, %v; want an error", tt.name, tk, err)
		}
	}
	if _, err := NewTokens(keys["EdDSA"], WithVerificationKeys(keys["ES256"], keys["RS256"])); err != nil {
		t.Errorf("public-key algorithms together: NewTokens = %v; want nil", err)
	}
}

func TestKeyConstructorsReject(t *testing.T) {
	t.Parallel()
	rsa1024 := readPrivateKey(t, "rsa1024")
	p384 := readPrivateKey(t, "p384")
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	ed := readPrivateKey(t, "ed25519")
	secret := []byte(GenerateSecret() + GenerateSecret()) // strong: each row fails for its own reason
	tests := []struct {
		name string
		make func() (Key, error)
	}{
		{"HS256 empty secret", func() (Key, error) { return NewHMACKey("", "HS256", nil) }},
		{"HS256 16 bytes", func() (Key, error) { return NewHMACKey("", "HS256", secret[:16]) }},
		{"HS256 31 bytes", func() (Key, error) { return NewHMACKey("", "HS256", secret[:31]) }},
		{"HS384 32 bytes", func() (Key, error) { return NewHMACKey("", "HS384", secret[:32]) }},
		{"HS512 32 bytes", func() (Key, error) { return NewHMACKey("", "HS512", secret[:32]) }},
		{"HMAC alg none", func() (Key, error) { return NewHMACKey("", "none", secret) }},
		{"HMAC alg RS256", func() (Key, error) { return NewHMACKey("", "RS256", secret) }},
		{"RSA 1024 bits", func() (Key, error) { return NewSigningKey("", "RS256", rsa1024) }},
		{"ES256 with P-384", func() (Key, error) { return NewSigningKey("", "ES256", p384) }},
		{"ES256 with P-224", func() (Key, error) { return NewSigningKey("", "ES256", p224) }},
		{"EdDSA with RSA", func() (Key, error) { return NewSigningKey("", "EdDSA", readPrivateKey(t, "rsa2048")) }},
		{"RS256 with Ed25519", func() (Key, error) { return NewSigningKey("", "RS256", ed) }},
		{"alg none", func() (Key, error) { return NewSigningKey("", "none", ed) }},
		{"nil signer", func() (Key, error) { return NewSigningKey("", "EdDSA", nil) }},
		{"short Ed25519 public key", func() (Key, error) { return NewVerifyingKey("", "EdDSA", ed25519.PublicKey{1, 2, 3}) }},
		{"key ID with slash", func() (Key, error) { return NewHMACKey("../k", "HS256", secret) }},
		{"key ID with quote", func() (Key, error) { return NewHMACKey(`k"`, "HS256", secret) }},
		{"key ID over 128 bytes", func() (Key, error) { return NewHMACKey(strings.Repeat("k", 129), "HS256", secret) }},
	}
	for _, tt := range tests {
		k, err := tt.make()
		if err == nil || k.method != nil {
			t.Errorf("%s: got a key, err %v; want an error", tt.name, err)
			continue
		}
		assertNoSecret(t, err.Error(), string(secret))
	}
}

func TestHMACKeyFromEnv(t *testing.T) {
	const name = "AUTH_TEST_SECRET"
	t.Setenv(name, "")
	if _, err := HMACKeyFromEnv(name); err == nil || !strings.Contains(err.Error(), name) {
		t.Errorf("unset: err = %v; want one naming %s", err, name)
	}
	short := "short-secret-value-0123456789ab" // 31 bytes
	t.Setenv(name, short)
	_, err := HMACKeyFromEnv(name)
	if err == nil {
		t.Fatal("31-byte secret accepted")
	}
	assertNoSecret(t, err.Error(), short)
	secret := GenerateSecret()
	t.Setenv(name, secret)
	k, err := HMACKeyFromEnv(name)
	if err != nil || k.Algorithm() != "HS256" || k.ID() != "" || string(k.sign.([]byte)) != secret {
		t.Errorf("HMACKeyFromEnv = %v, %v; want an HS256 key of the variable's bytes", k.Algorithm(), err)
	}
}

func TestGenerateSecret(t *testing.T) {
	t.Parallel()
	a, b := GenerateSecret(), GenerateSecret()
	raw, err := base64.RawURLEncoding.DecodeString(a)
	if err != nil || len(raw) != 32 || len(a) != 43 {
		t.Errorf("GenerateSecret = %q (%d bytes, %v); want 43 base64url characters of 32 bytes", a, len(raw), err)
	}
	if a == b {
		t.Error("two secrets are equal")
	}
}

func TestIssueRejects(t *testing.T) {
	t.Parallel()
	tk := newTokens(t, testKeys(t)["HS256"])
	if _, _, err := tk.Issue(AccessToken, Claims{}); err == nil {
		t.Error("Issue without a subject succeeded")
	}
	if _, _, err := tk.Issue("id", testClaims); err == nil {
		t.Error("Issue of an unknown type succeeded")
	}
	if _, err := tk.Verify("x", "id"); !errors.Is(err, ErrTokenType) {
		t.Errorf("Verify for an unknown type = %v; want ErrTokenType", err)
	}
	// The issuer owns iss, aud, type, iat, exp and jti: values from the
	// caller's claims are replaced.
	c := testClaims
	c.Issuer, c.Audience, c.ID, c.Type = "evil", jwt.ClaimStrings{"evil"}, "chosen", RefreshToken
	c.ExpiresAt = jwt.NewNumericDate(testNow.Add(100 * 24 * time.Hour))
	tok, got, err := tk.Issue(AccessToken, c)
	if err != nil {
		t.Fatal(err)
	}
	if got.Issuer != "https://issuer.example" || got.Audience[0] != "https://api.example" || got.ID == "chosen" ||
		got.Type != AccessToken || !got.ExpiresAt.Equal(testNow.Add(15*time.Minute)) {
		t.Errorf("Issue kept caller-set claims: %+v", got)
	}
	if _, err := tk.Verify(tok, AccessToken); err != nil {
		t.Error(err)
	}
}

func FuzzVerify(f *testing.F) {
	key := testKeys(f)["HS256"]
	tk := newTokens(f, key)
	// Deterministic tokens: the fuzz workers rebuild this map themselves.
	good := forge(f, key, AccessToken, goodHeader, goodClaims)
	refresh := forge(f, key, RefreshToken, headerWith("at+jwt", "refresh+jwt"),
		claimsWith(`"https://api.example","type":"access"`, `"https://api.example#refresh","type":"refresh"`))
	valid := map[string]TokenType{good: AccessToken, refresh: RefreshToken}
	if _, err := tk.Verify(refresh, RefreshToken); err != nil {
		f.Fatalf("the refresh seed does not verify: %v", err)
	}
	f.Add(refresh)
	for _, s := range []string{good, "", "..", "a.b.c", forgeUnsigned(`{"alg":"none"}`, goodClaims),
		forge(f, key, AccessToken, headerWith(`"kid":"hs"`, `"kid":"hs","crit":["x"]`), goodClaims)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		for _, typ := range []TokenType{AccessToken, RefreshToken} {
			c, err := tk.Verify(tok, typ)
			if err != nil {
				if !errors.Is(err, ErrInvalidToken) || c != nil {
					t.Fatalf("Verify(%q) = %v, %v; want nil and an ErrInvalidToken", tok, c, err)
				}
				continue
			}
			// HMAC signatures are deterministic and decoding is strict, so
			// the only tokens that can verify are the ones signed above.
			if want, ok := valid[tok]; !ok || want != typ || c.Type != typ {
				t.Fatalf("Verify accepted %q as %s", tok, typ)
			}
		}
	})
}

func BenchmarkIssue(b *testing.B) {
	for _, alg := range []string{"HS256", "RS256", "ES256", "EdDSA"} {
		tk := newTokens(b, testKeys(b)[alg])
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := tk.Issue(AccessToken, testClaims); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range []string{"HS256", "RS256", "ES256", "EdDSA"} {
		tk := newTokens(b, testKeys(b)[alg])
		tok, _, _ := tk.Issue(AccessToken, testClaims)
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tk.Verify(tok, AccessToken); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyRejected measures what a bad token costs: a forged one runs
// one HMAC, an oversized one is refused on its length alone.
func BenchmarkVerifyRejected(b *testing.B) {
	key := testKeys(b)["HS256"]
	tk := newTokens(b, key)
	good := forge(b, key, AccessToken, goodHeader, goodClaims)
	h, p, _ := splitToken(good)
	cases := []struct{ name, token string }{
		{"valid", good},
		{"forged", h + "." + p + "." + b64.EncodeToString(make([]byte, 32))},
		{"junk-4KiB", strings.Repeat("A", 4096)},
		{"oversized-1MiB", strings.Repeat("A", 1<<20)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tk.Verify(c.token, AccessToken)
			}
		})
	}
}
