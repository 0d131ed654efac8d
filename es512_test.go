package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"testing"
)

// ES512 (ECDSA on P-521 with SHA-512, RFC 7518 §3.4) signs and verifies,
// and is bound to P-521 alone.
func TestES512(t *testing.T) {
	t.Parallel()
	priv, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	key, err := NewSigningKey("es512", "ES512", priv)
	if err != nil {
		t.Fatalf("NewSigningKey(ES512) = %v", err)
	}
	tk := newTokens(t, key)
	tok, _, err := tk.Issue(AccessToken, testClaims)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Verify(tok, AccessToken); err != nil {
		t.Fatalf("Verify(ES512 token) = %v", err)
	}
	pub, err := NewVerifyingKey("es512", "ES512", &priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifyingTokens([]Key{pub}, WithClock(fixedClock), WithIssuer("https://issuer.example"), WithAudience("https://api.example"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(tok, AccessToken); err != nil {
		t.Errorf("verify-only Verify(ES512 token) = %v", err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := NewSigningKey("x", "ES512", p384); err == nil {
		t.Error("ES512 took a P-384 key")
	}
	if _, err := NewSigningKey("x", "ES384", priv); err == nil {
		t.Error("ES384 took a P-521 key")
	}
	if _, err := tk.Verify(tok[:len(tok)-4]+"AAAA", AccessToken); !errors.Is(err, ErrTokenSignature) {
		t.Errorf("Verify(ES512, bad signature) = %v; want ErrTokenSignature", err)
	}
}
