package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"os"
	"sync"

	"github.com/golang-jwt/jwt/v5"
)

// A Key is one signing or verification key, bound to exactly one algorithm
// and identified by a key ID (the "kid" header; empty for a key used alone).
// Build one with [NewHMACKey], [NewSigningKey], [NewVerifyingKey] or
// [HMACKeyFromEnv]; the zero Key is not usable.
type Key struct {
	id     string
	method jwt.SigningMethod
	hmac   bool
	// Signing and verification material per token kind. Only HMAC keys
	// differ by kind: refresh tokens are signed with a key derived from the
	// secret, so that a service that shares the secret but skips the type
	// check still cannot take a refresh token for an access token.
	sign, verify               any
	refreshSign, refreshVerify any
	// macs pools keyed HMAC states, for access and refresh tokens: keying
	// costs more than the MAC of a token.
	macs *[2]sync.Pool
}

// ID returns the key ID.
func (k Key) ID() string { return k.id }

// Algorithm returns the JWS algorithm the key is bound to, such as "HS256".
func (k Key) Algorithm() string {
	if k.method == nil {
		return ""
	}
	return k.method.Alg()
}

// CanSign reports whether the key can sign, not only verify.
func (k Key) CanSign() bool { return k.sign != nil }

const (
	maxKeyIDLen  = 128
	refreshLabel = "github.com/keygate/auth v1 refresh token key"
)

// NewHMACKey returns a key for HS256, HS384 or HS512. The secret must be
// random and at least as long as the hash: 32, 48 or 64 bytes (RFC 7518
// §3.2). A trivially weak secret is an error too: one with fewer than 8
// distinct byte values, one that repeats a block of at most half its length,
// or one whose consecutive bytes differ by fewer than 8 distinct steps
// ("0123…"). [GenerateSecret]'s output passes these checks. No error ever
// contains the secret. Access tokens are signed with the secret itself, so
// other JWT implementations that share it verify them; refresh tokens with a
// key derived from it by HKDF.
func NewHMACKey(id, alg string, secret []byte) (Key, error) {
	minLen := map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}[alg]
	if minLen == 0 {
		return Key{}, fmt.Errorf("auth: %q is not an HMAC algorithm (HS256, HS384, HS512)", alg)
	}
	if len(secret) < minLen {
		return Key{}, fmt.Errorf("auth: an %s secret needs at least %d bytes, got %d", alg, minLen, len(secret))
	}
	if err := weakSecret(secret); err != nil {
		return Key{}, fmt.Errorf("auth: the %s secret is %w; make one with GenerateSecret", alg, err)
	}
	if err := checkKeyID(id); err != nil {
		return Key{}, err
	}
	s := append([]byte(nil), secret...)
	r, err := hkdf.Key(sha256.New, s, nil, refreshLabel, len(s))
	if err != nil {
		return Key{}, fmt.Errorf("auth: deriving the refresh key: %w", err)
	}
	m := jwt.GetSigningMethod(alg).(*jwt.SigningMethodHMAC)
	pools := &[2]sync.Pool{
		{New: func() any { return hmac.New(m.Hash.New, s) }},
		{New: func() any { return hmac.New(m.Hash.New, r) }},
	}
	return Key{id: id, method: m, hmac: true, sign: s, verify: s, refreshSign: r, refreshVerify: r, macs: pools}, nil
}

// verifySignature checks a token's signature. HMAC keys use a pooled keyed
// state and compare in constant time (hmac.Equal); the others go through
// verifyPublic, or golang-jwt's signing methods for PS256.
func (k Key) verifySignature(signingInput string, d decoded, refresh bool) error {
	if !k.hmac {
		vk := k.verify
		if refresh {
			vk = k.refreshVerify
		}
		if handled, err := verifyPublic(k.method, vk, d.signingInput, d.signature, d.scratch); handled {
			return err
		}
		return k.method.Verify(signingInput, d.signature, vk)
	}
	pool := &k.macs[0]
	if refresh {
		pool = &k.macs[1]
	}
	mac := pool.Get().(hash.Hash)
	mac.Reset()
	mac.Write(d.signingInput)
	sum := mac.Sum(d.scratch)
	pool.Put(mac)
	if !hmac.Equal(sum, d.signature) {
		return jwt.ErrSignatureInvalid
	}
	return nil
}

// HMACKeyFromEnv returns an HS256 key (with an empty key ID) whose secret is
// the value of the environment variable name, such as "AUTH_SECRET" or
// "BETTER_AUTH_SECRET". It fails if the variable is unset, shorter than 32
// bytes or trivially weak (the rules of [NewHMACKey]); the error names the
// variable, never its value. [GenerateSecret] makes a suitable value.
func HMACKeyFromEnv(name string) (Key, error) {
	v, ok := os.LookupEnv(name)
	if !ok || v == "" {
		return Key{}, fmt.Errorf("auth: environment variable %s is not set", name)
	}
	if len(v) < 32 {
		return Key{}, fmt.Errorf("auth: environment variable %s holds %d bytes; an HS256 secret needs at least 32", name, len(v))
	}
	if err := weakSecret([]byte(v)); err != nil {
		return Key{}, fmt.Errorf("auth: environment variable %s holds a secret that is %w; set it to the output of GenerateSecret", name, err)
	}
	return NewHMACKey("", "HS256", []byte(v))
}

// GenerateSecret returns 32 bytes from crypto/rand, base64url-encoded
// (43 characters): a value for the secret variable of [HMACKeyFromEnv].
func GenerateSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// NewSigningKey returns a key that signs and verifies with a private key:
// RS256 or PS256 with an *rsa.PrivateKey of at least 2048 bits, ES256,
// ES384 or ES512 with an *ecdsa.PrivateKey on P-256, P-384 or P-521
// (RFC 7518 §3.4), EdDSA with an ed25519.PrivateKey. RS256 is there for services that must interoperate
// with it; prefer EdDSA or ES256.
func NewSigningKey(id, alg string, priv crypto.Signer) (Key, error) {
	if priv == nil {
		return Key{}, fmt.Errorf("auth: nil private key for %s", alg)
	}
	k, err := NewVerifyingKey(id, alg, priv.Public())
	if err != nil {
		return Key{}, err
	}
	switch priv.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey, ed25519.PrivateKey:
	default:
		return Key{}, fmt.Errorf("auth: unsupported private key type %T", priv)
	}
	k.sign, k.refreshSign = priv, priv
	return k, nil
}

// NewVerifyingKey returns a verification-only key: a public key that checks
// tokens signed elsewhere. The algorithms are those of [NewSigningKey], plus
// RS384 and RS512 for tokens from other issuers.
func NewVerifyingKey(id, alg string, pub crypto.PublicKey) (Key, error) {
	if err := checkKeyID(id); err != nil {
		return Key{}, err
	}
	if err := checkPublicKey(alg, pub); err != nil {
		return Key{}, err
	}
	return Key{id: id, method: jwt.GetSigningMethod(alg), verify: pub, refreshVerify: pub}, nil
}

func checkPublicKey(alg string, pub crypto.PublicKey) error {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256":
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("auth: %s needs an RSA key, got %T", alg, pub)
		}
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("auth: %s needs an RSA key of at least 2048 bits, got %d", alg, k.N.BitLen())
		}
	case "ES256", "ES384", "ES512":
		k, ok := pub.(*ecdsa.PublicKey)
		want := map[string]elliptic.Curve{"ES256": elliptic.P256(), "ES384": elliptic.P384(), "ES512": elliptic.P521()}[alg]
		if !ok || k.Curve != want {
			return fmt.Errorf("auth: %s needs an ECDSA key on %s", alg, want.Params().Name)
		}
	case "EdDSA":
		if k, ok := pub.(ed25519.PublicKey); !ok || len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("auth: EdDSA needs an Ed25519 key, got %T", pub)
		}
	default:
		return fmt.Errorf("auth: unsupported algorithm %q", alg)
	}
	return nil
}

// checkKeyID keeps key IDs to short opaque labels: they are looked up in a
// map and never reach a file, a query or a URL.
func checkKeyID(id string) error {
	if len(id) > maxKeyIDLen {
		return fmt.Errorf("auth: key ID longer than %d bytes", maxKeyIDLen)
	}
	for i := 0; i < len(id); i++ {
		if !isKeyIDByte(id[i]) {
			return fmt.Errorf("auth: key ID %q has characters outside [A-Za-z0-9._-]", id)
		}
	}
	return nil
}

func isKeyIDByte(c byte) bool {
	return isBase64URLByte(c) || c == '.'
}

func isBase64URLByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}
