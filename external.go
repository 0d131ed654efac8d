package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// An AccessVerifier checks an access token and returns its claims. [*Tokens]
// verifies this package's own tokens; [*ExternalIssuer] verifies tokens
// minted by another service.
type AccessVerifier interface {
	VerifyAccess(token string) (*Claims, error)
}

// ExternalIssuer verifies access tokens minted by another service, such as a
// frontend's auth server (Better Auth, Auth.js, an identity provider) that
// shares a secret, publishes a public key, or publishes a JWKS ([NewJWKS]).
// Such tokens usually carry no "type" claim and no "typ" header, so the rules
// are configured explicitly instead: the key (and so the algorithm), the
// claims that must be present, and, through [WithIssuer] and [WithAudience],
// the issuer and audience. It never relaxes the rules of [Tokens]: the two
// are separate verifiers with separate keys.
//
// Build it with [NewExternalIssuer]; it is immutable and safe for concurrent
// use.
type ExternalIssuer struct {
	t        *Tokens
	required []string
}

// externalRules are the options only NewExternalIssuer takes.
type externalRules struct {
	roles     string // the roles claim; "" for a Tokens (strict "roles")
	typ       string // the "typ" header required, or ""
	typeClaim bool   // require "type": "access"
	strictKID bool   // a single key needs the token's kid to be its ID
	only      string // the first external-only option used, for NewTokens's error
	err       error  // the first bad option
}

func (r *externalRules) use(name string) {
	if r.only == "" {
		r.only = name
	}
}

func (r *externalRules) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// maxRolesClaimLen bounds the name given to WithRolesClaim.
const maxRolesClaimLen = 64

// WithRolesClaim names the claim an [ExternalIssuer] reads the roles from
// ("roles" by default): an array of strings, a single string, or a
// comma-separated string (as Better Auth's admin plugin writes "role":
// "admin,user"), each role trimmed of spaces, empty ones dropped. The name
// matches exactly (case-sensitively), must be 1 to 64 bytes and must not be
// a registered claim the verifier reads ("sub", "iss", "aud", "exp", "nbf",
// "iat", "jti", "type", "email", "name", "ver", "fam"). The roles reach
// [Principal.Roles] through [NewStateless], so [RequireRole] works on them.
// It applies to NewExternalIssuer only; NewTokens and NewVerifyingTokens
// return an error for it (this package's tokens carry "roles" as an array).
func WithRolesClaim(name string) TokenOption {
	return func(t *Tokens) {
		t.ext.use("WithRolesClaim")
		switch {
		case name == "" || len(name) > maxRolesClaimLen:
			t.ext.fail(fmt.Errorf("auth: roles claim name must be 1 to %d bytes", maxRolesClaimLen))
		case name != "roles" && isClaimName(name):
			t.ext.fail(fmt.Errorf("auth: %q is a registered claim, not a roles claim", name))
		}
		t.ext.roles = name
	}
}

func isClaimName(name string) bool {
	for _, n := range claimNames {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// WithRequiredTypeClaim makes an [ExternalIssuer] require the "type" claim
// to be "access", as this package's access tokens carry it (without it, a
// token with no "type" claim passes and only "refresh" is refused). It
// applies to NewExternalIssuer only.
func WithRequiredTypeClaim() TokenOption {
	return func(t *Tokens) {
		t.ext.use("WithRequiredTypeClaim")
		t.ext.typeClaim = true
	}
}

// WithRequiredTyp makes an [ExternalIssuer] require the "typ" header to be
// typ, compared as a media type (case-insensitively, "application/"
// optional, RFC 7515 §4.1.9): "at+jwt" for RFC 9068 access tokens, "JWT" for
// issuers that set it. Without it, any "typ" but this package's
// "refresh+jwt" passes, and so does none. It applies to NewExternalIssuer
// only, and returns an error for an empty typ.
func WithRequiredTyp(typ string) TokenOption {
	return func(t *Tokens) {
		t.ext.use("WithRequiredTyp")
		if typ == "" || len(typ) > maxKeyIDLen {
			t.ext.fail(errors.New("auth: WithRequiredTyp needs a media type of 1 to 128 bytes"))
		}
		t.ext.typ = typ
	}
}

// WithStrictKeyID makes an [ExternalIssuer] with a single configured key
// (and no JWKS) look the key up by the token's "kid" exactly, as [Tokens]
// does. By default such a key also takes tokens without a "kid", and a key
// whose ID is "" (as [HMACKeyFromEnv] makes) takes tokens with any "kid":
// with one key there is nothing to choose, and the algorithm and signature
// are checked all the same. It applies to NewExternalIssuer only.
func WithStrictKeyID() TokenOption {
	return func(t *Tokens) {
		t.ext.use("WithStrictKeyID")
		t.ext.strictKID = true
	}
}

// externalClaims are the claim names NewExternalIssuer can require.
var externalClaims = map[string]func(*Claims) bool{
	"sub":   func(c *Claims) bool { return c.Subject != "" },
	"email": func(c *Claims) bool { return c.Email != "" },
	"name":  func(c *Claims) bool { return c.Name != "" },
	"jti":   func(c *Claims) bool { return c.ID != "" },
	"iat":   func(c *Claims) bool { return c.IssuedAt != nil },
	"nbf":   func(c *Claims) bool { return c.NotBefore != nil },
	"iss":   func(c *Claims) bool { return c.Issuer != "" },
	"aud":   func(c *Claims) bool { return len(c.Audience) > 0 },
	"roles": func(c *Claims) bool { return len(c.Roles) > 0 },
}

// NewExternalIssuer returns a verifier for tokens signed with key, which may
// be verification-only ([NewVerifyingKey]), or the zero Key when
// [WithJWKS] supplies the keys. "sub" and "exp" are always required;
// required names more claims that must be present, from "email", "name",
// "jti", "iat", "nbf", "iss", "aud" and "roles" (the claim named by
// [WithRolesClaim]). Of the [TokenOption]s, WithIssuer, WithAudience,
// WithLeeway, WithClock, WithVerificationKeys, WithMaxTokenSize and WithJWKS
// apply, and so do the external-only WithRolesClaim, WithRequiredTypeClaim,
// WithRequiredTyp and WithStrictKeyID.
//
// Set WithIssuer and WithAudience to what the issuer writes: Better Auth's
// jwt plugin writes its own base URL (such as "https://app.example.com") in
// both "iss" and "aud", not the API's URL.
//
// A token is refused if its "typ" header or "type" claim names another kind
// than an access token, so a refresh token of this package never passes,
// even if a key were shared by mistake.
func NewExternalIssuer(key Key, required []string, opts ...TokenOption) (*ExternalIssuer, error) {
	t, err := buildTokens(key, nil, opts, true)
	if err != nil {
		return nil, err
	}
	if t.ext.roles == "" {
		t.ext.roles = "roles"
	}
	e := &ExternalIssuer{t: t, required: []string{"sub"}}
	for _, name := range required {
		if externalClaims[name] == nil {
			return nil, fmt.Errorf("auth: cannot require claim %q", name)
		}
		e.required = append(e.required, name)
	}
	return e, nil
}

// VerifyAccess checks a token as [Tokens.Verify] does (size and alphabet,
// header, key and algorithm, signature, then claims), with the external
// issuer's rules for the "typ" header, the "type" claim and the required
// claims. Errors match [ErrInvalidToken] and the sentinels Tokens.Verify
// uses; their message names the check that failed (such as "aud is not the
// configured audience" or "email missing"), never a claim's value.
func (e *ExternalIssuer) VerifyAccess(token string) (*Claims, error) {
	typOK := func(typ string) bool { return !typMatches(typ, RefreshToken.header()) }
	if want := e.t.ext.typ; want != "" {
		typOK = func(typ string) bool { return typMatches(typ, want) }
	}
	c, err := e.t.verifySigned(token, typOK, false)
	if err != nil {
		if te, ok := err.(*tokenError); ok && te.reason == ErrTokenType && te.detail == "" {
			te.detail = "typ header" // the only type check before the claims
		}
		return nil, err
	}
	if c.Type != "" && c.Type != AccessToken || e.t.ext.typeClaim && c.Type != AccessToken {
		return nil, invalidDetail(ErrTokenType, "type claim", nil)
	}
	for _, name := range e.required {
		if !externalClaims[name](c) {
			if name == "roles" {
				name = e.t.ext.roles
			}
			return nil, invalidDetail(ErrTokenClaims, name+" missing", jwt.ErrTokenRequiredClaimMissing)
		}
	}
	if err := e.t.validate(c, e.t.audience); err != nil {
		return nil, err
	}
	return c, nil
}

// key returns the key a token's kid names: from the configured keys, then,
// for an ExternalIssuer with one key, that key (see WithStrictKeyID), then
// from the JWKS, which may refetch once for an unknown kid.
func (t *Tokens) key(kid string) (Key, bool) {
	if k, ok := t.keys[kid]; ok {
		return k, true
	}
	if t.ext.roles != "" && !t.ext.strictKID && t.jwks == nil && len(t.keys) == 1 {
		for _, k := range t.keys {
			if kid == "" || k.id == "" {
				return k, true
			}
		}
	}
	if t.jwks != nil {
		return t.jwks.key(kid)
	}
	return Key{}, false
}

// lenientRolesField decodes the roles claim of an ExternalIssuer: null, an
// array of strings (as rolesField), a string, or a comma-separated string.
func (s *scanner) lenientRolesField(dst *[]string) error {
	if s.peek() != '"' {
		return s.rolesField(dst)
	}
	v, err := s.str()
	if err != nil {
		return err
	}
	roles := []string{}
	for r := range strings.SplitSeq(v, ",") {
		if r = strings.TrimSpace(r); r != "" {
			roles = append(roles, r)
		}
	}
	*dst = roles
	return nil
}

// Decode decodes the claims JSON of a token verified by an
// [ExternalIssuer] into v with encoding/json, for claims Claims has no field
// for (Better Auth's "emailVerified", an identity provider's "org_id"). It
// returns an error for other claims (this package's own tokens carry no
// claims beyond Claims' fields), and encoding/json's errors.
func (c *Claims) Decode(v any) error {
	if c.raw == nil {
		return errors.New("auth: no verified claims JSON to decode")
	}
	return json.Unmarshal(c.raw, v)
}

// Raw returns a copy of the claims JSON of a token verified by an
// [ExternalIssuer], or nil for other claims.
func (c *Claims) Raw() []byte {
	if c.raw == nil {
		return nil
	}
	return append([]byte(nil), c.raw...)
}

// quoteBounded quotes a value from a token's header for an error message:
// at most 64 bytes of it, so a long kid cannot flood a log line.
func quoteBounded(s string) string {
	if len(s) > 64 {
		return strconv.Quote(s[:64]) + "…"
	}
	return strconv.Quote(s)
}
