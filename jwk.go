package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"

	"github.com/golang-jwt/jwt/v5"
)

// Bounds on JWK Set documents, checked before any key is built.
const (
	// MaxJWKSBytes is the largest JWK Set document read, in bytes.
	MaxJWKSBytes = 256 << 10
	// MaxJWKSKeys is the most keys a JWK Set may hold.
	MaxJWKSKeys = 64

	maxRSABits = 8192
)

// errSkipJWK marks a JWK that is well formed but not for us: another use,
// key type, curve or algorithm. A JWK Set leaves it out; ParseJWK refuses it.
var errSkipJWK = errors.New("auth: JWK not usable for signature verification")

// privateJWKMembers are the members that hold private or symmetric key
// material (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
var privateJWKMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// jwkJSON are the members of a public JWK this package reads.
type jwkJSON struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Alg    string   `json:"alg"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Crv    string   `json:"crv"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
}

// ParseJWK parses one public JSON Web Key (RFC 7517 §4) into a
// verification-only [Key] bound to one algorithm: the JWK's "alg", or the
// one its type and curve imply where that is unambiguous (EC P-256, P-384,
// P-521: ES256, ES384, ES512; OKP Ed25519: EdDSA). An RSA key (RS256,
// RS384, RS512 or PS256; 2048 to 8192 bits, an odd exponent from 3 to
// 2³¹−1) without "alg" needs [WithRSAAlgorithm]. Points are checked to be
// on their curve by crypto/ecdsa; coordinates must have the curve's full
// length (RFC 7518 §6.2.1.2).
//
// It returns an error for a JWK with private or symmetric members ("d",
// "p", "q", "dp", "dq", "qi", "oth", "k"), an unknown "kty", curve or
// algorithm, a "use" other than "sig" or "key_ops" without "verify", a key
// ID over 128 bytes or outside printable ASCII, bad base64url, and keys out
// of bounds. Of the [JWKSOption]s, only WithRSAAlgorithm applies.
func ParseJWK(jwk []byte, opts ...JWKSOption) (Key, error) {
	cfg, err := newJWKSConfig(opts)
	if err != nil {
		return Key{}, err
	}
	if len(jwk) > MaxJWKSBytes {
		return Key{}, fmt.Errorf("auth: JWK larger than %d bytes", MaxJWKSBytes)
	}
	return parseJWK(jwk, cfg.rsaAlg)
}

// parseJWK parses one JWK; errSkipJWK (wrapped) marks one that is not for
// signature verification with an algorithm we know.
func parseJWK(raw []byte, rsaAlg string) (Key, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil || members == nil {
		return Key{}, errors.New("auth: a JWK is not a JSON object")
	}
	for _, m := range privateJWKMembers {
		if _, ok := members[m]; ok {
			return Key{}, fmt.Errorf("auth: a JWK has the private or symmetric member %q; publish public keys only", m)
		}
	}
	var j jwkJSON
	if err := json.Unmarshal(raw, &j); err != nil {
		return Key{}, errors.New("auth: a JWK member has the wrong JSON type")
	}
	if err := checkJWKKeyID(j.Kid); err != nil {
		return Key{}, err
	}
	if j.Use != "" && j.Use != "sig" {
		return Key{}, fmt.Errorf("%w: kid %s has use %s", errSkipJWK, quoteBounded(j.Kid), quoteBounded(j.Use))
	}
	if _, ok := members["key_ops"]; ok && !containsString(j.KeyOps, "verify") {
		return Key{}, fmt.Errorf("%w: kid %s has no \"verify\" in key_ops", errSkipJWK, quoteBounded(j.Kid))
	}
	var (
		alg string
		pub crypto.PublicKey
		err error
	)
	switch j.Kty {
	case "OKP":
		alg, pub, err = parseOKP(j)
	case "EC":
		alg, pub, err = parseEC(j)
	case "RSA":
		alg, pub, err = parseRSA(j, rsaAlg)
	default:
		return Key{}, fmt.Errorf("%w: kid %s has kty %s", errSkipJWK, quoteBounded(j.Kid), quoteBounded(j.Kty))
	}
	if err != nil {
		return Key{}, err
	}
	if err := checkPublicKey(alg, pub); err != nil {
		return Key{}, err
	}
	return Key{id: j.Kid, method: jwt.GetSigningMethod(alg), verify: pub, refreshVerify: pub}, nil
}

func parseOKP(j jwkJSON) (string, crypto.PublicKey, error) {
	if j.Crv != "Ed25519" {
		return "", nil, fmt.Errorf("%w: kid %s has OKP curve %s", errSkipJWK, quoteBounded(j.Kid), quoteBounded(j.Crv))
	}
	if j.Alg != "" && j.Alg != "EdDSA" {
		return "", nil, fmt.Errorf("%w: kid %s has alg %s", errSkipJWK, quoteBounded(j.Kid), quoteBounded(j.Alg))
	}
	x, err := jwkBytes("x", j.X, ed25519.PublicKeySize)
	if err != nil {
		return "", nil, err
	}
	if len(x) != ed25519.PublicKeySize {
		return "", nil, fmt.Errorf("auth: an Ed25519 JWK needs a %d-byte x", ed25519.PublicKeySize)
	}
	return "EdDSA", ed25519.PublicKey(x), nil
}

func parseEC(j jwkJSON) (string, crypto.PublicKey, error) {
	var (
		curve elliptic.Curve
		alg   string
		size  int
	)
	switch j.Crv {
	case "P-256":
		curve, alg, size = elliptic.P256(), "ES256", 32
	case "P-384":
		curve, alg, size = elliptic.P384(), "ES384", 48
	case "P-521":
		curve, alg, size = elliptic.P521(), "ES512", 66
	default:
		return "", nil, fmt.Errorf("%w: kid %s has EC curve %s", errSkipJWK, quoteBounded(j.Kid), quoteBounded(j.Crv))
	}
	if j.Alg != "" && j.Alg != alg {
		return "", nil, fmt.Errorf("auth: JWK kid %s: alg %s does not fit curve %s", quoteBounded(j.Kid), quoteBounded(j.Alg), j.Crv)
	}
	x, err := jwkBytes("x", j.X, size)
	if err != nil {
		return "", nil, err
	}
	y, err := jwkBytes("y", j.Y, size)
	if err != nil {
		return "", nil, err
	}
	if len(x) != size || len(y) != size {
		return "", nil, fmt.Errorf("auth: a %s JWK needs %d-byte x and y", j.Crv, size)
	}
	point := make([]byte, 0, 1+2*size)
	point = append(append(append(point, 4), x...), y...) // SEC 1 uncompressed
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return "", nil, fmt.Errorf("auth: JWK kid %s: not a point on %s", quoteBounded(j.Kid), j.Crv)
	}
	return alg, pub, nil
}

func parseRSA(j jwkJSON, rsaAlg string) (string, crypto.PublicKey, error) {
	alg := j.Alg
	switch alg {
	case "":
		if rsaAlg == "" {
			return "", nil, fmt.Errorf("auth: RSA JWK kid %s has no alg: configure one with WithRSAAlgorithm", quoteBounded(j.Kid))
		}
		alg = rsaAlg
	case "RS256", "RS384", "RS512", "PS256":
	default:
		return "", nil, fmt.Errorf("%w: kid %s has alg %s", errSkipJWK, quoteBounded(j.Kid), quoteBounded(j.Alg))
	}
	n, err := jwkBytes("n", j.N, maxRSABits/8)
	if err != nil {
		return "", nil, err
	}
	e, err := jwkBytes("e", j.E, 4)
	if err != nil {
		return "", nil, err
	}
	N := new(big.Int).SetBytes(n)
	E := new(big.Int).SetBytes(e)
	switch {
	case N.BitLen() < 2048 || N.BitLen() > maxRSABits:
		return "", nil, fmt.Errorf("auth: RSA JWK kid %s has %d bits; 2048 to %d are accepted", quoteBounded(j.Kid), N.BitLen(), maxRSABits)
	case N.Bit(0) == 0:
		return "", nil, fmt.Errorf("auth: RSA JWK kid %s has an even modulus", quoteBounded(j.Kid))
	case !E.IsInt64() || E.Int64() < 3 || E.Int64() > 1<<31-1 || E.Bit(0) == 0:
		return "", nil, fmt.Errorf("auth: RSA JWK kid %s has an exponent out of bounds (odd, 3 to 2^31-1)", quoteBounded(j.Kid))
	}
	return alg, &rsa.PublicKey{N: N, E: int(E.Int64())}, nil
}

// jwkBytes decodes a base64url member (RFC 7518: no padding) of at most max
// bytes, checking the length before decoding.
func jwkBytes(name, v string, max int) ([]byte, error) {
	if v == "" {
		return nil, fmt.Errorf("auth: a JWK lacks %q", name)
	}
	if b64.DecodedLen(len(v)) > max {
		return nil, fmt.Errorf("auth: JWK member %q is longer than %d bytes", name, max)
	}
	b, err := b64.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("auth: JWK member %q is not base64url", name)
	}
	return b, nil
}

// checkJWKKeyID bounds a JWK's key ID. Unlike the IDs of configured keys, it
// may hold any printable ASCII (identity providers use base64 and
// thumbprints): it is only ever a map key.
func checkJWKKeyID(kid string) error {
	if len(kid) > maxKeyIDLen {
		return fmt.Errorf("auth: a JWK key ID is longer than %d bytes", maxKeyIDLen)
	}
	for i := 0; i < len(kid); i++ {
		if kid[i] < 0x21 || kid[i] > 0x7e {
			return errors.New("auth: a JWK key ID has characters outside printable ASCII")
		}
	}
	return nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// parseJWKSet parses a JWK Set document (RFC 7517 §5): at most MaxJWKSBytes
// and MaxJWKSKeys, key IDs distinct. A JWK that is not for signature
// verification with a supported algorithm is left out; any other bad JWK
// (private members, a point off its curve, a short RSA key, bad base64)
// refuses the whole document, so a broken or leaking endpoint never
// half-updates the keys.
func parseJWKSet(doc []byte, rsaAlg string) (map[string]Key, error) {
	if len(doc) > MaxJWKSBytes {
		return nil, fmt.Errorf("auth: JWK Set larger than %d bytes", MaxJWKSBytes)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil || !bytes.HasPrefix(bytes.TrimLeft(doc, " \t\r\n"), []byte("{")) {
		return nil, errors.New("auth: a JWK Set is not a JSON object with a \"keys\" array")
	}
	if len(set.Keys) > MaxJWKSKeys {
		return nil, fmt.Errorf("auth: a JWK Set holds %d keys; at most %d are accepted", len(set.Keys), MaxJWKSKeys)
	}
	keys := make(map[string]Key, len(set.Keys))
	for _, raw := range set.Keys {
		k, err := parseJWK(raw, rsaAlg)
		if errors.Is(err, errSkipJWK) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if _, dup := keys[k.id]; dup {
			return nil, fmt.Errorf("auth: a JWK Set has two keys with key ID %s", quoteBounded(k.id))
		}
		keys[k.id] = k
	}
	if len(keys) == 0 {
		return nil, errors.New("auth: a JWK Set has no key for signature verification")
	}
	return keys, nil
}
