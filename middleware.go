package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// Authenticate decides whether r carries a valid access token, and if so
// returns the user and the principal. It writes nothing: [Middleware] and
// [Optional] are thin shells around it.
//
// The token is read from the Authorization header ("Bearer", in any case,
// then one or more spaces), never from the query or a form; with
// [WithCookies] and CookieConfig.AccessToken, from the access-token cookie
// when there is no Bearer header (the header wins). A cookie-authenticated
// request with an unsafe method must pass the cross-origin check
// ([ErrCrossOrigin], 403) and, with CookieConfig.CSRFToken, carry the
// session's CSRF token ([ErrCSRFToken], 403); GET, HEAD and OPTIONS always
// pass both. The errors are [ErrNoToken] (no header or cookie, or another
// scheme), [ErrInvalidRequest] (two headers, no token after "Bearer"),
// errors matching [ErrInvalidToken]
// (including [ErrUnknownUser] for a missing or inactive user and
// [ErrTokenRevoked] for a stale token version or, with [WithDenylist], a
// denied token), or a store failure.
func (a *Authenticator[U]) Authenticate(r *http.Request) (U, *Principal, error) {
	var zero U
	token, fromCookie, err := a.accessToken(r)
	if err != nil {
		return zero, nil, err
	}
	if fromCookie {
		if err := a.checkCrossOrigin(r); err != nil {
			return zero, nil, err
		}
	}
	c, err := a.verifyAccess(token)
	if err != nil {
		return zero, nil, err
	}
	if fromCookie {
		if err := a.checkCSRFToken(r, c.ID); err != nil {
			return zero, nil, err
		}
	}
	if a.denylist != nil {
		denied, err := a.denylist.Denied(r.Context(), c.ID, a.now())
		switch {
		case err != nil:
			return zero, nil, &storeError{err}
		case denied:
			return zero, nil, invalid(ErrTokenRevoked, nil)
		}
	}
	u, acct, err := a.account(r.Context(), c)
	if err != nil {
		return zero, nil, err
	}
	return u, &Principal{Subject: c.Subject, Roles: acct.Roles, Claims: c}, nil
}

// account loads the user a verified token names and checks that it still
// may use the token: it exists, is active, and has the token's version.
func (a *Authenticator[U]) account(ctx context.Context, c *Claims) (U, Account, error) {
	u, acct, found, err := a.load(ctx, c)
	switch {
	case err != nil:
		return u, Account{}, &storeError{err}
	case !found || !acct.Active:
		return u, Account{}, invalid(ErrUnknownUser, nil)
	case acct.TokenVersion != c.Version:
		return u, Account{}, invalid(ErrTokenRevoked, nil)
	}
	return u, acct, nil
}

// Middleware lets through only requests with a valid access token of an
// active user, with the user and principal in the request's context
// ([UserFrom], [PrincipalFrom], [ClaimsFrom]). Others get 401 (400 for a
// malformed header, 503 for a store failure) and never reach next.
func (a *Authenticator[U]) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, err := a.Authenticate(r)
		if err != nil {
			a.reject(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(a.newContext(r.Context(), p, u)))
	})
}

// Optional is [Middleware] for routes open to anonymous users: a request
// without a bearer token goes through with no principal, but one with a
// bad token is rejected as Middleware rejects it.
func (a *Authenticator[U]) Optional(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, err := a.Authenticate(r)
		switch {
		case errors.Is(err, ErrNoToken):
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), infoKey{}, &authInfo{fail: a.fail, log: a.emit})))
		case err != nil:
			a.reject(w, r, err)
		default:
			next.ServeHTTP(w, r.WithContext(a.newContext(r.Context(), p, u)))
		}
	})
}

func (a *Authenticator[U]) newContext(ctx context.Context, p *Principal, u U) context.Context {
	return context.WithValue(ctx, infoKey{}, &authInfo{principal: p, user: u, fail: a.fail, log: a.emit})
}

func (a *Authenticator[U]) reject(w http.ResponseWriter, r *http.Request, err error) {
	if err != ErrNoToken {
		a.emit(r, Event{Kind: EventTokenRejected, Err: err})
	}
	a.fail(w, r, err)
}

// fail answers an error with the configured writer.
func (a *Authenticator[U]) fail(w http.ResponseWriter, r *http.Request, err error) {
	if a.onError != nil {
		a.responder.setHeaders(w, err)
		a.onError(w, r, err)
		return
	}
	a.responder.write(w, err)
}

// Error answers err as every middleware and handler of a answers its own
// errors: through the [WithErrorHandler] handler if one is set (after the
// protocol headers are set), else with the default status and generic JSON
// body ([ErrorStatus]). Use it in the service's own handlers for errors
// from [Authenticator.CheckPassword] and the like, so that one place
// configures every error response.
func (a *Authenticator[U]) Error(w http.ResponseWriter, r *http.Request, err error) {
	a.fail(w, r, err)
}

// bearerToken reads the token of an RFC 6750 §2.1 Authorization header.
func bearerToken(h http.Header) (string, error) {
	values := h.Values("Authorization")
	switch {
	case len(values) == 0:
		return "", ErrNoToken
	case len(values) > 1:
		return "", ErrInvalidRequest
	}
	v := values[0]
	const scheme = "Bearer"
	if len(v) < len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", ErrNoToken
	}
	rest := v[len(scheme):]
	switch {
	case rest == "" || rest[0] == '\t':
		return "", ErrInvalidRequest // "Bearer" alone, or a tab where a space must be
	case rest[0] != ' ':
		return "", ErrNoToken // another scheme, such as "Bearerish"
	}
	token := strings.TrimLeft(rest, " ")
	if len(token) > maxTokenSize {
		return "", invalid(ErrMalformedToken, nil) // no token is this long: skip the scan below
	}
	if token == "" || strings.IndexByte(token, ' ') >= 0 || strings.IndexByte(token, '\t') >= 0 {
		return "", ErrInvalidRequest
	}
	return token, nil
}

// storeError is a failure of the caller's store: a 503, never a 401.
type storeError struct{ err error }

// errStore is matched by every *storeError, for the response table.
var errStore = errors.New("auth: store failure")

func (e *storeError) Error() string        { return "auth: store: " + e.err.Error() }
func (e *storeError) Unwrap() error        { return e.err }
func (e *storeError) Is(target error) bool { return target == errStore }
