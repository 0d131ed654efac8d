package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
)

// jwkOf returns the public JWK of key as a map, to be edited by tests.
func jwkOf(t testing.TB, k Key) map[string]string {
	t.Helper()
	m, err := publicJWK(k)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func jwkJSONOf(t testing.TB, m map[string]string, extra ...string) []byte {
	t.Helper()
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "<delete>" {
			delete(out, extra[i])
			continue
		}
		out[extra[i]] = extra[i+1]
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// publicKeys returns verification-only keys for every asymmetric algorithm,
// with the signing keys that match them.
func publicKeys(t testing.TB) map[string]Key {
	t.Helper()
	keys := testKeys(t)
	p521, err := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	es512, err := NewSigningKey("es512", "ES512", p521)
	if err != nil {
		t.Fatal(err)
	}
	keys["ES512"] = es512
	delete(keys, "HS256")
	delete(keys, "HS384")
	delete(keys, "HS512")
	return keys
}

// Every public key this package can publish parses back to the same key,
// bound to the same algorithm, and verifies what the private key signed.
func TestParseJWKRoundTrip(t *testing.T) {
	t.Parallel()
	for alg, k := range publicKeys(t) {
		t.Run(alg, func(t *testing.T) {
			doc := jwkJSONOf(t, jwkOf(t, k))
			got, err := ParseJWK(doc)
			if err != nil {
				t.Fatalf("ParseJWK(%s) = %v", doc, err)
			}
			if got.Algorithm() != alg || got.ID() != k.ID() || got.CanSign() {
				t.Errorf("ParseJWK = %s %q (can sign %v); want verify-only %s %q", got.Algorithm(), got.ID(), got.CanSign(), alg, k.ID())
			}
			tok := forge(t, k, AccessToken, fmt.Sprintf(`{"alg":%q,"kid":%q}`, alg, k.ID()), `{"sub":"u1","exp":1700000900}`)
			ext, err := NewExternalIssuer(got, nil, WithClock(fixedClock))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ext.VerifyAccess(tok); err != nil {
				t.Errorf("a token signed by the private key does not verify with the parsed JWK: %v", err)
			}
		})
	}
}

func TestParseJWKRefuses(t *testing.T) {
	t.Parallel()
	keys := publicKeys(t)
	ed, es, es384, es512, rs := jwkOf(t, keys["EdDSA"]), jwkOf(t, keys["ES256"]), jwkOf(t, keys["ES384"]), jwkOf(t, keys["ES512"]), jwkOf(t, keys["RS256"])

	// A point off the curve: y+1.
	y, _ := b64.DecodeString(es["y"])
	y[len(y)-1] ^= 1
	offCurve := b64.EncodeToString(y)
	short := b64.EncodeToString(make([]byte, 31))
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	even := new(big.Int).Lsh(big.NewInt(1), 2047)

	tests := []struct {
		name string
		jwk  []byte
	}{
		{"private d (Ed25519)", jwkJSONOf(t, ed, "d", b64.EncodeToString(make([]byte, 32)))},
		{"private d (EC)", jwkJSONOf(t, es, "d", b64.EncodeToString(make([]byte, 32)))},
		{"private p (RSA)", jwkJSONOf(t, rs, "p", "AQAB")},
		{"symmetric oct", []byte(`{"kty":"oct","k":"c2VjcmV0","alg":"HS256"}`)},
		{"unknown kty", jwkJSONOf(t, ed, "kty", "XYZ")},
		{"no kty", jwkJSONOf(t, ed, "kty", "<delete>")},
		{"Ed448", jwkJSONOf(t, ed, "crv", "Ed448")},
		{"X25519", jwkJSONOf(t, ed, "crv", "X25519")},
		{"Ed25519 short x", jwkJSONOf(t, ed, "x", short)},
		{"Ed25519 with alg ES256", jwkJSONOf(t, ed, "alg", "ES256")},
		{"point off the curve", jwkJSONOf(t, es, "y", offCurve)},
		{"short coordinate", jwkJSONOf(t, es, "x", short)},
		{"P-384 point as P-256", jwkJSONOf(t, es384, "crv", "P-256")},
		{"P-521 key with alg ES256", jwkJSONOf(t, es512, "alg", "ES256")},
		{"secp256k1", jwkJSONOf(t, es, "crv", "secp256k1")},
		{"padded base64", jwkJSONOf(t, ed, "x", ed["x"]+"=")},
		{"standard base64", jwkJSONOf(t, ed, "x", strings.NewReplacer("-", "+", "_", "/").Replace(ed["x"])+"+")},
		{"use enc", jwkJSONOf(t, ed, "use", "enc")},
		{"RSA without alg", jwkJSONOf(t, rs, "alg", "<delete>")},
		{"RSA with alg RSA-OAEP", jwkJSONOf(t, rs, "alg", "RSA-OAEP")},
		{"RSA 1024 bits", jwkJSONOf(t, rs, "n", b64.EncodeToString(rsa1024.N.Bytes()))},
		{"RSA even modulus", jwkJSONOf(t, rs, "n", b64.EncodeToString(even.Bytes()))},
		{"RSA e = 1", jwkJSONOf(t, rs, "e", "AQ")},
		{"RSA e even", jwkJSONOf(t, rs, "e", "AQAA")},
		{"RSA e of 5 bytes", jwkJSONOf(t, rs, "e", "AQAAAAE")},
		{"RSA n over 8192 bits", jwkJSONOf(t, rs, "n", b64.EncodeToString(append([]byte{1}, make([]byte, 1024)...)))},
		{"kid too long", jwkJSONOf(t, ed, "kid", strings.Repeat("k", 129))},
		{"kid with a newline", jwkJSONOf(t, ed, "kid", "k\n1")},
		{"x not a string", []byte(`{"kty":"OKP","crv":"Ed25519","x":42}`)},
		{"not an object", []byte(`["kty"]`)},
		{"null", []byte(`null`)},
		{"key_ops sign only", []byte(strings.Replace(string(jwkJSONOf(t, ed)), "{", `{"key_ops":["sign"],`, 1))},
	}
	for _, tt := range tests {
		if k, err := ParseJWK(tt.jwk); err == nil {
			t.Errorf("%s: ParseJWK(%s) = %s key; want an error", tt.name, tt.jwk, k.Algorithm())
		} else if strings.Contains(err.Error(), ed["x"]) || strings.Contains(err.Error(), es["x"]) {
			t.Errorf("%s: error %q holds key material", tt.name, err)
		}
	}
	// The same RSA key without alg is accepted once one is configured.
	if k, err := ParseJWK(jwkJSONOf(t, rs, "alg", "<delete>"), WithRSAAlgorithm("PS256")); err != nil || k.Algorithm() != "PS256" {
		t.Errorf("ParseJWK(RSA, WithRSAAlgorithm(PS256)) = %v, %v", k.Algorithm(), err)
	}
	if _, err := ParseJWK(jwkJSONOf(t, rs), WithRSAAlgorithm("HS256")); err == nil {
		t.Error("WithRSAAlgorithm(HS256) was accepted")
	}
	if k, err := ParseJWK(jwkJSONOf(t, es, "alg", "<delete>")); err != nil || k.Algorithm() != "ES256" {
		t.Errorf("ParseJWK(P-256 without alg) = %v, %v; want ES256", k.Algorithm(), err)
	}
}

func TestParseJWKS(t *testing.T) {
	t.Parallel()
	keys := publicKeys(t)
	ed, es, rs := jwkOf(t, keys["EdDSA"]), jwkOf(t, keys["ES256"]), jwkOf(t, keys["RS256"])
	set := func(jwks ...[]byte) []byte {
		parts := make([]string, len(jwks))
		for i, j := range jwks {
			parts[i] = string(j)
		}
		return []byte(`{"keys":[` + strings.Join(parts, ",") + `]}`)
	}
	good := set(jwkJSONOf(t, ed), jwkJSONOf(t, es), jwkJSONOf(t, rs),
		jwkJSONOf(t, es, "kid", "enc-key", "use", "enc"), jwkJSONOf(t, ed, "kid", "x25519", "crv", "X25519"),
		jwkJSONOf(t, rs, "kid", "oaep", "alg", "RSA-OAEP"))
	j, err := ParseJWKS(good)
	if err != nil {
		t.Fatalf("ParseJWKS = %v", err)
	}
	if got := len(j.KeyIDs()); got != 3 {
		t.Errorf("ParseJWKS kept %d keys (%v); want the 3 signature keys", got, j.KeyIDs())
	}

	many := make([][]byte, MaxJWKSKeys+1)
	for i := range many {
		many[i] = jwkJSONOf(t, ed, "kid", fmt.Sprint("k", i))
	}
	tests := []struct {
		name string
		doc  []byte
	}{
		{"a private key among public ones", set(jwkJSONOf(t, ed), jwkJSONOf(t, es, "d", "AAAA"))},
		{"a point off the curve among good keys", set(jwkJSONOf(t, ed), jwkJSONOf(t, es, "x", b64.EncodeToString(make([]byte, 32))))},
		{"duplicate kid", set(jwkJSONOf(t, ed), jwkJSONOf(t, es, "kid", ed["kid"]))},
		{"no usable key", set(jwkJSONOf(t, es, "use", "enc"))},
		{"empty", []byte(`{"keys":[]}`)},
		{"no keys member", []byte(`{}`)},
		{"keys not an array", []byte(`{"keys":{}}`)},
		{"not JSON", []byte(`<html>`)},
		{"null", []byte(`null`)},
		{"too many keys", set(many...)},
		{"oversized", set(jwkJSONOf(t, ed, "pad", strings.Repeat("a", MaxJWKSBytes)))},
	}
	for _, tt := range tests {
		if _, err := ParseJWKS(tt.doc); err == nil {
			t.Errorf("%s: ParseJWKS accepted it", tt.name)
		}
	}
}

// FuzzParseJWKS: no document panics, and every key it yields is
// verification-only and bound to a supported algorithm.
func FuzzParseJWKS(f *testing.F) {
	keys := publicKeys(f)
	for _, k := range keys {
		f.Add(jwkJSONOf(f, jwkOf(f, k)))
		f.Add([]byte(`{"keys":[` + string(jwkJSONOf(f, jwkOf(f, k))) + `]}`))
	}
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"","y":""}]}`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		j, err := ParseJWKS(doc)
		if err == nil {
			for _, k := range j.state.Load().keys {
				if k.CanSign() || k.hmac || checkPublicKey(k.Algorithm(), k.verify) != nil {
					t.Fatalf("ParseJWKS yielded a bad key: %s", k.Algorithm())
				}
			}
		}
		k, err := ParseJWK(doc)
		if err == nil && (k.CanSign() || checkPublicKey(k.Algorithm(), k.verify) != nil) {
			t.Fatalf("ParseJWK yielded a bad key: %s", k.Algorithm())
		}
		if err != nil && errors.Is(err, errSkipJWK) && k.method != nil {
			t.Fatal("a skipped JWK came with a key")
		}
	})
}
