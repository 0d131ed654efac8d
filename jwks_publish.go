package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"maps"
	"math/big"
	"net/http"
	"slices"
	"strconv"
)

// JWKSMaxAge is the Cache-Control max-age, in seconds, of
// [Tokens.JWKSHandler]'s answers: verifiers refetch on an unknown kid
// anyway, so a new signing key is picked up sooner.
const JWKSMaxAge = 300

// PublicJWKS returns the JWK Set (RFC 7517 §5) of t's public keys, the
// signing key first and then the verification keys by key ID, each with
// "kty", its key members, "kid" (when not empty), "alg" and "use": "sig".
// Keys from a [JWKS] are not included. It returns an error for HMAC keys,
// which must never be published, and when t has no public key.
func (t *Tokens) PublicJWKS() ([]byte, error) {
	ids := slices.Sorted(maps.Keys(t.keys))
	if t.signer.method != nil {
		ids = slices.DeleteFunc(ids, func(id string) bool { return id == t.signer.id })
		ids = append([]string{t.signer.id}, ids...)
	}
	keys := make([]map[string]string, 0, len(ids))
	for _, id := range ids {
		k := t.keys[id]
		if k.hmac {
			return nil, errors.New("auth: HMAC keys are secret: there is no JWKS to publish")
		}
		jwk, err := publicJWK(k)
		if err != nil {
			return nil, err
		}
		keys = append(keys, jwk)
	}
	if len(keys) == 0 {
		return nil, errors.New("auth: no public key to publish")
	}
	return json.Marshal(map[string]any{"keys": keys})
}

// publicJWK is the public JWK of a key (RFC 7518 §6, RFC 8037 §2).
func publicJWK(k Key) (map[string]string, error) {
	m := map[string]string{"alg": k.method.Alg(), "use": "sig"}
	if k.id != "" {
		m["kid"] = k.id
	}
	switch pub := k.verify.(type) {
	case *rsa.PublicKey:
		m["kty"] = "RSA"
		m["n"] = b64.EncodeToString(pub.N.Bytes())
		m["e"] = b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
	case *ecdsa.PublicKey:
		point, err := pub.Bytes() // 0x04 || x || y, each the field's full length
		if err != nil {
			return nil, err
		}
		size := (len(point) - 1) / 2
		m["kty"] = "EC"
		m["crv"] = pub.Curve.Params().Name
		m["x"] = b64.EncodeToString(point[1 : 1+size])
		m["y"] = b64.EncodeToString(point[1+size:])
	case ed25519.PublicKey:
		m["kty"] = "OKP"
		m["crv"] = "Ed25519"
		m["x"] = b64.EncodeToString(pub)
	default:
		return nil, errors.New("auth: a key of unknown type")
	}
	return m, nil
}

// JWKSHandler returns a handler that serves [Tokens.PublicJWKS] to GET and
// HEAD as application/jwk-set+json with "Cache-Control: public,
// max-age=300" ([JWKSMaxAge]), so that other services ([NewJWKS]) and other
// libraries (jose's createRemoteJWKSet) verify t's tokens. Other methods get
// 405. Mount it where verifiers expect it, such as
// "GET /.well-known/jwks.json". It returns PublicJWKS's error at setup.
func (t *Tokens) JWKSHandler() (http.Handler, error) {
	doc, err := t.PublicJWKS()
	if err != nil {
		return nil, err
	}
	length := strconv.Itoa(len(doc))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/jwk-set+json")
		h.Set("Cache-Control", "public, max-age="+strconv.Itoa(JWKSMaxAge))
		h.Set("Content-Length", length)
		if r.Method == http.MethodGet {
			w.Write(doc)
		}
	}), nil
}
