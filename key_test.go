package auth

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// hmacAlgFor returns the strongest HMAC algorithm a secret of n bytes may
// key.
func hmacAlgFor(n int) string {
	switch {
	case n >= 64:
		return "HS512"
	case n >= 48:
		return "HS384"
	}
	return "HS256"
}

// Secrets with trivially low entropy fail at construction, through
// NewHMACKey and HMACKeyFromEnv, with an error that names the rule and never
// the secret.
func TestWeakHMACSecrets(t *testing.T) {
	block := make([]byte, 20)
	rand.Read(block)
	counting, byThrees := make([]byte, 32), make([]byte, 64)
	for i := range counting {
		counting[i] = byte(i)
	}
	for i := range byThrees {
		byThrees[i] = byte(3 * i)
	}
	tests := []struct {
		name   string
		secret []byte
	}{
		{"32 zero bytes", make([]byte, 32)},
		{"48 zero bytes", make([]byte, 48)},
		{"64 zero bytes", make([]byte, 64)},
		{"one byte repeated", bytes.Repeat([]byte("a"), 32)},
		{"one byte repeated, HS512", bytes.Repeat([]byte("k"), 64)},
		{"two bytes alternating", bytes.Repeat([]byte("ab"), 16)},
		{"7 distinct bytes", bytes.Repeat([]byte("password"), 4)},
		{"a word repeated", bytes.Repeat([]byte("secret"), 6)},
		{"7 distinct bytes, scattered", []byte("0110220330440550660011223344556600")},
		{"16 hex digits twice", bytes.Repeat([]byte("0123456789abcdef"), 2)},
		{"random 20 bytes twice", append(append([]byte(nil), block...), block...)},
		{"random 20 bytes, 2.5 times", append(append(append([]byte(nil), block...), block...), block[:10]...)},
		{"counting bytes", counting},
		{"counting by threes", byThrees},
		{"alphabet and digits", []byte("abcdefghijklmnopqrstuvwxyz0123456789")},
	}
	const env = "AUTH_TEST_WEAK_SECRET"
	for _, tt := range tests {
		alg := hmacAlgFor(len(tt.secret))
		k, err := NewHMACKey("k", alg, tt.secret)
		if !errors.Is(err, errWeakSecret) || k.method != nil {
			t.Errorf("%s: NewHMACKey(%s) = %v; want a weak-secret error", tt.name, alg, err)
		} else {
			assertNoSecret(t, err.Error(), string(tt.secret))
		}
		if bytes.IndexByte(tt.secret, 0) >= 0 {
			continue // not an environment value
		}
		t.Setenv(env, string(tt.secret))
		k, err = HMACKeyFromEnv(env)
		if !errors.Is(err, errWeakSecret) || k.method != nil || !strings.Contains(err.Error(), env) {
			t.Errorf("%s: HMACKeyFromEnv = %v; want a weak-secret error naming %s", tt.name, err, env)
		} else {
			assertNoSecret(t, err.Error(), string(tt.secret))
		}
	}
}

// Random secrets pass the weak-secret rule: GenerateSecret's, raw random
// bytes, hex and base64 strings of random bytes, the test and RFC secrets,
// and the rule's own neighbours.
func TestStrongHMACSecrets(t *testing.T) {
	t.Parallel()
	const n = 10000
	random := func(size int) []byte {
		b := make([]byte, size)
		rand.Read(b)
		return b
	}
	kinds := map[string]func() []byte{
		"GenerateSecret":                  func() []byte { return []byte(GenerateSecret()) },
		"32 random bytes":                 func() []byte { return random(32) },
		"64 random bytes":                 func() []byte { return random(64) },
		"64 hex digits":                   func() []byte { return []byte(hex.EncodeToString(random(32))) },
		"32 base64 characters":            func() []byte { return []byte(base64.StdEncoding.EncodeToString(random(24))) },
		"44 base64url characters, padded": func() []byte { return []byte(base64.URLEncoding.EncodeToString(random(32))) },
	}
	for name, gen := range kinds {
		for range n {
			s := gen()
			if k, err := NewHMACKey("k", hmacAlgFor(len(s)), s); err != nil || k.method == nil {
				t.Fatalf("%s: NewHMACKey = %v", name, err)
			}
		}
	}
	// The edges of the rule.
	block := random(17)
	for _, tt := range []struct {
		name   string
		secret []byte
	}{
		{"test secret", testSecret(t)},
		{"RFC 7515 A.1 key", mustDecodeStd(t, "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")},
		{"8 distinct bytes, 8 steps", []byte("hbgacfedhgbadcefbhaegdfcahcgebdf")},
		{"a block of more than half the length", append(append([]byte(nil), block...), block[:15]...)},
	} {
		if err := weakSecret(tt.secret); err != nil {
			t.Errorf("%s: weakSecret = %v; want nil", tt.name, err)
		}
		if _, err := NewHMACKey("k", hmacAlgFor(len(tt.secret)), tt.secret); err != nil {
			t.Errorf("%s: NewHMACKey = %v", tt.name, err)
		}
	}
}

func mustDecodeStd(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
