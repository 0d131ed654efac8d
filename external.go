package auth

import (
	"fmt"

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
// shares a secret or publishes a public key. Such tokens carry no "type"
// claim, so the rules are configured explicitly instead: the key (and so the
// algorithm), the claims that must be present, and, through [WithIssuer] and
// [WithAudience], the issuer and audience. It never relaxes the rules of
// [Tokens]: the two are separate verifiers with separate keys.
//
// Build it with [NewExternalIssuer]; it is immutable and safe for concurrent
// use.
type ExternalIssuer struct {
	t        *Tokens
	required []string
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
}

// NewExternalIssuer returns a verifier for tokens signed with key, which may
// be verification-only ([NewVerifyingKey]). "sub" and "exp" are always
// required; required names more claims that must be present, from "email",
// "name", "jti", "iat", "nbf", "iss" and "aud". Of the [TokenOption]s,
// WithIssuer, WithAudience, WithLeeway, WithClock, WithVerificationKeys and
// WithMaxTokenSize apply.
//
// A token is refused if its "typ" header or "type" claim names another kind
// than an access token, so a refresh token of this package never passes,
// even if a key were shared by mistake.
func NewExternalIssuer(key Key, required []string, opts ...TokenOption) (*ExternalIssuer, error) {
	t, err := buildTokens(key, opts)
	if err != nil {
		return nil, err
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
// issuer's rules for the "typ" header and the required claims. Errors match
// [ErrInvalidToken] and the sentinels Tokens.Verify uses.
func (e *ExternalIssuer) VerifyAccess(token string) (*Claims, error) {
	notRefresh := func(typ string) bool { return !typMatches(typ, RefreshToken.header()) }
	c, err := e.t.verifySigned(token, notRefresh, false)
	if err != nil {
		return nil, err
	}
	if c.Type != "" && c.Type != AccessToken {
		return nil, invalid(ErrTokenType, nil)
	}
	for _, name := range e.required {
		if !externalClaims[name](c) {
			return nil, invalid(ErrTokenClaims, jwt.ErrTokenRequiredClaimMissing)
		}
	}
	if err := e.t.validate(c, e.t.audience); err != nil {
		return nil, err
	}
	return c, nil
}
