package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"unicode/utf8"
)

// b64 is the JWS base64url: no padding, and no stray bits in the last
// character, so that every token has exactly one spelling (RFC 7515 §2).
var b64 = base64.RawURLEncoding.Strict()

// compactJWS is a token split and its header read; the claims are not
// decoded until the signature is verified.
type compactJWS struct {
	alg, typ, kid string
	signingInput  string
	payload       string // still base64url
	signature     []byte
}

// parseCompact splits a compact JWS. Before any decoding it checks the size,
// the alphabet ([A-Za-z0-9_-] and exactly two dots) and that no part is
// empty, so a junk token costs one pass over its bytes. It then decodes the
// header, which must be a UTF-8 JSON object of string members "alg", "typ"
// and optionally "kid", and nothing else: "crit", "jwk", "jku", "x5u", "x5c"
// and the rest are refused, never followed.
func parseCompact(token string, maxSize int) (compactJWS, error) {
	var j compactJWS
	if len(token) > maxSize {
		return j, invalid(ErrMalformedToken, nil)
	}
	dot1, dot2 := -1, -1
	for i := 0; i < len(token); i++ {
		c := token[i]
		if c == '.' {
			if dot1 < 0 {
				dot1 = i
			} else if dot2 < 0 {
				dot2 = i
			} else {
				return j, invalid(ErrMalformedToken, nil)
			}
			continue
		}
		if !isBase64URLByte(c) {
			return j, invalid(ErrMalformedToken, nil)
		}
	}
	if dot1 < 1 || dot2 < dot1+2 || dot2 == len(token)-1 {
		return j, invalid(ErrMalformedToken, nil)
	}
	header, err := decodeJSONSegment(token[:dot1])
	if err != nil {
		return j, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(header, &fields); err != nil {
		return j, invalid(ErrMalformedToken, err)
	}
	for name, raw := range fields {
		var dst *string
		switch name {
		case "alg":
			dst = &j.alg
		case "typ":
			dst = &j.typ
		case "kid":
			dst = &j.kid
		default:
			return j, invalid(ErrMalformedToken, nil)
		}
		if len(raw) == 0 || raw[0] != '"' {
			return j, invalid(ErrMalformedToken, nil)
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return j, invalid(ErrMalformedToken, err)
		}
	}
	if j.alg == "" {
		return j, invalid(ErrMalformedToken, nil)
	}
	if j.signature, err = b64.DecodeString(token[dot2+1:]); err != nil {
		return j, invalid(ErrMalformedToken, err)
	}
	j.signingInput = token[:dot2]
	j.payload = token[dot1+1 : dot2]
	return j, nil
}

// decodeClaims decodes a verified payload into c.
func decodeClaims(payload string, c *Claims) error {
	b, err := decodeJSONSegment(payload)
	if err != nil {
		return err
	}
	// golang-jwt's NumericDate also takes a number in a string ("exp":"1");
	// RFC 7519 §2 says a NumericDate is a JSON number.
	var times struct {
		Exp json.RawMessage `json:"exp"`
		Nbf json.RawMessage `json:"nbf"`
		Iat json.RawMessage `json:"iat"`
	}
	if err := json.Unmarshal(b, &times); err != nil {
		return invalid(ErrMalformedToken, err)
	}
	for _, t := range [...]json.RawMessage{times.Exp, times.Nbf, times.Iat} {
		if len(t) > 0 && t[0] != '-' && (t[0] < '0' || t[0] > '9') && string(t) != "null" {
			return invalid(ErrMalformedToken, nil)
		}
	}
	if err := json.Unmarshal(b, c); err != nil {
		return invalid(ErrMalformedToken, err)
	}
	return nil
}

// decodeJSONSegment decodes a base64url segment that must hold a JSON
// object in valid UTF-8: encoding/json would silently replace bad bytes with
// U+FFFD, and would take "null" for an empty object.
func decodeJSONSegment(seg string) ([]byte, error) {
	b, err := b64.DecodeString(seg)
	if err != nil {
		return nil, invalid(ErrMalformedToken, err)
	}
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' || !utf8.Valid(b) {
		return nil, invalid(ErrMalformedToken, nil)
	}
	return b, nil
}
