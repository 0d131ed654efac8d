package auth

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// A TokenType is the kind of a token: [AccessToken] or [RefreshToken].
type TokenType string

// The token kinds. A token carries its kind in the "type" claim and, as a
// media type, in the "typ" header (RFC 9068 for access tokens). These values
// are part of every issued token: they never change.
const (
	AccessToken  TokenType = "access"
	RefreshToken TokenType = "refresh"
)

// header returns the "typ" header value of the kind.
func (t TokenType) header() string {
	switch t {
	case AccessToken:
		return "at+jwt"
	case RefreshToken:
		return "refresh+jwt"
	}
	return ""
}

// Claims are the claims of a token this package issues. Subject is the
// user's immutable ID. Roles, Email, Name, Version and Family are optional;
// Version is the user's token version, which a service bumps to kill every
// token issued before (after a password change, for instance).
type Claims struct {
	jwt.RegisteredClaims
	Type    TokenType `json:"type"`
	Email   string    `json:"email,omitempty"`
	Name    string    `json:"name,omitempty"`
	Roles   []string  `json:"roles,omitempty"`
	Version int64     `json:"ver,omitempty"`
	// Family is the refresh-token family a refresh token belongs to: every
	// token rotated from one login shares it.
	Family string `json:"fam,omitempty"`
	// AuthTime is when the user last proved the password ("auth_time",
	// RFC 9068 §2.2.1, OpenID Connect Core §2): set at login and
	// re-authentication, kept by refresh. [Authenticator.RequireFresh]
	// reads it. The verifier decodes it as it decodes "exp": a JSON number
	// in [0, 253402300800), named once.
	AuthTime *jwt.NumericDate `json:"auth_time,omitempty"`

	raw []byte // the verified claims JSON, for Decode and Raw
}

// Tokens issues and verifies access and refresh tokens. Build it with
// [NewTokens], or with [NewVerifyingTokens] for a service that only
// verifies; it is immutable and safe for concurrent use.
type Tokens struct {
	signer     Key            // zero for a verify-only Tokens
	keys       map[string]Key // by key ID, the signer included
	jwks       *JWKS          // another key set behind the same lookup, or nil
	ext        externalRules  // NewExternalIssuer's options
	accessTTL  time.Duration
	refreshTTL time.Duration
	leeway     time.Duration
	issuer     string
	audience   string
	now        func() time.Time
	maxSize    int
	headers    map[string]knownHeader // base64 header segments this Tokens issues
	seen       seenHeaders            // other issuers' headers, once a signature verified
}

// A TokenOption configures [NewTokens].
type TokenOption func(*Tokens)

// WithAccessTTL sets how long access tokens live: 15 minutes by default, at
// most 1 hour.
func WithAccessTTL(d time.Duration) TokenOption { return func(t *Tokens) { t.accessTTL = d } }

// WithRefreshTTL sets how long refresh tokens live: 7 days by default, at
// least as long as access tokens and at most 90 days.
func WithRefreshTTL(d time.Duration) TokenOption { return func(t *Tokens) { t.refreshTTL = d } }

// WithIssuer sets the "iss" claim of issued tokens, and requires it, exactly,
// on verified ones.
func WithIssuer(iss string) TokenOption { return func(t *Tokens) { t.issuer = iss } }

// WithAudience sets the "aud" claim of issued access tokens, and requires it
// on verified ones. Refresh tokens get the audience aud + "#refresh", so that
// they are for this issuer alone.
func WithAudience(aud string) TokenOption { return func(t *Tokens) { t.audience = aud } }

// WithLeeway sets the clock skew allowed on "exp", "nbf" and "iat": 30
// seconds by default, at most 2 minutes.
func WithLeeway(d time.Duration) TokenOption { return func(t *Tokens) { t.leeway = d } }

// WithClock sets the source of the current time, for tests.
func WithClock(now func() time.Time) TokenOption { return func(t *Tokens) { t.now = now } }

// WithVerificationKeys adds keys that verify tokens but do not sign new ones,
// such as the previous key during a rotation. Each needs its own key ID.
func WithVerificationKeys(keys ...Key) TokenOption {
	return func(t *Tokens) {
		for _, k := range keys {
			if _, dup := t.keys[k.id]; dup || k.method == nil {
				t.keys[k.id] = Key{} // reported by NewTokens
				continue
			}
			t.keys[k.id] = k
		}
	}
}

// WithMaxTokenSize sets the largest token accepted, in bytes: 4096 by
// default, at most 16 KiB. Larger tokens are refused before any decoding.
func WithMaxTokenSize(n int) TokenOption { return func(t *Tokens) { t.maxSize = n } }

// Defaults and bounds of the token options.
const (
	DefaultAccessTTL    = 15 * time.Minute
	DefaultRefreshTTL   = 7 * 24 * time.Hour
	DefaultLeeway       = 30 * time.Second
	DefaultMaxTokenSize = 4096

	maxAccessTTL  = time.Hour
	maxRefreshTTL = 90 * 24 * time.Hour
	maxLeeway     = 2 * time.Minute
	maxTokenSize  = 16 << 10
)

// NewTokens returns a Tokens that signs with key. It returns an error for a
// zero or verification-only key, options out of bounds, duplicate key IDs,
// or a key set that mixes HMAC and public-key algorithms.
func NewTokens(key Key, opts ...TokenOption) (*Tokens, error) {
	if key.method == nil || !key.CanSign() {
		return nil, errors.New("auth: NewTokens needs a signing key")
	}
	return buildTokens(key, nil, opts, false)
}

// NewVerifyingTokens returns a Tokens that verifies this package's tokens
// but never signs: for a resource server that trusts another service's
// [Tokens] through its public keys. The keys are usually from
// [NewVerifyingKey]; [WithJWKS] adds (or, with no keys, supplies) a key set
// fetched from the issuer's JWKS ([Tokens.JWKSHandler] publishes one).
// Verify applies every rule of [Tokens.Verify]: the kind in the "typ" header
// and the "type" claim, issuer, audience ([WithIssuer], [WithAudience]: set
// them as the issuing service does), times and sizes. Issue returns an
// error, and [Authenticator.LoginHandler], RefreshHandler and LogoutHandler
// panic at setup on an Authenticator built on it.
//
// It returns an error when there is neither a key nor a JWKS, for a zero
// key, options out of bounds, duplicate key IDs, or a key set that mixes
// HMAC and public-key algorithms.
func NewVerifyingTokens(keys []Key, opts ...TokenOption) (*Tokens, error) {
	return buildTokens(Key{}, keys, opts, false)
}

// buildTokens builds a Tokens that signs with signer, if it is not the zero
// Key, and verifies with signer, keys and the options' keys; external allows
// the options of NewExternalIssuer.
func buildTokens(signer Key, keys []Key, opts []TokenOption, external bool) (*Tokens, error) {
	t := &Tokens{
		signer:     signer,
		keys:       map[string]Key{},
		accessTTL:  DefaultAccessTTL,
		refreshTTL: DefaultRefreshTTL,
		leeway:     DefaultLeeway,
		now:        time.Now,
		maxSize:    DefaultMaxTokenSize,
	}
	if signer.method != nil {
		t.keys[signer.id] = signer
	}
	WithVerificationKeys(keys...)(t)
	for _, opt := range opts {
		opt(t)
	}
	if t.ext.only != "" && !external {
		return nil, fmt.Errorf("auth: %s applies to NewExternalIssuer only", t.ext.only)
	}
	if err := t.ext.err; err != nil {
		return nil, err
	}
	switch {
	case t.accessTTL <= 0 || t.accessTTL > maxAccessTTL:
		return nil, fmt.Errorf("auth: access TTL %v out of range (0, %v]", t.accessTTL, maxAccessTTL)
	case t.refreshTTL < t.accessTTL || t.refreshTTL > maxRefreshTTL:
		return nil, fmt.Errorf("auth: refresh TTL %v out of range [access TTL, %v]", t.refreshTTL, maxRefreshTTL)
	case t.leeway < 0 || t.leeway > maxLeeway:
		return nil, fmt.Errorf("auth: leeway %v out of range [0, %v]", t.leeway, maxLeeway)
	case t.maxSize < 64 || t.maxSize > maxTokenSize:
		return nil, fmt.Errorf("auth: max token size %d out of range [64, %d]", t.maxSize, maxTokenSize)
	case t.now == nil:
		return nil, errors.New("auth: nil clock")
	}
	if len(t.keys) == 0 && t.jwks == nil {
		return nil, errors.New("auth: no key: a Tokens needs a key or a JWKS")
	}
	hmacs := 0
	for id, k := range t.keys {
		if k.method == nil {
			return nil, fmt.Errorf("auth: verification key %q is a zero Key or a duplicate key ID", id)
		}
		if k.hmac {
			hmacs++
		}
	}
	if hmacs != 0 && (hmacs != len(t.keys) || t.jwks != nil) {
		return nil, errors.New("auth: a key set cannot mix HMAC and public-key algorithms")
	}
	t.headers = knownHeaders(t.keys)
	return t, nil
}

func refreshAudience(aud string) string {
	if aud == "" {
		return ""
	}
	return aud + "#refresh"
}

// TTL returns the lifetime of tokens of kind typ.
func (t *Tokens) TTL(typ TokenType) time.Duration {
	if typ == RefreshToken {
		return t.refreshTTL
	}
	return t.accessTTL
}

// Issue signs a new token of kind typ. From c it takes Subject (required),
// Email, Name, Roles, Version, AuthTime and NotBefore; it sets the type, issuer,
// audience, issue and expiry times and a fresh random ID (128 bits) itself.
// It returns the token and the claims it carries.
func (t *Tokens) Issue(typ TokenType, c Claims) (string, *Claims, error) {
	return t.issue(typ, c, newID(), time.Time{})
}

// issue signs a token with the given ID, expiring after its TTL or at
// notAfter, whichever comes first (a refresh family's absolute limit).
func (t *Tokens) issue(typ TokenType, c Claims, id string, notAfter time.Time) (string, *Claims, error) {
	if typ.header() == "" {
		return "", nil, fmt.Errorf("auth: unknown token type %q", typ)
	}
	if !t.signer.CanSign() {
		return "", nil, errors.New("auth: a verify-only Tokens cannot issue tokens")
	}
	if c.Subject == "" {
		return "", nil, errors.New("auth: a token needs a subject")
	}
	now := t.now()
	c.Type = typ
	c.ID = id
	c.Issuer = t.issuer
	c.Audience = nil
	aud, key := t.audience, t.signer.sign
	if typ == RefreshToken {
		aud, key = refreshAudience(aud), t.signer.refreshSign
	}
	if aud != "" {
		c.Audience = jwt.ClaimStrings{aud}
	}
	exp := now.Add(t.TTL(typ))
	if !notAfter.IsZero() && notAfter.Before(exp) {
		exp = notAfter
	}
	c.IssuedAt = jwt.NewNumericDate(now)
	c.ExpiresAt = jwt.NewNumericDate(exp)

	tok := jwt.NewWithClaims(t.signer.method, &c)
	tok.Header["typ"] = typ.header()
	if t.signer.id != "" {
		tok.Header["kid"] = t.signer.id
	}
	s, err := tok.SignedString(key)
	if err != nil {
		return "", nil, fmt.Errorf("auth: signing a token: %w", err)
	}
	return s, &c, nil
}

// newID returns 128 random bits, base64url-encoded: token and family IDs.
func newID() string {
	id := make([]byte, 16)
	rand.Read(id) // never fails (crypto/rand since Go 1.24)
	return base64.RawURLEncoding.EncodeToString(id)
}

// Verify checks a token of kind want and returns its claims. In order, it
// checks the size and alphabet before decoding anything, the header (only
// "alg", "typ" and "kid"; typ must name the kind), the key named by kid and
// its algorithm, the signature, and only then decodes the claims and checks
// the type claim, subject, ID, expiry, issue time, not-before, issuer and
// audience.
//
// Header and claims are read more strictly than golang-jwt reads them: a
// member named twice (or two claim names that fold onto one field, such as
// "sub" and "SUB"), and an "exp", "nbf" or "iat" that is not a JSON number
// in [0, 253402300800) (before the year 10000, RFC 7519 §2 NumericDate),
// make the token malformed.
//
// Every error matches [ErrInvalidToken], and also [ErrMalformedToken],
// [ErrUnknownKey], [ErrTokenSignature], [ErrTokenType], [ErrTokenExpired] or
// [ErrTokenClaims] as the cause was.
func (t *Tokens) Verify(token string, want TokenType) (*Claims, error) {
	if want.header() == "" {
		return nil, invalid(ErrTokenType, nil)
	}
	c, err := t.verifySigned(token, func(typ string) bool { return typMatches(typ, want.header()) }, want == RefreshToken)
	if err != nil {
		return nil, err
	}
	switch {
	case c.Type != want:
		return nil, invalid(ErrTokenType, nil)
	case c.Subject == "":
		return nil, invalidDetail(ErrTokenClaims, "sub missing", jwt.ErrTokenRequiredClaimMissing)
	case c.ID == "":
		return nil, invalidDetail(ErrTokenClaims, "jti missing", jwt.ErrTokenRequiredClaimMissing)
	case c.IssuedAt == nil:
		return nil, invalidDetail(ErrTokenClaims, "iat missing", jwt.ErrTokenRequiredClaimMissing)
	}
	aud := t.audience
	if want == RefreshToken {
		aud = refreshAudience(aud)
	}
	if err := t.validate(c, aud); err != nil {
		return nil, err
	}
	return c, nil
}

// VerifyAccess verifies an access token: Verify(token, AccessToken). It
// makes Tokens an [AccessVerifier].
func (t *Tokens) VerifyAccess(token string) (*Claims, error) { return t.Verify(token, AccessToken) }

// verifySigned checks everything up to the signature (typOK judges the
// "typ" header) and only then decodes the claims.
func (t *Tokens) verifySigned(token string, typOK func(string) bool, refresh bool) (*Claims, error) {
	j, err := t.parseCompact(token)
	if err != nil {
		return nil, err
	}
	if !typOK(j.typ) {
		return nil, invalid(ErrTokenType, nil)
	}
	key, ok := t.key(j.kid)
	if !ok {
		return nil, invalidDetail(ErrUnknownKey, "kid "+quoteBounded(j.kid), nil)
	}
	if j.alg != key.method.Alg() {
		return nil, invalidDetail(ErrTokenSignature, "alg "+quoteBounded(j.alg)+" is not the key's "+key.method.Alg(), nil)
	}
	d, err := j.bytes(key.scratchLen())
	if err != nil {
		return nil, err
	}
	if err := key.verifySignature(j.token[:j.dot2], d, refresh); err != nil {
		return nil, invalid(ErrTokenSignature, err)
	}
	if !j.known {
		t.seen.add(token[:j.dot1], j)
	}
	payload, err := decodeSegment(d.claims, d.payload)
	if err != nil {
		return nil, err
	}
	c := new(Claims)
	if err := decodeClaims(payload, c, t.ext.roles); err != nil {
		return nil, invalidDetail(ErrMalformedToken, "claims", err)
	}
	if t.ext.roles != "" { // an ExternalIssuer: keep the claims JSON for Claims.Decode
		c.raw = payload
	}
	return c, nil
}

// validate checks the times, issuer and audience as golang-jwt's Validator
// does with WithExpirationRequired, WithIssuedAt, WithLeeway and, when set,
// WithIssuer and WithAudience, without its allocations.
func (t *Tokens) validate(c *Claims, aud string) error {
	now := t.now()
	switch {
	case c.ExpiresAt == nil:
		return invalidDetail(ErrTokenClaims, "exp missing", jwt.ErrTokenRequiredClaimMissing)
	case !now.Before(c.ExpiresAt.Add(t.leeway)):
		return invalid(ErrTokenExpired, jwt.ErrTokenExpired)
	case c.NotBefore != nil && now.Before(c.NotBefore.Add(-t.leeway)):
		return invalidDetail(ErrTokenClaims, "nbf in the future", jwt.ErrTokenNotValidYet)
	case c.IssuedAt != nil && now.Before(c.IssuedAt.Add(-t.leeway)):
		return invalidDetail(ErrTokenClaims, "iat in the future", jwt.ErrTokenUsedBeforeIssued)
	case aud != "" && (len(c.Audience) == 0 || len(c.Audience) == 1 && c.Audience[0] == ""):
		return invalidDetail(ErrTokenClaims, "aud missing", jwt.ErrTokenRequiredClaimMissing)
	case aud != "" && !slices.Contains(c.Audience, aud):
		return invalidDetail(ErrTokenClaims, "aud is not the configured audience", jwt.ErrTokenInvalidAudience)
	case t.issuer != "" && c.Issuer == "":
		return invalidDetail(ErrTokenClaims, "iss missing", jwt.ErrTokenRequiredClaimMissing)
	case t.issuer != "" && c.Issuer != t.issuer:
		return invalidDetail(ErrTokenClaims, "iss is not the configured issuer", jwt.ErrTokenInvalidIssuer)
	}
	return nil
}

// typMatches compares a "typ" header with the expected media type, as
// RFC 7515 §4.1.9 asks: case-insensitively, with "application/" optional.
func typMatches(got, want string) bool {
	if len(got) > len("application/") && strings.EqualFold(got[:len("application/")], "application/") {
		got = got[len("application/"):]
	}
	return strings.EqualFold(got, want)
}

// tokenError is a token rejection. Its message names the reason and the
// check that failed (such as "aud missing"), never a claim's value: the
// cause (from golang-jwt or encoding/json) is reachable through errors.Is
// and errors.As but never printed, so no part of the token leaks into logs.
type tokenError struct {
	reason error
	cause  error
	detail string // which check failed: fixed text, a claim name, a kid or alg
}

func invalid(reason, cause error) error { return &tokenError{reason: reason, cause: cause} }

// invalidDetail is invalid with the failed check named.
func invalidDetail(reason error, detail string, cause error) error {
	return &tokenError{reason: reason, cause: cause, detail: detail}
}

func (e *tokenError) Error() string {
	if e.reason == ErrInvalidToken {
		return ErrInvalidToken.Error()
	}
	msg := ErrInvalidToken.Error() + ": " + strings.TrimPrefix(e.reason.Error(), "auth: ")
	if e.detail != "" {
		msg += " (" + e.detail + ")"
	}
	return msg
}

// Is matches ErrInvalidToken and the reason without allocating, which
// Unwrap() []error would do on every errors.Is: rejections are frequent.
func (e *tokenError) Is(target error) bool { return target == ErrInvalidToken || target == e.reason }

// Unwrap returns the cause, so that errors.Is(err, jwt.ErrTokenExpired)
// and errors.As see golang-jwt's and encoding/json's errors.
func (e *tokenError) Unwrap() error { return e.cause }
