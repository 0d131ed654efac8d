package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"time"
)

// Cutover accepts the tokens of the service this one replaces for a while,
// beside the Authenticator's own, so that clients signed in before the
// switch stay signed in. See [WithCutover].
type Cutover struct {
	// Access verifies the old service's access tokens, usually an
	// [ExternalIssuer] built with its key and rules (a FastAPI-tutorial
	// token: HS256, "typ": "JWT", "sub" and "exp", no "jti"). The user
	// store must find users by the subject those tokens carry, and their
	// token version (absent, so 0) must match. Nil accepts none.
	Access AccessVerifier
	// Refresh verifies an old refresh token and returns its claims (at
	// least the subject). [Authenticator.RefreshHandler] exchanges each
	// one, once, for a new session of this package: a new refresh-token
	// family, with the roles the user has now. Nil accepts none.
	Refresh func(token string) (*Claims, error)
	// Until ends the cut-over: from then on only the Authenticator's own
	// tokens are accepted. Required.
	Until time.Time
}

// signingInput returns the header and payload of a compact JWS, the part
// its signature covers, if token is spelled in the base64url alphabet only
// with exactly two dots.
func signingInput(token string) (string, bool) {
	if len(token) > maxTokenSize || strings.Count(token, ".") != 2 {
		return "", false
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "", false
		}
	}
	return token[:strings.LastIndexByte(token, '.')], true
}

// WithCutover makes the middleware accept, until c.Until, access tokens that
// c.Access verifies when the Authenticator's own verifier refuses them, and
// the refresh handler exchange refresh tokens that c.Refresh verifies for a
// new session. The own verifier stays the one that issues, so the login,
// refresh and logout handlers work as before.
//
// Each old refresh token is exchanged at most once, even by concurrent
// requests: the exchange is reserved in the [Limiter] with a threshold of
// one until the cut-over ends, under a hash of the token's signed part (its
// header and payload), so other spellings of its signature (base64
// decoders skip line breaks and ignore trailing bits; ECDSA signatures come
// in two forms) are the same token; a token with any character outside the
// base64url alphabet is refused before c.Refresh sees it. Old
// access tokens carry no token ID, so logout cannot put them on the
// denylist; they end at their expiry, at Until, or when the user's token
// version is raised ([Authenticator.LogoutEverywhere]). Every exchange is
// an [EventLegacyToken] at Info, to watch the cut-over drain.
func WithCutover(c Cutover) Option { return func(o *options) { o.cutover = &c } }

func (c *Cutover) check() error {
	if c.Until.IsZero() {
		return errors.New("auth: a Cutover needs an end (Until)")
	}
	if c.Access == nil && c.Refresh == nil {
		return errors.New("auth: a Cutover needs an Access verifier, a Refresh function, or both")
	}
	return nil
}

// verifyAccess verifies an access token with the own verifier and, during
// a cut-over, with the old service's.
func (a *Authenticator[U]) verifyAccess(token string) (*Claims, error) {
	c, err := a.verifier.VerifyAccess(token)
	if err != nil && a.cutover != nil && a.cutover.Access != nil && a.now().Before(a.cutover.Until) {
		if old, oerr := a.cutover.Access.VerifyAccess(token); oerr == nil {
			return old, nil
		}
	}
	return c, err
}

// exchange turns an old service's refresh token into a new session, once.
// ownErr is why the own verifier refused the token: the answer if the old
// service's refuses it too.
func (a *Authenticator[U]) exchange(r *http.Request, token string, ownErr error) (Account, RefreshFamily, error) {
	now := a.now()
	if a.cutover == nil || a.cutover.Refresh == nil || !now.Before(a.cutover.Until) {
		return Account{}, RefreshFamily{}, ownErr
	}
	signed, ok := signingInput(token)
	if !ok {
		return Account{}, RefreshFamily{}, ownErr // one spelling only: no line breaks or padding
	}
	c, err := a.cutover.Refresh(token)
	switch {
	case err != nil:
		return Account{}, RefreshFamily{}, ownErr
	case c == nil || c.Subject == "":
		return Account{}, RefreshFamily{}, invalid(ErrTokenClaims, nil)
	}
	_, acct, err := a.account(r.Context(), c)
	if err != nil {
		return Account{}, RefreshFamily{}, err
	}
	// Once for the rest of the cut-over, whatever the token's exp says (or
	// lacks), keyed by what was signed, not by how the signature is spelled:
	// base64 decoders accept several spellings of one signature, and an
	// ECDSA signature has two valid forms.
	sum := sha256.Sum256([]byte(signed))
	first, err := a.reserveOnce(r.Context(), "cutover:"+hex.EncodeToString(sum[:16]), now, a.cutover.Until.Add(maxLeeway))
	switch {
	case err != nil:
		return Account{}, RefreshFamily{}, err
	case !first:
		return Account{}, RefreshFamily{}, invalid(ErrTokenRevoked, nil) // exchanged already
	}
	fam := RefreshFamily{ID: newID(), UserID: acct.ID, Current: newID(), CreatedAt: now, ExpiresAt: now.Add(a.sessionLifetime)}
	if err := a.refresh.Create(r.Context(), fam); err != nil {
		return Account{}, RefreshFamily{}, &storeError{err}
	}
	a.emit(r, Event{Kind: EventLegacyToken, Subject: acct.ID, Family: fam.ID})
	return acct, fam, nil
}
