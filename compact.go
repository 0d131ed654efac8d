package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"unicode/utf8"
)

// b64 is the JWS base64url: no padding, and no stray bits in the last
// character, so that every token has exactly one spelling (RFC 7515 §2).
var b64 = base64.RawURLEncoding.Strict()

// compactJWS is a token split and its header read; the claims are not
// decoded until the signature is verified.
type compactJWS struct {
	alg, typ, kid string
	token         string
	dot1, dot2    int // the two dots: header.payload.signature
}

// knownHeader is a header this Tokens writes: tokens that carry one exactly
// skip decoding it.
type knownHeader struct{ alg, typ, kid string }

// knownHeaders returns the base64 header segments Issue writes with keys,
// encoded as golang-jwt encodes them (members sorted by name).
func knownHeaders(keys map[string]Key) map[string]knownHeader {
	out := map[string]knownHeader{}
	for _, id := range slices.Sorted(maps.Keys(keys)) {
		for _, typ := range []TokenType{AccessToken, RefreshToken} {
			h := map[string]string{"alg": keys[id].method.Alg(), "typ": typ.header()}
			if id != "" {
				h["kid"] = id
			}
			b, _ := json.Marshal(h)
			out[b64.EncodeToString(b)] = knownHeader{h["alg"], h["typ"], id}
		}
	}
	return out
}

// parseCompact splits a compact JWS. Before any decoding it checks the size,
// the alphabet ([A-Za-z0-9_-] and exactly two dots) and that no part is
// empty, so a junk token costs one pass over its bytes. A header this Tokens
// writes is recognized as it is; any other is decoded, and must be a UTF-8
// JSON object of string members "alg", "typ" and optionally "kid", each
// once, and nothing else: "crit", "jwk", "jku", "x5u", "x5c" and the rest
// are refused, never followed.
func (t *Tokens) parseCompact(token string) (compactJWS, error) {
	var j compactJWS
	if len(token) > t.maxSize {
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
	j.token, j.dot1, j.dot2 = token, dot1, dot2
	if h, ok := t.headers[token[:dot1]]; ok {
		j.alg, j.typ, j.kid = h.alg, h.typ, h.kid
		return j, nil
	}
	header, err := decodeSegment(nil, []byte(token[:dot1]))
	if err != nil {
		return j, err
	}
	if err := decodeHeader(header, &j); err != nil {
		return j, invalid(ErrMalformedToken, err)
	}
	return j, nil
}

var (
	errHeaderMember = errors.New("auth: header member other than alg, typ and kid")
	errHeaderNoAlg  = errors.New("auth: header without alg")
)

// decodeHeader reads a header into j: a JSON object whose members are
// "alg", "typ" and optionally "kid", each a string and each at most once
// (errDuplicateMember: encoding/json, and so golang-jwt, would let the last
// one win), with a non-empty "alg". Names match exactly, as JWS header
// names do (RFC 7515 §4).
func decodeHeader(b []byte, j *compactJWS) error {
	s := scanner{b: b}
	var seen uint8
	err := s.object(func(key []byte) error {
		var bit uint8
		var dst *string
		switch string(key) {
		case "alg":
			bit, dst = 1, &j.alg
		case "typ":
			bit, dst = 2, &j.typ
		case "kid":
			bit, dst = 4, &j.kid
		default:
			return errHeaderMember
		}
		if seen&bit != 0 {
			return errDuplicateMember
		}
		seen |= bit
		v, err := s.str()
		*dst = v
		return err
	})
	if err != nil {
		return err
	}
	if err := s.end(); err != nil {
		return err
	}
	if j.alg == "" {
		return errHeaderNoAlg
	}
	return nil
}

// decodeSegment decodes a base64url segment (into buf, if it is large
// enough) that must hold a JSON object in valid UTF-8: encoding/json would
// silently replace bad bytes with U+FFFD, and would take "null" for an
// empty object.
func decodeSegment(buf, seg []byte) ([]byte, error) {
	if cap(buf) < b64.DecodedLen(len(seg)) {
		buf = make([]byte, b64.DecodedLen(len(seg)))
	}
	n, err := b64.Decode(buf[:cap(buf)], seg)
	if err != nil {
		return nil, invalid(ErrMalformedToken, err)
	}
	b := buf[:n]
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) == 0 || t[0] != '{' || !utf8.Valid(b) {
		return nil, invalid(ErrMalformedToken, nil)
	}
	return b, nil
}

// decoded is a verified-to-be-well-formed token's bytes, in one buffer.
type decoded struct {
	signingInput []byte // header.payload, as signed
	payload      []byte // still base64url
	signature    []byte // decoded
	scratch      []byte // room for a MAC
	claims       []byte // room for the decoded claims
}

// bytes copies the token into one buffer with room for its decoded parts:
// one allocation for the whole verification.
func (j compactJWS) bytes() (decoded, error) {
	sigLen, claimsLen := b64.DecodedLen(len(j.token)-j.dot2-1), b64.DecodedLen(j.dot2-j.dot1-1)
	buf := make([]byte, len(j.token)+64+sigLen+claimsLen)
	raw := buf[:len(j.token)]
	copy(raw, j.token)
	rest := buf[len(j.token):]
	d := decoded{
		signingInput: raw[:j.dot2],
		payload:      raw[j.dot1+1 : j.dot2],
		scratch:      rest[:0:64],
		claims:       rest[64+sigLen : 64+sigLen : 64+sigLen+claimsLen],
	}
	n, err := b64.Decode(rest[64:64+sigLen], raw[j.dot2+1:])
	if err != nil {
		return d, invalid(ErrMalformedToken, err)
	}
	d.signature = rest[64 : 64+n]
	return d, nil
}
