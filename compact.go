package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
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
	dot1, dot2    int  // the two dots: header.payload.signature
	known         bool // the header was recognized, not decoded
}

// The classes of a compact JWS's bytes, by compactClass, as bits that
// parseCompact ORs together: [A-Za-z0-9_-] (isBase64URLByte) is 0.
const (
	compactDot = 1 << iota
	compactBad
)

// compactClass classifies every byte value for parseCompact.
var compactClass = func() (t [256]uint8) {
	for c := range 256 {
		if !isBase64URLByte(byte(c)) {
			t[c] = compactBad
		}
	}
	t['.'] = compactDot
	return t
}()

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

// seenHeaders remembers the base64 header segments of other issuers'
// tokens (an ExternalIssuer's, a JWKS's) as decodeHeader read them, so that
// the next token with the same header skips decoding it, as this Tokens's
// own headers do. Only the header of a token whose signature verified is
// added, so a flood of forged or junk tokens adds nothing; it holds at most
// maxSeenHeaders, and starts afresh when full (after the issuer's keys
// rotated many times). Reading a segment's header is a pure function of its
// bytes: a remembered header is the one decodeHeader would return.
type seenHeaders struct {
	m atomic.Pointer[map[string]knownHeader] // copied on write
}

// maxSeenHeaders bounds seenHeaders: segments of at most maxTokenSize bytes.
const maxSeenHeaders = 16

func (s *seenHeaders) get(seg string) (knownHeader, bool) {
	m := s.m.Load()
	if m == nil {
		return knownHeader{}, false
	}
	h, ok := (*m)[seg]
	return h, ok
}

// add remembers the header j read from seg.
func (s *seenHeaders) add(seg string, j compactJWS) {
	for {
		old := s.m.Load()
		m := map[string]knownHeader{}
		if old != nil {
			if _, ok := (*old)[seg]; ok {
				return
			}
			if len(*old) < maxSeenHeaders {
				maps.Copy(m, *old)
			}
		}
		m[strings.Clone(seg)] = knownHeader{j.alg, j.typ, j.kid}
		if s.m.CompareAndSwap(old, &m) {
			return
		}
	}
}

// parseCompact splits a compact JWS. Before any decoding it checks the size,
// the alphabet ([A-Za-z0-9_-] and exactly two dots) and that no part is
// empty, so a junk token costs one pass over its bytes. A header this Tokens
// writes, or one remembered from a verified token (seenHeaders), is
// recognized as it is; any other is decoded, and must be a UTF-8
// JSON object of string members "alg", "typ" and optionally "kid", each
// once, and nothing else: "crit", "jwk", "jku", "x5u", "x5c" and the rest
// are refused, never followed.
func (t *Tokens) parseCompact(token string) (compactJWS, error) {
	var j compactJWS
	if len(token) > t.maxSize {
		return j, invalid(ErrMalformedToken, nil)
	}
	// One table load and OR per byte, four bytes a round, then the dots
	// found with IndexByte: no branch per byte.
	var class uint8
	i := 0
	for ; i+4 <= len(token); i += 4 {
		class |= compactClass[token[i]] | compactClass[token[i+1]] | compactClass[token[i+2]] | compactClass[token[i+3]]
	}
	for ; i < len(token); i++ {
		class |= compactClass[token[i]]
	}
	if class&compactBad != 0 {
		return j, invalid(ErrMalformedToken, nil)
	}
	dot1 := strings.IndexByte(token, '.')
	dot2 := -1
	if dot1 >= 0 {
		if dot2 = strings.IndexByte(token[dot1+1:], '.'); dot2 >= 0 {
			dot2 += dot1 + 1
			if strings.IndexByte(token[dot2+1:], '.') >= 0 {
				return j, invalid(ErrMalformedToken, nil)
			}
		}
	}
	if dot1 < 1 || dot2 < dot1+2 || dot2 == len(token)-1 {
		return j, invalid(ErrMalformedToken, nil)
	}
	j.token, j.dot1, j.dot2 = token, dot1, dot2
	h, ok := t.headers[token[:dot1]]
	if !ok {
		h, ok = t.seen.get(token[:dot1])
	}
	if ok {
		j.alg, j.typ, j.kid, j.known = h.alg, h.typ, h.kid, true
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
	scratch      []byte // room for a MAC or a DER signature (Key.scratchLen)
	claims       []byte // room for the decoded claims
}

// bytes copies the token into one buffer with room for its decoded parts
// and scratchLen bytes of scratch: one allocation for the whole
// verification.
func (j compactJWS) bytes(scratchLen int) (decoded, error) {
	sigLen, claimsLen := b64.DecodedLen(len(j.token)-j.dot2-1), b64.DecodedLen(j.dot2-j.dot1-1)
	buf := make([]byte, len(j.token)+scratchLen+sigLen+claimsLen)
	raw := buf[:len(j.token)]
	copy(raw, j.token)
	rest := buf[len(j.token):]
	d := decoded{
		signingInput: raw[:j.dot2],
		payload:      raw[j.dot1+1 : j.dot2],
		scratch:      rest[:0:scratchLen],
		claims:       rest[scratchLen+sigLen : scratchLen+sigLen : scratchLen+sigLen+claimsLen],
	}
	n, err := b64.Decode(rest[scratchLen:scratchLen+sigLen], raw[j.dot2+1:])
	if err != nil {
		return d, invalid(ErrMalformedToken, err)
	}
	d.signature = rest[scratchLen : scratchLen+n]
	return d, nil
}
