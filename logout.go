package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// LogoutHandler returns the logout endpoint, to mount at POST /logout. It
// takes the refresh token from the body (or, with [WithCookies], its
// cookie), as [Authenticator.RefreshHandler] does, and revokes its family:
// no token of that login can be refreshed again. With [WithDenylist], a
// valid access token in the Authorization header (or its cookie) is denied
// too, until it expires. With [WithCookies], it clears the token cookies,
// and a request with neither a cookie nor a body is a valid logout. It
// answers 204 whether or not the refresh token was valid (RFC 7009 §2.2:
// there is nothing to tell a client about a token it should discard
// anyway), 400 for a malformed body, 403 for a cross-origin browser request
// with the cookie transport.
//
// It panics if the verifier is not a [*Tokens].
func (a *Authenticator[U]) LogoutHandler() http.Handler {
	if a.tokens == nil {
		panic("auth: LogoutHandler needs New with a *Tokens")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, _, err := a.readRefreshToken(w, r, true)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		a.clearTokenCookies(w, r)
		if c, err := a.tokens.Verify(token, RefreshToken); token != "" && err == nil && c.Family != "" {
			if err := a.refresh.Revoke(r.Context(), c.Family); err != nil {
				a.fail(w, r, &storeError{err})
				return
			}
			a.emit(r, Event{Kind: EventLogout, Subject: c.Subject, Family: c.Family})
		}
		if err := a.denyAccessToken(r); err != nil {
			a.fail(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	})
}

// denyAccessToken puts the request's access token, if valid, on the
// denylist until no verifier could accept it: its expiry plus the largest
// leeway.
func (a *Authenticator[U]) denyAccessToken(r *http.Request) error {
	if a.denylist == nil {
		return nil
	}
	token, _, err := a.accessToken(r)
	if err != nil {
		return nil
	}
	c, err := a.verifier.VerifyAccess(token)
	if err != nil {
		return nil
	}
	if err := a.denylist.Deny(r.Context(), c.ID, c.ExpiresAt.Add(maxLeeway)); err != nil {
		return &storeError{err}
	}
	return nil
}

// LogoutEverywhere ends every session of the user: it revokes all their
// refresh-token families and raises their token version, so that every
// access token issued before fails too. Call it after a password change,
// when disabling an account, or for "log out everywhere". The user store
// must implement [TokenVersionBumper]. It drops the user from this
// instance's user cache ([WithUserCache]), if there is one.
func (a *Authenticator[U]) LogoutEverywhere(ctx context.Context, userID string) error {
	bumper, ok := a.users.(TokenVersionBumper)
	if !ok {
		return errors.New("auth: LogoutEverywhere needs a UserStore that implements TokenVersionBumper")
	}
	if err := a.refresh.RevokeUser(ctx, userID); err != nil {
		return fmt.Errorf("auth: revoking refresh tokens: %w", err)
	}
	err := bumper.BumpTokenVersion(ctx, userID)
	a.ForgetUser(userID) // after the bump: a load in between may have read the old version
	if err != nil {
		return fmt.Errorf("auth: bumping the token version: %w", err)
	}
	return nil
}

// LogoutEverywhereHandler returns an endpoint, to mount behind
// [Authenticator.Middleware] at POST /logout/all, that calls
// [Authenticator.LogoutEverywhere] for the signed-in user and answers 204.
//
// It panics if the user store does not implement [TokenVersionBumper].
func (a *Authenticator[U]) LogoutEverywhereHandler() http.Handler {
	if _, ok := a.users.(TokenVersionBumper); !ok {
		panic("auth: LogoutEverywhereHandler needs a UserStore that implements TokenVersionBumper")
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			a.fail(w, r, ErrMethodNotAllowed)
			return
		}
		p, ok := PrincipalFrom(r.Context())
		if !ok || p.Claims == nil {
			a.fail(w, r, ErrNoToken)
			return
		}
		if err := a.LogoutEverywhere(r.Context(), p.Subject); err != nil {
			a.fail(w, r, &storeError{err})
			return
		}
		a.emit(r, Event{Kind: EventLogoutAll, Subject: p.Subject})
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	})
}
